/* The runner's output lines: only the exact forms of actions/runner count, on their own
 * stream, never a match inside a line (runner_lines.h; docs/runner-facts.md). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "runner_lines.h"

#define TS "2026-11-30 16:26:27Z: "

static enum runner_line kind(const char *line, enum runner_stream stream)
{
	struct runner_line_info i;
	runner_line_parse(line, stream, &i);
	return i.kind;
}

static void status_lines_are_recognised_on_stdout(void **state)
{
	struct runner_line_info i;
	runner_line_parse(TS "Listening for Jobs", RUNNER_STDOUT, &i);
	assert_int_equal(i.kind, RL_LISTENING);
	runner_line_parse(TS "Running job: build (linux, 3.12)", RUNNER_STDOUT, &i);
	assert_int_equal(i.kind, RL_JOB_STARTED);
	assert_string_equal(i.job, "build (linux, 3.12)");
	runner_line_parse(TS "Job build completed with result: Canceled", RUNNER_STDOUT, &i);
	assert_int_equal(i.kind, RL_JOB_COMPLETED);
	assert_string_equal(i.job, "build");
	assert_string_equal(i.result, "Canceled");
	runner_line_parse("Runner update in progress, do not shutdown runner.", RUNNER_STDOUT, &i);
	assert_int_equal(i.kind, RL_UPDATING);
}

static void a_job_name_holding_the_marker_keeps_the_last_result(void **state)
{
	/* A job named "x completed with result: Succeeded" that failed. */
	struct runner_line_info i;
	runner_line_parse(TS "Job x completed with result: Succeeded completed with result: Failed",
			  RUNNER_STDOUT, &i);
	assert_int_equal(i.kind, RL_JOB_COMPLETED);
	assert_string_equal(i.job, "x completed with result: Succeeded");
	assert_string_equal(i.result, "Failed");
}

static void an_unknown_result_is_not_a_completion(void **state)
{
	assert_int_equal(kind(TS "Job x completed with result: Succeeded'\",", RUNNER_STDOUT),
			 RL_OTHER);
	assert_int_equal(kind(TS "Job x completed with result: ", RUNNER_STDOUT), RL_OTHER);
	assert_int_equal(kind(TS "Job  completed with result: Failed", RUNNER_STDOUT), RL_OTHER);
}

static void the_phrases_inside_a_line_or_a_trace_line_are_data(void **state)
{
	const char *lines[] = {
		"[RUNNER 2026-11-30 16:26:27Z INFO JobDispatcher] Listening for Jobs",
		"[WORKER 2026-11-30 16:26:27Z INFO Worker]     \"run\": \"echo '" TS
		"Listening for Jobs'\"",
		"echo " TS "Listening for Jobs",
		" " TS "Listening for Jobs",
		TS "Listening for Jobs ",
		TS "Listening for Jobs now",
		"2026-11-30 16:26:27: Listening for Jobs",
		"2026-1l-30 16:26:27Z: Listening for Jobs",
		"echo Running job: not a status line",
		TS "Running job: ",
		"x" TS "Job build completed with result: Succeeded",
		"Registration 42 was not found.",
		"Runner update in progress, do not shutdown runner. ",
	};
	for (size_t k = 0; k < sizeof(lines) / sizeof(*lines); k++) {
		assert_int_equal(kind(lines[k], RUNNER_STDOUT), RL_OTHER);
		assert_int_equal(kind(lines[k], RUNNER_STDERR), RL_OTHER);
	}
}

static void registration_lines_are_recognised_on_stderr_only(void **state)
{
	const char *ghost =
	    TS "Runner connect error: Registration 42 was not found. Retrying until "
	       "reconnected.";
	const char *guid =
	    TS "Runner connect error: Registration 6f1c2a9e-1b2c-4d5e-8f90-aabbccddeeff"
	       " was not found. Retrying until reconnected.";
	assert_int_equal(kind(ghost, RUNNER_STDERR), RL_GHOST);
	assert_int_equal(kind(guid, RUNNER_STDERR), RL_GHOST);
	assert_int_equal(kind(ghost, RUNNER_STDOUT), RL_OTHER);
	assert_int_equal(
	    kind(TS "Runner connect error: Registration 42 was not found.", RUNNER_STDERR),
	    RL_OTHER);
	assert_int_equal(kind(TS "Runner connect error: Registration  was not found. Retrying "
				 "until reconnected.",
			      RUNNER_STDERR),
			 RL_OTHER);
	const char *deleted[] = {
		"The runner no longer exists on the server. Cleaning up local configuration.",
		"The runner no longer exists on the server. Please reconfigure the runner.",
		"Failed to create a session. The runner registration has been deleted from the "
		"server, please re-configure. Runner registrations are automatically deleted for "
		"runners that have not connected to the service recently.",
	};
	for (size_t k = 0; k < sizeof(deleted) / sizeof(*deleted); k++) {
		assert_int_equal(kind(deleted[k], RUNNER_STDERR), RL_DELETED);
		assert_int_equal(kind(deleted[k], RUNNER_STDOUT), RL_OTHER);
	}
	assert_int_equal(kind("A session for this runner already exists.", RUNNER_STDERR),
			 RL_SESSION_CONFLICT);
	assert_int_equal(kind("echo A session for this runner already exists.", RUNNER_STDERR),
			 RL_OTHER);
	assert_int_equal(kind("A session for this runner already exists.", RUNNER_STDOUT),
			 RL_OTHER);
}

static void the_listeners_fatal_line_carries_its_message(void **state)
{
	struct runner_line_info i;
	runner_line_parse("An error occurred: Runner version v2.300.0 is deprecated and cannot "
			  "receive messages.",
			  RUNNER_STDERR, &i);
	assert_int_equal(i.kind, RL_FATAL);
	assert_string_equal(i.message,
			    "Runner version v2.300.0 is deprecated and cannot receive messages.");
	assert_int_equal(kind("An error occurred: x", RUNNER_STDOUT), RL_OTHER);
	assert_int_equal(kind("An error occurred: ", RUNNER_STDERR), RL_OTHER);
}

static void long_names_are_cut_not_overflowed(void **state)
{
	char line[1024];
	memset(line, 0, sizeof(line));
	strcpy(line, TS "Running job: ");
	memset(line + strlen(line), 'j', 600);
	struct runner_line_info i;
	runner_line_parse(line, RUNNER_STDOUT, &i);
	assert_int_equal(i.kind, RL_JOB_STARTED);
	assert_int_equal(strlen(i.job), sizeof(i.job) - 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(status_lines_are_recognised_on_stdout),
		cmocka_unit_test(a_job_name_holding_the_marker_keeps_the_last_result),
		cmocka_unit_test(an_unknown_result_is_not_a_completion),
		cmocka_unit_test(the_phrases_inside_a_line_or_a_trace_line_are_data),
		cmocka_unit_test(registration_lines_are_recognised_on_stderr_only),
		cmocka_unit_test(the_listeners_fatal_line_carries_its_message),
		cmocka_unit_test(long_names_are_cut_not_overflowed),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
