/*
 * escape_probe.c - tries, once each, the ways a job step could leave the
 * runner-supervisor's sandbox, and prints one JSON object per line:
 *
 *   {"vector": "<name>", "ok": true|false, "errno": "EPERM"|...|null, "detail": "..."}
 *
 *   ok=true    the operation succeeded, or it failed only AFTER the kernel's
 *              permission check had passed on a deliberately harmless target
 *              (the detail then says "permission check passed"): an escape.
 *   errno      symbolic errno of the failing call, null if none.
 *   killed     a probe killed by a signal (SIGSYS from seccomp, the alarm, ...)
 *              reads {"ok": false, "errno": null, "detail": "killed by signal N"}.
 *
 * The last line is {"vector": "status", ...} with CapEff/CapPrm/CapInh/CapBnd/
 * CapAmb/NoNewPrivs/Seccomp from /proc/self/status (informational).
 *
 * Usage: escape_probe --supervisor-pid PID [--secret PATH]... [--leaked-fd-min N]
 *
 * Build: gcc -std=gnu11 -Wall -Wextra -Werror -O2 -pthread escape_probe.c -o escape_probe
 *
 * Every probe runs in its own forked child (alarm(PROBE_TIMEOUT)) that sends a
 * fixed-size result back through a pipe; the parent never crashes.  Every probe
 * is harmless if it succeeds: mounts are undone, nothing is ever signalled
 * (only signal 0), /proc/sys and /proc/sysrq-trigger are opened but never
 * written, calls that would change the shared mount namespace or the kernel
 * (umount2, pivot_root, kexec_load, module loading) are aimed at targets that
 * make them fail right after the permission check.  Namespace changes, chroot,
 * keyrings and ptys only affect the short-lived child.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/timex.h>
#include <sys/ptrace.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <linux/bpf.h>
#include <linux/perf_event.h>

/* ---------------------------------------------------------------------------
 * Syscall numbers glibc may lack.  424+ are the same on every architecture.
 * ------------------------------------------------------------------------- */
#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434
#endif
#ifndef SYS_clone3
#define SYS_clone3 435
#endif
#ifndef SYS_pidfd_getfd
#define SYS_pidfd_getfd 438
#endif
#ifndef SYS_open_tree
#define SYS_open_tree 428
#endif
#ifndef SYS_move_mount
#define SYS_move_mount 429
#endif
#ifndef SYS_fsopen
#define SYS_fsopen 430
#endif
#ifndef SYS_mount_setattr
#define SYS_mount_setattr 442
#endif
#ifndef SYS_io_uring_setup
#define SYS_io_uring_setup 425
#endif

#if defined(__x86_64__)
#define FALLBACK_NR(x86, arm) (x86)
#elif defined(__aarch64__)
#define FALLBACK_NR(x86, arm) (arm)
#else
#define FALLBACK_NR(x86, arm) (-1)
#endif
#ifndef SYS_userfaultfd
#define SYS_userfaultfd FALLBACK_NR(323, 282)
#endif
#ifndef SYS_kexec_load
#define SYS_kexec_load FALLBACK_NR(246, 104)
#endif
#ifndef SYS_init_module
#define SYS_init_module FALLBACK_NR(175, 105)
#endif
#ifndef SYS_finit_module
#define SYS_finit_module FALLBACK_NR(313, 273)
#endif
#ifndef SYS_delete_module
#define SYS_delete_module FALLBACK_NR(176, 106)
#endif
#ifndef SYS_bpf
#define SYS_bpf FALLBACK_NR(321, 280)
#endif
#ifndef SYS_perf_event_open
#define SYS_perf_event_open FALLBACK_NR(298, 241)
#endif
#ifndef SYS_keyctl
#define SYS_keyctl FALLBACK_NR(250, 219)
#endif
#ifndef SYS_add_key
#define SYS_add_key FALLBACK_NR(248, 217)
#endif
#ifndef SYS_request_key
#define SYS_request_key FALLBACK_NR(249, 218)
#endif
#ifndef SYS_pivot_root
#define SYS_pivot_root FALLBACK_NR(155, 41)
#endif

/* Constants kept local so <linux/mount.h> (which clashes with <sys/mount.h>
 * on older glibc) is not needed. */
#define P_OPEN_TREE_CLONE 1
#define P_MOVE_MOUNT_F_EMPTY_PATH 0x00000004
#define P_MOVE_MOUNT_T_EMPTY_PATH 0x00000040
#define P_MOUNT_ATTR_RDONLY 0x00000001
#define P_KEYCTL_JOIN_SESSION_KEYRING 1
#define P_KEY_SPEC_PROCESS_KEYRING (-2)
#define P_AF_VSOCK 40
#define P_KEXEC_SEGMENT_MAX 16
#define P_TIOCL_GETSHIFTSTATE 6

struct p_clone_args { /* CLONE_ARGS_SIZE_VER0 = 64 bytes */
	uint64_t flags, pidfd, child_tid, parent_tid, exit_signal, stack,
	    stack_size, tls;
};

struct p_mount_attr {
	uint64_t attr_set, attr_clr, propagation, userns_fd;
};

/* ---------------------------------------------------------------------------
 * Results
 * ------------------------------------------------------------------------- */
#define PROBE_TIMEOUT 5       /* seconds: alarm() in the child */
#define PARENT_TIMEOUT_MS 10000 /* then the parent SIGKILLs it */

struct result {
	int ok;       /* 1 = escape / operation succeeded */
	int err;      /* errno value, 0 = null */
	char detail[1000];
};

/* Probe context (set from the command line). */
static pid_t g_sup = -1;
static const char **g_secrets;
static int g_nsecrets;
static int g_cur_secret;
static int g_fd_min = 3;
static int g_result_fd = -1; /* child's write end, excluded from leaked_fds */

static void set_detail(struct result *r, const char *fmt, va_list ap)
{
	vsnprintf(r->detail, sizeof(r->detail), fmt, ap);
}

/* The operation succeeded (or its permission check passed). */
static int res_ok(struct result *r, const char *fmt, ...)
{
	va_list ap;
	r->ok = 1;
	r->err = 0;
	va_start(ap, fmt);
	set_detail(r, fmt, ap);
	va_end(ap);
	return 0;
}

/* The operation failed with errno value err (0 = no errno). */
static int res_fail(struct result *r, int err, const char *fmt, ...)
{
	va_list ap;
	r->ok = 0;
	r->err = err;
	va_start(ap, fmt);
	set_detail(r, fmt, ap);
	va_end(ap);
	return 0;
}

/* Failure after the permission check on a harmless target counts as ok. */
static int res_passed(struct result *r, int err, const char *fmt, ...)
{
	va_list ap;
	r->ok = 1;
	r->err = err;
	va_start(ap, fmt);
	set_detail(r, fmt, ap);
	va_end(ap);
	return 0;
}

static const char *errno_name(int err)
{
#if defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 32))
	const char *n = strerrorname_np(err);
	if (n)
		return n;
#else
	static const struct { int e; const char *n; } tab[] = {
		{EPERM, "EPERM"}, {ENOENT, "ENOENT"}, {ESRCH, "ESRCH"},
		{EINTR, "EINTR"}, {EIO, "EIO"}, {ENXIO, "ENXIO"},
		{E2BIG, "E2BIG"}, {ENOEXEC, "ENOEXEC"}, {EBADF, "EBADF"},
		{ECHILD, "ECHILD"}, {EAGAIN, "EAGAIN"}, {ENOMEM, "ENOMEM"},
		{EACCES, "EACCES"}, {EFAULT, "EFAULT"}, {EBUSY, "EBUSY"},
		{EEXIST, "EEXIST"}, {EXDEV, "EXDEV"}, {ENODEV, "ENODEV"},
		{ENOTDIR, "ENOTDIR"}, {EISDIR, "EISDIR"}, {EINVAL, "EINVAL"},
		{ENFILE, "ENFILE"}, {EMFILE, "EMFILE"}, {ENOTTY, "ENOTTY"},
		{EFBIG, "EFBIG"}, {ENOSPC, "ENOSPC"}, {EROFS, "EROFS"},
		{ENOSYS, "ENOSYS"}, {ENOKEY, "ENOKEY"}, {EOPNOTSUPP, "EOPNOTSUPP"},
		{EAFNOSUPPORT, "EAFNOSUPPORT"}, {EPROTONOSUPPORT, "EPROTONOSUPPORT"},
		{ESTALE, "ESTALE"}, {ELOOP, "ELOOP"}, {ENAMETOOLONG, "ENAMETOOLONG"},
		{EDQUOT, "EDQUOT"}, {EUSERS, "EUSERS"}, {ENOTSUP, "ENOTSUP"},
	};
	for (size_t i = 0; i < sizeof(tab) / sizeof(tab[0]); i++)
		if (tab[i].e == err)
			return tab[i].n;
#endif
	static char buf[32];
	snprintf(buf, sizeof(buf), "E%d", err);
	return buf;
}

/* ---------------------------------------------------------------------------
 * Small helpers
 * ------------------------------------------------------------------------- */
static void sup_path(char *buf, size_t n, const char *what)
{
	snprintf(buf, n, "/proc/%d/%s", (int)g_sup, what);
}

/* Make a fresh directory in the cwd (or /tmp if the cwd is read-only). */
static int make_probe_dir(char *buf, size_t n)
{
	snprintf(buf, n, "escape_probe_dir.%d", (int)getpid());
	if (mkdir(buf, 0700) == 0)
		return 0;
	snprintf(buf, n, "/tmp/escape_probe_dir.XXXXXX");
	return mkdtemp(buf) ? 0 : -1;
}

/* Open a fresh pty pair and make the slave the child's controlling tty, so
 * TIOCSTI/TIOCLINUX can only ever touch a terminal the probe owns. */
static int open_own_pty(int *master_out, char *why, size_t whylen)
{
	int m = posix_openpt(O_RDWR | O_NOCTTY);
	if (m < 0) {
		snprintf(why, whylen, "posix_openpt");
		return -1;
	}
	if (grantpt(m) < 0 || unlockpt(m) < 0) {
		int e = errno;
		snprintf(why, whylen, "grantpt/unlockpt");
		close(m);
		errno = e;
		return -1;
	}
	char *name = ptsname(m);
	if (!name) {
		int e = errno;
		snprintf(why, whylen, "ptsname");
		close(m);
		errno = e;
		return -1;
	}
	/* Closing the master hangs up our new session: SIGHUP must not kill us. */
	signal(SIGHUP, SIG_IGN);
	setsid(); /* drop any inherited controlling tty (ok to fail) */
	int s = open(name, O_RDWR); /* becomes our controlling tty */
	if (s < 0) {
		int e = errno;
		snprintf(why, whylen, "open %s", name);
		close(m);
		errno = e;
		return -1;
	}
	ioctl(s, TIOCSCTTY, 0);
	*master_out = m;
	return s;
}

static void read_sysctl(const char *path, char *buf, size_t n)
{
	snprintf(buf, n, "?");
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return;
	ssize_t k = read(fd, buf, n - 1);
	close(fd);
	if (k <= 0) {
		snprintf(buf, n, "?");
		return;
	}
	buf[k] = 0;
	buf[strcspn(buf, "\n")] = 0;
}

/* ---------------------------------------------------------------------------
 * /proc of the supervisor
 * ------------------------------------------------------------------------- */
static int probe_proc_environ(struct result *r)
{
	char p[64];
	sup_path(p, sizeof(p), "environ");
	int fd = open(p, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return res_fail(r, errno, "open %s", p);
	char c;
	ssize_t n = read(fd, &c, 1);
	int e = errno;
	close(fd);
	if (n < 0)
		return res_fail(r, e, "read %s", p);
	return res_ok(r, "read %zd byte(s) from %s", n, p);
}

static int probe_proc_mem(struct result *r)
{
	char p[64];
	sup_path(p, sizeof(p), "mem");
	int fd = open(p, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return res_fail(r, errno, "open %s", p);
	close(fd);
	return res_ok(r, "opened %s", p);
}

static int probe_proc_root(struct result *r)
{
	char p[64], target[256] = "";
	sup_path(p, sizeof(p), "root");
	ssize_t n = readlink(p, target, sizeof(target) - 1);
	int rl_err = n < 0 ? errno : 0;
	if (n >= 0)
		target[n] = 0;
	strcat(p, "/");
	DIR *d = opendir(p);
	if (!d)
		return res_fail(r, errno, "opendir %s failed; readlink: %s",
				p, rl_err ? errno_name(rl_err) : target);
	int count = 0;
	char first[3][64] = {"", "", ""};
	struct dirent *de;
	while ((de = readdir(d)) != NULL) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		if (count < 3)
			snprintf(first[count], sizeof(first[count]), "%.63s", de->d_name);
		count++;
	}
	closedir(d);
	if (count == 0)
		return res_fail(r, 0, "opendir %s worked but listed nothing; readlink: %s",
				p, rl_err ? errno_name(rl_err) : target);
	return res_ok(r, "listed %d entries (%s %s %s ...); readlink: %s", count,
	       first[0], first[1], first[2], rl_err ? errno_name(rl_err) : target);
}

/* ---------------------------------------------------------------------------
 * Reaching into / signalling the supervisor
 * ------------------------------------------------------------------------- */

/* PTRACE_SEIZE runs the same permission check as PTRACE_ATTACH
 * (ptrace_attach() with PTRACE_MODE_ATTACH_REALCREDS) but never stops the
 * target, so a success cannot leave the supervisor stopped; the tracer (this
 * child) exiting detaches it. */
static int probe_ptrace_attach(struct result *r)
{
	if (ptrace(PTRACE_SEIZE, g_sup, NULL, NULL) < 0)
		return res_fail(r, errno, "ptrace(PTRACE_SEIZE, %d)", (int)g_sup);
	/* Not stopped, so PTRACE_DETACH would fail (ESRCH); exit detaches. */
	return res_ok(r, "attached to %d with PTRACE_SEIZE (detached on exit)", (int)g_sup);
}

static int probe_process_vm_readv(struct result *r)
{
	unsigned long addr = 0x400000;
	const char *src = "fallback 0x400000";
	char p[64];
	sup_path(p, sizeof(p), "maps");
	FILE *f = fopen(p, "re");
	if (f) {
		unsigned long a;
		if (fscanf(f, "%lx-", &a) == 1) {
			addr = a;
			src = "first mapping in maps";
		}
		fclose(f);
	}
	char c;
	struct iovec local = {&c, 1}, remote = {(void *)addr, 1};
	ssize_t n = process_vm_readv(g_sup, &local, 1, &remote, 1, 0);
	if (n >= 0)
		return res_ok(r, "read %zd byte(s) at 0x%lx (%s)", n, addr, src);
	int e = errno;
	if (e == EFAULT)
		return res_passed(r, e, "permission check passed: EFAULT at 0x%lx (%s)",
				  addr, src);
	return res_fail(r, e, "process_vm_readv(%d, 0x%lx) (%s)", (int)g_sup, addr, src);
}

static int probe_pidfd_open_getfd(struct result *r)
{
	int pidfd = (int)syscall(SYS_pidfd_open, g_sup, 0);
	if (pidfd < 0)
		return res_fail(r, errno, "pidfd_open(%d)", (int)g_sup);
	int fd = (int)syscall(SYS_pidfd_getfd, pidfd, 0, 0);
	int e = errno;
	close(pidfd);
	if (fd < 0)
		return res_fail(r, e, "pidfd_open worked, pidfd_getfd(pidfd, 0) failed");
	char lp[64], t[256] = "";
	snprintf(lp, sizeof(lp), "/proc/self/fd/%d", fd);
	ssize_t n = readlink(lp, t, sizeof(t) - 1);
	if (n >= 0)
		t[n] = 0;
	close(fd);
	return res_ok(r, "got supervisor's fd 0 -> %s", t);
}

static int probe_kill_supervisor(struct result *r)
{
	if (kill(g_sup, 0) < 0) /* signal 0 only: never a real signal */
		return res_fail(r, errno, "kill(%d, 0)", (int)g_sup);
	return res_ok(r, "kill(%d, 0) succeeded: supervisor can be signalled", (int)g_sup);
}

static int probe_kill_pid1(struct result *r)
{
	if (kill(1, 0) < 0) /* informational */
		return res_fail(r, errno, "kill(1, 0) (informational)");
	return res_ok(r, "kill(1, 0) succeeded (informational)");
}

/* ---------------------------------------------------------------------------
 * File handles (shocker)
 * ------------------------------------------------------------------------- */
static int probe_open_by_handle_at(struct result *r)
{
	struct {
		struct file_handle fh;
		unsigned char buf[MAX_HANDLE_SZ];
	} h;
	int mount_id;
	h.fh.handle_bytes = MAX_HANDLE_SZ;
	if (name_to_handle_at(AT_FDCWD, "/etc", &h.fh, &mount_id, 0) < 0)
		return res_fail(r, errno, "name_to_handle_at(/etc)");
	int mfd = open("/", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (mfd < 0)
		return res_fail(r, errno, "open(/)");
	int fd = open_by_handle_at(mfd, &h.fh, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	int e = errno;
	close(mfd);
	if (fd < 0)
		return res_fail(r, e, "open_by_handle_at(handle of /etc)");
	close(fd);
	return res_ok(r, "opened /etc by handle (CAP_DAC_READ_SEARCH)");
}

/* ---------------------------------------------------------------------------
 * Mounts
 * ------------------------------------------------------------------------- */
static int probe_mount(struct result *r)
{
	char dir[128];
	if (make_probe_dir(dir, sizeof(dir)) < 0)
		return res_fail(r, errno, "could not create a mount point");
	if (mount("tmpfs", dir, "tmpfs", MS_NOSUID | MS_NODEV, "size=1m") < 0) {
		int e = errno;
		rmdir(dir);
		return res_fail(r, e, "mount tmpfs on %s", dir);
	}
	int ue = umount2(dir, MNT_DETACH) < 0 ? errno : 0;
	rmdir(dir);
	return res_ok(r, "mounted tmpfs on %s; undo: %s", dir,
	       ue ? errno_name(ue) : "unmounted");
}

/* umount2("/proc") would detach /proc for everyone in the mount namespace.
 * Instead aim it at a fresh directory that is not a mount point: the kernel
 * checks may_mount() (CAP_SYS_ADMIN over the mount namespace; after the path
 * lookup since 5.9, before it earlier) and only then finds that nothing is
 * mounted there, so EPERM = no privilege, EINVAL = privilege present. */
static int probe_umount2(struct result *r)
{
	char dir[128];
	if (make_probe_dir(dir, sizeof(dir)) < 0)
		return res_fail(r, errno, "could not create a target directory");
	int rc = umount2(dir, MNT_DETACH);
	int e = errno;
	rmdir(dir);
	if (rc == 0)
		return res_ok(r, "umount2(%s) succeeded?!", dir);
	if (e == EINVAL)
		return res_passed(r, e, "permission check passed: umount2(%s, MNT_DETACH) "
				  "on a non-mount-point (stands in for /proc)", dir);
	return res_fail(r, e, "umount2(%s, MNT_DETACH) (stands in for /proc)", dir);
}

/* pivot_root(".", ".") would pivot the shared mount namespace.  Like umount2
 * it checks may_mount() first, so nonexistent paths separate EPERM (no
 * privilege) from ENOENT (privilege present). */
static int probe_pivot_root(struct result *r)
{
	const char *a = "/escape-probe-nonexistent-new", *b = "/escape-probe-nonexistent-old";
	if (syscall(SYS_pivot_root, a, b) == 0)
		return res_ok(r, "pivot_root succeeded?!");
	int e = errno;
	if (e == ENOENT)
		return res_passed(r, e, "permission check passed: pivot_root(nonexistent paths)");
	return res_fail(r, e, "pivot_root(nonexistent paths) (stands in for \".\", \".\")");
}

/* chroot only changes this child's root: safe to do for real. */
static int probe_chroot(struct result *r)
{
	if (chroot(".") < 0)
		return res_fail(r, errno, "chroot(\".\")");
	return res_ok(r, "chroot(\".\") succeeded (CAP_SYS_CHROOT)");
}

static int probe_fsopen(struct result *r)
{
	int fd = (int)syscall(SYS_fsopen, "tmpfs", 0);
	if (fd < 0)
		return res_fail(r, errno, "fsopen(\"tmpfs\", 0)");
	close(fd);
	return res_ok(r, "fsopen(\"tmpfs\") returned an fs context");
}

/* A detached clone of "/" vanishes when the fd is closed. */
static int probe_open_tree(struct result *r)
{
	int fd = (int)syscall(SYS_open_tree, AT_FDCWD, "/", P_OPEN_TREE_CLONE);
	if (fd < 0)
		return res_fail(r, errno, "open_tree(AT_FDCWD, \"/\", OPEN_TREE_CLONE)");
	close(fd);
	return res_ok(r, "open_tree cloned \"/\" (detached, closed)");
}

/* move_mount() checks may_mount() before resolving the fds: EBADF on the
 * bogus fds therefore means the privilege is there. */
static int probe_move_mount(struct result *r)
{
	long rc = syscall(SYS_move_mount, -1, "", -1, "",
			  P_MOVE_MOUNT_F_EMPTY_PATH | P_MOVE_MOUNT_T_EMPTY_PATH);
	if (rc == 0)
		return res_ok(r, "move_mount with bogus fds succeeded?!");
	int e = errno;
	if (e == EBADF)
		return res_passed(r, e, "permission check passed: EBADF on bogus fds");
	return res_fail(r, e, "move_mount(-1, \"\", -1, \"\") with bogus fds");
}

/* With a bogus fd mount_setattr() can never succeed.  Kernel 6.18 answers
 * EPERM without CAP_SYS_ADMIN before looking at the fd and EBADF with it;
 * older kernels may check the fd first, so EBADF is only reported, with
 * ok=false: it proves the syscall is not filtered. */
static int probe_mount_setattr(struct result *r)
{
	struct p_mount_attr attr = {.attr_set = P_MOUNT_ATTR_RDONLY};
	long rc = syscall(SYS_mount_setattr, -1, "", AT_EMPTY_PATH, &attr, sizeof(attr));
	if (rc == 0)
		return res_ok(r, "mount_setattr with a bogus fd succeeded?!");
	int e = errno;
	return res_fail(r, e, "mount_setattr(-1, \"\", AT_EMPTY_PATH, RDONLY)%s",
		 e == EBADF ? ": syscall reachable (not filtered; privileged on 6.x)" : "");
}

/* ---------------------------------------------------------------------------
 * Namespaces (only the child changes namespaces)
 * ------------------------------------------------------------------------- */
static int unshare_probe(struct result *r, int flag, const char *what)
{
	if (unshare(flag) < 0)
		return res_fail(r, errno, "unshare(%s)", what);
	return res_ok(r, "unshare(%s) succeeded", what);
}

static int probe_unshare_user(struct result *r)
{
	return unshare_probe(r, CLONE_NEWUSER, "CLONE_NEWUSER");
}

static int probe_unshare_mount(struct result *r)
{
	return unshare_probe(r, CLONE_NEWNS, "CLONE_NEWNS");
}

static int probe_unshare_net(struct result *r)
{
	return unshare_probe(r, CLONE_NEWNET, "CLONE_NEWNET");
}


static int probe_clone_newuser(struct result *r)
{
	/* Zero stack: the grandchild runs on a copy of this stack, like fork. */
	long pid = syscall(SYS_clone, CLONE_NEWUSER | SIGCHLD, 0, NULL, NULL, 0);
	if (pid == 0)
		_exit(0);
	if (pid < 0)
		return res_fail(r, errno, "clone(CLONE_NEWUSER|SIGCHLD)");
	int st;
	waitpid((pid_t)pid, &st, 0);
	return res_ok(r, "clone(CLONE_NEWUSER) created pid %ld", pid);
}

static int probe_clone3(struct result *r)
{
	struct p_clone_args a;
	memset(&a, 0, sizeof(a));
	a.exit_signal = SIGCHLD;
	long pid = syscall(SYS_clone3, &a, sizeof(a));
	if (pid == 0)
		_exit(0);
	if (pid < 0)
		return res_fail(r, errno, "clone3(flags=0)%s",
				errno == ENOSYS ? ": glibc falls back to clone" : "");
	int st;
	waitpid((pid_t)pid, &st, 0);
	return res_ok(r, "clone3(flags=0) created pid %ld", pid);
}

static int setns_probe(struct result *r, const char *path, int nstype)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return res_fail(r, errno, "open %s", path);
	if (setns(fd, nstype) < 0) {
		int e = errno;
		close(fd);
		return res_fail(r, e, "setns(%s)", path);
	}
	close(fd);
	return res_ok(r, "setns(%s) succeeded", path);
}

static int probe_setns_sup(struct result *r)
{
	char p[64];
	sup_path(p, sizeof(p), "ns/mnt");
	return setns_probe(r, p, CLONE_NEWNS);
}

static int probe_setns_pid1(struct result *r)
{
	return setns_probe(r, "/proc/1/ns/user", CLONE_NEWUSER);
}

/* ---------------------------------------------------------------------------
 * Kernel modules, kexec, bpf, perf, userfaultfd, io_uring
 * ------------------------------------------------------------------------- */

/* A zero-length image: may_init_module() (CAP_SYS_MODULE) comes first, then
 * the image is rejected, so nothing can load. */
static int probe_init_module(struct result *r)
{
	static char empty[1];
	if (syscall(SYS_init_module, empty, 0UL, "") == 0)
		return res_ok(r, "init_module of an empty image succeeded?!");
	int e = errno;
	if (e == ENOEXEC || e == EINVAL || e == EFAULT || e == ENOMEM)
		return res_passed(r, e, "permission check passed: empty image rejected");
	return res_fail(r, e, "init_module(empty image)");
}

static int probe_finit_module(struct result *r)
{
	int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return res_fail(r, errno, "open /dev/null");
	long rc = syscall(SYS_finit_module, fd, "", 0);
	int e = errno;
	close(fd);
	if (rc == 0)
		return res_ok(r, "finit_module(/dev/null) succeeded?!");
	if (e == EINVAL || e == ENOEXEC || e == EBADF || e == EFBIG)
		return res_passed(r, e, "permission check passed: /dev/null rejected");
	return res_fail(r, e, "finit_module(fd of /dev/null, \"\", 0)");
}

static int probe_delete_module(struct result *r)
{
	if (syscall(SYS_delete_module, "escape_probe_nonexistent", O_NONBLOCK) == 0)
		return res_ok(r, "delete_module succeeded?!");
	int e = errno;
	if (e == ENOENT)
		return res_passed(r, e, "permission check passed: no such module");
	return res_fail(r, e, "delete_module(\"escape_probe_nonexistent\", O_NONBLOCK)");
}

/* All-zero arguments would UNLOAD a loaded kexec image; nr_segments above
 * KEXEC_SEGMENT_MAX fails with EINVAL right after the CAP_SYS_BOOT check. */
static int probe_kexec_load(struct result *r)
{
	if (syscall(SYS_kexec_load, 0UL, (unsigned long)P_KEXEC_SEGMENT_MAX + 1, NULL, 0UL) == 0)
		return res_ok(r, "kexec_load succeeded?!");
	int e = errno;
	if (e == EINVAL)
		return res_passed(r, e, "permission check passed: EINVAL on too many segments");
	return res_fail(r, e, "kexec_load(0, %d segments, NULL, 0)", P_KEXEC_SEGMENT_MAX + 1);
}

static int probe_bpf(struct result *r)
{
	union bpf_attr attr;
	memset(&attr, 0, sizeof(attr));
	attr.map_type = BPF_MAP_TYPE_ARRAY;
	attr.key_size = 4;
	attr.value_size = 4;
	attr.max_entries = 1;
	char sysctl[16];
	read_sysctl("/proc/sys/kernel/unprivileged_bpf_disabled", sysctl, sizeof(sysctl));
	int fd = (int)syscall(SYS_bpf, BPF_MAP_CREATE, &attr, sizeof(attr));
	if (fd < 0)
		return res_fail(r, errno, "bpf(BPF_MAP_CREATE array); unprivileged_bpf_disabled=%s", sysctl);
	close(fd);
	return res_ok(r, "created a bpf array map; unprivileged_bpf_disabled=%s", sysctl);
}

static int probe_perf_event_open(struct result *r)
{
	struct perf_event_attr a;
	memset(&a, 0, sizeof(a));
	a.size = sizeof(a);
	a.type = PERF_TYPE_SOFTWARE;
	a.config = PERF_COUNT_SW_CPU_CLOCK;
	a.disabled = 1;
	a.exclude_kernel = 1;
	a.exclude_hv = 1;
	char sysctl[16];
	read_sysctl("/proc/sys/kernel/perf_event_paranoid", sysctl, sizeof(sysctl));
	int fd = (int)syscall(SYS_perf_event_open, &a, 0, -1, -1, 0UL);
	if (fd < 0)
		return res_fail(r, errno, "perf_event_open(sw cpu-clock, self); perf_event_paranoid=%s", sysctl);
	close(fd);
	return res_ok(r, "perf_event_open(sw cpu-clock, self); perf_event_paranoid=%s", sysctl);
}

static int probe_userfaultfd(struct result *r)
{
	char sysctl[16];
	read_sysctl("/proc/sys/vm/unprivileged_userfaultfd", sysctl, sizeof(sysctl));
	int fd = (int)syscall(SYS_userfaultfd, O_CLOEXEC);
	if (fd < 0)
		return res_fail(r, errno, "userfaultfd(O_CLOEXEC); unprivileged_userfaultfd=%s", sysctl);
	close(fd);
	return res_ok(r, "userfaultfd(O_CLOEXEC); unprivileged_userfaultfd=%s", sysctl);
}

static int probe_io_uring_setup(struct result *r)
{
	/* struct io_uring_params is 120 bytes; a zeroed larger buffer is fine. */
	unsigned char params[256];
	memset(params, 0, sizeof(params));
	int fd = (int)syscall(SYS_io_uring_setup, 1, params);
	if (fd < 0)
		return res_fail(r, errno, "io_uring_setup(1)");
	close(fd);
	return res_ok(r, "io_uring_setup(1) returned a ring");
}

/* ---------------------------------------------------------------------------
 * Keyrings (not namespaced); all changes are to this child's own keyrings
 * ------------------------------------------------------------------------- */
static int probe_keyctl(struct result *r)
{
	long k = syscall(SYS_keyctl, P_KEYCTL_JOIN_SESSION_KEYRING, NULL, 0, 0, 0);
	if (k < 0)
		return res_fail(r, errno, "keyctl(KEYCTL_JOIN_SESSION_KEYRING, NULL)");
	return res_ok(r, "joined a new session keyring %ld", k);
}

static int probe_add_key(struct result *r)
{
	long k = syscall(SYS_add_key, "user", "x", "y", 1UL, P_KEY_SPEC_PROCESS_KEYRING);
	if (k < 0)
		return res_fail(r, errno, "add_key(\"user\", \"x\", \"y\", 1, KEY_SPEC_PROCESS_KEYRING)");
	return res_ok(r, "added key %ld to the process keyring", k);
}

static int probe_request_key(struct result *r)
{
	long k = syscall(SYS_request_key, "user", "escape-probe-nonexistent", NULL,
			 P_KEY_SPEC_PROCESS_KEYRING);
	if (k >= 0)
		return res_ok(r, "request_key found key %ld", k);
	int e = errno;
	return res_fail(r, e, "request_key(\"user\", nonexistent)%s",
		 e == ENOKEY ? ": syscall reachable (not filtered)" : "");
}

/* ---------------------------------------------------------------------------
 * The node's clock and kernel log, and other processes' limits
 * ------------------------------------------------------------------------- */
/* Read-only forms (modes 0, SIZE_BUFFER): harmless when they get through. */
static int probe_clock_adjtime(struct result *r)
{
	struct timex tx;
	memset(&tx, 0, sizeof(tx));
	if (syscall(SYS_clock_adjtime, CLOCK_REALTIME, &tx) < 0)
		return res_fail(r, errno, "clock_adjtime(CLOCK_REALTIME, modes 0)");
	return res_ok(r, "clock_adjtime reachable");
}

static int probe_adjtimex(struct result *r)
{
	struct timex tx;
	memset(&tx, 0, sizeof(tx));
	if (syscall(SYS_adjtimex, &tx) < 0)
		return res_fail(r, errno, "adjtimex(modes 0)");
	return res_ok(r, "adjtimex reachable");
}

static int probe_syslog(struct result *r)
{
	long n = syscall(SYS_syslog, 10 /* SYSLOG_ACTION_SIZE_BUFFER */, NULL, 0);
	if (n < 0)
		return res_fail(r, errno, "syslog(SIZE_BUFFER)");
	return res_ok(r, "syslog reachable: a %ld byte kernel log", n);
}

/* The supervisor's RLIMIT_CORE set to what it is (harmless when it gets through): where the
 * job shares its uid, a lower RLIMIT_NOFILE would starve it. */
static int probe_prlimit_supervisor(struct result *r)
{
	pid_t target = g_sup > 0 ? g_sup : 1;
	struct rlimit cur;
	if (syscall(SYS_prlimit64, target, RLIMIT_CORE, NULL, &cur) < 0)
		cur = (struct rlimit){ 0, 0 };
	if (syscall(SYS_prlimit64, target, RLIMIT_CORE, &cur, NULL) < 0)
		return res_fail(r, errno, "prlimit64(%d, RLIMIT_CORE, set)", (int)target);
	return res_ok(r, "set RLIMIT_CORE of pid %d", (int)target);
}

static int probe_setgroups_drop(struct result *r)
{
	if (syscall(SYS_setgroups, 0, NULL) < 0)
		return res_fail(r, errno, "setgroups(0, NULL)");
	return res_ok(r, "dropped every supplementary group");
}

/* ---------------------------------------------------------------------------
 * Sockets and terminals
 * ------------------------------------------------------------------------- */
static int probe_af_vsock(struct result *r)
{
	int fd = socket(P_AF_VSOCK, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return res_fail(r, errno, "socket(AF_VSOCK, SOCK_STREAM)");
	close(fd);
	return res_ok(r, "created an AF_VSOCK socket");
}

/* TIOCSTI into a pty the child owns as its controlling tty: harmless, and
 * it shows whether the kernel (dev.tty.legacy_tiocsti) and seccomp allow it. */
static int tiocsti_probe(struct result *r, int high)
{
	char sysctl[16], why[64];
	read_sysctl("/proc/sys/dev/tty/legacy_tiocsti", sysctl, sizeof(sysctl));
	int m;
	int s = open_own_pty(&m, why, sizeof(why));
	if (s < 0)
		return res_fail(r, errno, "%s failed; legacy_tiocsti=%s", why, sysctl);
	char c = '#';
	unsigned long req = TIOCSTI;
	if (high)
		req |= 1UL << 32; /* the kernel uses the low 32 bits; seccomp sees 64 */
	long rc = syscall(SYS_ioctl, s, req, &c);
	int e = errno;
	close(s);
	close(m);
	if (rc < 0)
		return res_fail(r, e, "ioctl(pty, TIOCSTI%s); legacy_tiocsti=%s",
				high ? "|1<<32" : "", sysctl);
	return res_ok(r, "ioctl(pty, TIOCSTI%s) injected a byte; legacy_tiocsti=%s",
	       high ? "|1<<32" : "", sysctl);
}

static int probe_tiocsti(struct result *r) { return tiocsti_probe(r, 0); }
static int probe_tiocsti_high(struct result *r) { return tiocsti_probe(r, 1); }

/* TIOCL_GETSHIFTSTATE is read-only; on a pty (no VT) ENOTTY/EINVAL means the
 * ioctl reached the tty layer, EPERM means it was filtered. */
static int probe_tioclinux(struct result *r)
{
	char why[64];
	const char *where = "/dev/tty0";
	int m = -1;
	int fd = open("/dev/tty0", O_RDONLY | O_NOCTTY | O_CLOEXEC);
	if (fd < 0) {
		where = "own pty";
		fd = open_own_pty(&m, why, sizeof(why));
		if (fd < 0)
			return res_fail(r, errno, "%s failed", why);
	}
	char sub[2] = {P_TIOCL_GETSHIFTSTATE, 0};
	int rc = ioctl(fd, TIOCLINUX, sub);
	int e = errno;
	close(fd);
	if (m >= 0)
		close(m);
	if (rc < 0)
		return res_fail(r, e, "ioctl(%s, TIOCLINUX, GETSHIFTSTATE)", where);
	return res_ok(r, "ioctl(%s, TIOCLINUX, GETSHIFTSTATE) worked", where);
}

/* ---------------------------------------------------------------------------
 * /proc/sys, sysrq: opened for writing, never written
 * ------------------------------------------------------------------------- */
static int open_wronly_probe(struct result *r, const char *path)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return res_fail(r, errno, "open %s O_WRONLY", path);
	close(fd); /* NEVER write */
	return res_ok(r, "opened %s for writing (nothing written)", path);
}

static int probe_proc_sys_write(struct result *r)
{
	return open_wronly_probe(r, "/proc/sys/kernel/hostname");
}

static int probe_sysrq_trigger(struct result *r)
{
	return open_wronly_probe(r, "/proc/sysrq-trigger");
}

/* ---------------------------------------------------------------------------
 * setuid binaries: can a setuid-root binary raise our privileges?
 * ------------------------------------------------------------------------- */
static int find_setuid_root(char *out, size_t n)
{
	static const char *dirs[] = {"/usr/bin", "/bin", "/usr/sbin", "/sbin",
				     "/usr/local/bin", "/usr/lib/dbus-1.0", NULL};
	for (int i = 0; dirs[i]; i++) {
		DIR *d = opendir(dirs[i]);
		if (!d)
			continue;
		struct dirent *de;
		while ((de = readdir(d)) != NULL) {
			struct stat st;
			if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
				continue;
			if (S_ISREG(st.st_mode) && (st.st_mode & S_ISUID) &&
			    st.st_uid == 0 && (st.st_mode & S_IXOTH)) {
				snprintf(out, n, "%s/%s", dirs[i], de->d_name);
				closedir(d);
				return 1;
			}
		}
		closedir(d);
	}
	return 0;
}

static int probe_setuid_binary(struct result *r)
{
	int nnp = prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0);
	char bin[512] = "";
	int found = find_setuid_root(bin, sizeof(bin));
	int nosuid = 0;
	struct statvfs sv;
	if (found && statvfs(bin, &sv) == 0)
		nosuid = (sv.f_flag & ST_NOSUID) != 0;
	uid_t euid = geteuid();
	if (nnp == 1)
		return res_fail(r, 0, "no_new_privs; setuid-root binary: %s",
				found ? bin : "none");
	if (!found)
		return res_fail(r, 0, "no setuid-root binary found; no_new_privs=%d", nnp);
	if (nosuid)
		return res_fail(r, 0, "%s is on a nosuid mount; no_new_privs=%d", bin, nnp);
	if (euid == 0)
		return res_fail(r, 0, "already euid 0 (nothing to gain); %s exists, no_new_privs=%d",
				bin, nnp);
	return res_ok(r, "%s is setuid root, no_new_privs=%d, euid=%d", bin, nnp, (int)euid);
}

/* ---------------------------------------------------------------------------
 * Leaked file descriptors: anything open beyond stdio (and the probe's own)
 * ------------------------------------------------------------------------- */
static int probe_leaked_fds(struct result *r)
{
	DIR *d = opendir("/proc/self/fd");
	if (!d)
		return res_fail(r, errno, "opendir /proc/self/fd");
	int own = dirfd(d), leaks = 0;
	size_t len = 0;
	char list[sizeof(r->detail) - 64] = "";
	struct dirent *de;
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] < '0' || de->d_name[0] > '9')
			continue;
		int fd = atoi(de->d_name);
		if (fd < 3 || fd < g_fd_min || fd == own || fd == g_result_fd)
			continue;
		char lp[64], t[256] = "?";
		snprintf(lp, sizeof(lp), "/proc/self/fd/%d", fd);
		ssize_t n = readlink(lp, t, sizeof(t) - 1);
		if (n >= 0)
			t[n] = 0;
		if (len < sizeof(list) - 1)
			len += (size_t)snprintf(list + len, sizeof(list) - len, "%s%d -> %s",
						leaks ? ", " : "", fd, t);
		leaks++;
	}
	closedir(d);
	if (leaks)
		return res_ok(r, "%d leaked fd(s): %s", leaks, list);
	return res_fail(r, 0, "no fds >= %d besides the probe's own", g_fd_min > 3 ? g_fd_min : 3);
}

/* ---------------------------------------------------------------------------
 * Secrets given with --secret
 * ------------------------------------------------------------------------- */
static int probe_secret(struct result *r)
{
	const char *path = g_secrets[g_cur_secret];
	struct stat st;
	char exists[128];
	if (stat(path, &st) == 0)
		snprintf(exists, sizeof(exists), "exists (mode %04o uid %d gid %d)",
			 (unsigned)(st.st_mode & 07777), (int)st.st_uid, (int)st.st_gid);
	else
		snprintf(exists, sizeof(exists), "stat: %s", errno_name(errno));
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return res_fail(r, errno, "open %s; %s", path, exists);
	char c;
	ssize_t n = read(fd, &c, 1);
	int e = errno;
	close(fd);
	if (n < 0)
		return res_fail(r, e, "read %s; %s", path, exists);
	/* Opened but empty: what a root inside its own user namespace sees of a covered file
	 * (the cover is an empty file); the secret's bytes did not come through. */
	if (n == 0)
		return res_fail(r, 0, "read 0 bytes from %s (covered); %s", path, exists);
	return res_ok(r, "read %zd byte(s) from %s; %s", n, path, exists);
}

/* ---------------------------------------------------------------------------
 * Vector table
 * ------------------------------------------------------------------------- */
struct vector {
	const char *name;
	int (*fn)(struct result *);
};

static const struct vector vectors[] = {
	{"proc_environ", probe_proc_environ},
	{"proc_mem", probe_proc_mem},
	{"proc_root", probe_proc_root},
	{"ptrace_attach", probe_ptrace_attach},
	{"process_vm_readv", probe_process_vm_readv},
	{"pidfd_open_getfd", probe_pidfd_open_getfd},
	{"kill_supervisor", probe_kill_supervisor},
	{"kill_pid1", probe_kill_pid1},
	{"open_by_handle_at", probe_open_by_handle_at},
	{"mount", probe_mount},
	{"umount2", probe_umount2},
	{"pivot_root", probe_pivot_root},
	{"chroot", probe_chroot},
	{"fsopen", probe_fsopen},
	{"open_tree", probe_open_tree},
	{"move_mount", probe_move_mount},
	{"mount_setattr", probe_mount_setattr},
	{"unshare_user", probe_unshare_user},
	{"unshare_mount", probe_unshare_mount},
	{"unshare_net", probe_unshare_net},
	{"clone_newuser", probe_clone_newuser},
	{"clone3", probe_clone3},
	{"setns_sup", probe_setns_sup},
	{"setns_pid1", probe_setns_pid1},
	{"init_module", probe_init_module},
	{"finit_module", probe_finit_module},
	{"delete_module", probe_delete_module},
	{"kexec_load", probe_kexec_load},
	{"bpf", probe_bpf},
	{"perf_event_open", probe_perf_event_open},
	{"userfaultfd", probe_userfaultfd},
	{"io_uring_setup", probe_io_uring_setup},
	{"keyctl", probe_keyctl},
	{"add_key", probe_add_key},
	{"request_key", probe_request_key},
	{"af_vsock", probe_af_vsock},
	{"tiocsti", probe_tiocsti},
	{"tiocsti_high", probe_tiocsti_high},
	{"tioclinux", probe_tioclinux},
	{"clock_adjtime", probe_clock_adjtime},
	{"adjtimex", probe_adjtimex},
	{"syslog", probe_syslog},
	{"prlimit_supervisor", probe_prlimit_supervisor},
	{"setgroups_drop", probe_setgroups_drop},
	{"proc_sys_write", probe_proc_sys_write},
	{"sysrq_trigger", probe_sysrq_trigger},
	{"setuid_binary", probe_setuid_binary},
	{"leaked_fds", probe_leaked_fds},
};

/* ---------------------------------------------------------------------------
 * Output
 * ------------------------------------------------------------------------- */
static void json_str(const char *s)
{
	putchar('"');
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		switch (*p) {
		case '"': fputs("\\\"", stdout); break;
		case '\\': fputs("\\\\", stdout); break;
		case '\n': fputs("\\n", stdout); break;
		case '\r': fputs("\\r", stdout); break;
		case '\t': fputs("\\t", stdout); break;
		default:
			if (*p < 0x20 || *p >= 0x7f)
				printf("\\u%04x", *p); /* keep output pure ASCII */
			else
				putchar(*p);
		}
	}
	putchar('"');
}

static void print_result(const char *name, const struct result *r)
{
	fputs("{\"vector\": ", stdout);
	json_str(name);
	printf(", \"ok\": %s, \"errno\": ", r->ok ? "true" : "false");
	if (r->err)
		json_str(errno_name(r->err));
	else
		fputs("null", stdout);
	fputs(", \"detail\": ", stdout);
	json_str(r->detail);
	fputs("}\n", stdout);
	fflush(stdout);
}

/* Run fn in a forked child; never lets it take the probe down. */
static void run_vector(const char *name, int (*fn)(struct result *))
{
	struct result r;
	memset(&r, 0, sizeof(r));
	int p[2];
	if (pipe2(p, O_CLOEXEC) < 0) {
		res_fail(&r, errno, "pipe2 failed, probe not run");
		print_result(name, &r);
		return;
	}
	fflush(stdout);
	pid_t pid = fork();
	if (pid < 0) {
		res_fail(&r, errno, "fork failed, probe not run");
		close(p[0]);
		close(p[1]);
		print_result(name, &r);
		return;
	}
	if (pid == 0) {
		close(p[0]);
		g_result_fd = p[1];
		signal(SIGALRM, SIG_DFL);
		alarm(PROBE_TIMEOUT);
		fn(&r);
		ssize_t w = write(p[1], &r, sizeof(r));
		_exit(w == (ssize_t)sizeof(r) ? 0 : 1);
	}
	close(p[1]);

	size_t got = 0;
	int timed_out = 0;
	while (got < sizeof(r)) {
		struct pollfd pfd = {p[0], POLLIN, 0};
		int pr = poll(&pfd, 1, PARENT_TIMEOUT_MS);
		if (pr < 0 && errno == EINTR)
			continue;
		if (pr <= 0) {
			timed_out = 1;
			break;
		}
		ssize_t n = read(p[0], (char *)&r + got, sizeof(r) - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		got += (size_t)n;
	}
	close(p[0]);
	if (timed_out)
		kill(pid, SIGKILL); /* our own child only */
	int st = 0;
	while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
		;
	if (got < sizeof(r)) {
		memset(&r, 0, sizeof(r));
		if (WIFSIGNALED(st))
			res_fail(&r, 0, "killed by signal %d", WTERMSIG(st));
		else
			res_fail(&r, 0, "probe child exited %d without a result",
				 WIFEXITED(st) ? WEXITSTATUS(st) : -1);
	}
	r.detail[sizeof(r.detail) - 1] = 0;
	print_result(name, &r);
}

/* Final informational line from /proc/self/status. */
static void print_status(void)
{
	static const char *keys[] = {"CapInh", "CapPrm", "CapEff", "CapBnd",
				     "CapAmb", "NoNewPrivs", "Seccomp", NULL};
	char vals[7][64];
	for (int i = 0; keys[i]; i++)
		snprintf(vals[i], sizeof(vals[i]), "?");
	FILE *f = fopen("/proc/self/status", "re");
	if (f) {
		char line[256];
		while (fgets(line, sizeof(line), f)) {
			char *colon = strchr(line, ':');
			if (!colon)
				continue;
			*colon = 0;
			char *v = colon + 1;
			v += strspn(v, " \t");
			v[strcspn(v, "\n")] = 0;
			for (int i = 0; keys[i]; i++)
				if (!strcmp(line, keys[i]))
					snprintf(vals[i], sizeof(vals[i]), "%s", v);
		}
		fclose(f);
	}
	char detail[512];
	size_t len = 0;
	for (int i = 0; keys[i]; i++)
		len += (size_t)snprintf(detail + len, sizeof(detail) - len, "%s%s=%s",
					i ? " " : "", keys[i], vals[i]);
	len += (size_t)snprintf(detail + len, sizeof(detail) - len,
				" uid=%d euid=%d gid=%d pid=%d",
				(int)getuid(), (int)geteuid(), (int)getgid(), (int)getpid());
	fputs("{\"vector\": \"status\", \"ok\": true, \"errno\": null, \"detail\": ", stdout);
	json_str(detail);
	for (int i = 0; keys[i]; i++) {
		printf(", \"%s\": ", keys[i]);
		json_str(vals[i]);
	}
	printf(", \"uid\": %d, \"euid\": %d, \"pid\": %d}\n", (int)getuid(),
	       (int)geteuid(), (int)getpid());
	fflush(stdout);
}

static void usage(const char *argv0)
{
	fprintf(stderr,
		"usage: %s --supervisor-pid PID [--secret PATH]... [--leaked-fd-min N]\n",
		argv0);
	exit(2);
}

int main(int argc, char **argv)
{
	g_secrets = calloc((size_t)argc, sizeof(*g_secrets));
	if (!g_secrets)
		return 1;
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--supervisor-pid") && i + 1 < argc)
			g_sup = (pid_t)atoi(argv[++i]);
		else if (!strcmp(argv[i], "--secret") && i + 1 < argc)
			g_secrets[g_nsecrets++] = argv[++i];
		else if (!strcmp(argv[i], "--leaked-fd-min") && i + 1 < argc)
			g_fd_min = atoi(argv[++i]);
		else
			usage(argv[0]);
	}
	if (g_sup <= 0)
		usage(argv[0]);
	signal(SIGPIPE, SIG_IGN);

	for (size_t i = 0; i < sizeof(vectors) / sizeof(vectors[0]); i++)
		run_vector(vectors[i].name, vectors[i].fn);
	for (g_cur_secret = 0; g_cur_secret < g_nsecrets; g_cur_secret++) {
		char name[32];
		snprintf(name, sizeof(name), "secret_%d", g_cur_secret);
		run_vector(name, probe_secret);
	}
	print_status();
	return 0;
}
