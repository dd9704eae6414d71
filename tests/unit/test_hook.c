/* The job-started hook (hook.h): the script the runner's Worker runs as "Set up runner", which
 * puts the isolation report in the job's log and then runs the operator's own hook. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "hook.h"
#include "log.h"

static struct sbx_report report(void)
{
	struct sbx_report r = { 0 };
	for (int l = 0; l < SBX_L_COUNT; l++) {
		r.layer[l].state = SBX_APPLIED;
		snprintf(r.layer[l].detail, sizeof(r.layer[l].detail), "fine");
	}
	r.layer[SBX_L_USERNS].state = SBX_UNAVAILABLE;
	snprintf(r.layer[SBX_L_USERNS].detail, sizeof(r.layer[SBX_L_USERNS].detail),
		 "EPERM: user namespaces refused");
	r.layer[SBX_L_JOB_MEMORY].state = SBX_DISABLED;
	return r;
}

static struct hook_info info(const struct sbx_report *r)
{
	return (struct hook_info){ .runner_name = "pod-1",
				   .runner_id = 101,
				   .pod = "pod-1",
				   .mode = "auto",
				   .profile = "nnp",
				   .report = r,
				   .runner_root = "/home/runner",
				   .chained = NULL };
}

/* What `sh SCRIPT` prints. */
static char *run(const char *script)
{
	char path[] = "/var/tmp/rs-hook-XXXXXX";
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, script, strlen(script)), (ssize_t)strlen(script));
	close(fd);
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "sh -e %s", path);
	FILE *p = popen(cmd, "r");
	assert_non_null(p);
	char *out = calloc(1, 65536);
	size_t n = fread(out, 1, 65535, p);
	out[n] = '\0';
	assert_int_equal(pclose(p), 0);
	unlink(path);
	return out;
}

static void the_script_prints_who_ran_the_job_and_the_isolation_table(void **s)
{
	struct sbx_report r = report();
	struct hook_info i = info(&r);
	char *script = hook_script(&i);
	assert_non_null(script);
	char *out = run(script);
	char *table = NULL;
	size_t size = 0;
	FILE *f = open_memstream(&table, &size);
	sbx_report_print(&r, f);
	fclose(f);
	char head[256];
	snprintf(head, sizeof(head),
		 "runner-supervisor " RS_VERSION ": runner pod-1 (id 101) in pod pod-1\n"
		 "isolation (SUPERVISOR_SANDBOX=auto, profile nnp): %d of %d layers applied; "
		 "unavailable: user_namespace; disabled: job_memory\n",
		 SBX_L_COUNT - 2, SBX_L_COUNT);
	assert_true(strncmp(out, head, strlen(head)) == 0);
	assert_string_equal(out + strlen(head), table);
	free(table);
	free(out);
	free(script);
}

static void names_from_outside_stay_one_line_and_are_never_run(void **s)
{
	struct sbx_report r = report();
	struct hook_info i = info(&r);
	/* A runner name from a JIT blob: a quote, a command substitution, a newline. */
	i.runner_name = "it's $(touch /var/tmp/rs-hook-pwned)\n::error::forged";
	snprintf(r.layer[SBX_L_HIDDEN].detail, sizeof(r.layer[SBX_L_HIDDEN].detail),
		 "covered: /x\n::warning::y");
	char *script = hook_script(&i);
	char *out = run(script);
	assert_non_null(strstr(out, "runner it's $(touch /var/tmp/rs-hook-pwned)?::error::forged"));
	assert_non_null(strstr(out, "covered: /x?::warning::y\n"));
	assert_int_equal(access("/var/tmp/rs-hook-pwned", F_OK), -1);
	/* No line of the report starts a workflow command. */
	for (const char *l = out; *l; l += strcspn(l, "\n") + 1)
		assert_false(strncmp(l, "::", 2) == 0);
	free(out);
	free(script);
}

static void a_secret_never_reaches_the_jobs_log(void **s)
{
	struct sbx_report r = report();
	snprintf(r.layer[SBX_L_HIDDEN].detail, sizeof(r.layer[SBX_L_HIDDEN].detail),
		 "covered: ghp_0123456789abcdef");
	log_add_secret("ghp_0123456789abcdef");
	struct hook_info i = info(&r);
	char *script = hook_script(&i);
	log_forget_secrets();
	assert_null(strstr(script, "ghp_0123456789abcdef"));
	assert_non_null(strstr(script, "covered: ***"));
	free(script);
}

static void the_operators_hook_is_chained_by_its_extension_as_the_worker_would(void **s)
{
	struct sbx_report r = report();
	struct hook_info i = info(&r);
	char *alone = hook_script(&i);
	assert_null(strstr(alone, "\nhook="));
	free(alone);
	char dir[] = "/var/tmp/rs-hook-dir-XXXXXX";
	assert_non_null(mkdtemp(dir));
	char hook[256];
	snprintf(hook, sizeof(hook), "%s/mine's.sh", dir);
	FILE *f = fopen(hook, "w");
	fputs("echo \"the operator's hook ran with $0\"\n", f);
	fclose(f);
	i.chained = hook;
	char *script = hook_script(&i);
	char *out = run(script);
	char want[512];
	snprintf(want, sizeof(want), "the operator's hook ran with %s\n", hook);
	assert_non_null(strstr(out, want));
	free(out);
	free(script);

	/* What the Worker refuses, the chain refuses: a missing file, another extension. */
	char python[256];
	snprintf(python, sizeof(python), "%s/hook.py", dir);
	f = fopen(python, "w");
	fclose(f);
	const char *const refused[][2] = {
		{ "/nonexistent/hook.sh", "File doesn't exist" },
		{ python, "is not a valid path to a script. Make sure it ends in '.sh', '.ps1' or "
			  "'.js'." },
	};
	for (size_t k = 0; k < sizeof(refused) / sizeof(*refused); k++) {
		snprintf(hook, sizeof(hook), "%s", refused[k][0]);
		i.chained = hook;
		script = hook_script(&i);
		char path[] = "/var/tmp/rs-hook-XXXXXX";
		int fd = mkstemp(path);
		assert_int_equal(write(fd, script, strlen(script)), (ssize_t)strlen(script));
		close(fd);
		char cmd[600];
		snprintf(cmd, sizeof(cmd), "sh -e %s >/dev/null 2>&1", path);
		assert_int_not_equal(system(cmd), 0);
		assert_non_null(strstr(script, refused[k][1]));
		unlink(path);
		free(script);
	}
	snprintf(hook, sizeof(hook), "rm -rf %s", dir);
	assert_int_equal(system(hook), 0);
}

/* The path is printed as it is: sh's echo would turn "\\n" in it into a line break. */
/* The supervisor's own hook named as the operator's would run itself without end. */
static void the_supervisors_own_hook_is_never_chained(void **s)
{
	struct sbx_report r = report();
	struct hook_info i = info(&r);
	i.chained = "/home/runner/" HOOK_FILE;
	char *script = hook_script(&i);
	assert_null(strstr(script, "\nhook="));
	free(script);
	i.chained = "/home/runner/not-" HOOK_FILE;
	script = hook_script(&i);
	assert_non_null(strstr(script, "\nhook="));
	free(script);
}

static void the_operators_hook_path_is_shown_as_it_is(void **s)
{
	struct sbx_report r = report();
	struct hook_info i = info(&r);
	char dir[] = "/var/tmp/rs-hook-dir-XXXXXX";
	assert_non_null(mkdtemp(dir));
	char hook[256];
	snprintf(hook, sizeof(hook), "%s/back\\nslash.sh", dir);
	FILE *f = fopen(hook, "w");
	assert_non_null(f);
	fputs("echo ran\n", f);
	fclose(f);
	i.chained = hook;
	char *script = hook_script(&i);
	char *out = run(script);
	char want[512];
	snprintf(want, sizeof(want), "running the pod's own job-started hook, %s\nran\n", hook);
	assert_non_null(strstr(out, want));
	free(out);
	free(script);
	unlink(hook);
	rmdir(dir);
}

static void the_hook_file_is_written_readable_and_removed(void **s)
{
	char dir[] = "/var/tmp/rs-hook-root-XXXXXX";
	assert_non_null(mkdtemp(dir));
	char planted[256], target[256];
	/* Something planted under the final name is replaced, never followed. */
	snprintf(target, sizeof(target), "%s/target", dir);
	snprintf(planted, sizeof(planted), "%s/" HOOK_FILE, dir);
	FILE *f = fopen(target, "w");
	fputs("untouched", f);
	fclose(f);
	assert_int_equal(symlink(target, planted), 0);
	char *path = NULL;
	struct rs_err err = { 0 };
	mode_t old = umask(077);
	assert_int_equal(hook_install(dir, "echo hi\n", &path, &err), 0);
	umask(old);
	assert_string_equal(path, planted);
	struct stat st;
	assert_int_equal(lstat(path, &st), 0);
	assert_true(S_ISREG(st.st_mode));
	assert_int_equal(st.st_mode & 07777, 0644);
	f = fopen(target, "r");
	char buf[32] = { 0 };
	assert_true(fread(buf, 1, sizeof(buf) - 1, f) > 0);
	fclose(f);
	assert_string_equal(buf, "untouched");
	hook_remove(dir);
	assert_int_equal(lstat(path, &st), -1);
	free(path);
	unlink(target);
	assert_int_equal(rmdir(dir), 0);
}

static void a_root_the_worker_would_split_gets_no_hook(void **s)
{
	/* "bash -e /home/my runner/x.sh" would fail every job: no report rather than no job. */
	char *path = NULL;
	struct rs_err err = { 0 };
	assert_int_equal(hook_install("/var/tmp/my runner", "echo hi\n", &path, &err), -1);
	assert_null(path);
	assert_non_null(strstr(err.msg, "would split the hook's path"));
	assert_int_equal(hook_install("/var/tmp/a\"b", "echo hi\n", &path, &err), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(the_script_prints_who_ran_the_job_and_the_isolation_table),
		cmocka_unit_test(names_from_outside_stay_one_line_and_are_never_run),
		cmocka_unit_test(a_secret_never_reaches_the_jobs_log),
		cmocka_unit_test(
		    the_operators_hook_is_chained_by_its_extension_as_the_worker_would),
		cmocka_unit_test(the_operators_hook_path_is_shown_as_it_is),
		cmocka_unit_test(the_supervisors_own_hook_is_never_chained),
		cmocka_unit_test(the_hook_file_is_written_readable_and_removed),
		cmocka_unit_test(a_root_the_worker_would_split_gets_no_hook),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
