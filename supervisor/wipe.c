/* wipe_dir(): an fd-relative, parallel rm -rf of what is inside DIR, never leaving its mount.
 *
 * How the walk is shaped, and why:
 *
 * - Every directory still to visit is a node {parent, name, dev, ino}. Workers (several per
 *   CPU, see worker_count()) take nodes from one shared LIFO stack, open them relative to the
 *   parent's fd, list them with getdents64, and push each subdirectory as a new node. The
 *   non-directories are unlinked by the lister, or, when workers are idle (a deep chain, one
 *   huge directory), handed out as batches of names, which are nodes too. Many unlinks in
 *   flight is what beats rm -rf: an unlink mostly waits for the disk, and the slow part
 *   (freeing the inode) runs after the directory's lock is dropped.
 * - A directory is removed after its children: its pending count covers its own listing,
 *   its unfinished subdirectories and its batches, and whoever brings it to zero removes the
 *   directory (in its parent, reached through "..") and then decrements the parent, and so
 *   on upwards. So the thread that finishes a node always holds an fd of it.
 * - Open fds stay bounded: a node keeps its fd only while it is being listed or some of its
 *   subdirectories are not opened yet or batches are pending (its fd count). LIFO order
 *   opens those soon, so a chain deeper than PATH_MAX holds a couple of fds, not one each.
 * - Nothing is trusted between two system calls. A subdirectory is looked at with statx
 *   (AT_SYMLINK_NOFOLLOW) while listing, opened with O_NOFOLLOW | O_DIRECTORY, and the open
 *   fd must be the same dev/ino on the same mount: a directory swapped for a symlink or a
 *   mount in between is skipped and left. ".." is checked the same way before an rmdir in it.
 * - A mount point inside (another st_dev, or another mount id: a bind mount of the same
 *   filesystem has the same st_dev) is never entered; rmdir/unlink of a mount point would
 *   fail with EBUSY anyway, and what is under it is not ours.
 * - The count of what is left comes from a second, read-only walk over whatever is still
 *   there, not from the first walk's bookkeeping, which a race could get wrong.
 */
#include "wipe.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "log.h"
#include "util.h"

/* fchmodat2(2) (Linux 6.6) changes the mode of an O_PATH fd with AT_EMPTY_PATH; the number
 * is the same on every architecture (the unified table starting at 424). */
#ifndef SYS_fchmodat2
#define SYS_fchmodat2 452
#endif

enum {
	WIPE_LOG_MAX = 20,                /* "wipe.left" lines, then one summary */
	WIPE_THREADS_PER_CPU = 8,         /* see worker_count() */
	WIPE_MAX_THREADS = 64,            /* more would only contend on the filesystem's locks */
	WIPE_DENTS_BUF = 64 * 1024,       /* one getdents64 call lists ~2,000 short names */
	WIPE_ESCAPED_NAME = 4 * NAME_MAX, /* each byte at most \xNN */
	WIPE_SHOWN_PATH = 1200,           /* longest path shown in a log line; the tail is kept */
	WIPE_BATCH = 16,                  /* names per batch handed to another worker */
	WIPE_BATCH_BYTES = WIPE_BATCH * (NAME_MAX + 2), /* type, name, NUL */
};

void (*wipe_test_hook_before_open)(int parent_fd, const char *name) = NULL;

/* A directory to visit, being visited, or waiting for its subdirectories to be removed. */
struct wnode {
	struct wnode *parent; /* NULL for the top */
	dev_t dev;            /* seen while listing the parent; checked after open and on ".." */
	ino_t ino;
	int fd; /* valid while the fd count is not 0 */
	/* Two counts in one word (REF_PENDING, REF_FD), because a thread that drops both must
	 * learn from one atomic operation whether it finishes the node (pending reached 0: the fd
	 * is still open for it) or must close the fd (fd count reached 0): after dropping its
	 * pending count it may not touch the node again, another thread may have freed it. */
	_Atomic uint64_t refs;
	atomic_bool kept; /* something inside stays, so this directory stays too */
	int batch;        /* > 0: not a directory, but that many names in parent to unlink */
	char name[];      /* in the parent; "" for the top; a batch: packed entries */
};

struct walk {
	int topfd;
	dev_t dev; /* the top's: never crossed */
	uint64_t mnt_id;
	bool have_mnt_id; /* statx gave STATX_MNT_ID (Linux 5.8) */
	bool remove;      /* false: the verification pass, which only counts */
	uid_t euid;
	const char *what; /* the top, for messages */

	pthread_mutex_t lock; /* guards the stack and busy */
	pthread_cond_t cond;
	struct wnode **stack;
	size_t n, cap;
	int busy;     /* workers holding a node: the walk ends when 0 with the stack empty */
	int nworkers; /* batches are handed out only while the stack holds fewer nodes */

	pthread_mutex_t log_lock; /* one log line at a time, in order */
	atomic_long warned;       /* entries reported as left (logged up to WIPE_LOG_MAX) */
};

/* Per thread: counters summed after the join, so that the hot path shares nothing. */
struct worker {
	struct walk *w;
	pthread_t thread;
	char *buf; /* getdents64 buffer */
	long long files, dirs, bytes, found, mounts;
	/* Names to unlink, collected while listing: entries of a d_type byte, the name, NUL. */
	char pack[WIPE_BATCH_BYTES];
	size_t pack_len;
	int pack_n;
};

/* ---- messages ---------------------------------------------------------------------------- */

/* Writes name with every byte that is not printable ASCII (control characters, DEL, bytes
 * >= 0x80 of any encoding) and the backslash as \xNN, so that a log line shows the name
 * unambiguously whatever bytes it holds. Stops before overflowing out (size >= 4); returns
 * the length written, without a NUL. */
static size_t escape_name(const char *name, char *out, size_t size)
{
	static const char hex[] = "0123456789abcdef";
	size_t len = 0;
	for (const unsigned char *p = (const unsigned char *)name; *p && len + 4 <= size; p++) {
		if (*p < 0x20 || *p >= 0x7f || *p == '\\') {
			out[len++] = '\\';
			out[len++] = 'x';
			out[len++] = hex[*p >> 4];
			out[len++] = hex[*p & 0xf];
		} else {
			out[len++] = (char)*p;
		}
	}
	return len;
}

/* Puts the escaped component name in front of buf[*start..]; false when it does not fit. */
static bool prepend(char *buf, size_t *start, const char *name, bool slash)
{
	char esc[WIPE_ESCAPED_NAME];
	size_t len = escape_name(name, esc, sizeof(esc)) + (slash ? 1 : 0);
	if (len > *start)
		return false;
	*start -= len;
	memcpy(buf + *start, esc, len - (slash ? 1 : 0));
	if (slash)
		buf[*start + len - 1] = '/';
	return true;
}

/* The path of dir/name (or of dir itself when name is "") relative to the top, for people:
 * built only for a log line, the walk itself never uses paths. A path longer than out keeps
 * its tail, behind "...". */
static void shown_path(const struct wnode *dir, const char *name, char *out, size_t size)
{
	size_t start = size - 1;
	out[start] = '\0';
	bool whole = true, last = true;
	if (*name) {
		whole = prepend(out, &start, name, false);
		last = false;
	}
	for (const struct wnode *d = dir; whole && d && d->parent; d = d->parent) {
		whole = prepend(out, &start, d->name, !last);
		last = false;
	}
	if (last)
		out[--start] = '.'; /* the top itself */
	if (!whole && start >= 3) {
		start -= 3;
		memcpy(out + start, "...", 3);
	}
	memmove(out, out + start, size - start);
}

/* Reports one entry of dir that stays (the removal pass only): up to WIPE_LOG_MAX lines. */
static void report_left(struct worker *wk, const struct wnode *dir, const char *name, int errnum,
			const char *why)
{
	struct walk *w = wk->w;
	if (!w->remove || atomic_fetch_add(&w->warned, 1) >= WIPE_LOG_MAX)
		return;
	char path[WIPE_SHOWN_PATH];
	shown_path(dir, name, path, sizeof(path));
	pthread_mutex_lock(&w->log_lock);
	log_event(LOG_WARN, "wipe.left",
		  LOG_FIELDS(LOG_STR("dir", w->what), LOG_STR("path", path),
			     LOG_INT("errno", errnum),
			     LOG_STR("error", errnum ? strerror(errnum) : "")),
		  "%s: left %s: %s%s%s", w->what, path, why, errnum ? ": " : "",
		  errnum ? strerror(errnum) : "");
	pthread_mutex_unlock(&w->log_lock);
}

/* ---- the shared stack ------------------------------------------------------------------ */

static int stack_push(struct walk *w, struct wnode *node)
{
	pthread_mutex_lock(&w->lock);
	if (w->n == w->cap) {
		size_t cap = w->cap ? w->cap * 2 : 256;
		struct wnode **s = reallocarray(w->stack, cap, sizeof(struct wnode *));
		if (!s) {
			pthread_mutex_unlock(&w->lock);
			return -1;
		}
		w->stack = s;
		w->cap = cap;
	}
	w->stack[w->n++] = node;
	pthread_cond_signal(&w->cond);
	pthread_mutex_unlock(&w->lock);
	return 0;
}

/* The next node to visit, or NULL when the walk is over: nothing on the stack and no worker
 * busy, hence nobody left who could push more. */
static struct wnode *stack_pop(struct walk *w)
{
	pthread_mutex_lock(&w->lock);
	while (w->n == 0 && w->busy > 0)
		pthread_cond_wait(&w->cond, &w->lock);
	struct wnode *node = NULL;
	if (w->n > 0) {
		node = w->stack[--w->n];
		w->busy++;
	} else {
		pthread_cond_broadcast(&w->cond); /* wake the others: they are done too */
	}
	pthread_mutex_unlock(&w->lock);
	return node;
}

/* Would another worker pick up a batch now? Sharing the names of one directory keeps every
 * worker busy on a deep or flat tree; while there is plenty of other work on the stack, the
 * lister removes its own names, which costs no copy. */
static bool stack_hungry(struct walk *w)
{
	pthread_mutex_lock(&w->lock);
	bool hungry = w->n < (size_t)w->nworkers;
	pthread_mutex_unlock(&w->lock);
	return hungry;
}

static void stack_done_one(struct walk *w)
{
	pthread_mutex_lock(&w->lock);
	if (--w->busy == 0 && w->n == 0)
		pthread_cond_broadcast(&w->cond);
	pthread_mutex_unlock(&w->lock);
}

/* ---- fds and permissions --------------------------------------------------------------- */

static void close_fd(const struct walk *w, int fd)
{
	if (fd >= 0 && fd != w->topfd)
		close(fd);
}

/* The counts in wnode.refs. Pending: 1 for the listing, 1 per subdirectory not finished, 1
 * per batch not done. Fd: 1 for the listing, 1 per subdirectory not opened, 1 per batch not
 * done; every holder of an fd count holds a pending count too. */
#define REF_FD        ((uint64_t)1)
#define REF_PENDING   ((uint64_t)1 << 32)
#define FDS(refs)     ((refs)&0xffffffffu)
#define PENDING(refs) ((refs) >> 32)

/* Drops one fd count on node, for a holder that keeps its pending count (so node stays); the
 * last count closes the fd (the top's fd is the caller's). */
static void fd_release(struct wnode *node)
{
	int fd = node->parent ? node->fd : -1;
	if (FDS(atomic_fetch_sub(&node->refs, REF_FD)) == 1 && fd >= 0)
		close(fd);
}

static void node_init(struct wnode *node, struct wnode *parent, int fd)
{
	node->parent = parent;
	node->fd = fd;
	atomic_init(&node->refs, REF_PENDING | REF_FD); /* the listing's */
	atomic_init(&node->kept, false);
	node->batch = 0;
}

/* The permission fix applies only where the owner could make it too: as root (CAP_FOWNER)
 * or as the directory's owner. Anything else is someone else's directory: left. */
static bool may_chmod(const struct walk *w, uid_t owner)
{
	return w->euid == 0 || owner == w->euid;
}

/* Gives the owner rwx on an open directory that we could list but not change (mode 0500). */
static int unlock_open_dir(const struct walk *w, int fd)
{
	struct stat sb;
	if (fstat(fd, &sb) < 0)
		return -1;
	if (!may_chmod(w, sb.st_uid) || (sb.st_mode & S_IRWXU) == S_IRWXU) {
		errno = EACCES;
		return -1;
	}
	return fchmod(fd, (sb.st_mode & 07777) | S_IRWXU);
}

/* chmod of an O_PATH fd: fchmod(2) refuses those (EBADF); fchmodat2 (Linux 6.6) takes them
 * with AT_EMPTY_PATH, and before it /proc/self/fd/N is the same inode without a path lookup
 * that a rename could redirect. */
static int chmod_path_fd(int pathfd, mode_t mode)
{
	if (syscall(SYS_fchmodat2, pathfd, "", mode, AT_EMPTY_PATH) == 0)
		return 0;
	/* ENOSYS before 6.6, or EPERM from a seccomp profile older than the syscall: when the
	 * chmod itself is not allowed, the fallback fails the same way. */
	char proc[32];
	snprintf(proc, sizeof(proc), "/proc/self/fd/%d", pathfd);
	return chmod(proc, mode);
}

/* node could not be opened for reading (mode 000, or no x): give its owner rwx on it, after
 * checking through an O_PATH fd (which needs no permission on the directory) that it still is
 * the directory that was listed. */
static int unlock_closed_dir(const struct walk *w, int parent_fd, const struct wnode *node)
{
	_cleanup_(closep) int pfd =
	    openat(parent_fd, node->name, O_PATH | O_NOFOLLOW | O_DIRECTORY | O_CLOEXEC);
	struct stat sb;
	if (pfd < 0 || fstat(pfd, &sb) < 0)
		return -1;
	if (sb.st_dev != node->dev || sb.st_ino != node->ino || !may_chmod(w, sb.st_uid)) {
		errno = EACCES;
		return -1;
	}
	return chmod_path_fd(pfd, (sb.st_mode & 07777) | S_IRWXU);
}

/* unlinkat, fixing dir's permissions once when they are what stands in the way. */
static int unlink_in(const struct walk *w, int dfd, const char *name, int flags, bool *unlocked)
{
	int r = unlinkat(dfd, name, flags);
	if (r < 0 && errno == EACCES && !*unlocked && w->remove) {
		*unlocked = true;
		if (unlock_open_dir(w, dfd) == 0)
			r = unlinkat(dfd, name, flags);
		else
			errno = EACCES;
	}
	return r;
}

/* statx of an entry, never following it; dev filled from the major/minor pair. */
static int stat_entry(int dfd, const char *name, unsigned int mask, struct statx *sx, dev_t *dev)
{
	if (statx(dfd, name, AT_SYMLINK_NOFOLLOW | AT_NO_AUTOMOUNT, mask, sx) < 0)
		return -1;
	*dev = makedev(sx->stx_dev_major, sx->stx_dev_minor);
	return 0;
}

/* Is a directory with this statx on another filesystem or mount than the top? */
static bool other_mount(const struct walk *w, const struct statx *sx, dev_t dev)
{
	if (dev != w->dev)
		return true;
	return w->have_mnt_id && (sx->stx_mask & STATX_MNT_ID) && sx->stx_mnt_id != w->mnt_id;
}

/* ---- finishing a directory ------------------------------------------------------------- */

/* An fd of node's parent, found through ".." of node's fd (the parent's own fd is usually
 * closed by now) and checked to be the directory that was listed: a directory moved
 * elsewhere during the walk has another "..", and nothing is removed there. */
static int open_parent(struct worker *wk, const struct wnode *node, int fd)
{
	const struct wnode *parent = node->parent;
	if (!parent->parent)
		return wk->w->topfd;
	int pfd = openat(fd, "..", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	struct stat sb;
	if (pfd >= 0 && fstat(pfd, &sb) == 0 && sb.st_dev == parent->dev &&
	    sb.st_ino == parent->ino)
		return pfd;
	int e = pfd < 0 ? errno : 0;
	if (pfd >= 0)
		close(pfd);
	report_left(wk, node, "", e, "moved while it was being wiped");
	return -1;
}

/* Removes the (now empty) directory node from its parent. */
static int remove_dir(struct worker *wk, int pfd, const struct wnode *node)
{
	bool unlocked = false;
	if (unlink_in(wk->w, pfd, node->name, AT_REMOVEDIR, &unlocked) == 0) {
		wk->dirs++;
		return 0;
	}
	int e = errno;
	if (e == EBUSY)
		wk->mounts++; /* mounted on since it was listed */
	report_left(wk, node, "", e, "cannot remove the directory");
	return -1;
}

/* node's pending count reached zero: everything under it is finished, and fd (owned) is an
 * fd of it. Remove it, then do the same for each parent whose count this brings to zero. A
 * directory that keeps something stays, and so do all its ancestors: no fd is needed then. */
static void finish(struct worker *wk, struct wnode *node, int fd)
{
	struct walk *w = wk->w;
	while (node->parent) {
		struct wnode *parent = node->parent;
		bool keep = !w->remove || atomic_load(&node->kept) || fd < 0;
		int pfd = -1;
		if (!keep) {
			pfd = open_parent(wk, node, fd);
			keep = pfd < 0 || remove_dir(wk, pfd, node) < 0;
		}
		if (keep)
			atomic_store(&parent->kept, true);
		close_fd(w, fd);
		free(node);
		if (PENDING(atomic_fetch_sub(&parent->refs, REF_PENDING)) != 1) {
			close_fd(w, pfd);
			return;
		}
		node = parent;
		fd = pfd;
	}
}

/* Drops a pending and an fd count of dir (the listing's, a batch's, or those of a
 * subdirectory that was never opened). Whoever drops the last pending count finishes dir,
 * with the fd its own fd count kept open; whoever drops the last fd count closes it. */
static void release_both(struct worker *wk, struct wnode *dir)
{
	int fd = dir->fd; /* read now: once our counts are gone, dir may be freed by another */
	uint64_t old = atomic_fetch_sub(&dir->refs, REF_PENDING | REF_FD);
	if (PENDING(old) == 1)
		finish(wk, dir, fd);
	else if (FDS(old) == 1)
		close_fd(wk->w, fd);
}

/* A child of dir (a subdirectory not opened, or a batch of names) is done. */
static void release_child(struct worker *wk, struct wnode *dir, bool keep)
{
	if (keep)
		atomic_store(&dir->kept, true);
	release_both(wk, dir);
}

/* A subdirectory that will not be visited: it stays (cannot be opened, changed, no memory),
 * and so does its parent, or it is gone already (gone). */
static void give_up(struct worker *wk, struct wnode *node, bool gone)
{
	struct wnode *parent = node->parent;
	free(node);
	release_child(wk, parent, !gone);
}

/* ---- visiting a directory -------------------------------------------------------------- */

/* Opens node relative to its parent, refusing anything but the directory that was listed.
 * *gone tells a failure because the directory no longer exists (nothing left) apart. */
static int open_node(struct worker *wk, const struct wnode *node, bool *gone)
{
	const struct walk *w = wk->w;
	int parent_fd = node->parent->fd;
	if (wipe_test_hook_before_open)
		wipe_test_hook_before_open(parent_fd, node->name);
	const int flags = O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC;
	int fd = openat(parent_fd, node->name, flags);
	if (fd < 0 && errno == EACCES && w->remove && unlock_closed_dir(w, parent_fd, node) == 0)
		fd = openat(parent_fd, node->name, flags);
	if (fd < 0) {
		int e = errno;
		*gone = e == ENOENT;
		if (!*gone)
			report_left(wk, node->parent, node->name, e,
				    e == ELOOP || e == ENOTDIR ? "no longer a directory"
							       : "cannot open");
		return -1;
	}
	struct statx sx;
	if (statx(fd, "", AT_EMPTY_PATH, STATX_INO | STATX_MNT_ID, &sx) < 0) {
		report_left(wk, node->parent, node->name, errno, "cannot stat");
		close(fd);
		return -1;
	}
	dev_t dev = makedev(sx.stx_dev_major, sx.stx_dev_minor);
	if (dev != node->dev || sx.stx_ino != node->ino || other_mount(w, &sx, dev)) {
		report_left(wk, node->parent, node->name, 0, "replaced while it was being wiped");
		close(fd);
		return -1;
	}
	return fd;
}

/* The state of one directory while it is listed. */
struct listing {
	struct wnode *node;
	int fd;
	bool unlocked; /* its permissions were fixed already (or that was tried) */
};

/* A subdirectory found while listing: counted, then visited later by some worker. */
static void add_subdir(struct worker *wk, struct listing *l, const char *name,
		       const struct statx *sx, dev_t dev)
{
	struct walk *w = wk->w;
	if (other_mount(w, sx, dev)) {
		if (w->remove) {
			wk->mounts++;
			report_left(wk, l->node, name, 0, "a mount point: left alone");
		}
		atomic_store(&l->node->kept, true);
		return;
	}
	size_t len = strlen(name);
	struct wnode *child = malloc(sizeof(*child) + len + 1);
	if (!child) {
		report_left(wk, l->node, name, ENOMEM, "cannot visit");
		atomic_store(&l->node->kept, true);
		return;
	}
	node_init(child, l->node, -1);
	child->dev = dev;
	child->ino = sx->stx_ino;
	memcpy(child->name, name, len + 1);
	atomic_fetch_add(&l->node->refs, REF_PENDING | REF_FD);
	if (stack_push(w, child) < 0) {
		report_left(wk, l->node, name, ENOMEM, "cannot visit");
		give_up(wk, child, false);
	}
}

/* Unlinks a non-directory. Only a regular file's size is needed (for the bytes count), and
 * only then is it looked at; its data is freed only with its last link, hence nlink == 1. */
static void remove_file(struct worker *wk, struct listing *l, const char *name, bool regular)
{
	long long size = 0;
	struct statx sx;
	if (regular &&
	    statx(l->fd, name, AT_SYMLINK_NOFOLLOW | AT_STATX_DONT_SYNC,
		  STATX_TYPE | STATX_SIZE | STATX_NLINK, &sx) == 0 &&
	    S_ISREG(sx.stx_mode) && sx.stx_nlink == 1)
		size = (long long)sx.stx_size;
	if (unlink_in(wk->w, l->fd, name, 0, &l->unlocked) == 0) {
		wk->files++;
		wk->bytes += size;
		return;
	}
	int e = errno;
	if (e == ENOENT)
		return; /* gone already: nothing left, nothing removed by us */
	if (e == EBUSY)
		wk->mounts++; /* a file bind-mounted over */
	atomic_store(&l->node->kept, true);
	report_left(wk, l->node, name, e,
		    e == EISDIR ? "became a directory while it was being wiped" : "cannot remove");
}

/* Unlinks n packed entries (see struct worker) of the directory being listed. */
static void remove_packed(struct worker *wk, struct listing *l, const char *pack, int n)
{
	for (int i = 0; i < n; i++) {
		unsigned char type = (unsigned char)*pack++;
		remove_file(wk, l, pack, type == DT_REG);
		pack += strlen(pack) + 1;
	}
}

/* Hands the names collected so far to another worker as a batch node, or removes them here
 * when no worker is waiting for work (or memory is short: slower, not wrong). The batch holds
 * an fd reference and a pending count of the directory, like a subdirectory does. */
static void batch_flush(struct worker *wk, struct listing *l)
{
	struct walk *w = wk->w;
	if (wk->pack_n == 0)
		return;
	struct wnode *b = stack_hungry(w) ? malloc(sizeof(*b) + wk->pack_len) : NULL;
	if (b) {
		node_init(b, l->node, -1);
		b->batch = wk->pack_n;
		memcpy(b->name, wk->pack, wk->pack_len);
		atomic_fetch_add(&l->node->refs, REF_PENDING | REF_FD);
		if (stack_push(w, b) < 0) {
			free(b);
			b = NULL;
			/* The listing's own counts keep both above 0. */
			atomic_fetch_sub(&l->node->refs, REF_PENDING | REF_FD);
		}
	}
	if (!b)
		remove_packed(wk, l, wk->pack, wk->pack_n);
	wk->pack_len = 0;
	wk->pack_n = 0;
}

/* Queues a non-directory for unlinking. */
static void batch_add(struct worker *wk, struct listing *l, const char *name, unsigned char type)
{
	size_t len = strlen(name) + 1;
	if (len > NAME_MAX + 1) { /* no filesystem we know returns one, but do not overflow */
		remove_file(wk, l, name, type == DT_REG);
		return;
	}
	if (wk->pack_len + 1 + len > sizeof(wk->pack))
		batch_flush(wk, l);
	wk->pack[wk->pack_len++] = (char)type;
	memcpy(wk->pack + wk->pack_len, name, len);
	wk->pack_len += len;
	if (++wk->pack_n == WIPE_BATCH)
		batch_flush(wk, l);
}

/* A batch node: unlinks its names in its directory, then counts as one finished child. */
static void visit_batch(struct worker *wk, struct wnode *b)
{
	struct wnode *dir = b->parent;
	struct listing l = { .node = dir, .fd = dir->fd };
	remove_packed(wk, &l, b->name, b->batch);
	free(b);
	release_child(wk, dir, false); /* remove_file marked dir kept for what stays */
}

/* One directory entry. d_type saves a statx for everything but directories (their dev, ino
 * and mount are checked) and regular files (their size is counted); DT_UNKNOWN (some
 * filesystems) is resolved with statx. */
static void on_entry(struct worker *wk, struct listing *l, const char *name, unsigned char type)
{
	if (name[0] == '.' && (name[1] == '\0' || (name[1] == '.' && name[2] == '\0')))
		return;
	if (!wk->w->remove)
		wk->found++;
	if (type != DT_DIR && type != DT_UNKNOWN) {
		if (wk->w->remove)
			batch_add(wk, l, name, type);
		return;
	}
	struct statx sx;
	dev_t dev;
	if (stat_entry(l->fd, name, STATX_TYPE | STATX_INO | STATX_MNT_ID, &sx, &dev) < 0) {
		if (errno != ENOENT) {
			report_left(wk, l->node, name, errno, "cannot stat");
			atomic_store(&l->node->kept, true);
		}
		return;
	}
	if (S_ISDIR(sx.stx_mode))
		add_subdir(wk, l, name, &sx, dev);
	else if (wk->w->remove)
		remove_file(wk, l, name, S_ISREG(sx.stx_mode));
}

/* Lists node (open as fd) to the end, handling each entry. */
static void list_dir(struct worker *wk, struct listing *l)
{
	for (;;) {
		ssize_t n = getdents64(l->fd, wk->buf, WIPE_DENTS_BUF);
		if (n == 0)
			break;
		if (n < 0) {
			report_left(wk, l->node, "", errno, "cannot list");
			atomic_store(&l->node->kept, true);
			break;
		}
		for (ssize_t off = 0; off < n;) {
			const struct dirent64 *d = (const struct dirent64 *)(wk->buf + off);
			on_entry(wk, l, d->d_name, d->d_type);
			off += d->d_reclen;
		}
	}
	batch_flush(wk, l);
}

static void visit(struct worker *wk, struct wnode *node)
{
	if (node->batch) {
		visit_batch(wk, node);
		return;
	}
	if (node->parent) {
		bool gone = false;
		int fd = open_node(wk, node, &gone);
		if (fd < 0) {
			give_up(wk, node, gone);
			return;
		}
		node->fd = fd;
		fd_release(node->parent);
	}
	struct listing l = { .node = node, .fd = node->fd };
	list_dir(wk, &l);
	release_both(wk, node);
}

static void *worker_main(void *arg)
{
	struct worker *wk = arg;
	struct wnode *node;
	while ((node = stack_pop(wk->w))) {
		visit(wk, node);
		stack_done_one(wk->w);
	}
	return NULL;
}

/* ---- running a walk -------------------------------------------------------------------- */

/* WIPE_THREADS_PER_CPU workers per CPU this process may run on (a cpuset can be smaller than
 * the machine). More workers than CPUs, because an unlink mostly waits: on ext4 the last
 * unlink of a file frees its blocks, and with -o discard that is a synchronous discard
 * (ext4_free_blocks -> blkdev_issue_discard, seen in /proc/PID/stack); journal commits and
 * network or overlay filesystems wait too. A waiting worker uses no CPU, and the device
 * takes the next request meanwhile. Measured on 2 CPUs, ext4, 100,000 files in 1,000
 * directories: 2 workers 1.6x faster than rm -rf, 8 workers 2.7x, 16 workers 3.6x, 32
 * workers 3.8x; on tmpfs, where unlink is pure CPU, 16 workers still beat rm -rf (1.5x). */
static int worker_count(void)
{
	long n = sysconf(_SC_NPROCESSORS_ONLN);
	cpu_set_t set;
	if (sched_getaffinity(0, sizeof(set), &set) == 0 && CPU_COUNT(&set) < n)
		n = CPU_COUNT(&set);
	n = (n < 1 ? 1 : n) * WIPE_THREADS_PER_CPU;
	return n > WIPE_MAX_THREADS ? WIPE_MAX_THREADS : (int)n;
}

static int walk_init(struct walk *w, int topfd, const char *what, bool remove, struct rs_err *err)
{
	struct statx sx;
	if (statx(topfd, "", AT_EMPTY_PATH, STATX_TYPE | STATX_INO | STATX_MNT_ID, &sx) < 0) {
		rs_fail(err, EX_RS_IOERR, errno, "wipe %s: cannot stat", what);
		return -1;
	}
	*w = (struct walk){
		.topfd = topfd,
		.dev = makedev(sx.stx_dev_major, sx.stx_dev_minor),
		.mnt_id = sx.stx_mnt_id,
		.have_mnt_id = (sx.stx_mask & STATX_MNT_ID) != 0,
		.remove = remove,
		.euid = geteuid(),
		.what = what,
	};
	pthread_mutex_init(&w->lock, NULL);
	pthread_cond_init(&w->cond, NULL);
	pthread_mutex_init(&w->log_lock, NULL);
	atomic_init(&w->warned, 0);
	return 0;
}

static void walk_destroy(struct walk *w)
{
	free(w->stack);
	pthread_mutex_destroy(&w->lock);
	pthread_cond_destroy(&w->cond);
	pthread_mutex_destroy(&w->log_lock);
}

static struct wnode *top_node(const struct walk *w)
{
	struct stat sb;
	struct wnode *top = malloc(sizeof(*top) + 1);
	if (!top || fstat(w->topfd, &sb) < 0) {
		free(top);
		return NULL;
	}
	node_init(top, NULL, w->topfd);
	top->dev = sb.st_dev;
	top->ino = sb.st_ino;
	top->name[0] = '\0';
	return top;
}

/* Starts up to n - 1 threads beside the calling one; returns how many workers there are. */
static int start_workers(struct worker *wk, int n)
{
	int started = 1;
	for (int i = 1; i < n; i++) {
		if (!wk[i].buf || pthread_create(&wk[i].thread, NULL, worker_main, &wk[i]) != 0)
			break; /* fewer workers is slower, not wrong */
		started++;
	}
	return started;
}

/* Runs the walk with the n workers of wk (the calling thread is the first), adding their
 * counts to st. Returns how many workers ran: 0 when not even one had memory. */
static int run_workers(struct walk *w, struct worker *wk, int n, struct wipe_stats *st)
{
	for (int i = 0; i < n; i++) {
		wk[i].w = w;
		wk[i].buf = malloc(WIPE_DENTS_BUF);
	}
	w->nworkers = n;
	int running = wk[0].buf ? start_workers(wk, n) : 0;
	if (running > 0)
		worker_main(&wk[0]);
	for (int i = 1; i < running; i++)
		pthread_join(wk[i].thread, NULL);
	for (int i = 0; i < n; i++) {
		st->files += wk[i].files;
		st->dirs += wk[i].dirs;
		st->bytes += wk[i].bytes;
		st->left += wk[i].found;
		st->mounts_skipped += wk[i].mounts;
		free(wk[i].buf);
	}
	return running;
}

/* Runs one pass over w's top with n workers, adding the counts to st. */
static int walk_run(struct walk *w, int n, struct wipe_stats *st, struct rs_err *err)
{
	struct worker *wk = calloc((size_t)n, sizeof(*wk));
	struct wnode *top = wk ? top_node(w) : NULL;
	int ran = top && stack_push(w, top) == 0 ? run_workers(w, wk, n, st) : 0;
	free(top); /* the walk never frees the top: it has no parent to be removed from */
	free(wk);
	if (ran == 0)
		return rs_fail(err, EX_RS_IOERR, ENOMEM, "wipe %s: cannot start", w->what);
	return 0;
}

/* One pass: the removal (remove) or the verification. A fresh open file description of the
 * top for each, so that neither depends on the caller's or the other pass's offset. */
static int pass(int dfd, const char *what, bool remove, struct wipe_stats *st, long *warned,
		struct rs_err *err)
{
	_cleanup_(closep) int fd = openat(dfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return rs_fail(err, EX_RS_IOERR, errno, "wipe %s: cannot open", what);
	struct walk w;
	if (walk_init(&w, fd, what, remove, err) < 0)
		return -1;
	int r = walk_run(&w, worker_count(), st, err);
	*warned = atomic_load(&w.warned);
	walk_destroy(&w);
	return r;
}

int wipe_dirfd(int dfd, const char *what, struct wipe_stats *st, struct rs_err *err)
{
	*st = (struct wipe_stats){ 0 };
	long warned = 0, unused;
	if (pass(dfd, what, true, st, &warned, err) < 0)
		return -1;
	/* left is what a fresh look still finds, not what the first pass believes it left. */
	if (pass(dfd, what, false, st, &unused, err) < 0)
		return -1;
	if (warned > WIPE_LOG_MAX)
		log_event(
		    LOG_WARN, "wipe.left",
		    LOG_FIELDS(LOG_STR("dir", what), LOG_INT("not_logged", warned - WIPE_LOG_MAX)),
		    "%s: %ld more entries could not be removed (not logged one by one)", what,
		    warned - WIPE_LOG_MAX);
	return 0;
}

/* Why the top cannot be opened, as the error the caller reports. */
static int top_open_error(const char *path, int e, struct rs_err *err)
{
	struct stat sb;
	bool exists = (e == ELOOP || e == ENOTDIR) && lstat(path, &sb) == 0;
	/* O_NOFOLLOW | O_DIRECTORY on a symlink fails with ENOTDIR or ELOOP (kernel version). */
	if (exists && S_ISLNK(sb.st_mode))
		return rs_fail(err, EX_RS_CONFIG, 0, "wipe %s: is a symlink; refusing to follow it",
			       path);
	if (exists && !S_ISDIR(sb.st_mode))
		return rs_fail(err, EX_RS_CONFIG, 0, "wipe %s: not a directory", path);
	if (e == ENOENT)
		return rs_fail(err, EX_RS_IOERR, 0, "wipe %s: does not exist", path);
	return rs_fail(err, EX_RS_IOERR, e, "wipe %s: cannot open", path);
}

int wipe_dir(const char *path, struct wipe_stats *st, struct rs_err *err)
{
	*st = (struct wipe_stats){ 0 };
	if (path[0] != '/')
		return rs_fail(err, EX_RS_CONFIG, 0, "wipe %s: not an absolute path", path);
	/* O_NOFOLLOW covers the last component, the one a job could have replaced. */
	_cleanup_(closep) int fd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return top_open_error(path, errno, err);
	struct stat sb, root;
	if (fstat(fd, &sb) == 0 && stat("/", &root) == 0 && sb.st_dev == root.st_dev &&
	    sb.st_ino == root.st_ino)
		return rs_fail(err, EX_RS_CONFIG, 0, "wipe %s: refusing to empty /", path);
	return wipe_dirfd(fd, path, st, err);
}
