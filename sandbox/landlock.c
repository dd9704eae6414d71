/* Landlock denies by default once an access right is handled, so "everything but these
 * paths" is written as rules for everything else: walking down from "/" towards each hidden
 * path, every sibling that is not on the way gets every right (its whole subtree), and the
 * directories on the way get only READ_DIR (which their subtrees inherit: the names inside a
 * hidden directory can be listed, never opened). */
#include "landlock.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/landlock.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "util.h"

#ifndef LANDLOCK_ACCESS_FS_TRUNCATE
#define LANDLOCK_ACCESS_FS_TRUNCATE (1ULL << 14)
#endif
#ifndef LANDLOCK_ACCESS_FS_IOCTL_DEV
#define LANDLOCK_ACCESS_FS_IOCTL_DEV (1ULL << 15)
#endif
#ifndef LANDLOCK_SCOPE_ABSTRACT_UNIX_SOCKET
#define LANDLOCK_SCOPE_ABSTRACT_UNIX_SOCKET (1ULL << 0)
#define LANDLOCK_SCOPE_SIGNAL               (1ULL << 1)
#endif
#ifndef SYS_landlock_create_ruleset
#define SYS_landlock_create_ruleset 444
#define SYS_landlock_add_rule       445
#define SYS_landlock_restrict_self  446
#endif

#define MQUEUE_FS_MAGIC 0x19800202UL /* ipc/mqueue.c */

/* The kernel's struct as of ABI 6; older kernels take a prefix of it. */
struct ruleset_attr {
	uint64_t handled_access_fs;
	uint64_t handled_access_net;
	uint64_t scoped;
};

#define FS_FILE_RIGHTS                                                                             \
	(LANDLOCK_ACCESS_FS_EXECUTE | LANDLOCK_ACCESS_FS_WRITE_FILE |                              \
	 LANDLOCK_ACCESS_FS_READ_FILE | LANDLOCK_ACCESS_FS_TRUNCATE |                              \
	 LANDLOCK_ACCESS_FS_IOCTL_DEV)

static uint64_t fs_rights(int abi)
{
	uint64_t all = (LANDLOCK_ACCESS_FS_MAKE_SYM << 1) - 1; /* ABI 1 */
	if (abi >= 2)
		all |= LANDLOCK_ACCESS_FS_REFER;
	if (abi >= 3)
		all |= LANDLOCK_ACCESS_FS_TRUNCATE;
	if (abi >= 5)
		all |= LANDLOCK_ACCESS_FS_IOCTL_DEV;
	return all;
}

int sbx_landlock_abi(void)
{
	long v = syscall(SYS_landlock_create_ruleset, NULL, 0, LANDLOCK_CREATE_RULESET_VERSION);
	return v < 0 ? -errno : (int)v;
}

int sbx_landlock_restrict(int fd)
{
	return (int)syscall(SYS_landlock_restrict_self, fd, 0);
}

struct walk {
	int ruleset;
	uint64_t all;
	const char *const *hide;
	struct rs_err *err;
};

/* 1: path is a hidden path; 2: a hidden path lies below it; 0: neither. */
static int relation(const struct walk *w, const char *path)
{
	size_t n = strlen(path);
	int r = 0;
	for (const char *const *h = w->hide; *h; h++) {
		if (strcmp(*h, path) == 0)
			return 1;
		if (strncmp(*h, path, n) == 0 && ((*h)[n] == '/' || n == 1))
			r = 2;
	}
	return r;
}

static int add_rule(struct walk *w, const char *path, uint64_t access)
{
	_cleanup_(closep) int fd = open(path, O_PATH | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return 0; /* gone meanwhile: nothing to allow */
	struct stat st;
	if (fstat(fd, &st) < 0 || S_ISLNK(st.st_mode))
		return 0; /* a link's target is allowed (or not) where it lives */
	if (!S_ISDIR(st.st_mode))
		access &= FS_FILE_RIGHTS;
	struct landlock_path_beneath_attr attr = { .allowed_access = access, .parent_fd = fd };
	if (syscall(SYS_landlock_add_rule, w->ruleset, LANDLOCK_RULE_PATH_BENEATH, &attr, 0) < 0)
		return rs_fail(w->err, EX_RS_SANDBOX, errno, "Landlock rule for %s", path);
	return 0;
}

/* dir is on the way to a hidden path: list-only for it, full rights for what is off the way. */
static int walk_towards(struct walk *w, const char *dir)
{
	if (add_rule(w, dir, LANDLOCK_ACCESS_FS_READ_DIR) < 0)
		return -1;
	DIR *d = opendir(dir);
	if (!d)
		return 0;
	int rc = 0;
	for (struct dirent *e; rc == 0 && (e = readdir(d));) {
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		char child[4096];
		if (snprintf(child, sizeof(child), "%s%s%s", dir, strcmp(dir, "/") ? "/" : "",
			     e->d_name) >= (int)sizeof(child))
			continue;
		switch (relation(w, child)) {
		case 1:
			break;
		case 2:
			rc = walk_towards(w, child);
			break;
		default:
			rc = add_rule(w, child, w->all);
		}
	}
	closedir(d);
	return rc;
}

int sbx_landlock_build(int abi, const char *const *hide, struct rs_err *err)
{
	struct ruleset_attr attr = { .handled_access_fs = fs_rights(abi) };
	size_t size = sizeof(uint64_t);
	if (abi >= 6) {
		/* The job's signals and abstract sockets stay inside its own domain. */
		attr.scoped = LANDLOCK_SCOPE_SIGNAL | LANDLOCK_SCOPE_ABSTRACT_UNIX_SOCKET;
		size = sizeof(attr);
	}
	int fd = (int)syscall(SYS_landlock_create_ruleset, &attr, size, 0);
	if (fd < 0)
		return rs_fail(err, EX_RS_SANDBOX, errno, "Landlock ruleset (ABI %d)", abi);
	struct walk w = { .ruleset = fd, .all = attr.handled_access_fs, .hide = hide, .err = err };
	/* mq_open creates its queue through the IPC namespace's internal mount, whose root has
	 * no parent to inherit a rule from: the job's queues need a rule of their own, on the
	 * queue filesystem's root (the same inode as /dev/mqueue's). */
	struct statfs fs;
	if (walk_towards(&w, "/") < 0 ||
	    (statfs("/dev/mqueue", &fs) == 0 && (unsigned long)fs.f_type == MQUEUE_FS_MAGIC &&
	     relation(&w, "/dev/mqueue") == 0 && add_rule(&w, "/dev/mqueue", w.all) < 0)) {
		close(fd);
		return -1;
	}
	return fd;
}

int sbx_landlock_build_scope_only(int abi, struct rs_err *err)
{
	struct ruleset_attr attr = { .scoped = LANDLOCK_SCOPE_SIGNAL |
					       LANDLOCK_SCOPE_ABSTRACT_UNIX_SOCKET };
	if (abi < 6)
		return rs_fail(err, EX_RS_SANDBOX, EOPNOTSUPP, "Landlock scoping needs ABI 6");
	int fd = (int)syscall(SYS_landlock_create_ruleset, &attr, sizeof(attr), 0);
	if (fd < 0)
		return rs_fail(err, EX_RS_SANDBOX, errno, "Landlock scoped ruleset (ABI %d)", abi);
	return fd;
}
