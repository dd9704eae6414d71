/* The configuration: the pod's environment (a Kubernetes manifest, a Helm chart, ARC's
 * template, whatever an operator wrote) and the command line, read by config.c's cfg_load()
 * with its settings table (and ghurl.c for GITHUB_URL and GITHUB_API_URL); then the checks
 * cfg_validate() makes without touching the filesystem for `wipe` and `exec`.
 *
 * Input: lines. Lines up to the first empty line are argv words (after the program name);
 * the rest are environment entries, NAME=value, as the kernel hands them over (fuzz/config.dict
 * holds the settings' names and flags). */
#include <ctype.h>
#include <stdbool.h>
#include <strings.h>

#include "config.h"
#include "fuzz.h"

#define MAX_WORDS 64

/* FUZZ_KNOWN_BUGS=fail: the known bug below crashes too (fuzz/README.md). */
static bool strict;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	strict = fuzz_known_bugs_fail();
	return 0;
}

static void check_string(const char *s)
{
	if (s)
		FUZZ_CHECK(strlen(s) < 1 << 20);
}

/* What cfg_load() promises of a configuration it accepts. */
static void check_config(const struct rs_config *c)
{
	FUZZ_CHECK(c->command >= CMD_RUN && c->command <= CMD_VERSION);
	if (c->command == CMD_HELP || c->command == CMD_VERSION)
		return;
	/* Every setting with a default has it. */
	FUZZ_CHECK(c->runner_root && c->runner_root[0] == '/');
	FUZZ_CHECK(c->runner_workdir && c->runner_user);
	FUZZ_CHECK(c->sandbox == SBX_AUTO || c->sandbox == SBX_STRICT || c->sandbox == SBX_OFF);
	FUZZ_CHECK(c->registration == REG_JIT || c->registration == REG_TOKEN);
	FUZZ_CHECK(c->register_deadline_s >= 1 && c->deregister_deadline_s >= 1);
	FUZZ_CHECK(c->idle_timeout_s >= 0 && c->job_timeout_s >= 0 && c->stop_grace_s >= 0);
	FUZZ_CHECK(c->rlimit_nofile >= 0 && c->rlimit_nproc >= 0 && c->job_memory_max >= 0);
	FUZZ_CHECK(c->runner_group_id >= 0);
	if (c->runner_name)
		FUZZ_CHECK(c->runner_name[0] != '\0');
	/* Labels: trimmed, none empty, NULL-terminated, no case-insensitive duplicates. */
	for (size_t i = 0; i < c->n_labels; i++) {
		FUZZ_CHECK(c->labels[i] && c->labels[i][0] != '\0');
		FUZZ_CHECK(!strpbrk(c->labels[i], " \t\r\n,"));
		for (size_t k = 0; k < i; k++)
			FUZZ_CHECK(strcasecmp(c->labels[i], c->labels[k]) != 0);
	}
	FUZZ_CHECK(!c->labels || !c->labels[c->n_labels]);
	/* Paths: absolute and one line, since they are logged. */
	const char *paths[] = { c->token_file, c->app_key_file, c->ca_file, c->runner_root,
				c->termination_log };
	for (size_t i = 0; i < sizeof(paths) / sizeof(*paths); i++) {
		check_string(paths[i]);
		if (paths[i])
			FUZZ_CHECK(paths[i][0] == '/' && !strpbrk(paths[i], "\r\n"));
	}
	for (size_t i = 0; i < c->n_hide_paths; i++)
		FUZZ_CHECK(c->hide_paths[i][0] == '/' && !strpbrk(c->hide_paths[i], "\r\n"));
	/* GITHUB_URL parsed into a scope with its REST base. */
	if (c->github_url) {
		FUZZ_CHECK(c->target.scope != GH_SCOPE_NONE && c->target.owner);
		FUZZ_CHECK(c->target.api_base && strncmp(c->target.api_base, "https://", 8) == 0);
		FUZZ_CHECK((c->target.scope == GH_SCOPE_REPO) == (c->target.repo != NULL));
	}
	if (c->github_api_url)
		FUZZ_CHECK(strncmp(c->github_api_url, "https://", 8) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text = fuzz_cstr(data, size);
	char *rest = text;
	char *args = fuzz_next(&rest, "\n\n");
	char *argv[MAX_WORDS + 1], *envp[MAX_WORDS + 1];
	int argc = 0, envc = 0;
	for (char *w; argc < MAX_WORDS && (w = fuzz_next(&args, "\n"));)
		if (*w || args)
			argv[argc++] = w;
	argv[argc] = NULL;
	for (char *e; envc < MAX_WORDS && (e = fuzz_next(&rest, "\n"));)
		envp[envc++] = e;
	envp[envc] = NULL;

	struct rs_config cfg = { 0 };
	struct rs_err err = { 0 };
	int rc = cfg_load(&cfg, argc, argv, envp, &err);
	FUZZ_CHECK(rc == 0 || rc == -1);
	if (rc == 0) {
		check_config(&cfg);
		/* The checks that need no file or user database (`run` and `check` open the
		 * credential files, which the input must not choose). */
		if (cfg.command == CMD_WIPE ||
		    (cfg.command == CMD_EXEC && !cfg.runner_user_given)) {
			struct rs_err verr = { 0 };
			if (cfg_validate(&cfg, &verr) < 0)
				FUZZ_CHECK(verr.msg[0] != '\0');
		}
	} else {
		FUZZ_CHECK(err.exit_code == EX_RS_USAGE || err.exit_code == EX_RS_CONFIG);
		FUZZ_CHECK(err.msg[0] != '\0' && !strchr(err.msg, '\n'));
		/* A value that looks like a token is never quoted back, wherever the token is in
		 * it (once a known bug; reproducer: fuzz/corpus/config/bug-token-inside-value). */
		const uint8_t *end = data + size;
		for (const uint8_t *t = data; (t = memmem(t, (size_t)(end - t), "ghp_", 4)); t++) {
			size_t n = 4;
			while (t + n < end && isalnum(t[n]))
				n++;
			if (n >= 20 && memmem(err.msg, strlen(err.msg), t, n))
				FUZZ_CHECK(!"a token is quoted in the error");
		}
	}
	for (int i = 0; i < envc; i++) {
		const char *eq = strchr(envp[i], '=');
		(void)cfg_is_own_variable(envp[i], eq ? (size_t)(eq - envp[i]) : strlen(envp[i]));
	}
	/* What cfg_quote() does promise: one line, short, and a value that starts like a token is
	 * not shown. */
	for (int i = 0; i < envc; i++) {
		const char *eq = strchr(envp[i], '=');
		const char *v = eq ? eq + 1 : envp[i];
		struct cfg_quoted q = cfg_quote(v);
		FUZZ_CHECK(strlen(q.s) < sizeof(q.s) && !strpbrk(q.s, "\r\n"));
		if (strncmp(v, "ghp_", 4) == 0 || strncmp(v, "-----BEGIN", 10) == 0)
			FUZZ_CHECK(!strstr(q.s, v));
	}
	cfg_free(&cfg);
	free(text);
	return 0;
}
