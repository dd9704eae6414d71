/* The runner's output: the bytes bin/Runner.Listener (and, through
 * ACTIONS_RUNNER_PRINT_LOG_TO_STDOUT, the job itself) writes to its stdout and stderr pipes.
 * They go the way run.c sends them: relay.c cuts them into lines (64 KiB at most), each line
 * is logged (log.c, JSON or text) and runner_lines.c decides what it means.
 *
 * Input: one flags byte, then the bytes written to the pipe. Flags: bit 0 the stream (0 stdout,
 * 1 stderr), bit 1 the log format (0 JSON, 1 text), bit 2 a 64 KiB - 8 run of 'x' written
 * first, so that the input lands on relay.c's line cut. Seeds use '0'..'7'. */
#include <fcntl.h>
#include <jansson.h>
#include <stdbool.h>
#include <unistd.h>
#include <uv.h>

#include "fuzz.h"
#include "log.h"
#include "relay.h"
#include "runner_lines.h"

#define RELAY_LINE_MAX 65536

static uv_loop_t loop;

struct ctx {
	enum runner_stream stream;
	bool text;
	size_t lines;
};

static void check_field(const char *s, size_t size)
{
	FUZZ_CHECK(strnlen(s, size) < size);
}

static void on_line(const char *line, const char *stream, bool continued, void *ud)
{
	struct ctx *c = ud;
	c->lines++;
	FUZZ_CHECK(strlen(line) <= RELAY_LINE_MAX);
	FUZZ_CHECK(strcmp(stream, c->stream == RUNNER_STDERR ? "stderr" : "stdout") == 0);

	/* As run.c logs it: the line is the message. */
	char *out = log_format_line(
	    LOG_INFO, "runner.output",
	    LOG_FIELDS(LOG_STR("stream", stream), LOG_BOOL("continued", continued)), line);
	FUZZ_CHECK(out != NULL);
	if (c->text) {
		/* One event, one line, nothing a terminal acts on. */
		for (const unsigned char *p = (const unsigned char *)out; *p; p++)
			FUZZ_CHECK((*p >= 0x20 || *p == '\t') && *p != 0x7f);
	} else {
		json_t *j = json_loads(out, 0, NULL);
		FUZZ_CHECK(json_is_object(j));
		FUZZ_CHECK(json_is_string(json_object_get(j, "msg")));
		json_decref(j);
	}
	free(out);

	if (continued)
		return; /* run.c: the rest of a cut line is never a status line */
	struct runner_line_info info;
	runner_line_parse(line, c->stream, &info);
	FUZZ_CHECK(info.kind >= RL_OTHER && info.kind <= RL_FATAL);
	check_field(info.job, sizeof(info.job));
	check_field(info.result, sizeof(info.result));
	check_field(info.message, sizeof(info.message));
	if (info.kind == RL_JOB_COMPLETED)
		FUZZ_CHECK(runner_result_known(info.result));
	if (info.kind == RL_JOB_STARTED || info.kind == RL_JOB_COMPLETED)
		FUZZ_CHECK(info.job[0] != '\0');
	/* Each form only on the stream the runner prints it to. */
	if (c->stream == RUNNER_STDOUT)
		FUZZ_CHECK(info.kind == RL_OTHER || info.kind == RL_LISTENING ||
			   info.kind == RL_JOB_STARTED || info.kind == RL_JOB_COMPLETED ||
			   info.kind == RL_UPDATING);
	else
		FUZZ_CHECK(info.kind == RL_OTHER || info.kind == RL_GHOST ||
			   info.kind == RL_DELETED || info.kind == RL_SESSION_CONFLICT ||
			   info.kind == RL_FATAL);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	uv_loop_init(&loop);
	/* Lines are formatted, not written: log_format_line() is the whole of it. */
	log_set_min_level(LOG_ERROR);
	return 0;
}

static void write_all(int fd, const uint8_t *p, size_t n)
{
	while (n > 0) {
		ssize_t w = write(fd, p, n);
		FUZZ_CHECK(w > 0);
		p += w;
		n -= (size_t)w;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1 || size > (size_t)256 * 1024)
		return 0;
	struct ctx c = { .stream = data[0] & 1 ? RUNNER_STDERR : RUNNER_STDOUT,
			 .text = data[0] & 2 };
	bool long_prefix = data[0] & 4;
	log_set_format(c.text ? LOG_FORMAT_TEXT : LOG_FORMAT_JSON);

	int fds[2];
	FUZZ_CHECK(pipe2(fds, O_CLOEXEC) == 0);
	/* Room for the whole input: written before the relay reads, as a runner that printed
	 * everything before the supervisor got to it. */
	if (size - 1 + (long_prefix ? RELAY_LINE_MAX : 0) > 65536)
		FUZZ_CHECK(fcntl(fds[1], F_SETPIPE_SZ, 1024 * 1024) >= 0);
	if (long_prefix) {
		static uint8_t xs[RELAY_LINE_MAX - 8];
		memset(xs, 'x', sizeof(xs));
		write_all(fds[1], xs, sizeof(xs));
	}
	write_all(fds[1], data + 1, size - 1);
	close(fds[1]);

	struct relay *r = relay_start(&loop, fds[0],
				      c.stream == RUNNER_STDERR ? "stderr" : "stdout", on_line, &c);
	FUZZ_CHECK(r != NULL);
	uv_run(&loop, UV_RUN_NOWAIT);
	relay_close(r);
	uv_run(&loop, UV_RUN_NOWAIT);
	if (size > 1 || long_prefix)
		FUZZ_CHECK(c.lines > 0);
	return 0;
}
