/* cfg_load / cfg_validate / cfg_print_help / gh_target_parse: every setting from the
 * environment and from its flag, every way a value or a command line can be wrong, and the
 * exit code each mistake maps to. The environment is always passed explicitly. */

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "config.h"
#include "sandbox.h"

/* cmocka's test functions all take a state most of them do not use. */
#pragma GCC diagnostic ignored "-Wunused-parameter"

#define ARGV(...) ((char *[]){ __VA_ARGS__, NULL })
#define ENVP(...) ((char *[]){ __VA_ARGS__, NULL })
#define NO_ARGS   ((char *[]){ NULL })
#define NO_ENV    ((char *[]){ NULL })

#define JIT_VALUE "eyJzZWNyZXQtaml0LWJsb2IiOiJkbyBub3QgbG9nIn0="

/* ---- fixture: one config, its error, and what the test created ------------------------ */

static struct rs_config cfg;
static struct rs_err err;
static char *made[128]; /* strings and temp paths to free (and unlink/rmdir) */
static size_t n_made;
static char temp_file[64]; /* a readable regular file: a token, a key, a CA bundle */
static char temp_dir[64];  /* an existing directory: RUNNER_ROOT */

static char *keep(char *s)
{
	assert_non_null(s);
	assert_true(n_made < sizeof(made) / sizeof(made[0]));
	made[n_made++] = s;
	return s;
}

/* "NAME=value", freed at teardown. */
static char *kv(const char *name, const char *value)
{
	char *s;
	assert_true(asprintf(&s, "%s=%s", name, value) >= 0);
	return keep(s);
}

static char *make_temp_file(void)
{
	char *path = keep(strdup("/tmp/test_config.XXXXXX"));
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "not a real token\n", 17), 17);
	close(fd);
	return path;
}

static int setup(void **state)
{
	memset(&cfg, 0, sizeof(cfg));
	memset(&err, 0, sizeof(err));
	n_made = 0;
	snprintf(temp_file, sizeof(temp_file), "/tmp/test_config.XXXXXX");
	int fd = mkstemp(temp_file);
	if (fd < 0)
		return -1;
	close(fd);
	snprintf(temp_dir, sizeof(temp_dir), "/tmp/test_config.d.XXXXXX");
	return mkdtemp(temp_dir) ? 0 : -1;
}

static int teardown(void **state)
{
	cfg_free(&cfg);
	for (size_t i = 0; i < n_made; i++) {
		if (strncmp(made[i], "/tmp/test_config.", 17) == 0 && unlink(made[i]) < 0)
			rmdir(made[i]);
		free(made[i]);
	}
	unlink(temp_file);
	rmdir(temp_dir);
	return 0;
}

static int count(char **v)
{
	int n = 0;
	while (v[n])
		n++;
	return n;
}

static int load(char **argv, char **envp)
{
	cfg_free(&cfg);
	memset(&err, 0, sizeof(err));
	return cfg_load(&cfg, count(argv), argv, envp, &err);
}

static void load_ok(char **argv, char **envp)
{
	if (load(argv, envp) != 0)
		fail_msg("cfg_load failed (%d): %s", err.exit_code, err.msg);
}

static void expect_message(const char *needle)
{
	if (!strstr(err.msg, needle))
		fail_msg("message \"%s\" does not contain \"%s\"", err.msg, needle);
}

static void expect_no(const char *secret)
{
	if (strstr(err.msg, secret))
		fail_msg("message \"%s\" shows \"%s\"", err.msg, secret);
}

static void load_fails(int code, const char *needle, char **argv, char **envp)
{
	if (load(argv, envp) != -1)
		fail_msg("cfg_load accepted what should fail with \"%s\"", needle);
	assert_int_equal(err.exit_code, code);
	expect_message(needle);
}

static void validate_ok(void)
{
	memset(&err, 0, sizeof(err));
	if (cfg_validate(&cfg, &err) != 0)
		fail_msg("cfg_validate failed (%d): %s", err.exit_code, err.msg);
}

static void validate_fails(int code, const char *needle)
{
	memset(&err, 0, sizeof(err));
	if (cfg_validate(&cfg, &err) != -1)
		fail_msg("cfg_validate accepted what should fail with \"%s\"", needle);
	assert_int_equal(err.exit_code, code);
	expect_message(needle);
}

/* Loads argv with env plus what `run` needs to validate: a URL, a PAT file, a runner root
 * and an existing user. Entries of env come first, so they win over the base. */
static void load_run(char **argv, char **env)
{
	char *envp[32];
	int n = 0;
	for (; env[n]; n++)
		envp[n] = env[n];
	envp[n++] = "GITHUB_URL=https://github.com/acme";
	envp[n++] = kv("GITHUB_TOKEN_FILE", temp_file);
	envp[n++] = kv("RUNNER_ROOT", temp_dir);
	envp[n++] = "RUNNER_USER=nobody";
	envp[n] = NULL;
	load_ok(argv, envp);
}

/* ---- every setting from the environment and from its flag ------------------------------ */

enum check_kind { STRING, NUMBER, OTHER };

struct setting_case {
	const char *env;
	const char *flag;
	const char *env_value;  /* what the environment says */
	const char *flag_value; /* what the flag says; it must win */
	enum check_kind kind;
	size_t field;
	void (*check)(const char *value);
};

static void check_github_url(const char *v)
{
	assert_string_equal(cfg.github_url, v);
	assert_string_equal(cfg.target.owner, strrchr(v, '/') + 1);
}

static void check_app_id(const char *v)
{
	assert_string_equal(cfg.app_id, v);
}

static void check_runner_name(const char *v)
{
	assert_string_equal(cfg.runner_name, v);
}

static void check_labels(const char *v)
{
	assert_int_equal(cfg.n_labels, 1);
	assert_string_equal(cfg.labels[0], v);
	assert_null(cfg.labels[1]);
}

static void check_group(const char *v)
{
	if (strspn(v, "0123456789") == strlen(v)) {
		assert_null(cfg.runner_group);
		assert_int_equal(cfg.runner_group_id, atoll(v));
	} else {
		assert_string_equal(cfg.runner_group, v);
		assert_int_equal(cfg.runner_group_id, 0);
	}
}

static void check_user(const char *v)
{
	assert_string_equal(cfg.runner_user, v);
}

static void check_sandbox(const char *v)
{
	enum sbx_mode want = strcmp(v, "strict") == 0 ? SBX_STRICT
			     : strcmp(v, "off") == 0  ? SBX_OFF
						      : SBX_AUTO;
	assert_int_equal(cfg.sandbox, want);
}

static void check_profile(const char *v)
{
	assert_int_equal(cfg.sandbox_profile,
			 strcmp(v, "userns-root") == 0 ? SBX_PROFILE_USERNS_ROOT : SBX_PROFILE_NNP);
}

static void check_hide_paths(const char *v)
{
	assert_int_equal(cfg.n_hide_paths, 1);
	assert_string_equal(cfg.hide_paths[0], v);
	assert_null(cfg.hide_paths[1]);
}

static void check_registration(const char *v)
{
	assert_int_equal(cfg.registration, strcmp(v, "token") == 0 ? REG_TOKEN : REG_JIT);
}

static void check_log_format(const char *v)
{
	assert_int_equal(cfg.log_json, strcmp(v, "json") == 0);
}

static void check_job_root(const char *v)
{
	assert_int_equal(cfg.job_root, strcmp(v, "overlay") == 0);
}

static void check_containers(const char *v)
{
	assert_int_equal(cfg.containers, strcmp(v, "podman") == 0);
}

static void check_fleet(const char *v)
{
	assert_string_equal(cfg.fleet, v);
	char label[64];
	snprintf(label, sizeof(label), "rs-fleet-%s", v);
	assert_string_equal(cfg.fleet_label, label);
}

static void check_api_url(const char *v)
{
	assert_string_equal(cfg.github_api_url, v);
}

#define STR(f) STRING, offsetof(struct rs_config, f), NULL
#define NUM(f) NUMBER, offsetof(struct rs_config, f), NULL
#define FN(fn) OTHER, 0, fn

static const struct setting_case setting_cases[] = {
	{ "GITHUB_URL", "--github-url", "https://github.com/acme", "https://github.com/other",
	  FN(check_github_url) },
	{ "GITHUB_API_URL", "--github-api-url", "https://api.example.com",
	  "https://ghes.example.com/api/v3", FN(check_api_url) },
	{ "GITHUB_TOKEN_FILE", "--github-token-file", "/env/token", "/flag/token",
	  STR(token_file) },
	{ "GITHUB_APP_ID", "--github-app-id", "12345", "Iv23liABCDEF", FN(check_app_id) },
	{ "GITHUB_APP_PRIVATE_KEY_FILE", "--github-app-private-key-file", "/env/key.pem",
	  "/flag/key.pem", STR(app_key_file) },
	{ "GITHUB_APP_INSTALLATION_ID", "--github-app-installation-id", "42", "9007199254740992",
	  NUM(app_installation_id) },
	{ "GITHUB_CA_FILE", "--github-ca-file", "/env/ca.pem", "/flag/ca.pem", STR(ca_file) },
	{ "RUNNER_NAME", "--runner-name", "env-runner", "flag-runner", FN(check_runner_name) },
	{ "RUNNER_LABELS", "--runner-labels", "gpu", "arm-big", FN(check_labels) },
	{ "RUNNER_GROUP", "--runner-group", "Builders", "7", FN(check_group) },
	{ "RUNNER_ROOT", "--runner-root", "/env/runner", "/flag/runner", STR(runner_root) },
	{ "RUNNER_WORKDIR", "--runner-workdir", "/env/work", "/flag/work", STR(runner_workdir) },
	{ "RUNNER_USER", "--runner-user", "builder", "1001:1002", FN(check_user) },
	{ "SUPERVISOR_SANDBOX", "--supervisor-sandbox", "strict", "off", FN(check_sandbox) },
	{ "SUPERVISOR_SANDBOX_PROFILE", "--supervisor-sandbox-profile", "userns-root", "nnp",
	  FN(check_profile) },
	{ "SUPERVISOR_RLIMIT_NOFILE", "--supervisor-rlimit-nofile", "1024", "65536",
	  NUM(rlimit_nofile) },
	{ "SUPERVISOR_JOB_MEMORY_MAX", "--supervisor-job-memory-max", "536870912", "3000000000",
	  NUM(job_memory_max) },
	{ "SUPERVISOR_JOB_ROOT", "--supervisor-job-root", "overlay", "off", FN(check_job_root) },
	{ "SUPERVISOR_JOB_ROOT_SIZE", "--supervisor-job-root-size", "1048576", "4294967296",
	  NUM(job_root_size) },
	{ "SUPERVISOR_CONTAINERS", "--supervisor-containers", "podman", "off",
	  FN(check_containers) },
	{ "SUPERVISOR_RLIMIT_NPROC", "--supervisor-rlimit-nproc", "100", "4096",
	  NUM(rlimit_nproc) },
	{ "SUPERVISOR_HIDE_PATHS", "--supervisor-hide-paths", "/env/secret", "/flag/secret",
	  FN(check_hide_paths) },
	{ "SUPERVISOR_REGISTRATION", "--supervisor-registration", "token", "jit",
	  FN(check_registration) },
	{ "SUPERVISOR_IDLE_TIMEOUT", "--supervisor-idle-timeout", "600", "604800",
	  NUM(idle_timeout_s) },
	{ "SUPERVISOR_JOB_TIMEOUT", "--supervisor-job-timeout", "3600", "604800",
	  NUM(job_timeout_s) },
	{ "SUPERVISOR_STOP_GRACE", "--supervisor-stop-grace", "10", "3600", NUM(stop_grace_s) },
	{ "SUPERVISOR_DRAIN_TIMEOUT", "--supervisor-drain-timeout", "60", "604800",
	  NUM(drain_timeout_s) },
	{ "SUPERVISOR_REGISTER_DEADLINE", "--supervisor-register-deadline", "1", "86400",
	  NUM(register_deadline_s) },
	{ "SUPERVISOR_DEREGISTER_DEADLINE", "--supervisor-deregister-deadline", "1", "3600",
	  NUM(deregister_deadline_s) },
	{ "SUPERVISOR_DEREGISTER_PATIENCE", "--supervisor-deregister-patience", "1", "86400",
	  NUM(deregister_patience_s) },
	{ "SUPERVISOR_FLEET", "--supervisor-fleet", "k3s-ci.v2", "A_b-9", FN(check_fleet) },
	{ "SUPERVISOR_SWEEP_MAX", "--supervisor-sweep-max", "0", "20", NUM(sweep_max) },
	{ "SUPERVISOR_SWEEP_AFTER", "--supervisor-sweep-after", "1", "86400", NUM(sweep_after_s) },
	{ "SUPERVISOR_LOG_FORMAT", "--supervisor-log-format", "text", "json",
	  FN(check_log_format) },
	{ "SUPERVISOR_TERMINATION_LOG", "--supervisor-termination-log", "/env/summary",
	  "/flag/summary", STR(termination_log) },
};

static void check_setting(const struct setting_case *c, const char *value)
{
	switch (c->kind) {
	case STRING:
		assert_string_equal(*(char **)((char *)&cfg + c->field), value);
		break;
	case NUMBER:
		assert_int_equal(*(long long *)((char *)&cfg + c->field), atoll(value));
		break;
	case OTHER:
		c->check(value);
		break;
	}
}

static void test_every_setting_is_read_from_its_environment_variable(void **state)
{
	for (size_t i = 0; i < sizeof(setting_cases) / sizeof(setting_cases[0]); i++) {
		const struct setting_case *c = &setting_cases[i];
		load_ok(NO_ARGS, ENVP(kv(c->env, c->env_value)));
		check_setting(c, c->env_value);
	}
}

static void test_every_flag_wins_over_its_environment_variable(void **state)
{
	for (size_t i = 0; i < sizeof(setting_cases) / sizeof(setting_cases[0]); i++) {
		const struct setting_case *c = &setting_cases[i];
		char *env = kv(c->env, c->env_value);

		load_ok(ARGV(kv(c->flag, c->flag_value)), ENVP(env));
		check_setting(c, c->flag_value);
		load_ok(ARGV((char *)c->flag, (char *)c->flag_value), ENVP(env));
		check_setting(c, c->flag_value);
	}
}

static void test_a_flag_given_twice_keeps_the_last(void **state)
{
	load_ok(ARGV("--supervisor-stop-grace=5", "--supervisor-stop-grace", "7"), NO_ENV);
	assert_int_equal(cfg.stop_grace_s, 7);
}

static void test_every_flag_is_accepted_by_every_command(void **state)
{
	load_ok(ARGV("check", "--runner-name=a"), NO_ENV);
	assert_int_equal(cfg.command, CMD_CHECK);
	load_ok(ARGV("wipe", "--runner-name=a", "/tmp/x"), NO_ENV);
	assert_int_equal(cfg.command, CMD_WIPE);
	load_ok(ARGV("exec", "--runner-name=a", "--", "true"), NO_ENV);
	assert_string_equal(cfg.runner_name, "a");
}

/* ---- defaults ---------------------------------------------------------------------------- */

static void test_defaults_with_an_empty_environment(void **state)
{
	load_ok(NO_ARGS, ENVP("HOSTNAME=pod-7f9c"));
	assert_int_equal(cfg.command, CMD_RUN);
	assert_null(cfg.github_url);
	assert_null(cfg.github_api_url);
	assert_int_equal(cfg.target.scope, GH_SCOPE_NONE);
	assert_null(cfg.token_file);
	assert_null(cfg.app_id);
	assert_int_equal(cfg.app_installation_id, 0);
	assert_false(cfg.has_jitconfig);
	assert_string_equal(cfg.runner_name, "pod-7f9c");
	assert_null(cfg.labels);
	assert_int_equal(cfg.n_labels, 0);
	assert_null(cfg.runner_group);
	assert_int_equal(cfg.runner_group_id, 1);
	assert_string_equal(cfg.runner_root, "/home/runner");
	assert_string_equal(cfg.runner_workdir, "/home/runner/_work");
	assert_string_equal(cfg.runner_user, "runner");
	assert_false(cfg.runner_user_resolved); /* resolved by cfg_validate, not by loading */
	assert_int_equal(cfg.sandbox, SBX_AUTO);
	assert_null(cfg.hide_paths);
	assert_int_equal(cfg.registration, REG_JIT);
	assert_int_equal(cfg.idle_timeout_s, 0);
	assert_int_equal(cfg.job_timeout_s, 0);
	assert_int_equal(cfg.stop_grace_s, 55);
	assert_int_equal(cfg.drain_timeout_s, 0);
	assert_int_equal(cfg.register_deadline_s, 300);
	assert_int_equal(cfg.deregister_deadline_s, 30);
	assert_int_equal(cfg.log_json, !isatty(2));
	if (access("/dev/termination-log", W_OK) == 0)
		assert_string_equal(cfg.termination_log, "/dev/termination-log");
	else
		assert_null(cfg.termination_log);
	assert_null(cfg.exec_argv);
	assert_null(cfg.wipe_dir);
	assert_false(cfg.check_online);
}

static void test_an_empty_environment_variable_counts_as_unset(void **state)
{
	load_ok(NO_ARGS, ENVP("SUPERVISOR_STOP_GRACE=", "RUNNER_NAME=", "HOSTNAME=pod-1",
			      "GITHUB_URL=", "RUNNER_LABELS=", "SUPERVISOR_SANDBOX="));
	assert_int_equal(cfg.stop_grace_s, 55);
	assert_string_equal(cfg.runner_name, "pod-1");
	assert_null(cfg.github_url);
	assert_null(cfg.labels);
	assert_int_equal(cfg.sandbox, SBX_AUTO);
}

static void test_an_empty_flag_value_is_an_error(void **state)
{
	load_fails(EX_RS_CONFIG, "RUNNER_NAME: empty value given with --runner-name",
		   ARGV("--runner-name="), NO_ENV);
	load_fails(EX_RS_CONFIG, "empty value", ARGV("--supervisor-stop-grace", ""), NO_ENV);
	load_fails(EX_RS_CONFIG, "empty value", ARGV("exec", "--workdir=", "--", "true"), NO_ENV);
}

static void test_workdir_defaults_under_the_runner_root(void **state)
{
	load_ok(NO_ARGS, ENVP("RUNNER_ROOT=/opt/runner"));
	assert_string_equal(cfg.runner_workdir, "/opt/runner/_work");
	load_ok(NO_ARGS, ENVP("RUNNER_ROOT=/opt/runner/"));
	assert_string_equal(cfg.runner_workdir, "/opt/runner/_work");
	load_ok(ARGV("--runner-root=/srv/r"), ENVP("RUNNER_WORKDIR=/scratch"));
	assert_string_equal(cfg.runner_workdir, "/scratch");
}

static void test_runner_name_defaults_to_the_pod_name_even_when_long(void **state)
{
	const char *pod = "arc-runner-set-abcde-runner-fghij-0123456789-0123456789-0123456789";
	assert_true(strlen(pod) > 64);
	load_ok(NO_ARGS, ENVP(kv("HOSTNAME", pod)));
	assert_string_equal(cfg.runner_name, pod);
}

static void test_runner_name_defaults_to_gethostname_without_hostname(void **state)
{
	char host[256] = "";
	assert_int_equal(gethostname(host, sizeof(host) - 1), 0);
	load_ok(NO_ARGS, NO_ENV);
	assert_string_equal(cfg.runner_name, host);
}

/* ---- numbers ----------------------------------------------------------------------------- */

struct value_error {
	const char *env;
	const char *value;
	const char *message; /* the whole line, or the part that must be in it */
};

static const struct value_error number_errors[] = {
	{ "SUPERVISOR_STOP_GRACE", "abc",
	  "SUPERVISOR_STOP_GRACE=\"abc\": not a whole number of seconds (0-3600)" },
	{ "SUPERVISOR_STOP_GRACE", "-1", "\"-1\": not a whole number of seconds" },
	{ "SUPERVISOR_STOP_GRACE", "+5", "\"+5\": not a whole number of seconds" },
	{ "SUPERVISOR_STOP_GRACE", "25s", "\"25s\": not a whole number of seconds" },
	{ "SUPERVISOR_STOP_GRACE", " 25", "\" 25\": not a whole number of seconds" },
	{ "SUPERVISOR_STOP_GRACE", "0x10", "\"0x10\": not a whole number of seconds" },
	{ "SUPERVISOR_STOP_GRACE", "2.5", "\"2.5\": not a whole number of seconds" },
	{ "SUPERVISOR_STOP_GRACE", "3601",
	  "SUPERVISOR_STOP_GRACE=\"3601\": out of range of seconds (0-3600)" },
	{ "SUPERVISOR_STOP_GRACE", "99999999999999999999999", "out of range of seconds (0-3600)" },
	{ "SUPERVISOR_IDLE_TIMEOUT", "604801", "SUPERVISOR_IDLE_TIMEOUT=\"604801\": out of range" },
	{ "SUPERVISOR_JOB_TIMEOUT", "604801", "SUPERVISOR_JOB_TIMEOUT=\"604801\": out of range" },
	{ "SUPERVISOR_DRAIN_TIMEOUT", "604801",
	  "SUPERVISOR_DRAIN_TIMEOUT=\"604801\": out of range" },
	{ "SUPERVISOR_REGISTER_DEADLINE", "0",
	  "SUPERVISOR_REGISTER_DEADLINE=\"0\": out of range of seconds (1-86400)" },
	{ "SUPERVISOR_REGISTER_DEADLINE", "86401", "out of range of seconds (1-86400)" },
	{ "SUPERVISOR_DEREGISTER_DEADLINE", "0", "out of range of seconds (1-3600)" },
	{ "SUPERVISOR_DEREGISTER_DEADLINE", "3601", "out of range of seconds (1-3600)" },
	{ "SUPERVISOR_DEREGISTER_PATIENCE", "0", "out of range of seconds (1-86400)" },
	{ "SUPERVISOR_SWEEP_MAX", "21", "out of range (0-20)" },
	{ "SUPERVISOR_JOB_ROOT", "on", "SUPERVISOR_JOB_ROOT" },
	{ "SUPERVISOR_JOB_ROOT_SIZE", "1Ki", "less than 1048576 bytes" },
	{ "SUPERVISOR_SWEEP_AFTER", "0", "out of range of seconds (1-86400)" },
	{ "SUPERVISOR_FLEET", "a fleet", "a fleet name is 1 to 40 letters, digits" },
	{ "SUPERVISOR_FLEET", "f/../x", "a fleet name is 1 to 40 letters, digits" },
	{ "SUPERVISOR_FLEET", "0123456789012345678901234567890123456789x",
	  "a fleet name is 1 to 40 letters, digits" },
	{ "GITHUB_APP_INSTALLATION_ID", "0",
	  "GITHUB_APP_INSTALLATION_ID=\"0\": out of range (1-9007199254740992)" },
	{ "GITHUB_APP_INSTALLATION_ID", "9007199254740993", "out of range (1-9007199254740992)" },
	{ "GITHUB_APP_INSTALLATION_ID", "12a", "\"12a\": not a whole number (1-9007199254740992)" },
	{ "RUNNER_GROUP", "0", "RUNNER_GROUP=\"0\": out of range (1-9007199254740992)" },
	{ "RUNNER_GROUP", "99999999999999999999",
	  "RUNNER_GROUP=\"99999999999999999999\": out of range" },
};

static void expect_value_errors(const struct value_error *cases, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		load_fails(EX_RS_CONFIG, cases[i].message, NO_ARGS,
			   ENVP(kv(cases[i].env, cases[i].value)));
	}
}

static void test_bad_numbers_name_the_setting_value_and_range(void **state)
{
	expect_value_errors(number_errors, sizeof(number_errors) / sizeof(number_errors[0]));
}

static void test_the_same_checks_apply_to_flags(void **state)
{
	load_fails(EX_RS_CONFIG, "SUPERVISOR_STOP_GRACE=\"abc\": not a whole number",
		   ARGV("--supervisor-stop-grace=abc"), ENVP("SUPERVISOR_STOP_GRACE=10"));
	/* A bad environment value is never looked at when a flag replaces it. */
	load_ok(ARGV("--supervisor-stop-grace=10"), ENVP("SUPERVISOR_STOP_GRACE=abc"));
	assert_int_equal(cfg.stop_grace_s, 10);
}

static void test_range_limits_are_inclusive(void **state)
{
	load_ok(NO_ARGS, ENVP("SUPERVISOR_STOP_GRACE=0", "SUPERVISOR_REGISTER_DEADLINE=86400",
			      "SUPERVISOR_DEREGISTER_DEADLINE=3600", "SUPERVISOR_IDLE_TIMEOUT=0",
			      "GITHUB_APP_INSTALLATION_ID=1", "SUPERVISOR_JOB_TIMEOUT=007"));
	assert_int_equal(cfg.stop_grace_s, 0);
	assert_int_equal(cfg.register_deadline_s, 86400);
	assert_int_equal(cfg.deregister_deadline_s, 3600);
	assert_int_equal(cfg.app_installation_id, 1);
	assert_int_equal(cfg.job_timeout_s, 7);
}

/* ---- enums, paths, names ----------------------------------------------------------------- */

static const struct value_error other_errors[] = {
	{ "SUPERVISOR_SANDBOX", "loose",
	  "SUPERVISOR_SANDBOX=\"loose\": must be one of strict, auto, off" },
	{ "SUPERVISOR_SANDBOX", "Strict", "must be one of strict, auto, off" },
	{ "SUPERVISOR_REGISTRATION", "pat",
	  "SUPERVISOR_REGISTRATION=\"pat\": must be one of jit, token" },
	{ "SUPERVISOR_LOG_FORMAT", "yaml",
	  "SUPERVISOR_LOG_FORMAT=\"yaml\": must be one of json, text" },
	{ "RUNNER_ROOT", "runner", "RUNNER_ROOT=\"runner\": not an absolute path" },
	{ "RUNNER_WORKDIR", "_work", "RUNNER_WORKDIR=\"_work\": not an absolute path" },
	{ "GITHUB_TOKEN_FILE", "token.txt",
	  "GITHUB_TOKEN_FILE=\"token.txt\": not an absolute path" },
	{ "GITHUB_APP_PRIVATE_KEY_FILE", "./key.pem",
	  "GITHUB_APP_PRIVATE_KEY_FILE=\"./key.pem\": not an absolute path" },
	{ "GITHUB_CA_FILE", "ca.pem", "GITHUB_CA_FILE=\"ca.pem\": not an absolute path" },
	{ "SUPERVISOR_TERMINATION_LOG", "summary.json",
	  "SUPERVISOR_TERMINATION_LOG=\"summary.json\": not an absolute path" },
	{ "RUNNER_ROOT", "/home/run\nner",
	  "RUNNER_ROOT=\"/home/run\\x0aner\": contains a newline or control character" },
	{ "SUPERVISOR_HIDE_PATHS", "/etc/secret:relative/x",
	  "SUPERVISOR_HIDE_PATHS=\"relative/x\": not an absolute path" },
	{ "GITHUB_APP_ID", "my-app",
	  "GITHUB_APP_ID=\"my-app\": expected an App id (digits) or a client id" },
	{ "GITHUB_APP_ID", "Iv1.0123456789012345678901234567890123456789012345678901234567890123",
	  "expected an App id" },
	{ "RUNNER_NAME", "a b", "RUNNER_NAME=\"a b\": contains a space or control character" },
	{ "RUNNER_NAME",
	  "runner-0123456789-0123456789-0123456789-0123456789-0123456789-abc", /* 65 */
	  "longer than 64 characters" },
	{ "RUNNER_USER", "runner:docker",
	  "RUNNER_USER=\"runner:docker\": expected a user name, a uid, or uid:gid" },
	{ "RUNNER_USER", "1000:docker", "expected a user name, a uid, or uid:gid" },
	{ "RUNNER_USER", "1000:", "expected a user name, a uid, or uid:gid" },
	{ "RUNNER_USER", "run ner", "expected a user name, a uid, or uid:gid" },
	{ "RUNNER_USER", "4294967295", "RUNNER_USER=\"4294967295\": uid or gid out of range" },
	{ "RUNNER_USER", "1000:4294967295", "uid or gid out of range" },
};

static void test_bad_enums_paths_and_names_are_config_errors(void **state)
{
	expect_value_errors(other_errors, sizeof(other_errors) / sizeof(other_errors[0]));
}

static void test_runner_name_of_64_characters_is_accepted(void **state)
{
	const char *name = "r123456789012345678901234567890123456789012345678901234567890123";
	assert_int_equal(strlen(name), 64);
	load_ok(NO_ARGS, ENVP(kv("RUNNER_NAME", name)));
	assert_string_equal(cfg.runner_name, name);
}

static void test_runner_group_by_name_or_id(void **state)
{
	load_ok(NO_ARGS, ENVP("RUNNER_GROUP=GPU builders"));
	assert_string_equal(cfg.runner_group, "GPU builders");
	assert_int_equal(cfg.runner_group_id, 0);
	load_ok(NO_ARGS, ENVP("RUNNER_GROUP=12"));
	assert_null(cfg.runner_group);
	assert_int_equal(cfg.runner_group_id, 12);
	char long_name[257];
	memset(long_name, 'g', 256);
	long_name[256] = '\0';
	load_fails(EX_RS_CONFIG, "a group name has at most 255 characters", NO_ARGS,
		   ENVP(kv("RUNNER_GROUP", long_name)));
}

static void test_hide_paths_split_on_colons_ignoring_empty_items(void **state)
{
	load_ok(NO_ARGS, ENVP("SUPERVISOR_HIDE_PATHS=:/etc/secret::/var/run/x:"));
	assert_int_equal(cfg.n_hide_paths, 2);
	assert_string_equal(cfg.hide_paths[0], "/etc/secret");
	assert_string_equal(cfg.hide_paths[1], "/var/run/x");
	assert_null(cfg.hide_paths[2]);
}

static void test_app_client_id_and_numeric_id_are_accepted(void **state)
{
	load_ok(NO_ARGS, ENVP("GITHUB_APP_ID=Iv23liABCDEF"));
	assert_string_equal(cfg.app_id, "Iv23liABCDEF");
	load_ok(NO_ARGS, ENVP("GITHUB_APP_ID=123456"));
	assert_string_equal(cfg.app_id, "123456");
	load_ok(NO_ARGS, ENVP("GITHUB_APP_ID=Iv1.a1b2c3d4e5f6"));
	assert_string_equal(cfg.app_id, "Iv1.a1b2c3d4e5f6");
}

/* ---- labels ------------------------------------------------------------------------------ */

static void test_labels_are_trimmed(void **state)
{
	load_ok(NO_ARGS, ENVP("RUNNER_LABELS= gpu , arm64,\tbig "));
	assert_int_equal(cfg.n_labels, 3);
	assert_string_equal(cfg.labels[0], "gpu");
	assert_string_equal(cfg.labels[1], "arm64");
	assert_string_equal(cfg.labels[2], "big");
	assert_null(cfg.labels[3]);
}

static void test_later_duplicate_labels_are_dropped(void **state)
{
	load_ok(NO_ARGS, ENVP("RUNNER_LABELS=gpu,big,GPU,gpu"));
	assert_int_equal(cfg.n_labels, 2);
	assert_string_equal(cfg.labels[0], "gpu");
	assert_string_equal(cfg.labels[1], "big");
	assert_null(cfg.labels[2]);
}

static void test_empty_label_items_are_errors(void **state)
{
	load_fails(EX_RS_CONFIG, "RUNNER_LABELS=\"a,,b\": empty label", NO_ARGS,
		   ENVP("RUNNER_LABELS=a,,b"));
	load_fails(EX_RS_CONFIG, "empty label", NO_ARGS, ENVP("RUNNER_LABELS=a,"));
	load_fails(EX_RS_CONFIG, "empty label", NO_ARGS, ENVP("RUNNER_LABELS=a, ,b"));
	load_fails(EX_RS_CONFIG, "empty label", NO_ARGS, ENVP("RUNNER_LABELS=,"));
}

static void test_labels_with_inner_spaces_are_errors(void **state)
{
	load_fails(EX_RS_CONFIG, "RUNNER_LABELS: label \"big gpu\" contains a space", NO_ARGS,
		   ENVP("RUNNER_LABELS=ok,big gpu"));
}

static void test_what_github_receives_must_be_utf8(void **state)
{
	/* A cut "ü": jansson refuses it, and the registration failed as an internal error. */
	load_fails(EX_RS_CONFIG, "RUNNER_NAME=\"runner-\xc3\": not UTF-8", NO_ARGS,
		   ENVP("RUNNER_NAME=runner-\xc3"));
	load_fails(EX_RS_CONFIG, "RUNNER_LABELS=\"gpu\xff\": not UTF-8", NO_ARGS,
		   ENVP("RUNNER_LABELS=ok,gpu\xff"));
	load_fails(EX_RS_CONFIG, "RUNNER_GROUP=", NO_ARGS, ENVP("RUNNER_GROUP=team-\xc3"));
	load_fails(EX_RS_CONFIG, "RUNNER_WORKDIR=", NO_ARGS, ENVP("RUNNER_WORKDIR=/w/\xc3"));
	load_ok(NO_ARGS, ENVP("RUNNER_NAME=runner-\xc3\xbc", "RUNNER_LABELS=gr\xc3\xbcn"));
}

static void test_a_token_inside_a_value_is_never_quoted_back(void **state)
{
	static const char token[] = "ghp_AbCdEfGhIjKlMnOpQrStUvWxYz0123456789";
	char name[128], label[128];
	snprintf(name, sizeof(name), "RUNNER_NAME=Bearer %s", token);
	load_fails(EX_RS_CONFIG, "it looks like a secret", NO_ARGS, ENVP(name));
	assert_null(strstr(err.msg, token));
	snprintf(label, sizeof(label), "RUNNER_LABELS=ok,x %s", token);
	load_fails(EX_RS_CONFIG, "it looks like a secret", NO_ARGS, ENVP(label));
	assert_null(strstr(err.msg, token));
	/* nor the part of a URL an error names (found by fuzz/config.c) */
	char url[160];
	snprintf(url, sizeof(url), "GITHUB_URL=https://github.com/acme.c--%s$", token);
	load_fails(EX_RS_CONFIG, "is not a valid GitHub name", NO_ARGS, ENVP(url));
	assert_null(strstr(err.msg, "ghp_"));
}

static void test_labels_up_to_256_characters(void **state)
{
	char labels[300];
	memset(labels, 'x', 256);
	labels[256] = '\0';
	load_ok(NO_ARGS, ENVP(kv("RUNNER_LABELS", labels)));
	assert_int_equal(strlen(cfg.labels[0]), 256);
	strcpy(labels + 256, "x");
	load_fails(EX_RS_CONFIG, "is longer than 256 characters", NO_ARGS,
		   ENVP(kv("RUNNER_LABELS", labels)));
}

static char *numbered_labels(int n, const char *extra)
{
	size_t cap = (size_t)n * 8 + 64;
	char *s = keep(calloc(1, cap));
	size_t len = 0;
	for (int i = 0; i < n; i++)
		len += (size_t)snprintf(s + len, cap - len, "%sl%d", i ? "," : "", i);
	snprintf(s + len, cap - len, "%s", extra);
	return s;
}

static void test_at_most_97_labels_after_dropping_duplicates(void **state)
{
	load_ok(NO_ARGS, ENVP(kv("RUNNER_LABELS", numbered_labels(97, ",L0,l1"))));
	assert_int_equal(cfg.n_labels, 97);
	load_fails(EX_RS_CONFIG, "RUNNER_LABELS: more than 97 labels", NO_ARGS,
		   ENVP(kv("RUNNER_LABELS", numbered_labels(98, ""))));
}

/* A fleet's runners also get rs-fleet-NAME and rs-born-T: two of the 97. */
static void test_a_fleet_takes_two_labels_and_sets_the_born_one_itself(void **state)
{
	load_run(NO_ARGS,
		 ENVP("SUPERVISOR_FLEET=ci", kv("RUNNER_LABELS", numbered_labels(95, ""))));
	validate_ok();
	load_run(NO_ARGS, ENVP("SUPERVISOR_FLEET=ci",
			       kv("RUNNER_LABELS", numbered_labels(95, ",rs-fleet-ci"))));
	validate_ok();
	load_run(NO_ARGS,
		 ENVP("SUPERVISOR_FLEET=ci", kv("RUNNER_LABELS", numbered_labels(96, ""))));
	validate_fails(EX_RS_CONFIG, "RUNNER_LABELS: more than 95 labels with SUPERVISOR_FLEET's");
	load_run(NO_ARGS, ENVP("SUPERVISOR_FLEET=ci", "RUNNER_LABELS=gpu,RS-BORN-1"));
	validate_fails(EX_RS_CONFIG, "RUNNER_LABELS: \"RS-BORN-1\": with SUPERVISOR_FLEET");
	load_run(NO_ARGS, ENVP("RUNNER_LABELS=gpu,rs-born-1")); /* no fleet, no sweep: any label */
	validate_ok();
}

/* ---- GITHUB_URL and the API base --------------------------------------------------------- */

static void test_org_url_on_github_com(void **state)
{
	load_ok(NO_ARGS, ENVP("GITHUB_URL=https://github.com/acme"));
	assert_int_equal(cfg.target.scope, GH_SCOPE_ORG);
	assert_false(cfg.target.ghes);
	assert_string_equal(cfg.target.owner, "acme");
	assert_null(cfg.target.repo);
	assert_string_equal(cfg.target.web_base, "https://github.com");
	assert_string_equal(cfg.target.api_base, "https://api.github.com");
	assert_string_equal(cfg.github_api_url, "https://api.github.com");
}

static void test_repo_url_with_trailing_slash(void **state)
{
	load_ok(NO_ARGS, ENVP("GITHUB_URL=https://www.github.com/acme/widgets.js/"));
	assert_int_equal(cfg.target.scope, GH_SCOPE_REPO);
	assert_false(cfg.target.ghes);
	assert_string_equal(cfg.target.owner, "acme");
	assert_string_equal(cfg.target.repo, "widgets.js");
	assert_string_equal(cfg.target.web_base, "https://github.com");
}

static void test_enterprise_url(void **state)
{
	load_ok(NO_ARGS, ENVP("GITHUB_URL=https://github.com/enterprises/big-corp"));
	assert_int_equal(cfg.target.scope, GH_SCOPE_ENTERPRISE);
	assert_string_equal(cfg.target.owner, "big-corp");
	assert_null(cfg.target.repo);
}

static void test_ghes_host_derives_its_api_base(void **state)
{
	load_ok(NO_ARGS, ENVP("GITHUB_URL=https://GHE.Example.com:8443/acme/widgets"));
	assert_true(cfg.target.ghes);
	assert_string_equal(cfg.target.web_base, "https://ghe.example.com:8443");
	assert_string_equal(cfg.target.api_base, "https://ghe.example.com:8443/api/v3");
	assert_string_equal(cfg.github_api_url, "https://ghe.example.com:8443/api/v3");

	load_ok(NO_ARGS, ENVP("GITHUB_URL=https://127.0.0.1:8443/acme"));
	assert_true(cfg.target.ghes);
	assert_string_equal(cfg.github_api_url, "https://127.0.0.1:8443/api/v3");
}

static void test_ghe_com_data_residency_has_its_api_at_api_subdomain(void **state)
{
	/* GHE.com with data residency: https://SUB.ghe.com, API https://api.SUB.ghe.com
	 * (reference §7.12), like github.com otherwise (not a GHES). */
	load_ok(NO_ARGS, ENVP("GITHUB_URL=https://Octo-Corp.GHE.com/acme/widgets"));
	assert_false(cfg.target.ghes);
	assert_int_equal(cfg.target.scope, GH_SCOPE_REPO);
	assert_string_equal(cfg.target.web_base, "https://octo-corp.ghe.com");
	assert_string_equal(cfg.target.api_base, "https://api.octo-corp.ghe.com");
	assert_string_equal(cfg.github_api_url, "https://api.octo-corp.ghe.com");

	load_ok(NO_ARGS, ENVP("GITHUB_URL=https://octocorp.ghe.com/enterprises/octo"));
	assert_int_equal(cfg.target.scope, GH_SCOPE_ENTERPRISE);
	assert_string_equal(cfg.github_api_url, "https://api.octocorp.ghe.com");

	/* Only SUB.ghe.com: a deeper name is a GHES host of its own. */
	load_ok(NO_ARGS, ENVP("GITHUB_URL=https://git.octo.ghe.com/acme"));
	assert_true(cfg.target.ghes);
	assert_string_equal(cfg.github_api_url, "https://git.octo.ghe.com/api/v3");
}

static void test_github_api_url_overrides_the_derived_base(void **state)
{
	load_ok(NO_ARGS, ENVP("GITHUB_URL=https://ghe.example.com/acme",
			      "GITHUB_API_URL=https://api.ghe.example.com/v3//"));
	assert_string_equal(cfg.github_api_url, "https://api.ghe.example.com/v3");
	assert_string_equal(cfg.target.api_base, "https://api.ghe.example.com/v3");
	load_ok(NO_ARGS, ENVP("GITHUB_API_URL=https://127.0.0.1:9999/"));
	assert_string_equal(cfg.github_api_url, "https://127.0.0.1:9999");
}

static const struct value_error url_errors[] = {
	{ "GITHUB_URL", "http://github.com/acme",
	  "GITHUB_URL=\"http://github.com/acme\": must be https://" },
	{ "GITHUB_URL", "github.com/acme", "GITHUB_URL=\"github.com/acme\": not an https:// URL" },
	{ "GITHUB_URL", "https://github.com", "no organization, repository or enterprise" },
	{ "GITHUB_URL", "https://github.com/", "no organization, repository or enterprise" },
	{ "GITHUB_URL", "https://github.com/a/b/c",
	  "too many path segments; expected https://HOST/ORG" },
	{ "GITHUB_URL", "https://github.com/acme?tab=runners", "query string or fragment" },
	{ "GITHUB_URL", "https://github.com/acme#x", "query string or fragment" },
	{ "GITHUB_URL", "https://github.com/ac$me", "\"ac$me\" is not a valid GitHub name" },
	{ "GITHUB_URL", "https://github.com/ac me", "GITHUB_URL contains spaces" },
	{ "GITHUB_URL", "https://github.com//acme", "empty path segment" },
	{ "GITHUB_URL", "https://github.com/acme//", "empty path segment" },
	{ "GITHUB_URL", "https://github.com/acme/..", "\"..\" is not a valid GitHub name" },
	{ "GITHUB_URL", "https:///acme", "no valid host" },
	{ "GITHUB_URL", "https://github.com:99999/acme", "no valid host" },
	{ "GITHUB_URL", "https://github.com/enterprises", "the enterprise slug is missing" },
	{ "GITHUB_URL", "https://github.com/orgs/acme",
	  "for an organization use https://HOST/ORG" },
	{ "GITHUB_URL", "https://api.github.com/repos/a/b", "this is the API address" },
	{ "GITHUB_URL", "https://api.octocorp.ghe.com/acme", "this is the API address" },
	{ "GITHUB_API_URL", "http://ghe.example.com/api/v3",
	  "GITHUB_API_URL=\"http://ghe.example.com/api/v3\": must be https://" },
	{ "GITHUB_API_URL", "https://ghe.example.com/api/v3?x=1", "GITHUB_API_URL=" },
	{ "GITHUB_API_URL", "https://", "GITHUB_API_URL=\"https://\": no valid host" },
};

static void test_bad_urls_name_the_setting_and_the_expected_form(void **state)
{
	expect_value_errors(url_errors, sizeof(url_errors) / sizeof(url_errors[0]));
}

static void test_userinfo_in_a_url_is_refused_without_echoing_it(void **state)
{
	load_fails(EX_RS_CONFIG, "GITHUB_URL must not contain user information", NO_ARGS,
		   ENVP("GITHUB_URL=https://x-access-token:hunter2@github.com/acme"));
	expect_no("hunter2");
	load_fails(EX_RS_CONFIG, "GITHUB_API_URL must not contain user information", NO_ARGS,
		   ENVP("GITHUB_API_URL=https://bot:hunter2@api.github.com"));
	expect_no("hunter2");
}

static void test_gh_target_parse_leaves_the_target_empty_on_error(void **state)
{
	struct gh_target t = { 0 };
	assert_int_equal(gh_target_parse("https://github.com/a/b/c", &t, &err), -1);
	assert_int_equal(err.exit_code, EX_RS_CONFIG);
	assert_null(t.owner);
	assert_null(t.api_base);
	assert_int_equal(gh_target_parse("https://[::1]:8443/acme/", &t, &err), 0);
	assert_string_equal(t.api_base, "https://[::1]:8443/api/v3");
	gh_target_free(&t);
	assert_null(t.owner);
}

/* ---- secrets never reach a message ------------------------------------------------------- */

static void test_jit_config_is_only_noted(void **state)
{
	load_ok(NO_ARGS, ENVP("ACTIONS_RUNNER_INPUT_JITCONFIG=" JIT_VALUE));
	assert_true(cfg.has_jitconfig);
	load_ok(NO_ARGS, ENVP("ACTIONS_RUNNER_INPUT_JITCONFIG="));
	assert_false(cfg.has_jitconfig);
}

static void test_jit_config_has_no_flag_and_its_value_is_never_shown(void **state)
{
	load_fails(EX_RS_USAGE, "ACTIONS_RUNNER_INPUT_JITCONFIG is read from the environment only",
		   ARGV("--actions-runner-input-jitconfig=" JIT_VALUE), NO_ENV);
	expect_no(JIT_VALUE);
	expect_no("eyJ");
	load_fails(EX_RS_USAGE, "environment only",
		   ARGV("--actions-runner-input-jitconfig", JIT_VALUE), NO_ENV);
	expect_no(JIT_VALUE);
	/* The blob pasted into the wrong variable is still not echoed. */
	load_fails(EX_RS_CONFIG, "GITHUB_URL=(value not shown", NO_ARGS,
		   ENVP("GITHUB_URL=" JIT_VALUE));
	expect_no("eyJ");
	load_fails(EX_RS_CONFIG, "RUNNER_NAME=(value not shown", NO_ARGS,
		   ENVP("RUNNER_NAME=" JIT_VALUE "0123456789012345678901234567890"));
	expect_no("eyJ");
	/* And a validation error with the blob set does not mention it. */
	load_ok(NO_ARGS, ENVP("ACTIONS_RUNNER_INPUT_JITCONFIG=" JIT_VALUE,
			      "GITHUB_TOKEN_FILE=/nonexistent/token", kv("RUNNER_ROOT", temp_dir)));
	validate_fails(EX_RS_CONFIG, "GITHUB_TOKEN_FILE=\"/nonexistent/token\": cannot open");
	expect_no(JIT_VALUE);
}

static void test_a_token_or_key_pasted_for_a_path_is_not_echoed(void **state)
{
	load_fails(EX_RS_CONFIG, "GITHUB_TOKEN_FILE=(value not shown: it looks like a secret)",
		   NO_ARGS, ENVP("GITHUB_TOKEN_FILE=ghp_abcdefghijklmnopqrstuvwxyz0123456789"));
	expect_no("ghp_");
	load_fails(EX_RS_CONFIG, "GITHUB_APP_PRIVATE_KEY_FILE=(value not shown", NO_ARGS,
		   ENVP("GITHUB_APP_PRIVATE_KEY_FILE=-----BEGIN RSA PRIVATE KEY-----\nMIIEow"));
	expect_no("MIIEow");
}

static void test_unknown_options_show_only_their_name(void **state)
{
	load_fails(EX_RS_USAGE, "unknown option '--github-token' (see --help)",
		   ARGV("--github-token=ghp_secretsecret"), NO_ENV);
	expect_no("secretsecret");
}

/* ---- command line ------------------------------------------------------------------------ */

static void test_no_arguments_means_run(void **state)
{
	load_ok(NO_ARGS, NO_ENV);
	assert_int_equal(cfg.command, CMD_RUN);
	load_ok(ARGV("run"), NO_ENV);
	assert_int_equal(cfg.command, CMD_RUN);
	load_ok(ARGV("--runner-name", "x"), NO_ENV);
	assert_int_equal(cfg.command, CMD_RUN);
	assert_string_equal(cfg.runner_name, "x");
}

static void test_exec_takes_the_command_after_double_dash(void **state)
{
	char **argv = ARGV("exec", "--sandbox=off", "--workdir", "/w", "--", "ls", "-la", "--help");
	load_ok(argv, NO_ENV);
	assert_int_equal(cfg.command, CMD_EXEC);
	assert_int_equal(cfg.sandbox, SBX_OFF);
	assert_string_equal(cfg.exec_workdir, "/w");
	assert_ptr_equal(cfg.exec_argv, argv + 5);
	assert_string_equal(cfg.exec_argv[0], "ls");
	assert_string_equal(cfg.exec_argv[1], "-la");
	assert_string_equal(cfg.exec_argv[2], "--help");
	assert_null(cfg.exec_argv[3]);
	load_ok(ARGV("exec", "--sandbox", "strict", "--", "true"), NO_ENV);
	assert_int_equal(cfg.sandbox, SBX_STRICT);
	assert_null(cfg.exec_workdir);
}

static void test_exec_needs_double_dash_and_a_command(void **state)
{
	load_fails(EX_RS_USAGE, "exec: missing '--' before the command", ARGV("exec", "ls"),
		   NO_ENV);
	load_fails(EX_RS_USAGE, "exec: missing '--' before the command", ARGV("exec"), NO_ENV);
	load_fails(EX_RS_USAGE, "exec: no command after '--'", ARGV("exec", "--"), NO_ENV);
	load_fails(EX_RS_USAGE, "exec: no command after '--'", ARGV("exec", "--workdir=/w", "--"),
		   NO_ENV);
}

static void test_exec_workdir_must_be_absolute(void **state)
{
	load_fails(EX_RS_CONFIG, "exec --workdir=\"work\": not an absolute path",
		   ARGV("exec", "--workdir=work", "--", "true"), NO_ENV);
}

static void test_check_online(void **state)
{
	load_ok(ARGV("check"), NO_ENV);
	assert_int_equal(cfg.command, CMD_CHECK);
	assert_false(cfg.check_online);
	load_ok(ARGV("check", "--online"), NO_ENV);
	assert_true(cfg.check_online);
	load_fails(EX_RS_USAGE, "option '--online' takes no value", ARGV("check", "--online=yes"),
		   NO_ENV);
}

static void test_wipe_takes_exactly_one_dir(void **state)
{
	load_ok(ARGV("wipe", "/tmp/work"), NO_ENV);
	assert_int_equal(cfg.command, CMD_WIPE);
	assert_string_equal(cfg.wipe_dir, "/tmp/work");
	load_ok(ARGV("wipe", "--", "/tmp/-odd"), NO_ENV);
	assert_string_equal(cfg.wipe_dir, "/tmp/-odd");
	load_fails(EX_RS_USAGE, "wipe: missing DIR", ARGV("wipe"), NO_ENV);
	load_fails(EX_RS_USAGE, "wipe: unexpected argument \"/b\" (only one DIR)",
		   ARGV("wipe", "/a", "/b"), NO_ENV);
}

static void test_help_and_version_win_anywhere_before_double_dash(void **state)
{
	load_ok(ARGV("--help"), NO_ENV);
	assert_int_equal(cfg.command, CMD_HELP);
	load_ok(ARGV("-h"), NO_ENV);
	assert_int_equal(cfg.command, CMD_HELP);
	load_ok(ARGV("exec", "--bogus", "--help"), ENVP("SUPERVISOR_STOP_GRACE=abc"));
	assert_int_equal(cfg.command, CMD_HELP);
	load_ok(ARGV("--version"), NO_ENV);
	assert_int_equal(cfg.command, CMD_VERSION);
	load_ok(ARGV("check", "--runner-name=x", "--version"), NO_ENV);
	assert_int_equal(cfg.command, CMD_VERSION);
	validate_ok();
}

static void test_command_line_mistakes_exit_64(void **state)
{
	load_fails(EX_RS_USAGE, "unknown option '--foo' (see --help)", ARGV("--foo"), NO_ENV);
	load_fails(EX_RS_USAGE, "unknown option '-x'", ARGV("run", "-x"), NO_ENV);
	load_fails(EX_RS_USAGE, "unknown command \"frobnicate\" (see --help)", ARGV("frobnicate"),
		   NO_ENV);
	load_fails(EX_RS_USAGE, "option '--github-url' needs a value", ARGV("--github-url"),
		   NO_ENV);
	load_fails(EX_RS_USAGE, "option '--runner-name' needs a value",
		   ARGV("--runner-name", "--sandbox=off"), NO_ENV);
	load_fails(EX_RS_USAGE, "run: unexpected argument \"extra\"", ARGV("run", "extra"), NO_ENV);
	/* The command comes first; after an option, a word is a stray argument. */
	load_fails(EX_RS_USAGE, "run: unexpected argument \"check\"",
		   ARGV("--runner-name=x", "check"), NO_ENV);
	load_fails(EX_RS_USAGE, "option '--online' belongs to the check command",
		   ARGV("run", "--online"), NO_ENV);
	load_fails(EX_RS_USAGE, "option '--workdir' belongs to the exec command",
		   ARGV("--workdir=/w"), NO_ENV);
}

static void test_command_line_errors_come_before_value_errors(void **state)
{
	load_fails(EX_RS_USAGE, "unknown option", ARGV("--supervisor-stop-grace=abc", "--nope"),
		   NO_ENV);
}

/* ---- validation: run and check ----------------------------------------------------------- */

static void test_run_with_a_pat_validates_and_resolves_the_user(void **state)
{
	load_run(NO_ARGS, NO_ENV);
	validate_ok();
	struct passwd *pw = getpwnam("nobody");
	assert_non_null(pw);
	assert_true(cfg.runner_user_resolved);
	assert_int_equal(cfg.runner_uid, pw->pw_uid);
	assert_int_equal(cfg.runner_gid, pw->pw_gid);
}

static void test_github_url_is_required_unless_a_jit_config_is_given(void **state)
{
	load_ok(NO_ARGS, ENVP(kv("GITHUB_TOKEN_FILE", temp_file), kv("RUNNER_ROOT", temp_dir),
			      "RUNNER_USER=nobody"));
	validate_fails(EX_RS_CONFIG,
		       "GITHUB_URL is not set (required unless ACTIONS_RUNNER_INPUT_JITCONFIG "
		       "is given)");
	load_ok(ARGV("check"), ENVP(kv("RUNNER_ROOT", temp_dir), "RUNNER_USER=nobody"));
	validate_fails(EX_RS_CONFIG, "GITHUB_URL is not set");
	/* ARC drop-in: the blob alone is enough, no URL and no credentials. */
	load_ok(NO_ARGS,
		ENVP("ACTIONS_RUNNER_INPUT_JITCONFIG=" JIT_VALUE, kv("RUNNER_ROOT", temp_dir),
		     "RUNNER_USER=nobody", "SUPERVISOR_REGISTRATION=token"));
	validate_ok();
}

static void test_credentials_are_required_unless_a_jit_config_is_given(void **state)
{
	load_ok(NO_ARGS, ENVP("GITHUB_URL=https://github.com/acme", kv("RUNNER_ROOT", temp_dir),
			      "RUNNER_USER=nobody"));
	validate_fails(EX_RS_CONFIG, "no GitHub credentials: set GITHUB_TOKEN_FILE, or "
				     "GITHUB_APP_ID and GITHUB_APP_PRIVATE_KEY_FILE");
}

static void test_pat_and_app_together_are_refused(void **state)
{
	load_run(NO_ARGS, ENVP("GITHUB_APP_ID=1", kv("GITHUB_APP_PRIVATE_KEY_FILE", temp_file)));
	validate_fails(EX_RS_CONFIG, "set either GITHUB_TOKEN_FILE or "
				     "GITHUB_APP_ID/GITHUB_APP_PRIVATE_KEY_FILE, not both");
}

static void test_app_needs_both_its_id_and_its_key(void **state)
{
	load_ok(NO_ARGS, ENVP("GITHUB_URL=https://github.com/acme", "GITHUB_APP_ID=1"));
	validate_fails(EX_RS_CONFIG, "GITHUB_APP_PRIVATE_KEY_FILE is not set");
	load_ok(NO_ARGS, ENVP("GITHUB_URL=https://github.com/acme",
			      kv("GITHUB_APP_PRIVATE_KEY_FILE", temp_file)));
	validate_fails(EX_RS_CONFIG, "GITHUB_APP_ID is not set");
}

static void test_installation_id_without_app_id_is_refused(void **state)
{
	load_run(NO_ARGS, ENVP("GITHUB_APP_INSTALLATION_ID=99"));
	validate_fails(EX_RS_CONFIG, "GITHUB_APP_INSTALLATION_ID is set but GITHUB_APP_ID is not");
}

static void test_app_auth_validates(void **state)
{
	load_ok(NO_ARGS,
		ENVP("GITHUB_URL=https://github.com/acme/widgets", "GITHUB_APP_ID=Iv23liABCDEF",
		     kv("GITHUB_APP_PRIVATE_KEY_FILE", temp_file), "GITHUB_APP_INSTALLATION_ID=99",
		     kv("GITHUB_CA_FILE", temp_file), kv("RUNNER_ROOT", temp_dir),
		     "RUNNER_USER=root"));
	validate_ok();
	assert_int_equal(cfg.app_installation_id, 99);
}

static void test_enterprise_with_an_app_is_refused(void **state)
{
	load_ok(NO_ARGS, ENVP("GITHUB_URL=https://github.com/enterprises/big", "GITHUB_APP_ID=1",
			      kv("GITHUB_APP_PRIVATE_KEY_FILE", temp_file),
			      kv("RUNNER_ROOT", temp_dir), "RUNNER_USER=root"));
	validate_fails(EX_RS_CONFIG,
		       "GITHUB_URL is an enterprise; GitHub Apps cannot manage enterprise runners: "
		       "use GITHUB_TOKEN_FILE with a classic PAT (manage_runners:enterprise)");
	load_run(NO_ARGS, ENVP("GITHUB_URL=https://github.com/enterprises/big"));
	validate_ok();
}

static void test_missing_credential_files_name_setting_and_path(void **state)
{
	load_run(NO_ARGS, ENVP("GITHUB_TOKEN_FILE=/nonexistent/token"));
	validate_fails(EX_RS_CONFIG,
		       "GITHUB_TOKEN_FILE=\"/nonexistent/token\": cannot open: No such file or "
		       "directory");
	load_ok(NO_ARGS, ENVP("GITHUB_URL=https://github.com/acme", "GITHUB_APP_ID=1",
			      "GITHUB_APP_PRIVATE_KEY_FILE=/nonexistent/key.pem"));
	validate_fails(EX_RS_CONFIG,
		       "GITHUB_APP_PRIVATE_KEY_FILE=\"/nonexistent/key.pem\": cannot open");
	load_run(NO_ARGS, ENVP("GITHUB_CA_FILE=/nonexistent/ca.pem"));
	validate_fails(EX_RS_CONFIG, "GITHUB_CA_FILE=\"/nonexistent/ca.pem\": cannot open");
}

static void test_a_directory_is_not_a_token_file(void **state)
{
	load_run(NO_ARGS, ENVP(kv("GITHUB_TOKEN_FILE", temp_dir)));
	validate_fails(EX_RS_CONFIG, "GITHUB_TOKEN_FILE=");
	expect_message("is a directory, not a file");
}

static void test_a_fifo_is_not_a_token_file(void **state)
{
	char *fifo = make_temp_file();
	assert_int_equal(unlink(fifo), 0);
	assert_int_equal(mkfifo(fifo, 0600), 0);
	load_run(NO_ARGS, ENVP(kv("GITHUB_TOKEN_FILE", fifo)));
	validate_fails(EX_RS_CONFIG, "not a regular file");
}

/* Root reads anything, so the check runs in a child that became nobody. */
static void test_an_unreadable_token_file_is_refused(void **state)
{
	char *token = make_temp_file();
	assert_int_equal(chmod(token, 0), 0);
	load_run(NO_ARGS, ENVP(kv("GITHUB_TOKEN_FILE", token)));
	if (geteuid() != 0) {
		validate_fails(EX_RS_CONFIG, "cannot open: Permission denied");
		return;
	}
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct passwd *pw = getpwnam("nobody");
		if (!pw || setgroups(0, NULL) < 0 ||
		    setresgid(pw->pw_gid, pw->pw_gid, pw->pw_gid) < 0 ||
		    setresuid(pw->pw_uid, pw->pw_uid, pw->pw_uid) < 0)
			_exit(2);
		int rc = cfg_validate(&cfg, &err);
		bool ok = rc == -1 && err.exit_code == EX_RS_CONFIG &&
			  strstr(err.msg, "GITHUB_TOKEN_FILE=") &&
			  strstr(err.msg, "cannot open: Permission denied");
		if (!ok)
			fprintf(stderr, "child: rc=%d msg=%s\n", rc, err.msg);
		_exit(ok ? 0 : 1);
	}
	int status;
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
}

static void test_runner_root_must_be_an_existing_directory(void **state)
{
	load_run(NO_ARGS, ENVP("RUNNER_ROOT=/nonexistent/runner"));
	validate_fails(EX_RS_CONFIG,
		       "RUNNER_ROOT=\"/nonexistent/runner\": No such file or directory");
	load_run(NO_ARGS, ENVP(kv("RUNNER_ROOT", temp_file)));
	validate_fails(EX_RS_CONFIG, "not a directory");
}

static void test_workdir_must_not_be_the_root_or_the_installation(void **state)
{
	load_run(NO_ARGS, ENVP("RUNNER_WORKDIR=/"));
	validate_fails(EX_RS_CONFIG, "RUNNER_WORKDIR=\"/\": is emptied after every job");
	load_run(NO_ARGS, ENVP(kv("RUNNER_WORKDIR", temp_dir)));
	validate_fails(EX_RS_CONFIG, "must not be / or RUNNER_ROOT");
}

static void test_job_memory_max_takes_kubernetes_quantities(void **state)
{
	const struct {
		const char *value;
		long long bytes;
	} ok[] = { { "0", 0 },           { "536870912", 536870912LL }, { "512Mi", 512LL << 20 },
		   { "3Gi", 3LL << 30 }, { "2G", 2000000000LL },       { "100k", 100000 } };
	for (size_t i = 0; i < sizeof(ok) / sizeof(*ok); i++) {
		char env[64];
		snprintf(env, sizeof(env), "SUPERVISOR_JOB_MEMORY_MAX=%s", ok[i].value);
		load_ok(NO_ARGS, ENVP(env));
		assert_int_equal(cfg.job_memory_max, ok[i].bytes);
		cfg_free(&cfg);
	}
	const char *bad[] = { "1.5Gi", "512MB", "Mi", "-1", "9999999999999999Gi", "12 Mi" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
		char env[64];
		snprintf(env, sizeof(env), "SUPERVISOR_JOB_MEMORY_MAX=%s", bad[i]);
		load_fails(EX_RS_CONFIG, "SUPERVISOR_JOB_MEMORY_MAX=", NO_ARGS, ENVP(env));
	}
}

static void test_unknown_runner_user_is_refused(void **state)
{
	/* Not "runner": the official image and GitHub's hosted VMs have one. */
	load_run(NO_ARGS, ENVP("RUNNER_USER=rs-no-such-user-7q"));
	validate_fails(EX_RS_CONFIG, "RUNNER_USER=\"rs-no-such-user-7q\": no such user");
	assert_string_equal(err.msg, "RUNNER_USER=\"rs-no-such-user-7q\": no such user");
}

static void test_runner_user_by_name_uid_and_uid_gid(void **state)
{
	load_run(NO_ARGS, ENVP("RUNNER_USER=root"));
	validate_ok();
	assert_int_equal(cfg.runner_uid, 0);
	assert_int_equal(cfg.runner_gid, 0);

	load_run(NO_ARGS, ENVP("RUNNER_USER=1001:1002"));
	validate_ok();
	assert_int_equal(cfg.runner_uid, 1001);
	assert_int_equal(cfg.runner_gid, 1002);

	struct passwd *nobody = getpwnam("nobody");
	assert_non_null(nobody);
	char *uid;
	assert_true(asprintf(&uid, "RUNNER_USER=%u", (unsigned)nobody->pw_uid) >= 0);
	load_run(NO_ARGS, ENVP(keep(uid)));
	validate_ok();
	assert_int_equal(cfg.runner_uid, nobody->pw_uid);
	assert_int_equal(cfg.runner_gid, nobody->pw_gid); /* from /etc/passwd */
}

static void test_a_uid_without_a_passwd_entry_uses_it_as_gid(void **state)
{
	unsigned uid = 43210;
	while (getpwuid(uid))
		uid++;
	char *env;
	assert_true(asprintf(&env, "RUNNER_USER=%u", uid) >= 0);
	load_run(NO_ARGS, ENVP(keep(env)));
	validate_ok();
	assert_int_equal(cfg.runner_uid, uid);
	assert_int_equal(cfg.runner_gid, uid);
	assert_true(cfg.runner_user_resolved);
}

/* ---- validation: exec, wipe -------------------------------------------------------------- */

static void test_exec_needs_nothing_from_github(void **state)
{
	load_ok(ARGV("exec", "--workdir=/tmp/job", "--", "true"),
		ENVP("GITHUB_TOKEN_FILE=/nonexistent/token"));
	validate_ok();
	assert_false(cfg.runner_user_given);
	assert_false(cfg.runner_user_resolved);
}

static void test_exec_switches_users_only_when_runner_user_is_given(void **state)
{
	load_ok(ARGV("exec", "--", "true"), ENVP("RUNNER_USER=4242:4343"));
	validate_ok();
	assert_true(cfg.runner_user_given);
	assert_true(cfg.runner_user_resolved);
	assert_int_equal(cfg.runner_uid, 4242);
	assert_int_equal(cfg.runner_gid, 4343);
	cfg_free(&cfg);
	load_ok(ARGV("exec", "--", "true"), ENVP("RUNNER_USER=no-such-user-here"));
	validate_fails(EX_RS_CONFIG, "RUNNER_USER=\"no-such-user-here\": no such user");
}

static void test_sandbox_profile_and_limits(void **state)
{
	load_ok(ARGV("exec", "--", "true"), NO_ENV);
	assert_int_equal(cfg.sandbox_profile, SBX_PROFILE_NNP);
	assert_int_equal(cfg.rlimit_nofile, 0);
	cfg_free(&cfg);
	load_ok(ARGV("exec", "--supervisor-sandbox-profile=userns-root", "--", "true"),
		ENVP("SUPERVISOR_RLIMIT_NOFILE=4096", "SUPERVISOR_RLIMIT_NPROC=512"));
	assert_int_equal(cfg.sandbox_profile, SBX_PROFILE_USERNS_ROOT);
	assert_int_equal(cfg.rlimit_nofile, 4096);
	assert_int_equal(cfg.rlimit_nproc, 512);
	cfg_free(&cfg);
	load_fails(EX_RS_CONFIG,
		   "SUPERVISOR_SANDBOX_PROFILE=\"root\": must be one of nnp, userns-root",
		   ARGV("exec", "--", "true"), ENVP("SUPERVISOR_SANDBOX_PROFILE=root"));
	cfg_free(&cfg);
	load_fails(EX_RS_CONFIG, "SUPERVISOR_RLIMIT_NOFILE=\"-1\": not a whole number",
		   ARGV("exec", "--", "true"), ENVP("SUPERVISOR_RLIMIT_NOFILE=-1"));
}

static void test_exec_refuses_to_empty_the_root(void **state)
{
	load_ok(ARGV("exec", "--workdir=/", "--", "true"), NO_ENV);
	validate_fails(EX_RS_CONFIG, "exec --workdir=\"/\": refusing to empty /");
	load_ok(ARGV("exec", "--workdir=/tmp/..", "--", "true"), NO_ENV);
	validate_fails(EX_RS_CONFIG, "refusing to empty");
}

static void test_exec_with_an_empty_command_word_is_refused(void **state)
{
	load_ok(ARGV("exec", "--", ""), NO_ENV);
	validate_fails(EX_RS_USAGE, "exec: the command is an empty word");
}

static void test_wipe_dir_must_be_absolute_and_not_the_root(void **state)
{
	load_ok(ARGV("wipe", "/tmp/work"), ENVP("RUNNER_USER=runner"));
	validate_ok();
	load_ok(ARGV("wipe", "work"), NO_ENV);
	validate_fails(EX_RS_CONFIG, "wipe DIR=\"work\": not an absolute path");
	load_ok(ARGV("wipe", "/"), NO_ENV);
	validate_fails(EX_RS_CONFIG, "wipe DIR=\"/\": refusing to empty /");
	load_ok(ARGV("wipe", "/./"), NO_ENV);
	validate_fails(EX_RS_CONFIG, "refusing to empty /");
	load_ok(ARGV("wipe", "/home/../"), NO_ENV);
	validate_fails(EX_RS_CONFIG, "refusing to empty /");
}

/* ---- help -------------------------------------------------------------------------------- */

/* The README's table, in order: the help column must say exactly the same. */
static const char *const readme_defaults[][2] = {
	{ "GITHUB_URL", "required unless a JIT blob is given" },
	{ "GITHUB_API_URL",
	  "https://api.github.com, https://api.SUB.ghe.com, or https://HOST/api/v3 for GHES" },
	{ "GITHUB_TOKEN_FILE", "-" },
	{ "GITHUB_APP_ID", "-" },
	{ "GITHUB_APP_PRIVATE_KEY_FILE", "-" },
	{ "GITHUB_APP_INSTALLATION_ID", "looked up" },
	{ "GITHUB_CA_FILE", "system store" },
	{ "RUNNER_NAME", "$HOSTNAME" },
	{ "RUNNER_LABELS", "-" },
	{ "RUNNER_GROUP", "default group (id 1)" },
	{ "RUNNER_ROOT", "/home/runner" },
	{ "RUNNER_WORKDIR", "RUNNER_ROOT/_work" },
	{ "RUNNER_USER", "runner" },
	{ "SUPERVISOR_SANDBOX", "auto" },
	{ "SUPERVISOR_SANDBOX_PROFILE", "nnp" },
	{ "SUPERVISOR_RLIMIT_NOFILE", "0" },
	{ "SUPERVISOR_JOB_MEMORY_MAX", "the container's limit minus 64Mi" },
	{ "SUPERVISOR_JOB_ROOT", "off" },
	{ "SUPERVISOR_JOB_ROOT_SIZE", "1Gi" },
	{ "SUPERVISOR_CONTAINERS", "off" },
	{ "SUPERVISOR_RLIMIT_NPROC", "0" },
	{ "SUPERVISOR_HIDE_PATHS", "-" },
	{ "SUPERVISOR_REGISTRATION", "jit" },
	{ "SUPERVISOR_IDLE_TIMEOUT", "0" },
	{ "SUPERVISOR_JOB_TIMEOUT", "0" },
	{ "SUPERVISOR_STOP_GRACE", "55" },
	{ "SUPERVISOR_DRAIN_TIMEOUT", "0" },
	{ "SUPERVISOR_REGISTER_DEADLINE", "300" },
	{ "SUPERVISOR_DEREGISTER_DEADLINE", "30" },
	{ "SUPERVISOR_DEREGISTER_PATIENCE", "900" },
	{ "SUPERVISOR_FLEET", "-" },
	{ "SUPERVISOR_SWEEP_MAX", "2" },
	{ "SUPERVISOR_SWEEP_AFTER", "120" },
	{ "SUPERVISOR_LOG_FORMAT", "json, or text on a terminal" },
	{ "SUPERVISOR_TERMINATION_LOG", "/dev/termination-log if writable" },
};
#define N_README (sizeof(readme_defaults) / sizeof(readme_defaults[0]))

static char *help_text(void)
{
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);
	assert_non_null(f);
	cfg_print_help(f);
	assert_int_equal(fclose(f), 0);
	return keep(text);
}

static void test_help_lists_every_setting_with_flag_and_default(void **state)
{
	regex_t re;
	regmatch_t m[4];
	size_t n = 0;
	char *text = help_text();

	assert_int_equal(
	    regcomp(&re, "^  ([A-Z_]+)  (--[a-z-]+)  \\[default: ([^]]*)\\]  ", REG_EXTENDED), 0);
	for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) {
		if (regexec(&re, line, 4, m, 0) != 0)
			continue;
		assert_true(n < N_README);
		line[m[1].rm_eo] = line[m[2].rm_eo] = line[m[3].rm_eo] = '\0';
		const char *name = line + m[1].rm_so, *flag = line + m[2].rm_so;
		assert_string_equal(name, readme_defaults[n][0]);
		assert_string_equal(line + m[3].rm_so, readme_defaults[n][1]);
		/* GITHUB_URL <-> --github-url */
		char want[64] = "--";
		for (size_t i = 0; name[i]; i++)
			want[i + 2] = name[i] == '_' ? '-' : (char)(name[i] - 'A' + 'a');
		assert_string_equal(flag, want);
		n++;
	}
	regfree(&re);
	assert_int_equal(n, N_README);
	assert_int_equal(sizeof(setting_cases) / sizeof(setting_cases[0]), N_README);
}

static void test_help_mentions_commands_jit_and_exit_codes(void **state)
{
	const char *text = help_text();
	static const char *const must[] = {
		"runner-supervisor [run]",
		"exec [--sandbox=MODE] [--workdir=DIR]",
		"-- CMD",
		"check [--online]",
		"wipe [OPTIONS] DIR",
		"--help",
		"--version",
		"Settings (environment variable, flag, default):",
		"  ACTIONS_RUNNER_INPUT_JITCONFIG (environment only",
		"\n  64  bad command line\n",
		"\n  69  ",
		"\n  70  ",
		"\n  71  ",
		"\n  74  ",
		"\n  75  ",
		"\n  76  ",
		"\n  77  ",
		"\n  78  configuration missing or invalid\n",
	};
	for (size_t i = 0; i < sizeof(must) / sizeof(must[0]); i++)
		if (!strstr(text, must[i]))
			fail_msg("--help lacks \"%s\"", must[i]);
	assert_null(strstr(text, "--actions-runner-input-jitconfig"));
}

/* ---- cleanup ----------------------------------------------------------------------------- */

static void test_cfg_free_is_safe_after_a_failed_load_and_twice(void **state)
{
	load_fails(EX_RS_CONFIG, "SUPERVISOR_LOG_FORMAT", NO_ARGS,
		   ENVP("GITHUB_URL=https://github.com/acme", "RUNNER_LABELS=a,b",
			"SUPERVISOR_HIDE_PATHS=/x", "SUPERVISOR_LOG_FORMAT=xml"));
	cfg_free(&cfg);
	cfg_free(&cfg);
	struct rs_config empty = { 0 };
	cfg_free(&empty);
}

#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_every_setting_is_read_from_its_environment_variable),
		T(test_every_flag_wins_over_its_environment_variable),
		T(test_a_flag_given_twice_keeps_the_last),
		T(test_every_flag_is_accepted_by_every_command),
		T(test_defaults_with_an_empty_environment),
		T(test_an_empty_environment_variable_counts_as_unset),
		T(test_an_empty_flag_value_is_an_error),
		T(test_workdir_defaults_under_the_runner_root),
		T(test_runner_name_defaults_to_the_pod_name_even_when_long),
		T(test_runner_name_defaults_to_gethostname_without_hostname),
		T(test_bad_numbers_name_the_setting_value_and_range),
		T(test_the_same_checks_apply_to_flags),
		T(test_range_limits_are_inclusive),
		T(test_bad_enums_paths_and_names_are_config_errors),
		T(test_runner_name_of_64_characters_is_accepted),
		T(test_runner_group_by_name_or_id),
		T(test_hide_paths_split_on_colons_ignoring_empty_items),
		T(test_app_client_id_and_numeric_id_are_accepted),
		T(test_labels_are_trimmed),
		T(test_later_duplicate_labels_are_dropped),
		T(test_empty_label_items_are_errors),
		T(test_labels_with_inner_spaces_are_errors),
		T(test_what_github_receives_must_be_utf8),
		T(test_a_token_inside_a_value_is_never_quoted_back),
		T(test_labels_up_to_256_characters),
		T(test_at_most_97_labels_after_dropping_duplicates),
		T(test_a_fleet_takes_two_labels_and_sets_the_born_one_itself),
		T(test_org_url_on_github_com),
		T(test_repo_url_with_trailing_slash),
		T(test_enterprise_url),
		T(test_ghes_host_derives_its_api_base),
		T(test_ghe_com_data_residency_has_its_api_at_api_subdomain),
		T(test_github_api_url_overrides_the_derived_base),
		T(test_bad_urls_name_the_setting_and_the_expected_form),
		T(test_userinfo_in_a_url_is_refused_without_echoing_it),
		T(test_gh_target_parse_leaves_the_target_empty_on_error),
		T(test_jit_config_is_only_noted),
		T(test_jit_config_has_no_flag_and_its_value_is_never_shown),
		T(test_a_token_or_key_pasted_for_a_path_is_not_echoed),
		T(test_unknown_options_show_only_their_name),
		T(test_no_arguments_means_run),
		T(test_exec_takes_the_command_after_double_dash),
		T(test_exec_needs_double_dash_and_a_command),
		T(test_exec_workdir_must_be_absolute),
		T(test_check_online),
		T(test_wipe_takes_exactly_one_dir),
		T(test_help_and_version_win_anywhere_before_double_dash),
		T(test_command_line_mistakes_exit_64),
		T(test_command_line_errors_come_before_value_errors),
		T(test_run_with_a_pat_validates_and_resolves_the_user),
		T(test_github_url_is_required_unless_a_jit_config_is_given),
		T(test_credentials_are_required_unless_a_jit_config_is_given),
		T(test_pat_and_app_together_are_refused),
		T(test_app_needs_both_its_id_and_its_key),
		T(test_installation_id_without_app_id_is_refused),
		T(test_app_auth_validates),
		T(test_enterprise_with_an_app_is_refused),
		T(test_missing_credential_files_name_setting_and_path),
		T(test_a_directory_is_not_a_token_file),
		T(test_a_fifo_is_not_a_token_file),
		T(test_an_unreadable_token_file_is_refused),
		T(test_runner_root_must_be_an_existing_directory),
		T(test_workdir_must_not_be_the_root_or_the_installation),
		T(test_job_memory_max_takes_kubernetes_quantities),
		T(test_unknown_runner_user_is_refused),
		T(test_runner_user_by_name_uid_and_uid_gid),
		T(test_a_uid_without_a_passwd_entry_uses_it_as_gid),
		T(test_exec_needs_nothing_from_github),
		T(test_exec_switches_users_only_when_runner_user_is_given),
		T(test_sandbox_profile_and_limits),
		T(test_exec_refuses_to_empty_the_root),
		T(test_exec_with_an_empty_command_word_is_refused),
		T(test_wipe_dir_must_be_absolute_and_not_the_root),
		T(test_help_lists_every_setting_with_flag_and_default),
		T(test_help_mentions_commands_jit_and_exit_codes),
		T(test_cfg_free_is_safe_after_a_failed_load_and_twice),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
