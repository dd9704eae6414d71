/* The job root's plan, made by the parent (rootplan.h): stdio and malloc are fine here. */
#include "rootplan.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAX_DEPTH  12
#define MAX_MOUNTS 4096

struct mounts {
	char **v;
	size_t n;
};

/* mountinfo escapes space, tab, newline and backslash as \ooo. */
static void unescape(char *s)
{
	char *out = s;
	for (char *in = s; *in; out++) {
		if (in[0] == '\\' && in[1] >= '0' && in[1] <= '3' && in[2] >= '0' && in[2] <= '7' &&
		    in[3] >= '0' && in[3] <= '7') {
			*out = (char)((in[1] - '0') * 64 + (in[2] - '0') * 8 + (in[3] - '0'));
			in += 4;
		} else {
			*out = *in++;
		}
	}
	*out = '\0';
}

static int read_mounts(struct mounts *m)
{
	FILE *f = fopen("/proc/self/mountinfo", "re");
	if (!f)
		return errno;
	m->v = calloc(MAX_MOUNTS, sizeof(char *));
	char *line = NULL;
	size_t cap = 0;
	int e = m->v ? 0 : ENOMEM;
	while (e == 0 && getline(&line, &cap, f) > 0) {
		/* id parent major:minor root mountpoint ... */
		char *save = NULL, *field = strtok_r(line, " ", &save);
		for (int i = 0; field && i < 4; i++)
			field = strtok_r(NULL, " ", &save);
		if (!field || strcmp(field, "/") == 0)
			continue;
		if (m->n == MAX_MOUNTS) {
			e = E2BIG;
			break;
		}
		unescape(field);
		if (!(m->v[m->n] = strdup(field)))
			e = ENOMEM;
		else
			m->n++;
	}
	free(line);
	fclose(f);
	return e;
}

static void mounts_free(struct mounts *m)
{
	for (size_t i = 0; i < m->n; i++)
		free(m->v[i]);
	free(m->v);
}

static bool is_mount(const struct mounts *m, const char *path)
{
	for (size_t i = 0; i < m->n; i++)
		if (strcmp(m->v[i], path) == 0)
			return true;
	return false;
}

static bool has_mount_below(const struct mounts *m, const char *dir)
{
	size_t n = strlen(dir);
	for (size_t i = 0; i < m->n; i++)
		if (strncmp(m->v[i], dir, n) == 0 && m->v[i][n] == '/')
			return true;
	return false;
}

/* What overlayfs's option parser would split or unescape: such a directory is walked. */
static bool safe_for_options(const char *path)
{
	return !strpbrk(path, ",:\\=");
}

static int add(struct sbx_root_plan *rp, enum sbx_root_kind kind, const char *path,
	       const struct stat *st, const char *target)
{
	if (rp->n == SBX_ROOT_MAX_ENTRIES)
		return E2BIG;
	struct sbx_root_entry *e = &rp->e[rp->n];
	*e = (struct sbx_root_entry){
		.kind = kind, .mode = st->st_mode & 07777, .uid = st->st_uid, .gid = st->st_gid
	};
	if (!(e->path = strdup(path)) || (target && !(e->target = strdup(target)))) {
		free(e->path);
		return ENOMEM;
	}
	rp->n++;
	rp->overlays += kind == SBX_ROOT_OVERLAY;
	return 0;
}

/* The pseudo and scratch filesystems the child makes itself. */
static bool made_by_child(const char *path)
{
	static const char *const own[] = { "/proc", "/dev", "/sys", "/tmp" };
	for (size_t i = 0; i < sizeof(own) / sizeof(own[0]); i++)
		if (strcmp(path, own[i]) == 0)
			return true;
	return false;
}

static int walk(struct sbx_root_plan *rp, const struct mounts *m, const char *dir, int depth);

/* A small tree is cheaper copied than mounted (an overlay costs about 0.2 ms to mount; the
 * image's /etc has dozens of small directories, and the runtime's /etc/hosts makes it walked):
 * at most SMALL_ENTRIES entries and SMALL_BYTES bytes, with no mount, device, fifo or socket. */
#define SMALL_ENTRIES 16
#define SMALL_BYTES   (256LL * 1024)

static bool small_tree(const char *dir, int *entries, long long *bytes, int depth)
{
	DIR *d = opendir(dir);
	if (!d)
		return false;
	bool small = depth <= MAX_DEPTH;
	for (struct dirent *de; small && (de = readdir(d));) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		char path[4096];
		struct stat st;
		if ((size_t)snprintf(path, sizeof(path), "%s/%s", dir, de->d_name) >=
			sizeof(path) ||
		    lstat(path, &st) < 0 || --*entries < 0) {
			small = false;
			break;
		}
		if (S_ISREG(st.st_mode))
			small = (*bytes -= st.st_size) >= 0;
		else if (S_ISDIR(st.st_mode))
			small = small_tree(path, entries, bytes, depth + 1);
		else
			small = S_ISLNK(st.st_mode);
	}
	closedir(d);
	return small;
}

static bool copied_cheaper(const struct mounts *m, const char *dir, int depth)
{
	int entries = SMALL_ENTRIES;
	long long bytes = SMALL_BYTES;
	return !has_mount_below(m, dir) && small_tree(dir, &entries, &bytes, depth);
}

static int plan_entry(struct sbx_root_plan *rp, const struct mounts *m, const char *path, int depth)
{
	struct stat st;
	if (lstat(path, &st) < 0)
		return errno == ENOENT ? 0 : errno;
	if (S_ISLNK(st.st_mode)) {
		char target[4096];
		ssize_t n = readlink(path, target, sizeof(target) - 1);
		if (n < 0)
			return errno;
		target[n] = '\0';
		return add(rp, SBX_ROOT_LINK, path, &st, target);
	}
	if (S_ISREG(st.st_mode))
		return add(rp, SBX_ROOT_COPY, path, &st, NULL);
	if (!S_ISDIR(st.st_mode))
		return 0; /* sockets, fifos and devices of a directory that is walked: left out */
	if (made_by_child(path))
		return add(rp, SBX_ROOT_DIR, path, &st, NULL);
	if (is_mount(m, path))
		return add(rp, SBX_ROOT_BIND, path, &st, NULL);
	if (!has_mount_below(m, path) && safe_for_options(path) && !copied_cheaper(m, path, depth))
		return add(rp, SBX_ROOT_OVERLAY, path, &st, NULL);
	int e = add(rp, SBX_ROOT_DIR, path, &st, NULL);
	return e ? e : walk(rp, m, path, depth + 1);
}

/* A name at the top of the pod's root that rootstage.c made. */
static bool is_staged_skeleton(const char *name)
{
	static const char prefix[] = SBX_ROOT_STAGE_PREFIX;
	return strncmp(name, &prefix[1], sizeof(prefix) - 2) == 0;
}

static int walk(struct sbx_root_plan *rp, const struct mounts *m, const char *dir, int depth)
{
	if (depth > MAX_DEPTH)
		return ELOOP;
	DIR *d = opendir(dir);
	if (!d)
		return errno;
	int e = 0;
	for (struct dirent *de; e == 0 && (de = readdir(d));) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		/* A staged skeleton (rootstage.c), this plan's to come or another's. */
		if (strcmp(dir, "/") == 0 && is_staged_skeleton(de->d_name))
			continue;
		char path[4096];
		if ((size_t)snprintf(path, sizeof(path), "%s/%s", strcmp(dir, "/") ? dir : "",
				     de->d_name) >= sizeof(path)) {
			e = ENAMETOOLONG;
			break;
		}
		e = plan_entry(rp, m, path, depth);
	}
	closedir(d);
	return e;
}

int sbx_root_plan_build(struct sbx_root_plan *rp, long long size, char *why, size_t why_size)
{
	*rp = (struct sbx_root_plan){ 0 };
	snprintf(rp->tmpfs_opts, sizeof(rp->tmpfs_opts), "size=%lld", size);
	struct mounts m = { 0 };
	int e = read_mounts(&m);
	if (e) {
		snprintf(why, why_size, "reading /proc/self/mountinfo: %s", strerror(e));
		mounts_free(&m);
		return e;
	}
	if (!(rp->e = calloc(SBX_ROOT_MAX_ENTRIES, sizeof(*rp->e))))
		e = ENOMEM;
	else
		e = walk(rp, &m, "/", 0);
	mounts_free(&m);
	if (e == E2BIG)
		snprintf(why, why_size,
			 "the image's root needs more than %d entries to rebuild (mounts deep in "
			 "large directories)",
			 SBX_ROOT_MAX_ENTRIES);
	else if (e)
		snprintf(why, why_size, "reading the image's root: %s", strerror(e));
	if (e)
		sbx_root_plan_free(rp);
	return e;
}

void sbx_root_plan_free(struct sbx_root_plan *rp)
{
	for (size_t i = 0; rp->e && i < rp->n; i++) {
		free(rp->e[i].path);
		free(rp->e[i].target);
	}
	free(rp->e);
	rp->e = NULL;
	rp->n = rp->overlays = 0;
}

/* "inner outer count" lines; how many ids from inner 0 are mapped, 0 when 0 maps to 0. */
static unsigned mapped_from_zero(const char *file)
{
	FILE *f = fopen(file, "re");
	if (!f)
		return 0;
	unsigned long inner, outer, count;
	unsigned result = 0;
	while (fscanf(f, "%lu %lu %lu", &inner, &outer, &count) == 3)
		if (inner == 0 && count > 0)
			result = outer == 0 ? 0 : (unsigned)(count < 65536 ? count : 65536);
	fclose(f);
	return result;
}

unsigned sbx_root_map_count(void)
{
	unsigned u = mapped_from_zero("/proc/self/uid_map"),
		 g = mapped_from_zero("/proc/self/gid_map");
	return u < g ? u : g;
}
