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

struct entry {
	char *rel;
	dev_t dev;
	ino_t ino;
	off_t size;
	struct timespec mtime;
	struct timespec ctime; /* unlike mtime, a job cannot set it back */
	mode_t mode;
	uid_t uid;
};

struct manifest {
	char *root;
	const char *const *skip;
	struct entry *e;
	size_t n, cap;
};

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
				       .mtime = st->st_mtim,
				       .ctime = st->st_ctim,
				       .mode = st->st_mode,
				       .uid = st->st_uid };
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
	       e->uid == st->st_uid && content;
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

static bool restore_one(struct manifest *m, int dfd, const char *name, const char *rel,
			const struct stat *st, void *ud)
{
	struct restore_state *rs = ud;
	struct entry key = { .rel = (char *)rel };
	struct entry *e = m->n ? bsearch(&key, m->e, m->n, sizeof(*m->e), cmp_entry) : NULL;
	if (!e) {
		/* Litter in the home is removed; an entry added inside the runner's own code
		 * (bin/, externals/) means the installation changed. */
		if (strncmp(rel, "bin/", 4) == 0 || strncmp(rel, "externals/", 10) == 0) {
			rs->res->changed++;
			log_event(LOG_ERROR, "installation.changed",
				  LOG_FIELDS(LOG_STR("path", rel)),
				  "the job added %s to the runner installation", rel);
		}
		remove_added(dfd, name, rel, st, rs->res);
		return false;
	}
	rs->seen[e - m->e] = true;
	if (!same(e, st)) {
		rs->res->changed++;
		log_event(LOG_ERROR, "installation.changed", LOG_FIELDS(LOG_STR("path", rel)),
			  "the runner installation changed during the job: %s", rel);
	}
	return true;
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
	close(fd);
	for (size_t i = 0; i < m->n; i++) {
		if (!rs.seen[i]) {
			res->changed++;
			log_event(LOG_ERROR, "installation.changed",
				  LOG_FIELDS(LOG_STR("path", m->e[i].rel)),
				  "the runner installation lost %s during the job", m->e[i].rel);
		}
	}
	free(rs.seen);
	return 0;
}

void manifest_free(struct manifest *m)
{
	if (!m)
		return;
	for (size_t i = 0; i < m->n; i++)
		free(m->e[i].rel);
	free(m->e);
	free(m->root);
	free(m);
}
