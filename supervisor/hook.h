/* The isolation report in the job's own log on GitHub (issue 17).
 *
 * The runner's Worker runs the script named by ACTIONS_RUNNER_HOOK_JOB_STARTED as the job's
 * first step, "Set up runner", before any of the workflow's steps, and whatever it prints goes
 * to the job's log (actions/runner: src/Runner.Worker/JobExtension.cs, JobHookProvider.cs,
 * Handlers/ScriptHandler.cs). The supervisor writes such a script for each runner: it prints
 * which runner and pod ran the job and the isolation report as `check` prints it, then runs
 * the hook the operator configured in the pod's environment, if any, the way the Worker would
 * have. No API call, nothing secret: the text is static, and redacted like a log line. */
#ifndef RS_HOOK_H
#define RS_HOOK_H

#include "err.h"
#include "sandbox.h"

#define HOOK_ENV  "ACTIONS_RUNNER_HOOK_JOB_STARTED"
#define HOOK_FILE ".runner-supervisor-job-started.sh"

struct hook_info {
	const char *runner_name;
	long long runner_id; /* 0: unknown */
	const char *pod;     /* the pod's name (its hostname) */
	const char *mode;    /* SUPERVISOR_SANDBOX: "auto", "strict", "off" */
	const char *profile; /* SUPERVISOR_SANDBOX_PROFILE */
	const struct sbx_report *report;
	const char *runner_root; /* where externals/node20 is, for an operator's .js hook */
	const char *chained;     /* the operator's own hook; NULL or "": none */
};

/* The script (POSIX sh; the Worker runs it with bash -e, or sh -e without bash); the caller
 * frees it. NULL when out of memory. */
char *hook_script(const struct hook_info *info);

/* Writes the script as RUNNER_ROOT/HOOK_FILE (created under a temporary name and renamed, so
 * nothing planted there is followed; mode 0644, the supervisor's own), and returns its path
 * in *path (the caller frees it). Refuses a RUNNER_ROOT the Worker would split (a blank, a
 * quote or a backslash in it). */
int hook_install(const char *runner_root, const char *script, char **path, struct rs_err *err);

/* Removes RUNNER_ROOT/HOOK_FILE when it is a file (what the job put there instead is the
 * wipe's). */
void hook_remove(const char *runner_root);

#endif
