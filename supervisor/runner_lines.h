/* What the runner's output lines mean (reference: actions-runner-contract.md, "Output lines
 * worth parsing"). Pure: a line in, a verdict out. */
#ifndef RS_RUNNER_LINES_H
#define RS_RUNNER_LINES_H

#include <stddef.h>

enum runner_line {
	RL_OTHER,
	RL_LISTENING,     /* "<ts>: Listening for Jobs" */
	RL_JOB_STARTED,   /* "<ts>: Running job: NAME" */
	RL_JOB_COMPLETED, /* "<ts>: Job NAME completed with result: RESULT" */
	RL_GHOST,         /* "Registration ... was not found", "no longer exists on the server" */
	RL_SESSION_CONFLICT,  /* another session holds the registration */
	RL_SHUTDOWN_RECEIVED, /* "The runner has received a shutdown signal" */
};

struct runner_line_info {
	enum runner_line kind;
	char job[256];   /* RL_JOB_STARTED / RL_JOB_COMPLETED */
	char result[32]; /* RL_JOB_COMPLETED: Succeeded, Failed, Canceled, ... */
};

void runner_line_parse(const char *line, struct runner_line_info *out);

#endif
