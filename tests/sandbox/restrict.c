#define _GNU_SOURCE
/* Test helper: runs a command the way a restricted pod would start it.
 *
 *   restrict [--drop-cap NAME]... [--runtime-default] [--no-userns] -- CMD [ARG...]
 *
 * --drop-cap        removes the capability from the bounding, effective, permitted and
 *                   inheritable sets (e.g. sys_admin: a pod without CAP_SYS_ADMIN)
 * --runtime-default a seccomp filter like the container runtimes' default profile for a
 *                   process without CAP_SYS_ADMIN: unshare, setns, mount, umount2,
 *                   pivot_root and namespace-creating clone refused with EPERM, clone3 with
 *                   ENOSYS, keyrings, userfaultfd, io_uring, bpf refused
 * --no-userns       only CLONE_NEWUSER refused (a node with user namespaces disabled)
 * --no-sethostname  sethostname refused with EPERM (containers/common's default profile, as
 *                   podman and CRI-O use it, allows unshare but not this without SYS_ADMIN)
 *
 * Filters stack: whatever the supervisor loads later adds to this one, as in a pod. */
#include <errno.h>
#include <sched.h>
#include <stdbool.h>
#include <seccomp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/capability.h>
#include <sys/prctl.h>
#include <unistd.h>

static int fail(const char *what)
{
	fprintf(stderr, "restrict: %s: %s\n", what, strerror(errno));
	return 125;
}

static int drop_cap(const char *name)
{
	cap_value_t cap;
	if (cap_from_name(name, &cap) < 0)
		return fail(name);
	if (cap_drop_bound(cap) < 0)
		return fail("cap_drop_bound");
	cap_t caps = cap_get_proc();
	if (!caps || cap_set_flag(caps, CAP_EFFECTIVE, 1, &cap, CAP_CLEAR) < 0 ||
	    cap_set_flag(caps, CAP_PERMITTED, 1, &cap, CAP_CLEAR) < 0 ||
	    cap_set_flag(caps, CAP_INHERITABLE, 1, &cap, CAP_CLEAR) < 0 || cap_set_proc(caps) < 0)
		return fail("cap_set_proc");
	cap_free(caps);
	return 0;
}

static const unsigned long ns_flags[] = { CLONE_NEWNS,  CLONE_NEWUTS, CLONE_NEWIPC,
					  CLONE_NEWUSER, CLONE_NEWPID, CLONE_NEWNET,
					  CLONE_NEWCGROUP };

static int add_ns_rules(scmp_filter_ctx ctx, bool only_user)
{
	for (size_t i = 0; i < sizeof(ns_flags) / sizeof(ns_flags[0]); i++) {
		unsigned long f = ns_flags[i];
		if (only_user && f != CLONE_NEWUSER)
			continue;
		if (seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(unshare), 1,
				     SCMP_A0(SCMP_CMP_MASKED_EQ, f, f)) < 0 ||
		    seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(clone), 1,
				     SCMP_A0(SCMP_CMP_MASKED_EQ, f, f)) < 0)
			return -1;
	}
	/* clone3's flags are in memory: refuse it, as the runtimes do, so glibc uses clone. */
	return seccomp_rule_add(ctx, SCMP_ACT_ERRNO(ENOSYS), SCMP_SYS(clone3), 0);
}

static int load_filter(bool runtime_default, bool no_userns, bool no_sethostname)
{
	static const char *const denied[] = { "setns",	     "mount",	      "umount2",
					      "pivot_root",  "keyctl",	      "add_key",
					      "request_key", "userfaultfd",   "io_uring_setup",
					      "bpf",	     "perf_event_open", "fsopen",
					      "open_tree",   "move_mount",    NULL };
	scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_ALLOW);
	if (!ctx)
		return -1;
	int rc = runtime_default || no_userns ? add_ns_rules(ctx, !runtime_default) : 0;
	if (rc == 0 && no_sethostname)
		rc = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(sethostname), 0);
	for (const char *const *d = denied; runtime_default && rc == 0 && *d; d++)
		rc = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), seccomp_syscall_resolve_name(*d),
				      0);
	if (rc == 0)
		rc = seccomp_load(ctx);
	seccomp_release(ctx);
	return rc;
}

int main(int argc, char **argv)
{
	bool runtime_default = false, no_userns = false, no_sethostname = false;
	int i = 1;
	for (; i < argc && strcmp(argv[i], "--") != 0; i++) {
		if (strcmp(argv[i], "--drop-cap") == 0 && i + 1 < argc) {
			int rc = drop_cap(argv[++i]);
			if (rc)
				return rc;
		} else if (strcmp(argv[i], "--runtime-default") == 0) {
			runtime_default = true;
		} else if (strcmp(argv[i], "--no-userns") == 0) {
			no_userns = true;
		} else if (strcmp(argv[i], "--no-sethostname") == 0) {
			no_sethostname = true;
		} else {
			fprintf(stderr, "restrict: unknown option %s\n", argv[i]);
			return 125;
		}
	}
	if (i + 1 >= argc) {
		fprintf(stderr, "restrict: no command after --\n");
		return 125;
	}
	/* As a runtime does: no_new_privs is not set for the pod's process, the filter is
	 * loaded with CAP_SYS_ADMIN when we still have it, else needs no_new_privs. */
	bool any = runtime_default || no_userns || no_sethostname;
	if (any && load_filter(runtime_default, no_userns, no_sethostname) < 0) {
		if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0 ||
		    load_filter(runtime_default, no_userns, no_sethostname) < 0)
			return fail("seccomp");
	}
	execvp(argv[i + 1], argv + i + 1);
	return fail(argv[i + 1]);
}
