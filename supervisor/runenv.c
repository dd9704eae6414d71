#include "runenv.h"

#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Variables the runner never inherits from us, beyond our own settings:
 * - ACTIONS_RUNNER_INPUT_*: each one is a configure/run argument for the Listener
 *   (CommandSettings.cs), the JIT blob and registration token among them;
 * - the two that would disable TLS checks or write secrets to _diag (reference);
 * - ACTIONS_RUNNER_DISABLE_STDOUT_MULTILINE_LOG_PREFIXING: without the "[WORKER …]" prefix on
 *   every line of a multi-line trace message (StdoutTraceListener.cs), the job's text would
 *   reach the Listener's stdout as bare lines (runner_lines.h). */
static const char *const dropped_prefixes[] = { "ACTIONS_RUNNER_INPUT_" };
static const char *const dropped_names[] = {
	"GITHUB_ACTIONS_RUNNER_TLS_NO_VERIFY",
	"GITHUB_ACTIONS_RUNNER_HTTPTRACE",
	"ACTIONS_RUNNER_DISABLE_STDOUT_MULTILINE_LOG_PREFIXING",
	"HOME",
	"USER",
	"LOGNAME",
	"ACTIONS_RUNNER_RETURN_VERSION_DEPRECATED_EXIT_CODE",
	"ACTIONS_RUNNER_RETURN_JOB_RESULT_FOR_HOSTED"
};

static bool dropped(const char *entry)
{
	const char *eq = strchr(entry, '=');
	if (!eq)
		return true;
	size_t len = (size_t)(eq - entry);
	if (cfg_is_own_variable(entry, len))
		return true;
	for (size_t i = 0; i < sizeof(dropped_prefixes) / sizeof(*dropped_prefixes); i++)
		if (strncmp(entry, dropped_prefixes[i], strlen(dropped_prefixes[i])) == 0)
			return true;
	for (size_t i = 0; i < sizeof(dropped_names) / sizeof(*dropped_names); i++)
		if (strlen(dropped_names[i]) == len && strncmp(entry, dropped_names[i], len) == 0)
			return true;
	return false;
}

/* An extra variable replaces the pod's of the same name: the runner reads the first one. */
static bool replaced(const char *entry, const char *const *extra)
{
	size_t len = strcspn(entry, "=");
	for (const char *const *x = extra; x && *x; x++)
		if (strncmp(*x, entry, len) == 0 && (*x)[len] == '=')
			return true;
	return false;
}

static int push(char ***env, size_t *n, size_t *cap, char *entry)
{
	if (!entry)
		return -1;
	if (*n + 2 > *cap) {
		size_t ncap = *cap ? *cap * 2 : 64;
		char **grown = realloc(*env, ncap * sizeof(char *));
		if (!grown) {
			free(entry);
			return -1;
		}
		*env = grown;
		*cap = ncap;
	}
	(*env)[(*n)++] = entry;
	(*env)[*n] = NULL;
	return 0;
}

static char *pair(const char *name, const char *value)
{
	char *s = NULL;
	return asprintf(&s, "%s=%s", name, value) < 0 ? NULL : s;
}

char **runenv_build(const struct rs_config *cfg, char *const *environ_in, const char *const *extra)
{
	char **env = NULL;
	size_t n = 0, cap = 0;
	int rc =
	    push(&env, &n, &cap, strdup("ACTIONS_RUNNER_RETURN_VERSION_DEPRECATED_EXIT_CODE=1"));
	rc |= push(&env, &n, &cap, strdup("ACTIONS_RUNNER_RETURN_JOB_RESULT_FOR_HOSTED=true"));
	/* HOME and friends are the runner user's, not root's: a job writes its caches there.
	 * A uid without a passwd entry gets the runner root, as the official image's runner
	 * user has it (/home/runner); what the job writes there is restored by the wipe. */
	struct passwd *pw = cfg->runner_user_resolved ? getpwuid(cfg->runner_uid) : NULL;
	if (pw) {
		rc |= push(&env, &n, &cap, pair("HOME", pw->pw_dir));
		rc |= push(&env, &n, &cap, pair("USER", pw->pw_name));
		rc |= push(&env, &n, &cap, pair("LOGNAME", pw->pw_name));
	} else {
		rc |= push(&env, &n, &cap, pair("HOME", cfg->runner_root));
	}
	for (char *const *e = environ_in; rc == 0 && e && *e; e++)
		if (!dropped(*e) && !replaced(*e, extra))
			rc |= push(&env, &n, &cap, strdup(*e));
	for (const char *const *x = extra; rc == 0 && x && *x; x++)
		rc |= push(&env, &n, &cap, strdup(*x));
	if (rc) {
		runenv_free(env);
		return NULL;
	}
	return env;
}

void runenv_free(char **env)
{
	for (char **e = env; e && *e; e++) {
		explicit_bzero(*e, strlen(*e));
		free(*e);
	}
	free(env);
}
