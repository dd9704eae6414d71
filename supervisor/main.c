/* argv -> subcommand; nothing else. Every error comes back here as a value and becomes
 * the exit status (DESIGN.md, "Exit codes"). */
#include <signal.h>
#include <stdbool.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "err.h"
#include "exitcode.h"
#include "initexec.h"
#include "isolate.h"
#include "log.h"
#include "pid1.h"
#include "run.h"
#include "signals.h"
#include "summary.h"
#include "textlog.h"
#include "version.h"
#include "wipe.h"

static int report_error(const struct rs_err *err)
{
	int code = err->exit_code ? err->exit_code : EX_RS_SOFTWARE;
	log_event(LOG_ERROR, "supervisor.error", LOG_FIELDS(LOG_INT("code", code)), "%s", err->msg);
	return code;
}

/* ARC's controller reads nothing but the exit code: one that only a new spec fixes becomes
 * 7, which it marks Outdated, stopping the scale set until its spec changes (exitcode.h). */
static int arc_code(int code)
{
	int arc = arc_exit_code(code, false);
	if (arc != code)
		log_event(LOG_ERROR, "supervisor.arc_exit",
			  LOG_FIELDS(LOG_INT("code", arc), LOG_INT("error_code", code)),
			  "ARC mode: exiting %d, not %d, so that ARC marks the runner Outdated and "
			  "stops the scale set until its spec is fixed",
			  arc, code);
	return arc;
}

/* The format for errors found while the configuration itself is being read. */
static void log_format_early(void)
{
	const char *f = getenv("SUPERVISOR_LOG_FORMAT");
	bool text = f && *f ? strcmp(f, "text") == 0 : isatty(STDERR_FILENO);
	log_set_format(text ? LOG_FORMAT_TEXT : LOG_FORMAT_JSON);
}

static int run_command(struct rs_config *cfg, char *arc_blob, struct rs_err *err)
{
	switch (cfg->command) {
	case CMD_EXEC: {
		log_event(LOG_INFO, "supervisor.start",
			  LOG_FIELDS(LOG_INT("pid", getpid()), LOG_BOOL("pid1", getpid() == 1),
				     LOG_STR("command", "exec"), LOG_STR("version", RS_VERSION)),
			  "runner-supervisor %s (exec)", RS_VERSION);
		int code = pid1_exec(cfg, err);
		if (code < 0)
			return -1;
		log_event(LOG_INFO, "supervisor.exit", LOG_FIELDS(LOG_INT("code", code)),
			  "exiting with %d", code);
		return code;
	}
	case CMD_CHECK: {
		log_event(LOG_INFO, "config.ok", NULL, "configuration is valid");
		struct sbx_report report;
		struct sbx_plan *plan = isolate_prepare(cfg, NULL, &report, err);
		sbx_report_print(&report, stdout);
		bool failed = !plan;
		isolate_release(cfg, plan);
		if (failed)
			return -1;
		return cfg->check_online ? run_check_online(cfg, err) : 0;
	}
	case CMD_RUN:
		log_event(LOG_INFO, "supervisor.start",
			  LOG_FIELDS(LOG_INT("pid", getpid()), LOG_BOOL("pid1", getpid() == 1),
				     LOG_STR("command", "run"), LOG_STR("version", RS_VERSION)),
			  "runner-supervisor %s", RS_VERSION);
		return run_lifecycle(cfg, arc_blob, err);
	case CMD_WIPE: {
		struct wipe_stats st;
		if (wipe_dir(cfg->wipe_dir, &st, err) < 0)
			return -1;
		printf("removed %lld files, %lld directories, %lld bytes; left %lld\n", st.files,
		       st.dirs, st.bytes, st.left);
		fflush(stdout);
		log_event(st.left ? LOG_WARN : LOG_INFO, "workspace.wiped",
			  LOG_FIELDS(LOG_STR("dir", cfg->wipe_dir), LOG_INT("files", st.files),
				     LOG_INT("dirs", st.dirs), LOG_INT("bytes", st.bytes),
				     LOG_INT("left", st.left),
				     LOG_INT("mounts_skipped", st.mounts_skipped)),
			  "%s: %s", cfg->wipe_dir,
			  st.left ? "not empty after the wipe: this pod must not be reused"
				  : "emptied");
		/* 74: the wipe could not be verified, so the pod is not fit for another job. */
		return st.left ? EX_RS_IOERR : 0;
	}
	case CMD_REPORT:
		return summary_command(cfg->report_file, cfg->report_fleet, stdout, err) < 0 ? -1
											     : 0;
	case CMD_HELP:
	case CMD_VERSION:
		break;
	}
	return 0;
}

int main(int argc, char **argv)
{
	/* The sandbox init, exec'd fresh by the sandbox's clone (sandbox/initexec.h): nothing of
	 * the supervisor runs in it. */
	if (argc == 3 && strcmp(argv[1], SBX_INIT_VERB) == 0)
		sbx_init_main(argv[2]);
	/* Held from the first instruction: a SIGTERM that arrives before the handlers exist
	 * would kill us (or, as PID 1, be dropped and lost); pending, it is forwarded later. */
	sig_block_all(NULL);

	log_format_early();
	/* Out of our environment before anything can inherit it (ARC drop-in). */
	char *arc_blob = run_take_arc_blob();
	struct rs_config cfg = { 0 };
	struct rs_err err = { 0 };
	extern char **environ;
	int code;
	if (cfg_load(&cfg, argc - 1, argv + 1, environ, &err) < 0) {
		code = report_error(&err);
		goto out;
	}
	cfg.has_jitconfig = arc_blob != NULL; /* read before cfg_load, which no longer sees it */
	log_set_format(cfg.log_json ? LOG_FORMAT_JSON : LOG_FORMAT_TEXT);
	/* A person reads these (textlog.h); `check` prints its table on stdout already. */
	if (!cfg.log_json && (cfg.command == CMD_RUN || cfg.command == CMD_EXEC))
		textlog_install();
	if (cfg.command == CMD_HELP) {
		cfg_print_help(stdout);
		code = 0;
		goto out;
	}
	if (cfg.command == CMD_VERSION) {
		version_print(stdout);
		code = 0;
		goto out;
	}
	if (cfg_validate(&cfg, &err) < 0) {
		code = report_error(&err);
		goto out;
	}
	code = run_command(&cfg, arc_blob, &err);
	if (code < 0)
		code = report_error(&err);
out:
	if (arc_blob && cfg.command == CMD_RUN) /* also when the load failed: zeroed */
		code = arc_code(code);
	cfg_free(&cfg);
	if (arc_blob)
		explicit_bzero(arc_blob, strlen(arc_blob));
	free(arc_blob);
	log_forget_secrets();
	return code;
}
