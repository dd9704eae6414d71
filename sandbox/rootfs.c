/* The job root, built by the child between clone and execve (rootplan.h): raw system calls
 * and string copies only (the parent is threaded; see spawn.c).
 *
 * In the sandbox's mount namespace, with the old root still attached:
 *   1. the directories to carry (the runner's root, the work folder) opened, as they may lie
 *      under /tmp, where the new root is made;
 *   2. a tmpfs at /tmp for the overlays' upper layers, and the new root at /tmp/r: an overlay
 *      of the skeleton the parent staged (rootstage.c), or, when it could not, a tmpfs the
 *      child fills with the plan's directories, copies and links;
 *   3. an overlay per directory with no mount below it (upper layer in the tmpfs, owner and
 *      mode those of the lower directory), and every volume (a directory that is a mount)
 *      bound as it is;
 *   4. /proc (a fresh procfs, mounted while the old one is visible, as the kernel requires,
 *      with /proc/sys and /proc/sysrq-trigger read-only, as runtimes do), a minimal /dev (the
 *      harmless devices bound from the pod's, its own devpts, shm and mqueue directories),
 *      /sys bound read-only throughout, a fresh /tmp, and the carried directories;
 *   5. pivot_root into it; the old root detached, with the upper layers' tmpfs and the staged
 *      skeleton in it: the job sees neither, and nothing it writes reaches them but through
 *      the overlays. */
#include "plan.h"

#include <errno.h>
#include <stdbool.h>
#include <fcntl.h>
#include <linux/mount.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#define UPPERS  "/tmp"
#define NEWROOT UPPERS "/r"
#define OLDROOT NEWROOT "/.rs-old"

#ifndef MOUNT_ATTR_RDONLY
#define MOUNT_ATTR_RDONLY 0x00000001
#endif
#ifndef AT_RECURSIVE
#define AT_RECURSIVE 0x8000
#endif

/* The mount_setattr argument (linux/mount.h has it from 5.12). */
struct rs_mount_attr {
	unsigned long long attr_set, attr_clr, propagation, userns_fd;
};

/* dst = a + b (+ c), without snprintf; 0 or ENAMETOOLONG. */
static int join3(char *dst, size_t size, const char *a, const char *b, const char *c)
{
	size_t na = strlen(a), nb = strlen(b), nc = c ? strlen(c) : 0;
	if (na + nb + nc + 1 > size)
		return ENAMETOOLONG;
	memcpy(dst, a, na);
	memcpy(dst + na, b, nb);
	if (c)
		memcpy(dst + na + nb, c, nc);
	dst[na + nb + nc] = '\0';
	return 0;
}

static void decimal(char *out, size_t k)
{
	char digits[24];
	int n = 0;
	do
		digits[n++] = (char)('0' + k % 10);
	while ((k /= 10) > 0);
	while (n)
		*out++ = digits[--n];
	*out = '\0';
}

static int owned_dir(const char *path, const struct sbx_root_entry *e)
{
	if (mkdir(path, 0700) < 0 && errno != EEXIST)
		return errno;
	if (chown(path, e->uid, e->gid) < 0 || chmod(path, e->mode) < 0)
		return errno;
	return 0;
}

static int write_all(int fd, const char *buf, size_t n)
{
	for (size_t off = 0; off < n;) {
		ssize_t w = write(fd, buf + off, n - off);
		if (w < 0)
			return errno;
		off += (size_t)w;
	}
	return 0;
}

int sbx_root_copy(const char *src, const char *dst, const struct sbx_root_entry *e)
{
	int in = open(src, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (in < 0)
		return errno == EACCES || errno == ENOENT ? 0 : errno; /* unreadable: left out */
	int out = open(dst, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (out < 0) {
		int saved = errno;
		close(in);
		return saved;
	}
	char buf[16384];
	ssize_t n;
	int rc = 0;
	while (rc == 0 && (n = read(in, buf, sizeof(buf))) != 0)
		rc = n < 0 ? errno : write_all(out, buf, (size_t)n);
	if (rc == 0 && (fchown(out, e->uid, e->gid) < 0 || fchmod(out, e->mode) < 0))
		rc = errno;
	close(in);
	close(out);
	return rc;
}

/* An overlay at dst: lowerdir=LOWER,upperdir=UPPER,workdir=WORK,userxattr (userxattr: the
 * upper layer's overlay attributes in user.overlay.*, as an overlay in a user namespace
 * needs). */
static int mount_overlay(const char *dst, const char *lower, const char *upper, const char *work)
{
	char opts[4096 + 300], *p = opts;
	const char *parts[] = { "lowerdir=", lower, ",upperdir=", upper,
				",workdir=", work,  ",userxattr" };
	for (size_t i = 0; i < sizeof(parts) / sizeof(parts[0]); i++) {
		size_t len = strlen(parts[i]);
		if ((size_t)(p - opts) + len + 1 > sizeof(opts))
			return ENAMETOOLONG;
		memcpy(p, parts[i], len);
		p += len;
	}
	*p = '\0';
	return mount("overlay", dst, "overlay", MS_NOSUID | MS_NODEV, opts) < 0 ? errno : 0;
}

/* Overlay number k of e's directory at dst (its mount point made, unless staged). */
static int overlay(const char *dst, const struct sbx_root_entry *e, size_t k, bool staged)
{
	char n[24], upper[128], work[128];
	decimal(n, k);
	int rc = join3(upper, sizeof(upper), UPPERS "/", n, "u");
	if (rc || (rc = join3(work, sizeof(work), UPPERS "/", n, "w")))
		return rc;
	if ((rc = owned_dir(upper, e)) || mkdir(work, 0700) < 0 ||
	    (!staged && (rc = owned_dir(dst, e))))
		return rc ? rc : errno;
	return mount_overlay(dst, e->path, upper, work);
}

/* The plan's entries in the new root; with a staged skeleton only the mounts (the rest, and
 * the mount points, are in it). */
static int build_entries(const struct sbx_plan *p, const char **step)
{
	const struct sbx_root_plan *rp = &p->root;
	bool staged = sbx_root_staged(rp);
	size_t k = 0;
	for (size_t i = 0; i < rp->n; i++) {
		const struct sbx_root_entry *e = &rp->e[i];
		if (staged && e->kind != SBX_ROOT_OVERLAY && e->kind != SBX_ROOT_BIND)
			continue;
		char dst[4200];
		int rc = join3(dst, sizeof(dst), NEWROOT, e->path, NULL);
		if (rc)
			return *step = "a path of the image's root", rc;
		switch (e->kind) {
		case SBX_ROOT_DIR:
			rc = owned_dir(dst, e);
			*step = "a directory of the job root";
			break;
		case SBX_ROOT_LINK:
			rc = symlink(e->target, dst) < 0 || lchown(dst, e->uid, e->gid) < 0 ? errno
											    : 0;
			*step = "a link of the job root";
			break;
		case SBX_ROOT_COPY:
			rc = sbx_root_copy(e->path, dst, e);
			*step = "copying a file of the job root";
			break;
		case SBX_ROOT_OVERLAY:
			rc = overlay(dst, e, k++, staged);
			*step = "an overlay of the job root";
			break;
		case SBX_ROOT_BIND:
			rc = staged ? 0 : owned_dir(dst, e);
			if (rc == 0 && mount(e->path, dst, NULL, MS_BIND | MS_REC, NULL) < 0)
				rc = errno;
			*step = "binding a volume into the job root";
			break;
		}
		if (rc)
			return rc;
	}
	return 0;
}

static int bind_dev(const char *name)
{
	char src[64], dst[64];
	if (join3(src, sizeof(src), "/dev/", name, NULL) ||
	    join3(dst, sizeof(dst), NEWROOT "/dev/", name, NULL))
		return ENAMETOOLONG;
	int fd = open(dst, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
	if (fd < 0)
		return errno;
	close(fd);
	if (mount(src, dst, NULL, MS_BIND, NULL) < 0)
		return errno == ENOENT ? (unlink(dst), 0) : errno;
	return 0;
}

/* Only devices a job may use: nothing of the pod's /dev (its termination log among it). */
static int make_dev(const char **step)
{
	static const char *const devices[] = { "null", "zero", "full", "random", "urandom", "tty" };
	static const char *const links[][2] = { { "fd", "/proc/self/fd" },
						{ "stdin", "/proc/self/fd/0" },
						{ "stdout", "/proc/self/fd/1" },
						{ "stderr", "/proc/self/fd/2" },
						{ "ptmx", "pts/ptmx" } };
	*step = "the job root's /dev";
	if (mount("tmpfs", NEWROOT "/dev", "tmpfs", MS_NOSUID | MS_NOEXEC, "mode=755,size=64k") < 0)
		return errno;
	for (size_t i = 0; i < sizeof(devices) / sizeof(devices[0]); i++) {
		int rc = bind_dev(devices[i]);
		if (rc)
			return rc;
	}
	for (size_t i = 0; i < sizeof(links) / sizeof(links[0]); i++) {
		char dst[64];
		if (join3(dst, sizeof(dst), NEWROOT "/dev/", links[i][0], NULL) ||
		    symlink(links[i][1], dst) < 0)
			return errno ? errno : ENAMETOOLONG;
	}
	if (mkdir(NEWROOT "/dev/pts", 0755) < 0 || mkdir(NEWROOT "/dev/shm", 01777) < 0 ||
	    chmod(NEWROOT "/dev/shm", 01777) < 0 || mkdir(NEWROOT "/dev/mqueue", 01777) < 0)
		return errno;
	*step = "the job root's devpts";
	if (mount("devpts", NEWROOT "/dev/pts", "devpts", MS_NOSUID | MS_NOEXEC,
		  "newinstance,ptmxmode=0666,mode=620") < 0)
		return errno;
	return 0;
}

/* A bind of path onto itself, read-only (keeping the flags a user namespace locks). */
static int readonly_self(const char *path)
{
	if (mount(path, path, NULL, MS_BIND | MS_REC, NULL) < 0)
		return errno == ENOENT ? 0 : errno;
	struct rs_mount_attr attr = { .attr_set = MOUNT_ATTR_RDONLY };
	if (syscall(SYS_mount_setattr, AT_FDCWD, path, AT_RECURSIVE, &attr, sizeof(attr)) < 0)
		return errno;
	return 0;
}

static int make_proc_sys(const struct sbx_plan *p, const char **step)
{
	int rc;
	*step = "the job root's /proc";
	if (p->proc) {
		if (mount("proc", NEWROOT "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) <
		    0)
			return errno;
		/* As runtimes do: the kernel's knobs are not the job's, even those a user
		 * namespace's root would pass the file-mode check for (its network's). */
		if ((rc = readonly_self(NEWROOT "/proc/sys")) ||
		    (rc = readonly_self(NEWROOT "/proc/sysrq-trigger")))
			return rc;
	} else if (mount("/proc", NEWROOT "/proc", NULL, MS_BIND | MS_REC, NULL) < 0) {
		return errno;
	}
	*step = "the job root's /sys, read-only";
	if (mount("/sys", NEWROOT "/sys", NULL, MS_BIND | MS_REC, NULL) < 0)
		return errno;
	struct rs_mount_attr attr = { .attr_set = MOUNT_ATTR_RDONLY };
	if (syscall(SYS_mount_setattr, AT_FDCWD, NEWROOT "/sys", AT_RECURSIVE, &attr,
		    sizeof(attr)) < 0)
		return errno;
	return 0;
}

/* The runner's root, the work folder and the like, bound into the new root at their paths. */
static int carry(const struct sbx_plan *p, const int *fds, const char **step)
{
	*step = "carrying a directory into the job root";
	for (size_t i = 0; i < p->n_carry; i++) {
		if (fds[i] < 0)
			continue;
		char dst[4200], src[32];
		int rc = join3(dst, sizeof(dst), NEWROOT, p->carry[i], NULL);
		if (rc || (rc = sbx_make_dirs(dst)))
			return rc;
		char digits[16];
		decimal(digits, (size_t)fds[i]);
		if ((rc = join3(src, sizeof(src), "/proc/self/fd/", digits, NULL)))
			return rc;
		if (mount(src, dst, NULL, MS_BIND | MS_REC, NULL) < 0)
			return errno;
		close(fds[i]);
	}
	return 0;
}

static int switch_root(const char **step)
{
	*step = "pivot_root into the job root";
	if (mkdir(OLDROOT, 0700) < 0 || syscall(SYS_pivot_root, NEWROOT, OLDROOT) < 0 ||
	    chdir("/") < 0)
		return errno;
	/* With it the upper layers' tmpfs (mounted on its /tmp) and the staged skeleton. */
	*step = "detaching the pod's root from the job root";
	if (umount2("/.rs-old", MNT_DETACH) < 0 || rmdir("/.rs-old") < 0)
		return errno;
	return 0;
}

/* The sandbox's hostname in its /etc/hosts (a copy of the pod's): sudo and the like look
 * their host up, and the pod's file does not name the runner. */
static int name_host(const struct sbx_plan *p)
{
	if (!p->hostname)
		return 0;
	int fd = open(NEWROOT "/etc/hosts", O_WRONLY | O_APPEND | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return errno == ENOENT ? 0 : errno;
	const char *parts[] = { "127.0.1.1\t", p->hostname, "\n" };
	int rc = 0;
	for (size_t i = 0; rc == 0 && i < sizeof(parts) / sizeof(parts[0]); i++)
		if (write(fd, parts[i], strlen(parts[i])) < 0)
			rc = errno;
	close(fd);
	return rc;
}

/* "/" of the job: an overlay of the staged skeleton (its upper layer the root's own: owner 0,
 * mode 0755), or a tmpfs that build_entries fills. */
static int new_root(const struct sbx_plan *p, const char **step)
{
	const struct sbx_root_plan *rp = &p->root;
	if (!sbx_root_staged(rp)) {
		*step = "the job root's tmpfs";
		if (mount("tmpfs", NEWROOT, "tmpfs", MS_NODEV, rp->tmpfs_opts) < 0 ||
		    chmod(NEWROOT, 0755) < 0)
			return errno;
		return 0;
	}
	*step = "the job root's overlay of the staged skeleton";
	if (mkdir(UPPERS "/ru", 0755) < 0 || chmod(UPPERS "/ru", 0755) < 0 ||
	    mkdir(UPPERS "/rw", 0700) < 0)
		return errno;
	return mount_overlay(NEWROOT, rp->stage, UPPERS "/ru", UPPERS "/rw");
}

int sbx_child_job_root(const struct sbx_plan *p, const char **step)
{
	int fds[SBX_MAX_PATHS], rc;
	*step = "opening a directory to carry into the job root";
	for (size_t i = 0; i < p->n_carry; i++) {
		fds[i] = open(p->carry[i], O_PATH | O_DIRECTORY | O_CLOEXEC);
		if (fds[i] < 0 && errno != ENOENT)
			return errno;
	}
	*step = "the job root's tmpfs";
	if (mount("tmpfs", UPPERS, "tmpfs", MS_NODEV, p->root.tmpfs_opts) < 0 ||
	    mkdir(NEWROOT, 0755) < 0)
		return errno;
	if ((rc = new_root(p, step)))
		return rc;
	if ((rc = build_entries(p, step)) || (rc = make_dev(step)) || (rc = make_proc_sys(p, step)))
		return rc;
	*step = "naming the sandbox in the job root's /etc/hosts";
	if ((rc = name_host(p)))
		return rc;
	*step = "the job root's /tmp";
	if (mount("tmpfs", NEWROOT "/tmp", "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777") < 0)
		return errno;
	if ((rc = carry(p, fds, step)))
		return rc;
	return switch_root(step);
}
