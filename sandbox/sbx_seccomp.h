/* The syscall policy: one table, compiled to BPF in the parent, loaded last before execve.
 *
 * Everything is allowed except what the table names: a default-allow filter whose result for
 * most syscalls is a constant, which the kernel (>= 5.11) caches per syscall number, so the
 * job's allowed syscalls cost nothing. Only the native architecture is in the filter.
 *
 * Not named seccomp.h: with -Isandbox that would shadow libseccomp's <seccomp.h>. */
#ifndef RS_SBX_SECCOMP_H
#define RS_SBX_SECCOMP_H

#include <linux/filter.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "err.h"

enum sbx_sc_action {
	SBX_SC_EPERM,  /* "you may not" */
	SBX_SC_ENOSYS, /* "this does not exist": callers fall back (clone3 → clone) */
};

/* Which calls of the syscall a rule matches. Integer arguments are compared on their low 32
 * bits only, as the kernel reads them: a value with high bits set must not slip past. */
enum sbx_sc_arg_kind {
	SBX_SC_ARG_ANY = 0,  /* every call */
	SBX_SC_ARG0_ANY_BIT, /* arg0 has any bit of .value set (one rule per bit: rules are ORed) */
	SBX_SC_ARG0_EQ32,    /* (arg0 & 0xffffffff) == .value */
	SBX_SC_ARG1_EQ32,    /* (arg1 & 0xffffffff) == .value */
	SBX_SC_OTHER_PID_SET, /* arg0 (a pid) != 0 and arg2 (a new value) != NULL: a change made
			       * to another process (prlimit64) */
};

struct sbx_sc_rule {
	const char *name; /* syscall name as libseccomp knows it */
	enum sbx_sc_action action;
	int arg_kind;             /* enum sbx_sc_arg_kind */
	unsigned long long value; /* the argument value or bits arg_kind compares with */
	uint32_t only_arch;       /* SCMP_ARCH_*: the syscall exists only there; 0: everywhere */
	int nr;                /* its number when this libseccomp does not know the name; 0: none */
	const char *why;       /* the reason, one line: the attack it stops */
	bool root_inside_only; /* only where the job is root of its user namespace (userns-root) */
	bool not_job_root;     /* not where the job root maps every group (rootplan.h) */
	/* The container engine's table (engine.h): non-NULL, the engine is allowed this call,
	 * for this reason; with engine_enosys it gets ENOSYS instead, for this reason. */
	const char *engine_why;
	bool engine_enosys;
};

/* The policy table. */
const struct sbx_sc_rule *sbx_seccomp_rules(size_t *n);

/* A compiled filter (classic BPF), owned by the caller. badarch_action is the SECCOMP_RET_*
 * value the filter returns for syscalls of another architecture (i386, x32 on x86_64). */
struct sbx_filter {
	struct sock_filter *insns;
	unsigned short len;
	uint32_t badarch_action;
};

/* Compiles the table for the native architecture (with the rows for a job that is root of its
 * user namespace when root_inside, less those job_root makes moot). A name this libseccomp does not know for this
 * architecture is skipped (unless the rule gives its number); a known one that cannot be
 * added is an error naming it. Returns 0, or -1 with err filled (EX_RS_SANDBOX). */
int sbx_seccomp_build(struct sbx_filter *out, bool root_inside, bool job_root, struct rs_err *err);

/* The container engine's table (engine.h): the job's for a job that is not root inside, less
 * the rows with an engine_why, which the engine is allowed or refused with ENOSYS. */
int sbx_seccomp_build_engine(struct sbx_filter *out, struct rs_err *err);

/* The same for any table (tests). */
int sbx_seccomp_build_rules(const struct sbx_sc_rule *rules, size_t n, struct sbx_filter *out,
			    struct rs_err *err);

void sbx_seccomp_free(struct sbx_filter *f);

/* Async-signal-safe: only raw syscalls. Loads the filter on the calling thread
 * (seccomp(SECCOMP_SET_MODE_FILTER, 0, &prog), falling back to prctl(PR_SET_SECCOMP) on
 * ENOSYS). The caller has already set PR_SET_NO_NEW_PRIVS. Returns 0 or -errno. */
int sbx_seccomp_load(const struct sbx_filter *f);

#endif
