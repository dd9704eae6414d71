/* The sandbox's decisions (sandbox/plan.c): from what the probe found to the layers applied,
 * the report, and strict's refusals. The probe results are made up here, one per kind of pod
 * in ../shared/reference/isolation-in-pods.md; the real probe runs in the integration tests. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/statvfs.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "plan.h"
#include "sandbox.h"

/* Everything works: a root pod with CAP_SYS_ADMIN and user namespaces. */
static struct sbx_probe everything(void)
{
	return (struct sbx_probe){
		.ns_in_userns = true, .cgroup_version = 1, .landlock_abi = 7, .cap_last_cap = 40
	};
}

/* RuntimeDefault seccomp without CAP_SYS_ADMIN: no namespace at all. */
static struct sbx_probe runtime_default(void)
{
	struct sbx_probe p = everything();
	p.ns_in_userns = false;
	p.userns = p.pidns = p.mntns = p.ipcns = p.utsns = p.cgroupns = EPERM;
	p.userns_map = p.proc_fresh = p.tmpfs = p.bind_ro = p.hostname = -1;
	return p;
}

static const char *const hide[] = { "/nonexistent/secret", NULL };

static struct sbx_policy policy(int mode)
{
	return (struct sbx_policy){ .mode = mode,
				    .profile = SBX_PROFILE_NNP,
				    .uid = 4242,
				    .gid = 4242,
				    .switch_ids = true,
				    .hostname = "pod-1",
				    .hide = hide };
}

static struct sbx_plan *prepare(const struct sbx_policy *pol, const struct sbx_probe *pr,
				struct sbx_report *r, struct rs_err *err)
{
	memset(r, 0, sizeof(*r));
	memset(err, 0, sizeof(*err));
	/* What sbx_protect_self() reports before the plan, in the supervisor. */
	r->layer[SBX_L_DUMPABLE].state = SBX_APPLIED;
	return sbx_plan_prepare(pol, pr, r, err);
}

static void test_everything_allowed_applies_every_namespace_with_an_init(void **state)
{
	static const char *const readonly[] = { "/usr", NULL };
	struct sbx_policy pol = policy(SBX_STRICT);
	pol.readonly = readonly;
	struct sbx_probe pr = everything();
	struct sbx_report r;
	struct rs_err err;
	struct sbx_plan *p = prepare(&pol, &pr, &r, &err);
	assert_non_null(p);
	assert_true(p->userns && p->pidns && p->mounts && p->proc && p->tmp);
	assert_int_equal(p->n_ro, 1);
	assert_true(p->seccomp && p->nnp && p->drop_caps && p->drop_bounding);
	assert_string_equal(p->hostname, "pod-1");
	/* The job cgroup depends on this machine's cgroups, not on the probe. */
	for (int l = 0; l < SBX_L_COUNT; l++)
		if (l != SBX_L_LANDLOCK && l != SBX_L_DUMPABLE && l != SBX_L_JOB_MEMORY &&
		    l != SBX_L_JOB_ROOT && l != SBX_L_CONTAINERS)
			assert_int_equal(r.layer[l].state, SBX_APPLIED);
	assert_int_equal(r.layer[SBX_L_JOB_ROOT].state, SBX_DISABLED); /* off by default */
	assert_int_equal(r.layer[SBX_L_CONTAINERS].state, SBX_DISABLED);
	/* With the namespaces, Landlock only scopes (ABI 6): no path rules. */
	if (pr.landlock_abi >= 6) {
		assert_true(p->landlock_fd >= 0);
		assert_int_equal(r.layer[SBX_L_LANDLOCK].state, SBX_APPLIED);
		assert_non_null(strstr(r.layer[SBX_L_LANDLOCK].detail, "scoped"));
	} else {
		assert_int_equal(p->landlock_fd, -1);
	}
	/* nnp: the runner's own uid inside. */
	assert_int_equal(p->inner_uid, 4242);
	sbx_plan_free(p);
}

static void test_userns_root_maps_root_inside_and_keeps_namespaced_capabilities(void **state)
{
	struct sbx_policy pol = policy(SBX_STRICT);
	pol.profile = SBX_PROFILE_USERNS_ROOT;
	struct sbx_probe pr = everything();
	struct sbx_report r;
	struct rs_err err;
	struct sbx_plan *p = prepare(&pol, &pr, &r, &err);
	assert_non_null(p);
	assert_int_equal(p->inner_uid, 0);
	assert_int_equal(p->outer_uid, 4242);
	assert_false(p->drop_caps);
	assert_true(p->nnp && p->seccomp);
	assert_non_null(strstr(r.layer[SBX_L_CAPS].detail, "userns-root"));
	sbx_plan_free(p);
}

static void test_runtime_default_falls_back_to_landlock(void **state)
{
	struct sbx_policy pol = policy(SBX_AUTO);
	struct sbx_probe pr = runtime_default();
	struct sbx_report r;
	struct rs_err err;
	struct sbx_plan *p = prepare(&pol, &pr, &r, &err);
	assert_non_null(p);
	assert_int_equal(p->clone_flags, 0);
	assert_false(p->pidns || p->mounts);
	assert_true(p->landlock_fd >= 0);
	assert_int_equal(r.layer[SBX_L_LANDLOCK].state, SBX_APPLIED);
	assert_int_equal(r.layer[SBX_L_HIDDEN].state, SBX_APPLIED);
	assert_int_equal(r.layer[SBX_L_USERNS].state, SBX_UNAVAILABLE);
	assert_non_null(strstr(r.layer[SBX_L_USERNS].detail, "EPERM"));
	assert_int_equal(r.layer[SBX_L_PIDNS].state, SBX_UNAVAILABLE);
	assert_int_equal(r.layer[SBX_L_SECCOMP].state, SBX_APPLIED);
	sbx_plan_free(p);
}

static void test_containers_are_refused_without_a_user_namespace_to_nest_in(void **state)
{
	struct sbx_policy pol = policy(SBX_AUTO);
	pol.containers = true;
	pol.containers_dir = "/nonexistent/_containers";
	struct sbx_probe pr = runtime_default();
	struct sbx_report r;
	struct rs_err err;
	struct sbx_plan *p = prepare(&pol, &pr, &r, &err);
	assert_non_null(p);
	assert_false(p->engine.on);
	assert_int_equal(p->engine.listen_fd, -1);
	assert_int_equal(r.layer[SBX_L_CONTAINERS].state, SBX_UNAVAILABLE);
	assert_non_null(strstr(r.layer[SBX_L_CONTAINERS].detail, "no user namespace"));
	sbx_plan_free(p);
}

static void test_strict_refuses_and_names_the_layer_and_the_pod_setting(void **state)
{
	struct sbx_policy pol = policy(SBX_STRICT);
	struct sbx_probe pr = runtime_default();
	struct sbx_report r;
	struct rs_err err;
	assert_null(prepare(&pol, &pr, &r, &err));
	assert_int_equal(err.exit_code, EX_RS_SANDBOX);
	assert_non_null(strstr(err.msg, "layer user_namespace is unavailable"));
	assert_non_null(strstr(err.msg, "hostUsers: false"));
	/* The report is filled all the same, for the operator. */
	assert_int_equal(r.layer[SBX_L_PIDNS].state, SBX_UNAVAILABLE);
}

static void test_a_masked_proc_means_no_pid_namespace_and_strict_says_procmount(void **state)
{
	/* The runner kills orphans by the pids it reads in /proc: never a PID namespace with the
	 * pod's /proc (actions-runner-contract.md). */
	struct sbx_probe pr = everything();
	pr.proc_fresh = EPERM;
	struct sbx_policy pol = policy(SBX_AUTO);
	struct sbx_report r;
	struct rs_err err;
	struct sbx_plan *p = prepare(&pol, &pr, &r, &err);
	assert_non_null(p);
	assert_false(p->pidns);
	assert_false(p->proc);
	assert_int_equal(p->clone_flags & CLONE_NEWPID, 0);
	assert_int_equal(r.layer[SBX_L_PIDNS].state, SBX_UNAVAILABLE);
	assert_non_null(strstr(r.layer[SBX_L_PIDNS].detail, "procfs of its own"));
	assert_int_equal(r.layer[SBX_L_PROC].state, SBX_UNAVAILABLE);
	/* The other namespaces stand without a sandbox init, and Landlock scopes signals. */
	assert_true(p->mounts);
	assert_true(p->clone_flags & CLONE_NEWNS);
	assert_true(p->clone_flags & CLONE_NEWUSER);
	assert_int_equal(r.layer[SBX_L_TMP].state, SBX_APPLIED);
	assert_int_equal(r.layer[SBX_L_HIDDEN].state, SBX_APPLIED);
	assert_int_equal(r.layer[SBX_L_LANDLOCK].state, SBX_APPLIED);
	assert_true(p->landlock_fd >= 0);
	sbx_plan_free(p);
	pol.mode = SBX_STRICT;
	assert_null(prepare(&pol, &pr, &r, &err));
	assert_non_null(strstr(err.msg, "procMount: Unmasked"));
}

static void test_a_refused_sethostname_keeps_the_hostname(void **state)
{
	struct sbx_probe pr = everything();
	pr.hostname = EPERM;
	struct sbx_policy pol = policy(SBX_STRICT);
	struct sbx_report r;
	struct rs_err err;
	struct sbx_plan *p = prepare(&pol, &pr, &r, &err);
	assert_non_null(p);
	assert_null(p->hostname);
	assert_int_equal(r.layer[SBX_L_UTSNS].state, SBX_APPLIED);
	assert_non_null(strstr(r.layer[SBX_L_UTSNS].detail, "hostname kept"));
	sbx_plan_free(p);
}

static void test_the_job_root_is_refused_where_root_is_the_nodes_root(void **state)
{
	/* These tests run as the machine's root: uid 0 here is uid 0 of the node. */
	struct sbx_policy pol = policy(SBX_AUTO);
	pol.job_root = true;
	pol.job_root_size = 1 << 30;
	struct sbx_probe pr = everything();
	struct sbx_report r;
	struct rs_err err;
	struct sbx_plan *p = prepare(&pol, &pr, &r, &err);
	assert_non_null(p);
	assert_false(p->job_root);
	assert_int_equal(r.layer[SBX_L_JOB_ROOT].state, SBX_UNAVAILABLE);
	assert_non_null(strstr(r.layer[SBX_L_JOB_ROOT].detail, "node's root"));
	assert_int_equal(p->inner_uid, 4242); /* the runner, as without the setting */
	sbx_plan_free(p);
	pol.mode = SBX_STRICT;
	assert_null(prepare(&pol, &pr, &r, &err));
	assert_int_equal(err.exit_code, EX_RS_SANDBOX);
	assert_non_null(strstr(err.msg, "job_root"));
	assert_non_null(strstr(err.msg, "hostUsers: false"));
}

static void test_off_disables_all_but_the_uid(void **state)
{
	struct sbx_policy pol = policy(SBX_OFF);
	struct sbx_probe pr = { 0 };
	struct sbx_report r;
	struct rs_err err;
	struct sbx_plan *p = prepare(&pol, &pr, &r, &err);
	assert_non_null(p);
	assert_int_equal(p->clone_flags, 0);
	assert_false(p->seccomp || p->nnp || p->drop_caps);
	assert_int_equal(r.layer[SBX_L_UID].state, SBX_APPLIED);
	assert_int_equal(r.layer[SBX_L_SECCOMP].state, SBX_DISABLED);
	sbx_plan_free(p);
}

static void test_kept_directories_are_only_those_under_tmp_and_not_nested(void **state)
{
	static const char *const keep[] = { "/tmp/runner", "/tmp/runner/_work", "/home/runner",
					    "/tmp", NULL };
	struct sbx_policy pol = policy(SBX_AUTO);
	pol.keep = keep;
	struct sbx_probe pr = everything();
	struct sbx_report r;
	struct rs_err err;
	struct sbx_plan *p = prepare(&pol, &pr, &r, &err);
	assert_non_null(p);
	assert_int_equal(p->n_keep, 1);
	assert_string_equal(p->keep[0], "/tmp/runner");
	sbx_plan_free(p);
}

static void test_locked_mount_flags_are_mount_flags_not_statvfs_bits(void **state)
{
	/* ST_RELATIME is MS_BIND's value: a remount must carry MS_RELATIME instead. */
	static const char *const paths[] = { "/", "/proc", "/dev", "/usr" };
	for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
		struct statvfs sv;
		if (statvfs(paths[i], &sv) < 0)
			continue;
		unsigned long f = sbx_locked_mount_flags(paths[i]);
		assert_int_equal(f & MS_BIND, 0);
		assert_int_equal(!!(f & MS_RELATIME), !!(sv.f_flag & ST_RELATIME));
		assert_int_equal(!!(f & MS_NOSUID), !!(sv.f_flag & ST_NOSUID));
		assert_int_equal(!!(f & MS_NOEXEC), !!(sv.f_flag & ST_NOEXEC));
	}
	assert_int_equal(sbx_locked_mount_flags("/nonexistent/path"), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_everything_allowed_applies_every_namespace_with_an_init),
		cmocka_unit_test(
		    test_userns_root_maps_root_inside_and_keeps_namespaced_capabilities),
		cmocka_unit_test(test_runtime_default_falls_back_to_landlock),
		cmocka_unit_test(test_containers_are_refused_without_a_user_namespace_to_nest_in),
		cmocka_unit_test(test_strict_refuses_and_names_the_layer_and_the_pod_setting),
		cmocka_unit_test(
		    test_a_masked_proc_means_no_pid_namespace_and_strict_says_procmount),
		cmocka_unit_test(test_a_refused_sethostname_keeps_the_hostname),
		cmocka_unit_test(test_the_job_root_is_refused_where_root_is_the_nodes_root),
		cmocka_unit_test(test_off_disables_all_but_the_uid),
		cmocka_unit_test(test_kept_directories_are_only_those_under_tmp_and_not_nested),
		cmocka_unit_test(test_locked_mount_flags_are_mount_flags_not_statvfs_bits),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
