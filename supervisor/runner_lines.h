/* What the runner's output lines mean (DESIGN.md, "The runner contract"; the forms are in
 * docs/runner-facts.md with the actions/runner file that prints each). Pure: a line in, a
 * verdict out.
 *
 * The official image sets ACTIONS_RUNNER_PRINT_LOG_TO_STDOUT=1: the Listener copies every line
 * its Worker writes to stdout onto its own (JobDispatcher.cs), and the Worker's trace holds the
 * whole job message. So the job's text reaches this parser. Only a line that is exactly one of
 * the forms below counts: never a match inside a line, never a "[RUNNER …]"/"[WORKER …]" trace
 * line, and each form only on the stream the runner prints it to. */
#ifndef RS_RUNNER_LINES_H
#define RS_RUNNER_LINES_H

#include <stdbool.h>
#include <stddef.h>

enum runner_stream { RUNNER_STDOUT, RUNNER_STDERR };

enum runner_line {
	RL_OTHER,
	RL_LISTENING,     /* stdout "<ts>: Listening for Jobs" */
	RL_JOB_STARTED,   /* stdout "<ts>: Running job: NAME" */
	RL_JOB_COMPLETED, /* stdout "<ts>: Job NAME completed with result: RESULT", RESULT known */
	RL_GHOST,         /* stderr "<ts>: Runner connect error: Registration ID was not found.
			   * Retrying until reconnected.": GitHub no longer knows the runner and the
			   * Listener retries until it gives up */
	RL_DELETED,       /* stderr: the runner was deleted server-side; the Listener exits */
	RL_SESSION_CONFLICT, /* stderr "A session for this runner already exists." (retried) */
	RL_UPDATING,         /* stdout "Runner update in progress, do not shutdown runner." */
	RL_FATAL,            /* stderr "An error occurred: MESSAGE" (Program.cs, before exiting) */
};

struct runner_line_info {
	enum runner_line kind;
	char job[256];     /* RL_JOB_STARTED / RL_JOB_COMPLETED: the job's display name */
	char result[32];   /* RL_JOB_COMPLETED: Succeeded, Failed, Canceled, ... */
	char message[256]; /* RL_FATAL: the message */
};

void runner_line_parse(const char *line, enum runner_stream stream, struct runner_line_info *out);

/* true for the job results the runner prints (TaskResult in actions/runner). */
bool runner_result_known(const char *result);

#endif
