/* The syscall filter: what it refuses, with which errno, and what a CI job still does.
 *
 * Every probe runs in a forked child that sets no_new_privs, loads the filter and reports
 * through a pipe (a cmocka assert in a child would unwind into the child's copy of the test
 * runner). After the load the child keeps to system calls and _exit. Where the kernel would
 * answer the probe with the same errno without the filter, the test says so: such a probe
 * proves nothing on this machine. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <seccomp.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "sbx_seccomp.h"

#ifndef AF_VSOCK
#define AF_VSOCK 40
#endif
#ifndef TIOCLINUX
#define TIOCLINUX 0x541C
#endif
#ifndef SYS_open_tree_attr
#define SYS_open_tree_attr 467
#endif

static struct sbx_filter filter;
static struct sbx_filter engine_filter;
/* The filter children load: the job's, or the engine's for its tests. */
static const struct sbx_filter *active = &filter;

static int build_filter(void **state)
{
	struct rs_err err = { 0 };
	if (sbx_seccomp_build(&filter, false, false, &err) < 0) {
		fprintf(stderr, "sbx_seccomp_build: %s\n", err.msg);
		return -1;
	}
	if (sbx_seccomp_build_engine(&engine_filter, &err) < 0) {
		fprintf(stderr, "sbx_seccomp_build_engine: %s\n", err.msg);
		return -1;
	}
	return 0;
}

static int free_filter(void **state)
{
	sbx_seccomp_free(&filter);
	sbx_seccomp_free(&engine_filter);
	return 0;
}

/* ---- running a probe in a child ----------------------------------------------------------- */

enum stage { NNP_FAILED = 1, LOAD_FAILED, PROBED };

struct report {
	int stage;
	int err; /* errno after the probe, or the failed step's */
	long ret;
};

struct outcome {
	pid_t pid;
	int status; /* from waitpid */
	bool reported;
	struct report r;
};

/* Runs probe() in a child, under the filter or without it. */
static struct outcome run_child(long (*probe)(void), bool filtered)
{
	struct outcome o = { 0 };
	int p[2];
	assert_int_equal(pipe2(p, O_CLOEXEC), 0);
	o.pid = fork();
	assert_true(o.pid >= 0);
	if (o.pid == 0) {
		struct report r = { 0 };
		close(p[0]);
		/* A probe may be killed with SIGSYS: no core dump. */
		prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
		if (filtered) {
			int rc;
			if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) {
				r = (struct report){ .stage = NNP_FAILED, .err = errno };
			} else if ((rc = sbx_seccomp_load(active)) != 0) {
				r = (struct report){ .stage = LOAD_FAILED, .err = -rc };
			}
		}
		if (r.stage == 0) {
			errno = 0;
			r.ret = probe();
			r.err = errno;
			r.stage = PROBED;
		}
		(void)!write(p[1], &r, sizeof(r));
		_exit(0);
	}
	close(p[1]);
	ssize_t n;
	do
		n = read(p[0], &o.r, sizeof(o.r));
	while (n < 0 && errno == EINTR);
	o.reported = n == (ssize_t)sizeof(o.r);
	close(p[0]);
	assert_int_equal(waitpid(o.pid, &o.status, 0), o.pid);
	if (o.reported)
		assert_int_equal(o.r.stage, PROBED);
	return o;
}

static struct outcome under_filter(long (*probe)(void))
{
	return run_child(probe, true);
}

/* Whether probe() fails with errno want under the filter; prints what went wrong if not. */
static bool fails_with(long (*probe)(void), const char *what, int want)
{
	struct outcome o = under_filter(probe);
	if (!o.reported) {
		print_error("%s: the child died (status 0x%x)\n", what, o.status);
		return false;
	}
	if (o.r.ret != -1 || o.r.err != want) {
		print_error("%s: returned %ld, errno %d (%s); want errno %d (%s)\n", what, o.r.ret,
			    o.r.err, strerror(o.r.err), want, strerror(want));
		return false;
	}
	struct outcome base = run_child(probe, false);
	if (base.reported && base.r.ret == -1 && base.r.err == want)
		print_message("note: %s fails with %s without the filter too\n", what,
			      strerror(want));
	return true;
}

static void assert_works(long (*probe)(void), const char *what)
{
	struct outcome o = under_filter(probe);
	if (!o.reported)
		fail_msg("%s: the child died (status 0x%x)", what, o.status);
	if (o.r.ret < 0)
		fail_msg("%s: returned %ld, errno %d (%s)", what, o.r.ret, o.r.err,
			 strerror(o.r.err));
}

/* ---- the table ---------------------------------------------------------------------------- */

static void every_rule_has_a_reason(void **state)
{
	size_t n;
	const struct sbx_sc_rule *rules = sbx_seccomp_rules(&n);
	assert_true(n > 0);
	for (size_t i = 0; i < n; i++) {
		assert_non_null(rules[i].name);
		assert_non_null(rules[i].why);
		if (strlen(rules[i].why) < 10)
			fail_msg("%s: no reason given", rules[i].name);
		assert_true(rules[i].action == SBX_SC_EPERM || rules[i].action == SBX_SC_ENOSYS);
		if (rules[i].arg_kind == SBX_SC_ARG0_ANY_BIT)
			assert_true(rules[i].value != 0);
	}
}

static void every_name_is_a_syscall_here_or_deliberately_skipped(void **state)
{
	size_t n;
	const struct sbx_sc_rule *rules = sbx_seccomp_rules(&n);
	uint32_t arch = seccomp_arch_native();
	for (size_t i = 0; i < n; i++) {
		const struct sbx_sc_rule *r = &rules[i];
		/* Negative: unknown (__NR_SCMP_ERROR) or another architecture's syscall. */
		int nr = seccomp_syscall_resolve_name(r->name);
		if (r->only_arch != 0 && r->only_arch != arch)
			continue;
		if (nr < 0 && r->nr <= 0)
			fail_msg("%s: not a syscall on this architecture", r->name);
		if (nr >= 0 && r->nr > 0 && nr != r->nr)
			fail_msg("%s: libseccomp says %d, the table %d", r->name, nr, r->nr);
	}
}

static void the_filter_checks_the_arch_first_and_kills_other_arches(void **state)
{
	assert_non_null(filter.insns);
	assert_true(filter.len > 4);
	assert_int_equal(filter.insns[0].code, BPF_LD | BPF_W | BPF_ABS);
	assert_int_equal(filter.insns[0].k, offsetof(struct seccomp_data, arch));
	assert_int_equal(filter.badarch_action, SCMP_ACT_KILL_PROCESS);
}

static void a_name_unknown_to_libseccomp_is_skipped(void **state)
{
	const struct sbx_sc_rule unknown[] = {
		{ .name = "no_such_syscall", .action = SBX_SC_EPERM, .why = "test" },
	};
	struct sbx_filter with = { 0 }, without = { 0 };
	struct rs_err err = { 0 };
	assert_int_equal(sbx_seccomp_build_rules(unknown, 1, &with, &err), 0);
	assert_int_equal(sbx_seccomp_build_rules(unknown, 0, &without, &err), 0);
	assert_int_equal(with.len, without.len);
	assert_memory_equal(with.insns, without.insns, with.len * sizeof(*with.insns));
	sbx_seccomp_free(&with);
	sbx_seccomp_free(&without);
}

static void a_syscall_that_cannot_be_added_is_an_error_naming_it(void **state)
{
	const struct sbx_sc_rule bad[] = {
		{ .name = "mount", .action = SBX_SC_EPERM, .why = "test" },
		{ .name = "swapon", .action = SBX_SC_EPERM, .arg_kind = 99, .why = "test" },
	};
	struct sbx_filter f = { 0 };
	struct rs_err err = { 0 };
	assert_int_equal(sbx_seccomp_build_rules(bad, 2, &f, &err), -1);
	assert_int_equal(err.exit_code, EX_RS_SANDBOX);
	assert_non_null(strstr(err.msg, "swapon"));
	assert_null(f.insns);
	assert_int_equal(f.len, 0);
}

static void free_leaves_an_empty_filter(void **state)
{
	struct sbx_filter f = { 0 };
	struct rs_err err = { 0 };
	assert_int_equal(sbx_seccomp_build(&f, false, false, &err), 0);
	sbx_seccomp_free(&f);
	assert_null(f.insns);
	assert_int_equal(f.len, 0);
	sbx_seccomp_free(&f); /* twice is harmless */
}

/* ---- refused, with the exact errno --------------------------------------------------------- */

/* Arguments the kernel rejects before doing anything, so that without the filter each probe
 * fails harmlessly with another errno (EFAULT, EBADF, EINVAL, ENOENT) or does nothing. */
static long p_mount(void)
{
	return syscall(SYS_mount, NULL, NULL, NULL, 0, NULL);
}
static long p_umount2(void)
{
	return syscall(SYS_umount2, "/nonexistent-sbx-test", 0);
}
static long p_pivot_root(void)
{
	return syscall(SYS_pivot_root, "/nonexistent-sbx-test", "/nonexistent-sbx-test");
}
static long p_chroot(void)
{
	return syscall(SYS_chroot, "/nonexistent-sbx-test");
}
static long p_open_by_handle_at(void)
{
	return syscall(SYS_open_by_handle_at, -1, NULL, 0);
}
static long p_setns(void)
{
	return syscall(SYS_setns, -1, 0);
}
static long p_unshare_newuser(void)
{
	return syscall(SYS_unshare, CLONE_NEWUSER);
}
static long p_unshare_newns_high_bits(void)
{
	return syscall(SYS_unshare, CLONE_NEWNS | (1UL << 40));
}
static long p_unshare_newtime(void)
{
	return syscall(SYS_unshare, CLONE_NEWTIME);
}
/* If the filter let it through, the new child returns 0 here and leaves at once. */
static long p_clone_newuser(void)
{
	long rc = syscall(SYS_clone, CLONE_NEWUSER | SIGCHLD, NULL, NULL, NULL, NULL);
	if (rc == 0)
		_exit(0);
	return rc;
}
static long p_clone_newnet(void)
{
	long rc = syscall(SYS_clone, CLONE_NEWNET | SIGCHLD, NULL, NULL, NULL, NULL);
	if (rc == 0)
		_exit(0);
	return rc;
}
static long p_kexec_load(void)
{
	return syscall(SYS_kexec_load, 0, 0, NULL, ~0UL);
}
static long p_kexec_file_load(void)
{
	return syscall(SYS_kexec_file_load, -1, -1, 0, NULL, ~0UL);
}
static long p_init_module(void)
{
	return syscall(SYS_init_module, NULL, 0, "");
}
static long p_finit_module(void)
{
	return syscall(SYS_finit_module, -1, "", 0);
}
static long p_delete_module(void)
{
	return syscall(SYS_delete_module, NULL, 0);
}
static long p_bpf(void)
{
	return syscall(SYS_bpf, -1, NULL, 0);
}
static long p_perf_event_open(void)
{
	return syscall(SYS_perf_event_open, NULL, 0, -1, -1, 0);
}
static long p_userfaultfd(void)
{
	return syscall(SYS_userfaultfd, ~0U);
}
static long p_io_uring_setup(void)
{
	return syscall(SYS_io_uring_setup, 0, NULL);
}
static long p_io_uring_enter(void)
{
	return syscall(SYS_io_uring_enter, -1, 0, 0, 0, NULL, 0);
}
static long p_keyctl(void)
{
	return syscall(SYS_keyctl, -1, 0, 0, 0, 0);
}
static long p_add_key(void)
{
	return syscall(SYS_add_key, NULL, NULL, NULL, 0, 0);
}
static long p_request_key(void)
{
	return syscall(SYS_request_key, NULL, NULL, NULL, 0);
}
static long p_acct(void)
{
	return syscall(SYS_acct, "/nonexistent-sbx-test/acct");
}
static long p_swapon(void)
{
	return syscall(SYS_swapon, "/nonexistent-sbx-test", 0);
}
static long p_reboot(void)
{
	return syscall(SYS_reboot, 0, 0, 0, NULL); /* wrong magic: EINVAL */
}
static long p_settimeofday(void)
{
	return syscall(SYS_settimeofday, NULL, NULL); /* sets nothing */
}
static long p_clock_settime(void)
{
	struct timespec ts = { 0 };
	return syscall(SYS_clock_settime, CLOCK_MONOTONIC, &ts); /* EINVAL */
}
#if defined(__x86_64__)
static long p_iopl(void)
{
	return syscall(SYS_iopl, 4); /* levels go to 3: EINVAL */
}
#endif
static long p_socket_vsock(void)
{
	long fd = syscall(SYS_socket, AF_VSOCK, SOCK_STREAM, 0);
	if (fd >= 0)
		close((int)fd);
	return fd;
}
/* The kernel reads the family as an int: high bits must not dodge the rule. */
static long p_socket_vsock_high_bits(void)
{
	long fd = syscall(SYS_socket, AF_VSOCK | (1UL << 32), SOCK_STREAM, 0);
	if (fd >= 0)
		close((int)fd);
	return fd;
}
/* On a pipe the kernel answers a terminal ioctl with ENOTTY. */
static long pipe_ioctl(unsigned long request)
{
	int p[2];
	if (pipe(p) != 0)
		return -2;
	char c = 'x';
	long rc = syscall(SYS_ioctl, p[0], request, &c);
	int e = errno;
	close(p[0]);
	close(p[1]);
	errno = e;
	return rc;
}
static long p_ioctl_tiocsti(void)
{
	return pipe_ioctl(TIOCSTI);
}
static long p_ioctl_tiocsti_high_bits(void)
{
	return pipe_ioctl(TIOCSTI | (1UL << 32));
}
static long p_ioctl_tioclinux(void)
{
	return pipe_ioctl(TIOCLINUX);
}

/* Pretended not to exist. */
static long p_clone3(void)
{
	return syscall(SYS_clone3, NULL, 0);
}
static long p_fsopen(void)
{
	return syscall(SYS_fsopen, NULL, 0);
}
static long p_fsconfig(void)
{
	return syscall(SYS_fsconfig, -1, 0, NULL, NULL, 0);
}
static long p_fsmount(void)
{
	return syscall(SYS_fsmount, -1, 0, 0);
}
static long p_fspick(void)
{
	return syscall(SYS_fspick, -1, NULL, 0);
}
static long p_open_tree(void)
{
	return syscall(SYS_open_tree, -1, NULL, 0);
}
static long p_open_tree_attr(void)
{
	return syscall(SYS_open_tree_attr, -1, NULL, 0, NULL, 0);
}
static long p_move_mount(void)
{
	return syscall(SYS_move_mount, -1, NULL, -1, NULL, 0);
}
static long p_mount_setattr(void)
{
	return syscall(SYS_mount_setattr, -1, NULL, 0, NULL, 0);
}

struct refused {
	const char *what;
	long (*probe)(void);
	int want;
};

#define R(p, e)                                                                                    \
	{                                                                                          \
#p, p, e                                                                           \
	}

static const struct refused refused[] = {
	R(p_mount, EPERM),
	R(p_umount2, EPERM),
	R(p_pivot_root, EPERM),
	R(p_chroot, EPERM),
	R(p_open_by_handle_at, EPERM),
	R(p_setns, EPERM),
	R(p_unshare_newuser, EPERM),
	R(p_unshare_newns_high_bits, EPERM),
	R(p_unshare_newtime, EPERM),
	R(p_clone_newuser, EPERM),
	R(p_clone_newnet, EPERM),
	R(p_kexec_load, EPERM),
	R(p_kexec_file_load, EPERM),
	R(p_init_module, EPERM),
	R(p_finit_module, EPERM),
	R(p_delete_module, EPERM),
	R(p_bpf, EPERM),
	R(p_perf_event_open, EPERM),
	R(p_userfaultfd, EPERM),
	R(p_io_uring_setup, EPERM),
	R(p_io_uring_enter, EPERM),
	R(p_keyctl, EPERM),
	R(p_add_key, EPERM),
	R(p_request_key, EPERM),
	R(p_acct, EPERM),
	R(p_swapon, EPERM),
	R(p_reboot, EPERM),
	R(p_settimeofday, EPERM),
	R(p_clock_settime, EPERM),
#if defined(__x86_64__)
	R(p_iopl, EPERM),
#endif
	R(p_socket_vsock, EPERM),
	R(p_socket_vsock_high_bits, EPERM),
	R(p_ioctl_tiocsti, EPERM),
	R(p_ioctl_tiocsti_high_bits, EPERM),
	R(p_ioctl_tioclinux, EPERM),
	R(p_clone3, ENOSYS),
	R(p_fsopen, ENOSYS),
	R(p_fsconfig, ENOSYS),
	R(p_fsmount, ENOSYS),
	R(p_fspick, ENOSYS),
	R(p_open_tree, ENOSYS),
	R(p_open_tree_attr, ENOSYS),
	R(p_move_mount, ENOSYS),
	R(p_mount_setattr, ENOSYS),
};

static void refused_syscalls_fail_with_the_exact_errno(void **state)
{
	size_t failed = 0;
	for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++)
		failed += !fails_with(refused[i].probe, refused[i].what, refused[i].want);
	assert_int_equal(failed, 0);
}

/* Without the filter a pipe answers TIOCSTI with ENOTTY: EPERM comes from the filter. */
static void tiocsti_on_a_pipe_is_enotty_without_the_filter(void **state)
{
	struct outcome o = run_child(p_ioctl_tiocsti_high_bits, false);
	assert_true(o.reported);
	assert_int_equal(o.r.ret, -1);
	assert_int_equal(o.r.err, ENOTTY);
}

/* ---- the container engine's table (engine.h) ------------------------------------------------ */

/* What the engine must be able to do reaches the kernel: the same result as unfiltered. */
static bool reaches_the_kernel(long (*probe)(void), const char *what)
{
	struct outcome base = run_child(probe, false);
	struct outcome o = under_filter(probe);
	if (!o.reported || !base.reported || o.r.ret != base.r.ret || o.r.err != base.r.err) {
		print_error("%s: %ld/%s under the engine's table, %ld/%s without\n", what, o.r.ret,
			    strerror(o.r.err), base.r.ret, strerror(base.r.err));
		return false;
	}
	return true;
}

static void the_engine_may_mount_and_make_namespaces_and_nothing_else(void **state)
{
	active = &engine_filter;
	size_t failed =
	    !reaches_the_kernel(p_mount, "mount") + !reaches_the_kernel(p_umount2, "umount2") +
	    !reaches_the_kernel(p_pivot_root, "pivot_root") +
	    !reaches_the_kernel(p_chroot, "chroot") + !reaches_the_kernel(p_setns, "setns") +
	    /* runc goes on without a session keyring on ENOSYS only */
	    !fails_with(p_keyctl, "keyctl", ENOSYS) +
	    /* the rest of the job's table binds the engine too */
	    !fails_with(p_bpf, "bpf", EPERM) +
	    !fails_with(p_open_by_handle_at, "open_by_handle_at", EPERM) +
	    !fails_with(p_kexec_load, "kexec_load", EPERM) +
	    !fails_with(p_fsopen, "fsopen", ENOSYS);
	active = &filter;
	assert_int_equal(failed, 0);
}

static void every_engine_allowance_has_a_reason(void **state)
{
	size_t n, allowed = 0;
	const struct sbx_sc_rule *rules = sbx_seccomp_rules(&n);
	for (size_t i = 0; i < n; i++) {
		if (!rules[i].engine_why)
			continue;
		assert_true(strlen(rules[i].engine_why) > 20);
		allowed += !rules[i].engine_enosys;
	}
	/* mount, umount2, pivot_root, chroot, setns, clone, unshare, prlimit64 */
	assert_int_equal(allowed, 8);
}

/* ---- what a CI job still does -------------------------------------------------------------- */

static long p_unshare_files(void)
{
	return syscall(SYS_unshare, CLONE_FILES);
}

static long p_fork_and_wait(void)
{
	pid_t pid = fork();
	if (pid == 0)
		_exit(7);
	if (pid < 0)
		return -1;
	int status;
	if (waitpid(pid, &status, 0) != pid)
		return -1;
	return WIFEXITED(status) && WEXITSTATUS(status) == 7 ? 0 : -1;
}

static void *thread_main(void *arg)
{
	return arg;
}

/* glibc >= 2.34 tries clone3 first and falls back to clone on ENOSYS. */
static long p_pthread(void)
{
	static int token;
	pthread_t t;
	void *ret = NULL;
	int rc = pthread_create(&t, NULL, thread_main, &token);
	if (rc != 0) {
		errno = rc;
		return -1;
	}
	if (pthread_join(t, &ret) != 0 || ret != &token)
		return -1;
	return 0;
}

static long p_getppid(void)
{
	return getppid();
}

static long p_socket_unix(void)
{
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd >= 0)
		close(fd);
	return fd;
}

static long p_ioctl_fionread(void)
{
	int p[2];
	int avail = -1;
	if (pipe(p) != 0)
		return -1;
	long rc = write(p[1], "abc", 3) == 3 ? ioctl(p[0], FIONREAD, &avail) : -1;
	close(p[0]);
	close(p[1]);
	return rc == 0 && avail == 3 ? 0 : -1;
}

static void unshare_without_namespaces_works(void **state)
{
	assert_works(p_unshare_files, "unshare(CLONE_FILES)");
}

static void fork_works(void **state)
{
	assert_works(p_fork_and_wait, "fork");
}

static void threads_work(void **state)
{
	assert_works(p_pthread, "pthread_create");
}

static void getppid_works(void **state)
{
	struct outcome o = under_filter(p_getppid);
	assert_true(o.reported);
	assert_int_equal(o.r.ret, getpid());
}

static void unix_sockets_work(void **state)
{
	assert_works(p_socket_unix, "socket(AF_UNIX)");
}

static void other_ioctls_work(void **state)
{
	assert_works(p_ioctl_fionread, "ioctl(FIONREAD)");
}

/* ---- other architectures' syscalls ---------------------------------------------------------- */

#if defined(__x86_64__)
static long p_x32_getpid(void)
{
	return syscall(__X32_SYSCALL_BIT | __NR_getpid);
}

/* i386's getpid (20) through the 32-bit entry, from 64-bit code. */
static long p_i386_getpid(void)
{
	long ret = 20;
	__asm__ volatile("int $0x80"
			 : "+a"(ret)
			 :
			 : "rbx", "rcx", "rdx", "r8", "r9", "r10", "r11", "memory");
	return ret;
}

static void assert_killed_by_sigsys(struct outcome o, const char *what)
{
	if (o.reported)
		fail_msg("%s: survived the filter (returned %ld, errno %d)", what, o.r.ret,
			 o.r.err);
	if (!WIFSIGNALED(o.status) || WTERMSIG(o.status) != SIGSYS)
		fail_msg("%s: want death by SIGSYS, got status 0x%x", what, o.status);
}

static void x32_syscalls_kill_the_process(void **state)
{
	/* Without the filter: the pid, or ENOSYS on kernels built without x32. */
	struct outcome base = run_child(p_x32_getpid, false);
	if (!base.reported)
		skip(); /* already killed by the seccomp profile we run under */
	assert_true(base.r.ret == base.pid || base.r.err == ENOSYS);
	assert_killed_by_sigsys(under_filter(p_x32_getpid), "x32 getpid");
}

static void i386_syscalls_kill_the_process(void **state)
{
	struct outcome base = run_child(p_i386_getpid, false);
	if (!base.reported || base.r.ret != base.pid)
		skip(); /* no ia32 emulation in this kernel: nothing to refuse */
	assert_killed_by_sigsys(under_filter(p_i386_getpid), "int $0x80 getpid");
}
#endif

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(every_rule_has_a_reason),
		cmocka_unit_test(every_name_is_a_syscall_here_or_deliberately_skipped),
		cmocka_unit_test(the_filter_checks_the_arch_first_and_kills_other_arches),
		cmocka_unit_test(a_name_unknown_to_libseccomp_is_skipped),
		cmocka_unit_test(a_syscall_that_cannot_be_added_is_an_error_naming_it),
		cmocka_unit_test(free_leaves_an_empty_filter),
		cmocka_unit_test(refused_syscalls_fail_with_the_exact_errno),
		cmocka_unit_test(tiocsti_on_a_pipe_is_enotty_without_the_filter),
		cmocka_unit_test(the_engine_may_mount_and_make_namespaces_and_nothing_else),
		cmocka_unit_test(every_engine_allowance_has_a_reason),
		cmocka_unit_test(unshare_without_namespaces_works),
		cmocka_unit_test(fork_works),
		cmocka_unit_test(threads_work),
		cmocka_unit_test(getppid_works),
		cmocka_unit_test(unix_sockets_work),
		cmocka_unit_test(other_ioctls_work),
#if defined(__x86_64__)
		cmocka_unit_test(x32_syscalls_kill_the_process),
		cmocka_unit_test(i386_syscalls_kill_the_process),
#endif
	};
	return cmocka_run_group_tests(tests, build_filter, free_filter);
}
