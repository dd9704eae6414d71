#include "runner_lines.h"

#include <stdio.h>
#include <string.h>

/* The runner prefixes its status lines with "yyyy-MM-dd HH:mm:ssZ: "; some wrappers add
 * more. Everything after the first ": " that follows a timestamp-like prefix is the text. */
static const char *status_text(const char *line)
{
	const char *p = strstr(line, "Z: ");
	return p ? p + 3 : line;
}

static void copy_span(char *dst, size_t size, const char *start, size_t len)
{
	if (len >= size)
		len = size - 1;
	memcpy(dst, start, len);
	dst[len] = '\0';
}

void runner_line_parse(const char *line, struct runner_line_info *out)
{
	memset(out, 0, sizeof(*out));
	const char *text = status_text(line);
	static const char running[] = "Running job: ";
	static const char job[] = "Job ";
	static const char completed[] = " completed with result: ";
	const char *c;
	if (strcmp(text, "Listening for Jobs") == 0) {
		out->kind = RL_LISTENING;
	} else if (strncmp(text, running, sizeof(running) - 1) == 0) {
		out->kind = RL_JOB_STARTED;
		const char *name = text + sizeof(running) - 1;
		copy_span(out->job, sizeof(out->job), name, strlen(name));
	} else if (strncmp(text, job, sizeof(job) - 1) == 0 && (c = strstr(text, completed))) {
		out->kind = RL_JOB_COMPLETED;
		const char *name = text + sizeof(job) - 1;
		copy_span(out->job, sizeof(out->job), name, (size_t)(c - name));
		const char *res = c + sizeof(completed) - 1;
		copy_span(out->result, sizeof(out->result), res, strcspn(res, " \r\n"));
	} else if ((strstr(line, "Registration") && strstr(line, "was not found")) ||
		   strstr(line, "no longer exists on the server")) {
		/* The ghost runner: GitHub no longer knows us, the Listener would poll forever. */
		out->kind = RL_GHOST;
	} else if (strstr(line, "session conflict") || strstr(line, "Session conflict") ||
		   strstr(line, "A session for this runner already exists")) {
		out->kind = RL_SESSION_CONFLICT;
	} else if (strstr(line, "The runner has received a shutdown signal")) {
		out->kind = RL_SHUTDOWN_RECEIVED;
	}
}
