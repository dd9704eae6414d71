/* The syscall table and its BPF export.
 *
 * The filter is compiled by libseccomp in the parent and exported as classic BPF; the child
 * (a fork of a threaded process, where only async-signal-safe calls are allowed) loads it with
 * one seccomp() call, last before execve. libseccomp never loads it itself. */
#include "sbx_seccomp.h"

#include <errno.h>
#include <linux/seccomp.h>
#include <sched.h>
#include <seccomp.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "util.h"

#ifndef CLONE_NEWTIME
#define CLONE_NEWTIME 0x00000080
#endif
#ifndef AF_VSOCK
#define AF_VSOCK 40
#endif
#ifndef TIOCLINUX
#define TIOCLINUX 0x541C
#endif

/* Every flag that makes a namespace. clone() reads its low byte as the exit signal, so
 * CLONE_NEWTIME (0x80) cannot be asked of clone, only of unshare and clone3. */
#define NS_FLAGS_CLONE                                                                             \
	(CLONE_NEWNS | CLONE_NEWCGROUP | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWUSER |             \
	 CLONE_NEWPID | CLONE_NEWNET)
#define NS_FLAGS_UNSHARE (NS_FLAGS_CLONE | CLONE_NEWTIME)

/* Syscalls added since 5.1 have one number on every architecture but alpha, mips and ia64. */
#define NR_OPEN_TREE_ATTR 467 /* 6.15 */

#define ALL(n, act, reason)                                                                        \
	{                                                                                          \
		.name = (n), .action = (act), .why = (reason)                                      \
	}

/* One row per syscall (or per argument value): what the job gets, and why. Edit the table,
 * not the code below it. Nothing ordinary CI needs is here: gcc, git, python, node, make,
 * curl, tar, ptrace-based debuggers, and threads and fork keep working. */
static const struct sbx_sc_rule rules[] = {
	/* The sandbox's own layout: mounts, root, namespaces. */
	{ .name = "mount",
	  .action = SBX_SC_EPERM,
	  .why = "a bind or remount uncovers hidden paths and makes read-only ones writable",
	  .engine_why = "an engine mounts each container's root, /proc, /dev and volumes; in its "
			"own user namespace the sandbox's mounts are locked: no cover comes off, "
			"nothing read-only turns writable" },
	{ .name = "umount2",
	  .action = SBX_SC_EPERM,
	  .why = "unmounting an overmount uncovers the path it hides",
	  .engine_why = "an engine unmounts what it mounted; the sandbox's covers are locked in "
			"its namespace (EINVAL)" },
	{ .name = "pivot_root",
	  .action = SBX_SC_EPERM,
	  .why = "swaps the root filesystem from under the sandbox",
	  .engine_why = "the OCI runtime enters each container's root with it, in the container's "
			"own mount namespace" },
	{ .name = "chroot",
	  .action = SBX_SC_EPERM,
	  .why = "chroot with a directory fd kept outside is the classic way out of a root",
	  .engine_why = "buildah's copier enters an image's root with it (docker build); a way "
			"out of that root leads to the sandbox's view, which the job has" },
	ALL("open_by_handle_at", SBX_SC_EPERM,
	    "'shocker' (2014): opens host files by handle, past mounts and chroot"),
	{ .name = "setns",
	  .action = SBX_SC_EPERM,
	  .why = "joins another process's namespaces (/proc/PID/ns), leaving the sandbox's",
	  .engine_why = "exec and the OCI runtime join a container's namespaces; the only "
			"namespaces the engine can open are the sandbox's and its own" },
	{ .name = "clone",
	  .action = SBX_SC_EPERM,
	  .arg_kind = SBX_SC_ARG0_ANY_BIT,
	  .value = NS_FLAGS_CLONE,
	  .why = "new namespaces (a user namespace above all) open root-only kernel code to the "
		 "job, the first step of most container escapes; threads and fork stay",
	  .engine_why = "each container has its namespaces, made under the engine's user "
			"namespace, which owns them" },
	{ .name = "unshare",
	  .action = SBX_SC_EPERM,
	  .arg_kind = SBX_SC_ARG0_ANY_BIT,
	  .value = NS_FLAGS_UNSHARE,
	  .why = "as clone: unshare(CLONE_NEWUSER) is the first step of most container escapes",
	  .engine_why = "as clone: the engine and its runtime unshare a container's namespaces" },
	ALL("clone3", SBX_SC_ENOSYS,
	    "its flags are in memory the filter cannot read; glibc >= 2.34 falls back to clone"),

	/* The new mount API makes mounts without mount(2): ENOSYS, as on kernels before 5.2. */
	ALL("fsopen", SBX_SC_ENOSYS,
	    "new mount API: creates a filesystem context, past mount's rule"),
	ALL("fsconfig", SBX_SC_ENOSYS, "new mount API: configures a context from fsopen/fspick"),
	ALL("fsmount", SBX_SC_ENOSYS, "new mount API: turns a context into a mount"),
	ALL("fspick", SBX_SC_ENOSYS, "new mount API: reconfigures an existing mount (remount)"),
	ALL("move_mount", SBX_SC_ENOSYS, "new mount API: attaches a mount over the sandbox's"),
	ALL("open_tree", SBX_SC_ENOSYS,
	    "new mount API: a clone of a mount shows what the sandbox's overmounts hide"),
	ALL("mount_setattr", SBX_SC_ENOSYS,
	    "new mount API: clears read-only and nosuid on a mount tree"),
	{ .name = "open_tree_attr",
	  .action = SBX_SC_ENOSYS,
	  .nr = NR_OPEN_TREE_ATTR,
	  .why = "new mount API (6.15): open_tree and mount_setattr in one, same holes" },

	/* The kernel itself. */
	ALL("kexec_load", SBX_SC_EPERM, "replaces the running kernel"),
	ALL("kexec_file_load", SBX_SC_EPERM, "replaces the running kernel (from a file)"),
	ALL("init_module", SBX_SC_EPERM, "loads code into the kernel"),
	ALL("finit_module", SBX_SC_EPERM, "loads code into the kernel (from a file)"),
	ALL("delete_module", SBX_SC_EPERM, "unloads kernel modules the node relies on"),
	ALL("bpf", SBX_SC_EPERM,
	    "eBPF verifier bugs are a recurring kernel privilege escalation (CVE-2021-3490)"),
	ALL("perf_event_open", SBX_SC_EPERM,
	    "large kernel attack surface (CVE-2013-2094) and a side channel on the node"),
	ALL("userfaultfd", SBX_SC_EPERM,
	    "pauses kernel copies at a chosen moment: the standard tool to win kernel races"),
	ALL("io_uring_setup", SBX_SC_EPERM,
	    "io_uring runs open/socket/... without passing this filter, and is much exploited"),
	ALL("io_uring_enter", SBX_SC_EPERM,
	    "as io_uring_setup: ring operations bypass this filter"),
	ALL("io_uring_register", SBX_SC_EPERM,
	    "as io_uring_setup: ring operations bypass this filter"),

	/* State the node shares with every pod on it. */
	{ .name = "keyctl",
	  .action = SBX_SC_EPERM,
	  .why = "kernel keyrings are not namespaced: reads other pods' keys (and CVE-2016-0728)",
	  .engine_why = "runc joins a session keyring per container and goes on without one on "
			"ENOSYS, not on EPERM",
	  .engine_enosys = true },
	ALL("add_key", SBX_SC_EPERM, "kernel keyrings are not namespaced: plants keys for others"),
	ALL("request_key", SBX_SC_EPERM,
	    "kernel keyrings are not namespaced; also starts host upcall helpers"),
	ALL("acct", SBX_SC_EPERM, "switches the node's process accounting to a file of the job's"),
	ALL("swapon", SBX_SC_EPERM,
	    "swaps the node's memory, other pods' secrets, to a job's file"),
	ALL("swapoff", SBX_SC_EPERM, "takes the node's swap away: memory pressure on every pod"),
	ALL("reboot", SBX_SC_EPERM, "restarts the node, or kills the init of a PID namespace"),
	ALL("settimeofday", SBX_SC_EPERM,
	    "the clock is not namespaced: moves the node's time (certificate, token expiry)"),
	ALL("clock_settime", SBX_SC_EPERM,
	    "the clock is not namespaced: moves the node's time (certificate, token expiry)"),
	ALL("clock_adjtime", SBX_SC_EPERM,
	    "the clock is not namespaced: slews the node's time; its read-only form (modes 0) "
	    "is in memory the filter cannot read"),
	ALL("adjtimex", SBX_SC_EPERM, "as clock_adjtime, on CLOCK_REALTIME"),
	ALL("syslog", SBX_SC_EPERM,
	    "the kernel log is not namespaced: other pods' traces and kernel addresses (KASLR), "
	    "and clearing it hides an attack"),
	{ .name = "prlimit64",
	  .action = SBX_SC_EPERM,
	  .arg_kind = SBX_SC_OTHER_PID_SET,
	  .why = "lowers another process's limits: where the job shares the supervisor's uid "
		 "(runAsNonRoot) it would starve PID 1 of files or memory; its own and reading "
		 "others' stay",
	  .engine_why = "runc sets a container process's limits from outside it; the engine "
			"names only the sandbox's processes, never the supervisor" },
	{ .name = "setgroups",
	  .action = SBX_SC_EPERM,
	  .root_inside_only = true,
	  .not_job_root = true,
	  .why = "userns-root: dropping supplementary groups opens files whose group is denied "
		 "access (mode 0604); the job keeps the groups the runner has (not under "
		 "SUPERVISOR_JOB_ROOT: every group of the pod is mapped and the job holds none "
		 "other, so dropping one opens nothing; sudo and apt set theirs)" },
	{ .name = "iopl",
	  .action = SBX_SC_EPERM,
	  .only_arch = SCMP_ARCH_X86_64,
	  .why = "raw I/O port access reprograms the node's hardware" },
	{ .name = "ioperm",
	  .action = SBX_SC_EPERM,
	  .only_arch = SCMP_ARCH_X86_64,
	  .why = "raw I/O port access reprograms the node's hardware" },

	/* Argument values. */
	{ .name = "socket",
	  .action = SBX_SC_EPERM,
	  .arg_kind = SBX_SC_ARG0_EQ32,
	  .value = AF_VSOCK,
	  .why = "vsock talks to the hypervisor host, past the pod's network (CVE-2021-26708)" },
	{ .name = "ioctl",
	  .action = SBX_SC_EPERM,
	  .arg_kind = SBX_SC_ARG1_EQ32,
	  .value = TIOCSTI,
	  .why = "types into a terminal outside the sandbox (CVE-2017-5226; CVE-2019-10063: high "
		 "bits)" },
	{ .name = "ioctl",
	  .action = SBX_SC_EPERM,
	  .arg_kind = SBX_SC_ARG1_EQ32,
	  .value = TIOCLINUX,
	  .why = "selection paste types into a console like TIOCSTI (CVE-2023-1523)" },
};

const struct sbx_sc_rule *sbx_seccomp_rules(size_t *n)
{
	*n = ARRAY_SIZE(rules);
	return rules;
}

static uint32_t scmp_action(enum sbx_sc_action a)
{
	return a == SBX_SC_ENOSYS ? SCMP_ACT_ERRNO(ENOSYS) : SCMP_ACT_ERRNO(EPERM);
}

/* Adds one row. Returns 0 (also when the syscall does not exist here) or -1 (err filled). */
static int add_rule(scmp_filter_ctx ctx, uint32_t arch, const struct sbx_sc_rule *r,
		    struct rs_err *err)
{
	if (r->only_arch != 0 && r->only_arch != arch)
		return 0;
	/* __NR_SCMP_ERROR: a name this libseccomp does not know; another negative number: a
	 * syscall of other architectures only (libseccomp's pseudo-syscalls). */
	int nr = seccomp_syscall_resolve_name(r->name);
	if (nr < 0)
		nr = r->nr > 0 ? r->nr : -1;
	if (nr < 0)
		return 0;

	uint32_t action = scmp_action(r->action);
	int rc;
	switch (r->arg_kind) {
	case SBX_SC_ARG_ANY:
		rc = seccomp_rule_add_exact(ctx, action, nr, 0);
		break;
	case SBX_SC_ARG0_ANY_BIT:
		/* No "masked not-equal" in libseccomp: one rule per bit, and rules on one syscall
		 * are ORed. */
		rc = r->value != 0 ? 0 : -EINVAL;
		for (unsigned bit = 0; bit < 64 && rc == 0; bit++) {
			unsigned long long b = 1ULL << bit;
			if (r->value & b)
				rc = seccomp_rule_add_exact(ctx, action, nr, 1,
							    SCMP_A0(SCMP_CMP_MASKED_EQ, b, b));
		}
		break;
	case SBX_SC_ARG0_EQ32:
		rc = seccomp_rule_add_exact(ctx, action, nr, 1,
					    SCMP_A0(SCMP_CMP_MASKED_EQ, 0xffffffffULL, r->value));
		break;
	case SBX_SC_ARG1_EQ32:
		rc = seccomp_rule_add_exact(ctx, action, nr, 1,
					    SCMP_A1(SCMP_CMP_MASKED_EQ, 0xffffffffULL, r->value));
		break;
	case SBX_SC_OTHER_PID_SET:
		/* On all 64 bits: a pid with high bits set is refused even when the kernel would
		 * read it as 0 (the job's own), never the other way round. */
		rc = seccomp_rule_add_exact(ctx, action, nr, 2, SCMP_A0(SCMP_CMP_NE, 0, 0),
					    SCMP_A2(SCMP_CMP_NE, 0, 0));
		break;
	default:
		rc = -EINVAL;
		break;
	}
	if (rc < 0)
		return rs_fail(err, EX_RS_SANDBOX, -rc, "seccomp: cannot add the rule for %s",
			       r->name);
	return 0;
}

/* libseccomp 2.5 (Debian 12) can export only to a file descriptor: a memfd, read back. */
static int export_bpf(scmp_filter_ctx ctx, struct sbx_filter *out, struct rs_err *err)
{
	_cleanup_(closep) int fd = memfd_create("sbx-seccomp", MFD_CLOEXEC);
	if (fd < 0)
		return rs_fail(err, EX_RS_SANDBOX, errno, "seccomp: memfd_create");
	int rc = seccomp_export_bpf(ctx, fd);
	if (rc < 0)
		return rs_fail(err, EX_RS_SANDBOX, -rc, "seccomp: cannot export the filter");
	struct stat st;
	if (fstat(fd, &st) < 0)
		return rs_fail(err, EX_RS_SANDBOX, errno, "seccomp: fstat of the exported filter");
	size_t size = (size_t)st.st_size;
	size_t len = size / sizeof(struct sock_filter);
	if (size == 0 || size % sizeof(struct sock_filter) != 0 || len > BPF_MAXINSNS)
		return rs_fail(
		    err, EX_RS_SANDBOX, 0,
		    "seccomp: the exported filter has %zu bytes, not 1 to %d instructions", size,
		    BPF_MAXINSNS);
	struct sock_filter *insns = malloc(size);
	if (!insns)
		return rs_fail(err, EX_RS_SANDBOX, ENOMEM, "seccomp: %zu bytes for the filter",
			       size);
	size_t got = 0;
	while (got < size) {
		ssize_t n = pread(fd, (char *)insns + got, size - got, (off_t)got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			int e = n < 0 ? errno : EIO;
			free(insns);
			return rs_fail(err, EX_RS_SANDBOX, e,
				       "seccomp: reading the exported filter");
		}
		got += (size_t)n;
	}
	out->insns = insns;
	out->len = (unsigned short)len;
	return 0;
}

int sbx_seccomp_build_rules(const struct sbx_sc_rule *table, size_t n, struct sbx_filter *out,
			    struct rs_err *err)
{
	*out = (struct sbx_filter){ 0 };
	uint32_t arch = seccomp_arch_native();
	/* clone's flags are arg0 on both; s390 and cris swap the first two arguments. */
	if (arch != SCMP_ARCH_X86_64 && arch != SCMP_ARCH_AARCH64)
		return rs_fail(err, EX_RS_SANDBOX, 0,
			       "seccomp: the syscall table is written for x86_64 and aarch64 only "
			       "(libseccomp arch 0x%x)",
			       arch);

	scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_ALLOW);
	if (!ctx)
		return rs_fail(err, EX_RS_SANDBOX, 0, "seccomp: seccomp_init failed");

	/* Syscalls of another architecture (i386 through int $0x80, x32 through nr | 0x40000000
	 * on x86_64; arm32 on arm64 kernels that run it) kill the process. They have their own
	 * numbers, which this table does not cover (i386's socketcall even hides socket's
	 * arguments in memory), and the native code of a 64-bit CI job never makes them. A
	 * 32-bit program cannot work without its syscalls either way: killed with SIGSYS, the
	 * job log says "Bad system call" and the kernel logs it, where ENOSYS from every call,
	 * exit included, would end in a crash somewhere unrelated. libseccomp sends x32
	 * numbers on x86_64 to this same action when x32 is not in the filter. Older libseccomp
	 * or kernels without KILL_PROCESS (< 4.14) get ENOSYS instead. */
	uint32_t badarch = SCMP_ACT_KILL_PROCESS;
	int rc = seccomp_attr_set(ctx, SCMP_FLTATR_ACT_BADARCH, badarch);
	if (rc < 0) {
		badarch = SCMP_ACT_ERRNO(ENOSYS);
		rc = seccomp_attr_set(ctx, SCMP_FLTATR_ACT_BADARCH, badarch);
	}
	if (rc < 0) {
		seccomp_release(ctx);
		return rs_fail(err, EX_RS_SANDBOX, -rc, "seccomp: setting the bad-arch action");
	}
	/* The child sets no_new_privs itself, and libseccomp never loads this filter. */
	rc = seccomp_attr_set(ctx, SCMP_FLTATR_CTL_NNP, 0);
	if (rc < 0) {
		seccomp_release(ctx);
		return rs_fail(err, EX_RS_SANDBOX, -rc, "seccomp: clearing the NNP attribute");
	}

	for (size_t i = 0; i < n; i++) {
		if (add_rule(ctx, arch, &table[i], err) < 0) {
			seccomp_release(ctx);
			return -1;
		}
	}
	rc = export_bpf(ctx, out, err);
	seccomp_release(ctx);
	if (rc == 0)
		out->badarch_action = badarch;
	return rc;
}

int sbx_seccomp_build(struct sbx_filter *out, bool root_inside, bool job_root, struct rs_err *err)
{
	struct sbx_sc_rule chosen[ARRAY_SIZE(rules)];
	size_t n = 0;
	for (size_t i = 0; i < ARRAY_SIZE(rules); i++)
		if ((root_inside || !rules[i].root_inside_only) &&
		    !(job_root && rules[i].not_job_root))
			chosen[n++] = rules[i];
	return sbx_seccomp_build_rules(chosen, n, out, err);
}

int sbx_seccomp_build_engine(struct sbx_filter *out, struct rs_err *err)
{
	struct sbx_sc_rule chosen[ARRAY_SIZE(rules)];
	size_t n = 0;
	for (size_t i = 0; i < ARRAY_SIZE(rules); i++) {
		if (rules[i].root_inside_only || (rules[i].engine_why && !rules[i].engine_enosys))
			continue;
		chosen[n] = rules[i];
		if (rules[i].engine_enosys)
			chosen[n].action = SBX_SC_ENOSYS;
		n++;
	}
	return sbx_seccomp_build_rules(chosen, n, out, err);
}

void sbx_seccomp_free(struct sbx_filter *f)
{
	free(f->insns);
	*f = (struct sbx_filter){ 0 };
}

int sbx_seccomp_load(const struct sbx_filter *f)
{
	struct sock_fprog prog = { .len = f->len, .filter = f->insns };
	long rc = -1;
	errno = ENOSYS;
#ifdef SYS_seccomp
	rc = syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog);
#endif
	/* Kernels 3.5 to 3.16 have only the prctl. */
	if (rc < 0 && errno == ENOSYS)
		rc = prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog, 0, 0);
	return rc < 0 ? -errno : 0;
}
