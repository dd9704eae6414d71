#include "manifest.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"
#include "util.h"
#include "wipe.h"

/* What is kept of the home's files to put them back: small text files (dotfiles, scripts). */
#define SAVED_FILE_MAX  (1L << 20)
#define SAVED_TOTAL_MAX (16L << 20)

struct entry {
	char *rel;
	dev_t dev;
	ino_t ino;
	off_t size;
	struct timespec atime, mtime;
	struct timespec ctime; /* unlike mtime, a job cannot set it back */
	mode_t mode;
	uid_t uid;
	gid_t gid;
	char *content; /* a home file's bytes, or a home symlink's target; NULL when not kept */
	size_t content_len;
};

struct manifest {
	char *root;
	const char *const *skip;
	struct entry *e;
	size_t n, cap;
	size_t saved; /* bytes kept in content */
};

/* The runner's own code: changes there are never put back, they fail the pod. */
static bool is_code(const char *rel)
{
	static const char *const code[] = { "bin", "externals" };
	for (size_t i = 0; i < ARRAY_SIZE(code); i++) {
		size_t n = strlen(code[i]);
		if (strncmp(rel, code[i], n) == 0 && (rel[n] == '\0' || rel[n] == '/'))
			return true;
	}
	return false;
}

/* A walk over root, fd-relative; visit() decides for each entry whether to descend. */
typedef bool (*visit_fn)(struct manifest *m, int dfd, const char *name, const char *rel,
			 const struct stat *st, void *ud);

static bool skipped_top(const struct manifest *m, const char *rel)
{
	for (const char *const *s = m->skip; s && *s; s++)
		if (strcmp(rel, *s) == 0)
			return true;
	return false;
}

static void walk(struct manifest *m, int dfd, const char *prefix, visit_fn visit, void *ud)
{
	int fd = dup(dfd);
	DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
	if (!d) {
		if (fd >= 0)
			close(fd);
		return;
	}
	for (struct dirent *de; (de = readdir(d));) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		char rel[PATH_MAX];
		if (snprintf(rel, sizeof(rel), "%s%s%s", prefix, *prefix ? "/" : "", de->d_name) >=
		    (int)sizeof(rel))
			continue;
		if (!*prefix && skipped_top(m, rel))
			continue;
		struct stat st;
		if (fstatat(dfd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
			continue;
		if (!visit(m, dfd, de->d_name, rel, &st, ud) || !S_ISDIR(st.st_mode))
			continue;
		int sub = openat(dfd, de->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (sub >= 0) {
			walk(m, sub, rel, visit, ud);
			close(sub);
		}
	}
	closedir(d);
}

static char *read_small_file(int dfd, const char *name, size_t size)
{
	_cleanup_(closep) int fd =
	    openat(dfd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	char *buf = fd >= 0 ? malloc(size + 1) : NULL;
	size_t got = 0;
	while (buf && got < size) {
		ssize_t n = read(fd, buf + got, size - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		got += (size_t)n;
	}
	if (buf && got != size) {
		free(buf);
		return NULL;
	}
	return buf;
}

/* A home file's bytes or a home symlink's target, within the budget. */
static void keep_content(struct manifest *m, struct entry *e, int dfd, const char *name)
{
	if (is_code(e->rel))
		return;
	if (S_ISREG(e->mode) && e->size <= SAVED_FILE_MAX &&
	    m->saved + (size_t)e->size <= SAVED_TOTAL_MAX) {
		e->content = read_small_file(dfd, name, (size_t)e->size);
		e->content_len = (size_t)e->size;
	} else if (S_ISLNK(e->mode)) {
		char target[PATH_MAX];
		ssize_t n = readlinkat(dfd, name, target, sizeof(target) - 1);
		if (n >= 0) {
			e->content = strndup(target, (size_t)n);
			e->content_len = (size_t)n;
		}
	}
	if (e->content)
		m->saved += e->content_len;
}

static bool record_one(struct manifest *m, int dfd, const char *name, const char *rel,
		       const struct stat *st, void *ud)
{
	if (m->n == m->cap) {
		size_t cap = m->cap ? m->cap * 2 : 1024;
		struct entry *grown = realloc(m->e, cap * sizeof(*grown));
		if (!grown)
			return false;
		m->e = grown;
		m->cap = cap;
	}
	char *copy = strdup(rel);
	if (!copy)
		return false;
	m->e[m->n++] = (struct entry){ .rel = copy,
				       .dev = st->st_dev,
				       .ino = st->st_ino,
				       .size = st->st_size,
				       .atime = st->st_atim,
				       .mtime = st->st_mtim,
				       .ctime = st->st_ctim,
				       .mode = st->st_mode,
				       .uid = st->st_uid,
				       .gid = st->st_gid };
	keep_content(m, &m->e[m->n - 1], dfd, name);
	return true;
}

static int cmp_entry(const void *a, const void *b)
{
	return strcmp(((const struct entry *)a)->rel, ((const struct entry *)b)->rel);
}

struct manifest *manifest_record(const char *root, const char *const *skip, struct rs_err *err)
{
	struct manifest *m = calloc(1, sizeof(*m));
	int fd = open(root, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (!m || fd < 0 || !(m->root = strdup(root))) {
		rs_fail(err, EX_RS_CONFIG, m ? errno : ENOMEM, "RUNNER_ROOT %s: cannot record",
			root);
		if (fd >= 0)
			close(fd);
		manifest_free(m);
		return NULL;
	}
	m->skip = skip;
	walk(m, fd, "", record_one, NULL);
	close(fd);
	if (m->n > 0)
		qsort(m->e, m->n, sizeof(*m->e), cmp_entry);
	return m;
}

struct restore_state {
	struct manifest_result *res;
	bool *seen;
};

static bool same(const struct entry *e, const struct stat *st)
{
	/* Directories change mtime when the job adds entries, which we remove: their own
	 * identity, mode and owner are what must stay. */
	bool content =
	    S_ISDIR(st->st_mode) ||
	    (e->size == st->st_size && e->mtime.tv_sec == st->st_mtim.tv_sec &&
	     e->mtime.tv_nsec == st->st_mtim.tv_nsec && e->ctime.tv_sec == st->st_ctim.tv_sec &&
	     e->ctime.tv_nsec == st->st_ctim.tv_nsec);
	return e->ino == st->st_ino && e->dev == st->st_dev && e->mode == st->st_mode &&
	       e->uid == st->st_uid && e->gid == st->st_gid && content;
}

static void remove_added(int dfd, const char *name, const char *rel, const struct stat *st,
			 struct manifest_result *res)
{
	if (S_ISDIR(st->st_mode)) {
		int sub = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		struct wipe_stats ws = { 0 };
		struct rs_err err = { 0 };
		if (sub >= 0) {
			wipe_dirfd(sub, rel, &ws, &err);
			close(sub);
		}
		res->removed += ws.files + ws.dirs;
		res->removed_bytes += ws.bytes;
		if (unlinkat(dfd, name, AT_REMOVEDIR) == 0)
			res->removed++;
		else
			res->left += 1 + ws.left;
		return;
	}
	if (unlinkat(dfd, name, 0) == 0) {
		res->removed++;
		res->removed_bytes += S_ISREG(st->st_mode) ? st->st_size : 0;
	} else {
		res->left++;
	}
}

/* Puts a recorded home file or symlink back under name in dfd: written under a temporary
 * name and renamed over whatever stands there now (never written through it). */
static int put_back_leaf(int dfd, const char *name, const struct entry *e)
{
	char tmp[64];
	snprintf(tmp, sizeof(tmp), ".rs-restore-%d", (int)getpid());
	unlinkat(dfd, tmp, 0);
	if (S_ISLNK(e->mode)) {
		if (symlinkat(e->content, dfd, tmp) < 0)
			return -1;
	} else {
		_cleanup_(closep) int fd =
		    openat(dfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
		if (fd < 0)
			return -1;
		for (size_t off = 0; off < e->content_len;) {
			ssize_t n = write(fd, e->content + off, e->content_len - off);
			if (n < 0 && errno == EINTR)
				continue;
			if (n <= 0) {
				unlinkat(dfd, tmp, 0);
				return -1;
			}
			off += (size_t)n;
		}
		const struct timespec times[2] = { e->atime, e->mtime };
		if (fchmod(fd, e->mode & 07777) < 0 || futimens(fd, times) < 0) {
			unlinkat(dfd, tmp, 0);
			return -1;
		}
	}
	if (fchownat(dfd, tmp, e->uid, e->gid, AT_SYMLINK_NOFOLLOW) < 0 ||
	    renameat(dfd, tmp, dfd, name) < 0) {
		unlinkat(dfd, tmp, 0);
		return -1;
	}
	return 0;
}

/* Removes what stands at name, whatever it is, counting it as removed. */
static void clear_entry(int dfd, const char *name, const char *rel, struct manifest_result *res)
{
	struct stat st;
	if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0)
		remove_added(dfd, name, rel, &st, res);
}

/* A recorded home directory: made again when it is gone, its mode and owner set back. */
static int put_back_dir(int dfd, const char *name, const char *rel, const struct entry *e,
			struct manifest_result *res)
{
	struct stat st;
	if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 && !S_ISDIR(st.st_mode))
		clear_entry(dfd, name, rel, res);
	if (mkdirat(dfd, name, 0700) < 0 && errno != EEXIST)
		return -1;
	_cleanup_(closep) int fd =
	    openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0 || fchown(fd, e->uid, e->gid) < 0 || fchmod(fd, e->mode & 07777) < 0)
		return -1;
	return 0;
}

/* Puts a home entry back as recorded; counts it restored, or changed when it cannot be
 * (code, or a file too large to have been kept). */
static void put_back(int dfd, const char *name, const struct entry *e, struct manifest_result *res)
{
	int rc = -1;
	if (is_code(e->rel)) {
		rc = -1;
	} else if (S_ISDIR(e->mode)) {
		rc = put_back_dir(dfd, name, e->rel, e, res);
	} else if (e->content) {
		struct stat st;
		if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISDIR(st.st_mode))
			clear_entry(dfd, name, e->rel, res);
		rc = put_back_leaf(dfd, name, e);
	}
	if (rc == 0) {
		res->restored++;
		return;
	}
	res->changed++;
	log_event(LOG_ERROR, "installation.changed", LOG_FIELDS(LOG_STR("path", e->rel)),
		  is_code(e->rel) ? "the runner installation changed during the job: %s"
				  : "the job changed %s and it cannot be put back",
		  e->rel);
}

static bool restore_one(struct manifest *m, int dfd, const char *name, const char *rel,
			const struct stat *st, void *ud)
{
	struct restore_state *rs = ud;
	struct entry key = { .rel = (char *)rel };
	struct entry *e = m->n ? bsearch(&key, m->e, m->n, sizeof(*m->e), cmp_entry) : NULL;
	if (!e) {
		/* Litter in the home is removed; an entry added inside the runner's own code
		 * (bin/, externals/) means the installation changed. */
		if (is_code(rel)) {
			rs->res->changed++;
			log_event(LOG_ERROR, "installation.changed",
				  LOG_FIELDS(LOG_STR("path", rel)),
				  "the job added %s to the runner installation", rel);
		}
		remove_added(dfd, name, rel, st, rs->res);
		return false;
	}
	if (same(e, st)) {
		rs->seen[e - m->e] = true;
		return true;
	}
	/* Left unseen: put back in order, parents first, once the walk is over. */
	return S_ISDIR(e->mode) && S_ISDIR(st->st_mode);
}

/* The directory that holds rel, opened component by component without following links. */
static int open_parent(int root_fd, const char *rel, const char **base)
{
	int fd = dup(root_fd);
	const char *p = rel, *slash;
	while (fd >= 0 && (slash = strchr(p, '/'))) {
		char part[NAME_MAX + 1];
		size_t n = (size_t)(slash - p);
		if (n > NAME_MAX) {
			close(fd);
			return -1;
		}
		memcpy(part, p, n);
		part[n] = '\0';
		int next = openat(fd, part, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		close(fd);
		fd = next;
		p = slash + 1;
	}
	*base = p;
	return fd;
}

int manifest_restore(struct manifest *m, struct manifest_result *res, struct rs_err *err)
{
	memset(res, 0, sizeof(*res));
	int fd = open(m->root, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return rs_fail(err, EX_RS_IOERR, errno, "RUNNER_ROOT %s: cannot open", m->root);
	struct restore_state rs = { .res = res, .seen = calloc(m->n + 1, sizeof(bool)) };
	if (!rs.seen) {
		close(fd);
		return rs_fail(err, EX_RS_SOFTWARE, ENOMEM, "checking the installation");
	}
	walk(m, fd, "", restore_one, &rs);
	/* What is not as recorded, sorted so that a directory comes before what it holds. */
	for (size_t i = 0; i < m->n; i++) {
		if (rs.seen[i])
			continue;
		const char *base;
		int pfd = open_parent(fd, m->e[i].rel, &base);
		if (pfd < 0) {
			res->changed++;
			log_event(LOG_ERROR, "installation.changed",
				  LOG_FIELDS(LOG_STR("path", m->e[i].rel)),
				  "the runner installation lost %s during the job", m->e[i].rel);
			continue;
		}
		put_back(pfd, base, &m->e[i], res);
		close(pfd);
	}
	close(fd);
	free(rs.seen);
	return 0;
}

void manifest_free(struct manifest *m)
{
	if (!m)
		return;
	for (size_t i = 0; i < m->n; i++) {
		free(m->e[i].rel);
		if (m->e[i].content)
			explicit_bzero(m->e[i].content, m->e[i].content_len);
		free(m->e[i].content);
	}
	free(m->e);
	free(m->root);
	free(m);
}
