/* `runner-supervisor exec -- CMD`: the PID-1 duties around one command. */
#ifndef RS_PID1_H
#define RS_PID1_H

#include "config.h"
#include "err.h"

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <uv.h>

struct pid1_opts {
	char *const *argv;
	char *const *envp;
	const char *workdir; /* the child's directory; NULL: where we were started */
	bool create_workdir; /* mkdir -p workdir first (exec --workdir) */
	bool set_ids;        /* run as uid:gid with its supplementary groups */
	uid_t uid;
	gid_t gid;
	uint64_t grace_ms; /* SIGTERM -> SIGKILL for what the child leaves behind */
	const char *what;  /* "command", "runner": for the log */
};

/* Runs opts->argv as the main child on loop (also serving the loop's other handles) until
 * it and everything it left behind are gone. Returns the status to report: the child's
 * exit code, or 128+signal. Returns -1 (err filled) only when no child could be started.
 * Signals must be blocked (sig_block_all) when called; they are unblocked while the child
 * runs and blocked again before returning. */
int pid1_run(uv_loop_t *loop, const struct pid1_opts *opts, struct rs_err *err);

/* `exec -- CMD`: pid1_run() on a loop of its own, with cfg's command, workdir and grace. */
int pid1_exec(const struct rs_config *cfg, struct rs_err *err);

#endif
