/* Privilege staging in the child, between clone and execve (raw system calls; the cap_t was
 * built by the parent). Privileges shrink in this order:
 *   rlimits (raising needs CAP_SYS_RESOURCE, which goes below)
 *   -> bounding and ambient sets emptied (needs CAP_SETPCAP: before the uid changes)
 *   -> groups, gid, uid
 *   -> inheritable, permitted, effective emptied (a uid change from root clears only the
 *      last two; inside a user namespace none of them)
 *   -> no_new_privs (setuid binaries such as sudo gain nothing from here on)
 *   -> Landlock (needs no_new_privs)
 * and seccomp last of all, by the caller, right before execve. */
#include "plan.h"

#include <errno.h>
#include <linux/prctl.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "landlock.h"

int sbx_child_enter_userns(const struct sbx_plan *p)
{
	/* Our kernel uid is still the parent's, which the new namespace does not map: until we
	 * switch, every file we create would fail with EOVERFLOW. Capabilities in the new
	 * namespace survive the switch (the namespace's root uid is not ours to lose). */
	if (p->n_inner_groups && !p->deny_setgroups &&
	    syscall(SYS_setgroups, p->n_inner_groups, p->inner_groups) < 0)
		return errno;
	if (syscall(SYS_setresgid, p->inner_gid, p->inner_gid, p->inner_gid) < 0 ||
	    syscall(SYS_setresuid, p->inner_uid, p->inner_uid, p->inner_uid) < 0)
		return errno;
	return 0;
}

int sbx_child_rlimits(const struct sbx_plan *p)
{
	/* Raw prlimit64: setrlimit(3) is a wrapper, but the raw call is plainly safe here. */
	struct rlimit core = { 0, 0 };
	if (syscall(SYS_prlimit64, 0, RLIMIT_CORE, &core, NULL) < 0)
		return errno;
	if (p->rlimit_nofile && syscall(SYS_prlimit64, 0, RLIMIT_NOFILE, &p->nofile, NULL) < 0)
		return errno;
	if (p->rlimit_nproc && syscall(SYS_prlimit64, 0, RLIMIT_NPROC, &p->nproc, NULL) < 0)
		return errno;
	return 0;
}

int sbx_child_drop_bounding(const struct sbx_plan *p)
{
	for (int cap = 0; p->drop_bounding && cap <= p->cap_last_cap; cap++)
		if (cap_drop_bound((cap_value_t)cap) < 0 && errno != EINVAL)
			return errno;
	if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0 && errno != EINVAL)
		return errno;
	return 0;
}

static int switch_ids(const struct sbx_plan *p)
{
	/* Raw system calls, not glibc's setuid family: glibc makes every thread of a process
	 * change ids together (SIGSETXID), and the threads it would wait for do not exist in a
	 * child of a threaded parent. Groups first, uid last, as privileges shrink. */
	if (!p->deny_setgroups && syscall(SYS_setgroups, p->n_inner_groups, p->inner_groups) < 0)
		return errno;
	if (syscall(SYS_setresgid, p->inner_gid, p->inner_gid, p->inner_gid) < 0 ||
	    syscall(SYS_setresuid, p->inner_uid, p->inner_uid, p->inner_uid) < 0)
		return errno;
	return 0;
}

int sbx_child_lockdown(const struct sbx_plan *p, const char **step)
{
	int e;
	if ((e = sbx_child_rlimits(p)) != 0)
		return *step = "resource limits", e;
	if (p->drop_caps && (e = sbx_child_drop_bounding(p)) != 0)
		return *step = "emptying the capability bounding set", e;
	if (p->switch_ids && (e = switch_ids(p)) != 0)
		return *step = "switching to the runner's uid and gid", e;
	if (p->drop_caps && cap_set_proc(p->no_caps) < 0)
		return *step = "emptying the capability sets", errno;
	if (p->nnp && prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		return *step = "no_new_privs", errno;
	if (p->landlock_fd >= 0 && sbx_landlock_restrict(p->landlock_fd) < 0)
		return *step = "Landlock", errno;
	return 0;
}
