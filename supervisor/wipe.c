/* wipe_dir(): an fd-relative, parallel rm -rf of what is inside DIR, never leaving its mount.
 *
 * How the walk is shaped, and why:
 *
 * - Every directory still to visit is a node {parent, name, dev, ino}. Workers (one per
 *   usable CPU) take nodes from one shared LIFO stack, open them relative to the parent's fd,
 *   list them with getdents64, unlink every non-directory on the spot and push each
 *   subdirectory as a new node. Parallelism across directories is what beats rm -rf: unlinks
 *   in different directories do not share the directory's inode lock.
 * - A directory is removed after its children: node->pending counts the node's own listing
 *   plus its unfinished subdirectories, and whoever brings it to zero removes the directory
 *   (in its parent, reached through "..") and then decrements the parent, and so on upwards.
 *   So the thread that finishes a node always holds an fd of it.
 * - Open fds stay bounded: a node keeps its fd only while it is being listed or some of its
 *   subdirectories are not opened yet (fd_refs). LIFO order opens those soon, so a chain
 *   deeper than PATH_MAX holds a couple of fds, not one per level.
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
	WIPE_LOG_MAX = 20,           /* "wipe.left" lines, then one summary */
	WIPE_MAX_THREADS = 64,       /* more would only contend on the filesystem's locks */
	WIPE_DENTS_BUF = 64 * 1024,  /* one getdents64 call lists ~2,000 short names */
	WIPE_SHOWN_PATH = 512,       /* longest path shown in a log line; the tail is kept */
	WIPE_ESCAPED_NAME = 4 * 255, /* NAME_MAX bytes, each at most \xNN */
};

void (*wipe_test_hook_before_open)(int parent_fd, const char *name) = NULL;

/* A directory to visit, being visited, or waiting for its subdirectories to be removed. */
struct wnode {
	struct wnode *parent; /* NULL for the top */
	dev_t dev;            /* seen while listing the parent; checked after open and on ".." */
	ino_t ino;
	int fd;              /* valid while fd_refs > 0 */
	atomic_int fd_refs;  /* 1 while listing + 1 per subdirectory not opened yet */
	atomic_long pending; /* 1 while listing + 1 per subdirectory not finished */
	atomic_bool kept;    /* something inside stays, so this directory stays too */
	char name[];         /* in the parent; "" for the top */
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
	int busy; /* workers holding a node: the walk ends when 0 with the stack empty */

	pthread_mutex_t log_lock; /* one log line at a time, in order */
	atomic_long warned;       /* entries reported as left (logged up to WIPE_LOG_MAX) */
};

/* Per thread: counters summed after the join, so that the hot path shares nothing. */
struct worker {
	struct walk *w;
	pthread_t thread;
	char *buf; /* getdents64 buffer */
	long long files, dirs, bytes, found, mounts;
};

/* ---- messages ---------------------------------------------------------------------------- */

/* Appends name with every byte that is not printable ASCII (control characters, DEL, bytes
 * >= 0x80 of any encoding) and the backslash written as \xNN, so that a log line shows the
 * name unambiguously whatever bytes it holds. Returns the length written. */
static size_t escape_name(const char *name, char *out)
{
	static const char hex[] = "0123456789abcdef";
	size_t len = 0;
	for (const unsigned char *p = (const unsigned char *)name; *p; p++) {
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
	char esc[WIPE_ESCAPED_NAME + 1];
	size_t len = escape_name(name, esc) + (slash ? 1 : 0);
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
	if (!whole && start >= 3)
		memcpy(out + (start -= 3), "...", 3);
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
		struct wnode **s = realloc(w->stack, cap * sizeof(*s));
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

/* Drops one reference to node->fd; the last one closes it (the top's fd is the caller's). */
static void fd_release(struct wnode *node)
{
	if (atomic_fetch_sub(&node->fd_refs, 1) == 1 && node->parent)
		close(node->fd);
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
		if (atomic_fetch_sub(&parent->pending, 1) != 1) {
			close_fd(w, pfd);
			return;
		}
		node = parent;
		fd = pfd;
	}
}

/* A subdirectory that will not be visited: it stays (cannot be opened, changed, no memory),
 * and so does its parent, or it is gone already (gone). We hold one of the parent's fd
 * references, and the parent may be waiting for this very child. */
static void give_up(struct worker *wk, struct wnode *node, bool gone)
{
	struct wnode *parent = node->parent;
	if (!gone)
		atomic_store(&parent->kept, true);
	free(node);
	if (atomic_fetch_sub(&parent->pending, 1) == 1)
		finish(wk, parent, parent->fd); /* ours was the last fd reference */
	else
		fd_release(parent);
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
	*child = (struct wnode){ .parent = l->node, .dev = dev, .ino = sx->stx_ino, .fd = -1 };
	atomic_init(&child->fd_refs, 1);
	atomic_init(&child->pending, 1);
	atomic_init(&child->kept, false);
	memcpy(child->name, name, len + 1);
	atomic_fetch_add(&l->node->pending, 1);
	atomic_fetch_add(&l->node->fd_refs, 1);
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
			remove_file(wk, l, name, type == DT_REG);
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
			return;
		if (n < 0) {
			report_left(wk, l->node, "", errno, "cannot list");
			atomic_store(&l->node->kept, true);
			return;
		}
		for (ssize_t off = 0; off < n;) {
			const struct dirent64 *d = (const struct dirent64 *)(wk->buf + off);
			on_entry(wk, l, d->d_name, d->d_type);
			off += d->d_reclen;
		}
	}
}

static void visit(struct worker *wk, struct wnode *node)
{
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
	if (atomic_fetch_sub(&node->pending, 1) == 1)
		finish(wk, node, node->fd); /* all children done: our fd reference is the last */
	else
		fd_release(node);
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

/* One worker per CPU this process may run on (a cpuset can be smaller than the machine). */
static int worker_count(void)
{
	long n = sysconf(_SC_NPROCESSORS_ONLN);
	cpu_set_t set;
	if (sched_getaffinity(0, sizeof(set), &set) == 0 && CPU_COUNT(&set) < n)
		n = CPU_COUNT(&set);
	return n < 1 ? 1 : n > WIPE_MAX_THREADS ? WIPE_MAX_THREADS : (int)n;
}

static int walk_init(struct walk *w, int topfd, const char *what, bool remove, struct rs_err *err)
{
	struct statx sx;
	if (statx(topfd, "", AT_EMPTY_PATH, STATX_TYPE | STATX_INO | STATX_MNT_ID, &sx) < 0)
		return rs_fail(err, EX_RS_IOERR, errno, "wipe %s: cannot stat", what);
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
	*top = (struct wnode){ .dev = sb.st_dev, .ino = sb.st_ino, .fd = w->topfd };
	atomic_init(&top->fd_refs, 1);
	atomic_init(&top->pending, 1);
	atomic_init(&top->kept, false);
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

/* Runs one pass over w's top with n workers, adding the counts to st. */
static int walk_run(struct walk *w, int n, struct wipe_stats *st, struct rs_err *err)
{
	_cleanup_(freep) struct worker *wk = calloc((size_t)n, sizeof(*wk));
	_cleanup_(freep) struct wnode *top = top_node(w);
	if (!wk || !top || stack_push(w, top) < 0)
		return rs_fail(err, EX_RS_IOERR, ENOMEM, "wipe %s", w->what);
	for (int i = 0; i < n; i++) {
		wk[i].w = w;
		wk[i].buf = malloc(WIPE_DENTS_BUF);
	}
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
	if (running == 0) {
		free(w->stack); /* holds only top, freed by the cleanup */
		w->stack = NULL;
		return rs_fail(err, EX_RS_IOERR, ENOMEM, "wipe %s", w->what);
	}
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
	if (e == ELOOP && lstat(path, &sb) == 0 && S_ISLNK(sb.st_mode))
		return rs_fail(err, EX_RS_CONFIG, 0, "wipe %s: is a symlink; refusing to follow it",
			       path);
	if (e == ENOTDIR && lstat(path, &sb) == 0 && !S_ISDIR(sb.st_mode))
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
