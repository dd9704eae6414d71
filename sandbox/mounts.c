/* The sandbox's mount namespace, made by the child between clone and execve: raw system
 * calls and string copies only (the parent is threaded; see spawn.c).
 *
 * Order matters:
 *   1. "/" recursively private, so nothing below propagates back to the pod;
 *   2. a fresh /proc for the new PID namespace (the supervisor is not in it);
 *   3. directories the runner needs under /tmp opened, then a fresh tmpfs over /tmp, then
 *      those directories bound back at the same paths (RUNNER_ROOT in /tmp, say);
 *   4. hidden paths covered: a directory by an empty read-only tmpfs of mode 000, a file by
 *      a read-only bind of an empty mode-000 file — reads fail with EACCES;
 *   5. the runner installation bound read-only onto itself, keeping the flags the kernel
 *      locks (nosuid, nodev, noexec, atime) or the remount fails in a user namespace. */
#include "plan.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#define EMPTY_FILE "/tmp/.runner-supervisor-empty"

int sbx_make_dirs(const char *path)
{
	char buf[4096];
	size_t n = strlen(path);
	if (n >= sizeof(buf))
		return ENAMETOOLONG;
	memcpy(buf, path, n + 1);
	for (size_t i = 1; i <= n; i++) {
		if (buf[i] != '/' && buf[i] != '\0')
			continue;
		char c = buf[i];
		buf[i] = '\0';
		if (mkdir(buf, 0755) < 0 && errno != EEXIST)
			return errno;
		buf[i] = c;
	}
	return 0;
}

static void fd_path(int fd, char *buf)
{
	/* "/proc/self/fd/N" without snprintf. */
	static const char prefix[] = "/proc/self/fd/";
	char digits[16];
	int n = 0;
	do
		digits[n++] = (char)('0' + fd % 10);
	while ((fd /= 10) > 0);
	memcpy(buf, prefix, sizeof(prefix) - 1);
	char *p = buf + sizeof(prefix) - 1;
	while (n)
		*p++ = digits[--n];
	*p = '\0';
}

static int mount_tmp(const struct sbx_plan *p, const char **step)
{
	int fds[SBX_MAX_PATHS];
	for (size_t i = 0; i < p->n_keep; i++) {
		/* Opened here, in the new namespace: a bind from a descriptor of the parent's
		 * namespace is refused (and a cwd there would lead back out of the sandbox). */
		fds[i] = open(p->keep[i], O_PATH | O_DIRECTORY | O_CLOEXEC);
		if (fds[i] < 0 && errno != ENOENT)
			return *step = "opening a directory to keep under /tmp", errno;
	}
	if (mount("tmpfs", "/tmp", "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777") < 0)
		return *step = "tmpfs on /tmp", errno;
	for (size_t i = 0; i < p->n_keep; i++) {
		if (fds[i] < 0)
			continue; /* not there (yet): nothing to keep */
		char src[32];
		fd_path(fds[i], src);
		int e = sbx_make_dirs(p->keep[i]);
		if (e)
			return *step = "recreating a kept directory under /tmp", e;
		if (mount(src, p->keep[i], NULL, MS_BIND | MS_REC, NULL) < 0)
			return *step = "binding a kept directory back under /tmp", errno;
		close(fds[i]);
	}
	return 0;
}

static int cover_dir(const char *path)
{
	if (mount("tmpfs", path, "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC | MS_RDONLY,
		  "mode=000,size=4k") < 0)
		return errno;
	return 0;
}

static int cover_file(const char *path)
{
	if (mount(EMPTY_FILE, path, NULL, MS_BIND, NULL) < 0)
		return errno;
	if (mount(NULL, path, NULL, MS_BIND | MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV, NULL) <
	    0)
		return errno;
	return 0;
}

static int hide_paths(const struct sbx_plan *p, const char **step)
{
	bool files = false;
	for (size_t i = 0; i < p->n_hide; i++)
		files |= !p->hide[i].is_dir;
	if (files) {
		int fd = open(EMPTY_FILE, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0);
		if (fd < 0)
			return *step = "creating the empty file that covers hidden files", errno;
		close(fd);
	}
	for (size_t i = 0; i < p->n_hide; i++) {
		const struct sbx_hide *h = &p->hide[i];
		int e = h->is_dir ? cover_dir(h->path) : cover_file(h->path);
		/* Gone from this namespace already (it was under the fresh /tmp): hidden. */
		if (e && e != ENOENT)
			return *step = h->is_dir ? "covering a hidden directory"
						 : "covering a hidden file",
			       e;
	}
	if (files)
		unlink(EMPTY_FILE);
	return 0;
}

static int make_readonly(const struct sbx_plan *p, const char **step)
{
	for (size_t i = 0; i < p->n_ro; i++) {
		const struct sbx_ro_mount *m = &p->ro[i];
		if (mount(m->path, m->path, NULL, MS_BIND | MS_REC, NULL) < 0) {
			if (errno == ENOENT)
				continue;
			return *step = "binding the runner installation", errno;
		}
		if (mount(NULL, m->path, NULL, MS_BIND | MS_REMOUNT | MS_RDONLY | m->flags, NULL) <
		    0)
			return *step = "remounting the runner installation read-only", errno;
	}
	return 0;
}

/* A fresh /dev/shm (the pod's size), and the sandbox's own queues at /dev/mqueue (or the
 * pod's covered): what the job leaves there dies with the sandbox, not in the pod. */
static int fresh_ipc(const struct sbx_plan *p, const char **step)
{
	if (p->fresh_shm &&
	    mount("tmpfs", "/dev/shm", "tmpfs", MS_NOSUID | MS_NODEV, p->shm_size) < 0)
		return *step = "a fresh /dev/shm", errno;
	if (p->fresh_mqueue &&
	    mount("mqueue", "/dev/mqueue", "mqueue", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) < 0)
		return *step = "the sandbox's queues at /dev/mqueue", errno;
	if (p->cover_mqueue && cover_dir("/dev/mqueue") != 0)
		return *step = "covering /dev/mqueue", errno;
	return 0;
}

/* SUPERVISOR_CONTAINERS: the engine's socket where actions/runner looks for it (engine.h). */
static int bind_engine_socket(const struct sbx_plan *p, const char **step)
{
	if (p->engine.on && mount(p->engine.sock_path, SBX_ENGINE_SOCKET, NULL, MS_BIND, NULL) < 0)
		return *step = "binding the container engine's socket", errno;
	return 0;
}

int sbx_child_mounts(const struct sbx_plan *p, const char **step)
{
	int e;
	if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
		return *step = "making / private", errno;
	if (p->job_root) {
		/* A new root with its own /proc, /dev and /tmp (rootfs.c); then the same covers
		 * and read-only binds, at the same paths. */
		if ((e = sbx_child_job_root(p, step)) != 0)
			return e;
	} else {
		if (p->proc &&
		    mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) < 0)
			return *step = "a fresh /proc", errno;
		if (p->tmp && (e = mount_tmp(p, step)) != 0)
			return e;
	}
	if ((e = fresh_ipc(p, step)) != 0)
		return e;
	if ((e = hide_paths(p, step)) != 0 || (e = bind_engine_socket(p, step)) != 0)
		return e;
	return make_readonly(p, step);
}
