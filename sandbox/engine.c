/* The job's container engine (engine.h): planned by the supervisor, started by the init. */
#include "engine.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <unistd.h>

#include "nsmaps.h"
#include "plan.h"
#include "spawn_internal.h"
#include "util.h"

#ifndef OVERLAYFS_SUPER_MAGIC
#define OVERLAYFS_SUPER_MAGIC 0x794c7630
#endif

/* ---- the supervisor's side ------------------------------------------------------------ */

/* The first executable name on PATH, by the search the runner's own command gets
 * (sbx_plan_command); into out. */
static bool executable_on_path(const char *name, char *out, size_t n)
{
	struct exec_plan plan = { 0 };
	bool found = false;
	if (sbx_plan_command(&plan, name, environ) == 0)
		for (char **p = plan.paths; !found && p && *p; p++)
			/* Not an empty entry's bare name: the init execs it elsewhere. */
			found = strchr(*p, '/') && access(*p, X_OK) == 0 &&
				(size_t)snprintf(out, n, "%s", *p) < n;
	sbx_exec_plan_free(&plan);
	return found;
}

const char *sbx_engine_refused(char *podman, size_t n)
{
	if (!executable_on_path("podman", podman, n))
		return "podman is not installed (not on PATH): the runner image needs the podman "
		       "package";
	return NULL;
}

static int listen_at(const char *path, uid_t uid, gid_t gid)
{
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	if ((size_t)snprintf(a.sun_path, sizeof(a.sun_path), "%s", path) >= sizeof(a.sun_path))
		return -ENAMETOOLONG;
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	/* Only the runner's uid may connect: the mode is set before anyone could. */
	mode_t old = umask(0177);
	int rc = bind(fd, (struct sockaddr *)&a, sizeof(a));
	umask(old);
	if (rc == 0 && lchown(path, uid, gid) == 0 && listen(fd, 128) == 0)
		return fd;
	int e = errno;
	close(fd);
	return -e;
}

/* The mount point of the socket's bind in the sandbox: whatever is there (a real docker.sock
 * of the node, say) is covered, never used. */
static int make_mount_point(bool *made)
{
	int fd =
	    open(SBX_ENGINE_SOCKET, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
	if (fd >= 0) {
		close(fd);
		*made = true;
		return 0;
	}
	if (errno == EEXIST)
		fd = open(SBX_ENGINE_SOCKET, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd >= 0) {
		close(fd);
		return 0;
	}
	struct stat st;
	/* A socket cannot be opened; it is a mount point all the same. */
	return (errno == ENXIO || errno == EOPNOTSUPP) && stat(SBX_ENGINE_SOCKET, &st) == 0 ? 0
											    : errno;
}

/* The engine's settings, read instead of the image's (CONTAINERS_CONF): a container shares
 * the job's network unless the job asks for another (the engine's user namespace cannot make
 * a bridge in the pod's network namespace, and a private network needs a TUN device that
 * pods do not get: README, "Containers"); no systemd, no journald, as in a pod. */
static int write_conf(const char *dir, uid_t uid, gid_t gid, unsigned long long job_nofile)
{
	/* Builds default to 1048576 open files, above the pod's hard limit, which a user
	 * namespace cannot raise: the engine's own limit instead (the job's, when it has one). */
	struct rlimit nofile = { 1024, 1024 };
	getrlimit(RLIMIT_NOFILE, &nofile);
	if (job_nofile && job_nofile < nofile.rlim_max)
		nofile.rlim_max = (rlim_t)job_nofile;
	/* runc where it is installed: the runtime the tests prove (crun refuses a hybrid cgroup
	 * hierarchy, docs/container-facts.md section 6); else podman's own choice. */
	char runc[4096];
	bool has_runc = executable_on_path("runc", runc, sizeof(runc));
	char conf[512];
	int len = snprintf(conf, sizeof(conf),
			   "# Written by runner-supervisor for this job's engine.\n"
			   "[containers]\n"
			   "netns = \"host\"\n"
			   "default_ulimits = [\"nofile=%llu:%llu\"]\n"
			   "[engine]\n"
			   "cgroup_manager = \"cgroupfs\"\n"
			   "events_logger = \"file\"\n"
			   "%s",
			   (unsigned long long)nofile.rlim_max, (unsigned long long)nofile.rlim_max,
			   has_runc ? "runtime = \"runc\"\n" : "");
	char path[4096];
	snprintf(path, sizeof(path), "%s/containers.conf", dir);
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
	if (fd < 0)
		return errno;
	ssize_t w = write(fd, conf, (size_t)len);
	int e = w == len ? 0 : w < 0 ? errno : EIO;
	if (!e && fchown(fd, uid, gid) < 0)
		e = errno;
	close(fd);
	return e;
}

static char *joined(const char *dir, const char *name)
{
	char *s = NULL;
	return asprintf(&s, "%s/%s", dir, name) < 0 ? NULL : s;
}

int sbx_engine_plan(struct sbx_engine *e, const char *podman, const char *dir, uid_t uid, gid_t gid,
		    unsigned long long nofile, char *why, size_t n)
{
	*e = (struct sbx_engine){ .listen_fd = -1 };
	/* Made here, never reused: the job owns the folder it is in, and a directory or a link
	 * it left there would be this root's to chown. It stays root's, 0700, until all is in
	 * it; only then is it given to the runner's uid. */
	if (mkdir(dir, 0700) < 0) {
		int err = errno;
		snprintf(why, n, "cannot make the engine's directory %s: %s%s", dir, strerror(err),
			 err == EEXIST ? " (left by an earlier command: remove it)" : "");
		return err;
	}
	_cleanup_(closep) int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	struct statfs fs;
	if (dfd < 0 || fstatfs(dfd, &fs) < 0) {
		int err = errno;
		snprintf(why, n, "the engine's directory %s: %s", dir, strerror(err));
		return err;
	}
	e->podman = strdup(podman);
	e->dir = strdup(dir);
	e->sock_path = joined(dir, "docker.sock");
	/* Overlay refuses an overlay as its upper layer: a work folder in the container's own
	 * root (no volume) gets the slower copying driver. */
	e->driver = strdup((unsigned long)fs.f_type == OVERLAYFS_SUPER_MAGIC ? "vfs" : "overlay");
	if (!e->podman || !e->dir || !e->sock_path || !e->driver) {
		snprintf(why, n, "out of memory");
		return ENOMEM;
	}
	e->listen_fd = listen_at(e->sock_path, uid, gid);
	if (e->listen_fd < 0) {
		snprintf(why, n, "the engine's socket %s: %s", e->sock_path,
			 strerror(-e->listen_fd));
		return -e->listen_fd;
	}
	int err;
	if ((err = make_mount_point(&e->made_mount_point)) != 0) {
		snprintf(why, n, "cannot make %s, where the job finds the engine: %s",
			 SBX_ENGINE_SOCKET, strerror(err));
		return err;
	}
	if ((err = write_conf(e->dir, uid, gid, nofile)) != 0 ||
	    (fchown(dfd, uid, gid) < 0 && (err = errno))) {
		snprintf(why, n, "writing the engine's settings in %s: %s", e->dir, strerror(err));
		return err;
	}
	struct rs_err serr;
	if (sbx_seccomp_build_engine(&e->filter, &serr) < 0) {
		snprintf(why, n, "%s", serr.msg);
		return serr.sys_errno ? serr.sys_errno : EINVAL;
	}
	e->on = true;
	return 0;
}

void sbx_engine_free(struct sbx_engine *e)
{
	if (e->listen_fd >= 0)
		close(e->listen_fd);
	/* Only while it is still the empty file made for the sandbox's bind. */
	struct stat st;
	if (e->made_mount_point && lstat(SBX_ENGINE_SOCKET, &st) == 0 && S_ISREG(st.st_mode) &&
	    st.st_size == 0)
		unlink(SBX_ENGINE_SOCKET);
	free(e->podman);
	free(e->dir);
	free(e->sock_path);
	free(e->driver);
	sbx_seccomp_free(&e->filter);
	*e = (struct sbx_engine){ .listen_fd = -1 };
}

/* ---- the init's side: a single-threaded process, exec'd fresh -------------------------- */

/* stdout and stderr to dir/engine.log (made now: nothing of the job's exists yet), stdin
 * from /dev/null, the socket as fd 3 (LISTEN_FDS_START), nothing else. */
static int engine_fds(const struct sbx_engine *e)
{
	char log[4096];
	snprintf(log, sizeof(log), "%s/engine.log", e->dir);
	int out = open(log, O_WRONLY | O_CREAT | O_APPEND | O_NOFOLLOW | O_CLOEXEC, 0600);
	int in = open("/dev/null", O_RDONLY | O_CLOEXEC);
	if (out < 0 || in < 0 || dup2(in, 0) < 0 || dup2(out, 1) < 0 || dup2(out, 2) < 0 ||
	    dup2(e->listen_fd, 3) < 0)
		return -1;
	return (int)syscall(SYS_close_range, 4U, ~0U, 0U);
}

static __attribute__((noreturn)) void engine_child(const struct sbx_engine *e,
						   const struct sbx_plan *plan)
{
	/* The engine must not outlive the init, nor take the runner's signals. */
	prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
	/* The init is undumpable, which makes /proc/self root's and its maps unwritable for
	 * us; the execve below makes the engine dumpable anyway, and nothing secret is in this
	 * copy of the init (initexec.h). */
	prctl(PR_SET_DUMPABLE, 1, 0, 0, 0);
	setsid();
	/* The job's limits bind its engine and containers too: no core dump, the job's open
	 * files, and its process count (per uid: the engine's are the job's). */
	if (sbx_child_rlimits(plan) != 0 || sbx_own_userns_and_mounts() != 0 || engine_fds(e) < 0)
		_exit(126);
	char root[4096], tmpdir[4096], home[4096], home_env[4200], conf[4200];
	char listen_pid[32];
	snprintf(root, sizeof(root), "%s/storage", e->dir);
	snprintf(tmpdir, sizeof(tmpdir), "%s/tmp", e->dir);
	snprintf(home, sizeof(home), "%s/home", e->dir);
	mkdir(home, 0700);
	snprintf(conf, sizeof(conf), "CONTAINERS_CONF=%s/containers.conf", e->dir);
	snprintf(home_env, sizeof(home_env), "HOME=%s", home);
	snprintf(listen_pid, sizeof(listen_pid), "LISTEN_PID=%d", (int)getpid());
	mkdir(tmpdir, 0700);
	/* The run state's path must be short (overlay's limit: 50 characters), and it dies with
	 * the sandbox: in its fresh /tmp. */
	mkdir(SBX_ENGINE_RUNROOT, 0700);
	char *const argv[] = {
		e->podman, "--root", root, "--runroot", SBX_ENGINE_RUNROOT, "--tmpdir", tmpdir,
		"--storage-driver", e->driver,
		/* One id is mapped: files of other owners in an image become ours. */
		"--storage-opt",
		strcmp(e->driver, "vfs") == 0 ? "vfs.ignore_chown_errors=true"
					      : "overlay.ignore_chown_errors=true",
		/* No systemd, no journald: the pod has neither. */
		"--cgroup-manager", "cgroupfs", "--events-backend", "file", "system", "service",
		"--time", "0", NULL
	};
	char *const envp[] = {
		"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", home_env, conf,
		/* Podman in a user namespace made for it (as its own re-exec does): no newuidmap,
		 * which no_new_privs would make powerless anyway. */
		"_CONTAINERS_USERNS_CONFIGURED=1", "LISTEN_FDS=1", listen_pid, NULL
	};
	/* The init takes its signals blocked and synchronously: the engine, and every container
	 * it starts, must get none of that (a blocked SIGALRM or SIGPIPE in a container). */
	sigset_t none;
	sigemptyset(&none);
	sbx_reset_dispositions();
	sigprocmask(SIG_SETMASK, &none, NULL);
	/* Its own table: the job's, less what an engine needs (seccomp.c, engine_why). */
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0 || sbx_seccomp_load(&e->filter) != 0)
		_exit(126);
	execve(e->podman, argv, envp);
	_exit(127);
}

pid_t sbx_engine_start(const struct sbx_engine *e, const struct sbx_plan *plan)
{
	pid_t pid = fork();
	if (pid == 0)
		engine_child(e, plan);
	return pid;
}
