#include "runner_lines.h"

#include <stdio.h>
#include <string.h>

/* The prefix Terminal.WriteLine/WriteError lines get from `{DateTime.UtcNow:u}: `:
 * "yyyy-MM-dd HH:mm:ssZ: ", 22 bytes. */
#define TS_LEN 22

static bool has_timestamp(const char *line)
{
	static const char shape[] = "dddd-dd-dd dd:dd:ddZ: ";
	for (size_t i = 0; i < TS_LEN; i++) {
		char c = line[i];
		if (shape[i] == 'd' ? !(c >= '0' && c <= '9') : c != shape[i])
			return false;
	}
	return true;
}

/* rest when s starts with prefix, else NULL. */
static const char *after(const char *s, const char *prefix)
{
	size_t n = strlen(prefix);
	return strncmp(s, prefix, n) == 0 ? s + n : NULL;
}

static void copy_span(char *dst, size_t size, const char *start, size_t len)
{
	if (len >= size)
		len = size - 1;
	memcpy(dst, start, len);
	dst[len] = '\0';
}

bool runner_result_known(const char *result)
{
	/* TaskResult (src/Sdk/DTWebApi/WebApi/TaskResult.cs), as JobDispatcher prints it. */
	static const char *const known[] = { "Succeeded", "SucceededWithIssues",
					     "Failed",    "Canceled",
					     "Skipped",   "Abandoned" };
	for (size_t i = 0; i < sizeof(known) / sizeof(*known); i++)
		if (strcmp(result, known[i]) == 0)
			return true;
	return false;
}

/* "Job NAME completed with result: RESULT": the name is whatever the workflow calls the job,
 * so the result is taken from the end of the line, never from the first match. */
static bool parse_completed(const char *text, struct runner_line_info *out)
{
	static const char marker[] = " completed with result: ";
	const char *name = after(text, "Job ");
	if (!name)
		return false;
	const char *last = NULL;
	for (const char *p = name; (p = strstr(p, marker)); p++)
		last = p;
	if (!last || last == name)
		return false;
	const char *res = last + sizeof(marker) - 1;
	if (strlen(res) >= sizeof(out->result) || !runner_result_known(res))
		return false;
	copy_span(out->job, sizeof(out->job), name, (size_t)(last - name));
	copy_span(out->result, sizeof(out->result), res, strlen(res));
	return true;
}

/* "Runner connect error: Registration ID was not found. Retrying until reconnected." with ID
 * a GUID or a number (BrokerMessageListener.cs prints the service's message). */
static bool is_ghost(const char *text)
{
	const char *id = after(text, "Runner connect error: Registration ");
	if (!id)
		return false;
	size_t n = strspn(id, "0123456789abcdefABCDEF-");
	return n > 0 && strcmp(id + n, " was not found. Retrying until reconnected.") == 0;
}

static void parse_stdout(const char *line, struct runner_line_info *out)
{
	if (strcmp(line, "Runner update in progress, do not shutdown runner.") == 0) {
		out->kind = RL_UPDATING; /* SelfUpdaterV2.cs, SelfUpdater.cs */
		return;
	}
	if (!has_timestamp(line))
		return;
	const char *text = line + TS_LEN, *name;
	if (strcmp(text, "Listening for Jobs") == 0) {
		out->kind = RL_LISTENING; /* Runner.cs */
	} else if ((name = after(text, "Running job: ")) && *name) {
		out->kind = RL_JOB_STARTED; /* JobDispatcher.cs */
		copy_span(out->job, sizeof(out->job), name, strlen(name));
	} else if (parse_completed(text, out)) {
		out->kind = RL_JOB_COMPLETED; /* JobDispatcher.cs */
	}
}

static void parse_stderr(const char *line, struct runner_line_info *out)
{
	const char *msg;
	if (has_timestamp(line) && is_ghost(line + TS_LEN)) {
		out->kind = RL_GHOST;
	} else if (strcmp(line, "The runner no longer exists on the server. Cleaning up local "
				"configuration.") == 0 ||
		   strcmp(line, "The runner no longer exists on the server. Please reconfigure "
				"the runner.") == 0 ||
		   strcmp(line, "Failed to create a session. The runner registration has been "
				"deleted from the server, please re-configure. Runner "
				"registrations are automatically deleted for runners that have "
				"not connected to the service recently.") == 0) {
		out->kind = RL_DELETED; /* Runner.cs, BrokerMessageListener.cs */
	} else if (strcmp(line, "A session for this runner already exists.") == 0) {
		out->kind = RL_SESSION_CONFLICT; /* BrokerMessageListener.cs */
	} else if ((msg = after(line, "An error occurred: ")) && *msg) {
		out->kind = RL_FATAL; /* Program.cs */
		copy_span(out->message, sizeof(out->message), msg, strlen(msg));
	}
}

void runner_line_parse(const char *line, enum runner_stream stream, struct runner_line_info *out)
{
	memset(out, 0, sizeof(*out));
	if (stream == RUNNER_STDOUT)
		parse_stdout(line, out);
	else
		parse_stderr(line, out);
}
