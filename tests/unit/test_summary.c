/* Reading summaries back (summary.h) and the text log's blocks (textlog.h): what a person
 * reads of a pod, from its termination message, its JSON log, or its text log. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "sandbox.h"
#include "summary.h"
#include "textlog.h"

/* A summary as report.c writes it. */
static const char *const JOB_RAN =
    "{\"runner\":{\"name\":\"pod-1\",\"id\":101},\"job\":{\"name\":\"build\",\"result\":"
    "\"Failed\",\"cpu_ms\":1234,\"memory_peak_bytes\":104857600,\"memory_from\":\"cgroup\","
    "\"workdir_bytes\":3145728,\"tasks\":57,\"oom_kills\":1},\"exit\":{\"code\":0,\"reason\":"
    "\"job ran\",\"listener_code\":102},\"phases_ms\":{\"registering\":179},\"teardown\":{"
    "\"killed\":2},\"wipe\":{\"files\":9,\"dirs\":10,\"bytes\":1380,\"left\":0},\"github\":{"
    "\"calls\":2,\"deregistered\":\"confirmed\",\"swept\":[]},\"isolation\":{"
    "\"user_namespace\":\"applied\",\"pid_namespace\":\"applied\",\"job_memory\":"
    "\"unavailable\",\"job_root\":\"disabled\"},\"output\":{\"lines\":9,\"dropped\":0}}";

static const char *const NO_JOB =
    "{\"runner\":{\"name\":\"pod-2\",\"id\":102},\"job\":{\"name\":null,\"result\":null},"
    "\"exit\":{\"code\":75,\"reason\":\"GitHub did not confirm\",\"listener_code\":0},"
    "\"wipe\":{\"files\":1,\"dirs\":0,\"bytes\":10,\"left\":3},\"github\":{\"calls\":5,"
    "\"deregistered\":\"unconfirmed\",\"swept\":[7,8]},\"isolation\":{\"user_namespace\":"
    "\"unavailable\",\"pid_namespace\":\"applied\"},\"output\":{\"lines\":100,\"dropped\":40}}";

static char *paragraph_of(const char *text)
{
	json_t *j = json_loads(text, 0, NULL);
	assert_non_null(j);
	char *p = summary_paragraph(j, 96);
	json_decref(j);
	assert_non_null(p);
	return p;
}

/* The paragraph with its line breaks as blanks, for phrases that may wrap. */
static char *flat(char *p)
{
	for (char *c = p; *c; c++)
		if (*c == '\n')
			*c = ' ';
	return p;
}

static void a_job_that_ran_reads_as_what_ran_its_cost_exit_wipe_and_deregistration(void **s)
{
	char *p = paragraph_of(JOB_RAN);
	for (const char *l = p; *l; l += strcspn(l, "\n") + (l[strcspn(l, "\n")] != '\0'))
		assert_true(strcspn(l, "\n") <= 96);
	flat(p);
	assert_non_null(strstr(p, "Runner pod-1 (id 101) ran job \"build\": Failed."));
	assert_non_null(strstr(p, "1.23 s CPU, peak memory 100 MiB (all its processes), 3.0 MiB "
				  "left in the work folder, 57 processes and threads, 1 killed for "
				  "memory (OOM)"));
	assert_non_null(strstr(p, "Exit 0: job ran (Runner.Listener exited 102)."));
	assert_non_null(strstr(p, "The wipe removed 9 files and 10 directories (1.3 KiB) and left "
				  "nothing."));
	assert_non_null(strstr(p, "The teardown killed 2 processes left behind."));
	assert_non_null(strstr(p, "GitHub no longer lists the runner (2 API calls)."));
	assert_non_null(strstr(p, "Isolation: 2 of 4 layers applied; unavailable: job_memory; "
				  "disabled: job_root."));
	free(p);
}

static void a_pod_without_a_job_says_what_was_left_and_what_may_remain(void **s)
{
	char *p = flat(paragraph_of(NO_JOB));
	assert_non_null(strstr(p, "Runner pod-2 (id 102) took no job."));
	assert_null(strstr(p, "CPU"));
	assert_non_null(strstr(p, "Exit 75: GitHub did not confirm (Runner.Listener exited 0)."));
	assert_non_null(strstr(p, "could not remove 3: this pod must not be reused."));
	assert_non_null(strstr(p, "GitHub did not confirm the deregistration: the runner may "
				  "remain registered (5 API calls)."));
	assert_non_null(strstr(p, "It deleted 2 offline runners the fleet had left behind."));
	assert_non_null(strstr(p, "40 of the runner's 100 lines were left out of the log"));
	free(p);
}

static void strings_from_the_summary_cannot_drive_the_terminal(void **s)
{
	char *p = paragraph_of("{\"runner\":{\"name\":\"a\\u001b[2Jb\"},\"job\":{\"name\":"
			       "\"x\\ny\",\"result\":\"Succeeded\"},\"exit\":{\"code\":0}}");
	assert_null(strchr(p, '\x1b'));
	assert_non_null(strstr(p, "a\\x1b[2Jb"));
	assert_non_null(strstr(flat(p), "ran job \"x\\x0ay\""));
	free(p);
}

static void what_is_not_a_summary_has_no_paragraph(void **s)
{
	json_t *j = json_loads("{\"runner\":{}}", 0, NULL);
	assert_null(summary_paragraph(j, 96));
	json_decref(j);
	assert_null(summary_find("not json at all"));
	assert_null(summary_find("{\"event\":\"supervisor.exit\",\"code\":0}"));
}

static void the_summary_is_found_in_a_json_log_last_line_wins(void **s)
{
	char *log = NULL;
	assert_true(asprintf(&log,
			     "{\"event\":\"supervisor.start\"}\n"
			     "garbage\n"
			     "{\"event\":\"supervisor.exit\",\"summary\":%s}\n"
			     "{\"event\":\"supervisor.exit\",\"summary\":%s}\n",
			     NO_JOB, JOB_RAN) > 0);
	json_t *found = summary_find(log);
	assert_non_null(found);
	assert_string_equal(
	    json_string_value(json_object_get(json_object_get(found, "runner"), "name")), "pod-1");
	json_decref(found);
	found = summary_find(NO_JOB); /* the termination message itself */
	assert_non_null(found);
	assert_int_equal(
	    json_integer_value(json_object_get(json_object_get(found, "exit"), "code")), 75);
	json_decref(found);
	free(log);
}

static char *fleet_of(const char *input, int *pods)
{
	FILE *in = fmemopen((void *)input, strlen(input), "r");
	char *out = NULL;
	size_t size = 0;
	FILE *o = open_memstream(&out, &size);
	assert_non_null(in);
	assert_non_null(o);
	*pods = summary_fleet(in, o);
	fclose(in);
	fclose(o);
	return out;
}

static void the_fleet_has_a_row_per_pod_and_the_totals(void **s)
{
	char *input = NULL;
	assert_true(asprintf(&input, "%s\n\n%s\nnot a summary\n%s\n", JOB_RAN, NO_JOB, JOB_RAN) >
		    0);
	int pods = 0;
	char *out = fleet_of(input, &pods);
	assert_int_equal(pods, 3);
	assert_non_null(strstr(out, "RUNNER "));
	assert_non_null(strstr(out, "\npod-1 "));
	assert_non_null(strstr(out, "\npod-2 "));
	assert_non_null(strstr(out, "3 pods, 2 jobs, 1 pod without a job"));
	assert_non_null(strstr(out, "results: Failed (2 jobs)"));
	assert_non_null(strstr(out, "exit codes: 0 (2 pods), 75 (1 pod)"));
	assert_non_null(strstr(out,
			       "registrations that may remain (ghosts): 1: pod-2 (id 102); offline "
			       "runners of the fleet deleted: 2"));
	assert_non_null(strstr(out, "isolation seen: 2 of 4 layers applied; unavailable: "
				    "job_memory; disabled: job_root (2 pods)"));
	assert_non_null(strstr(out, "1 of 2 layers applied; unavailable: user_namespace (1 pod)"));
	assert_non_null(strstr(out, "cost: 2.46 s CPU in all; the largest peak memory 100 MiB"));
	assert_non_null(strstr(out, "1 line without a summary skipped"));
	free(out);
	free(input);
}

static void a_fleet_without_summaries_counts_none(void **s)
{
	int pods = -1;
	char *out = fleet_of("\nnope\n{}\n", &pods);
	assert_int_equal(pods, 0);
	assert_string_equal(out, "");
	free(out);
}

/* A line of megabytes (a pod's log, a JSON string of the job's output) is read past, never
 * parsed nor held whole: the summary after it still counts. */
static void a_huge_line_is_skipped_and_the_next_summary_read(void **s)
{
	size_t huge = (size_t)3 << 20;
	char *input = malloc(huge + strlen(JOB_RAN) + 3);
	assert_non_null(input);
	input[0] = '"';
	memset(input + 1, 'x', huge - 1);
	sprintf(input + huge, "\n%s\n", JOB_RAN);
	int pods = 0;
	char *out = fleet_of(input, &pods);
	assert_int_equal(pods, 1);
	assert_non_null(strstr(out, "\npod-1 "));
	assert_non_null(strstr(out, "1 line without a summary skipped"));
	free(out);
	free(input);
}

/* ---- the text log's blocks ------------------------------------------------------------- */

static struct sbx_report some_report(void)
{
	struct sbx_report r = { 0 };
	for (int l = 0; l < SBX_L_COUNT; l++) {
		r.layer[l].state = l % 3 == 0   ? SBX_UNAVAILABLE
				   : l % 3 == 1 ? SBX_APPLIED
						: SBX_DISABLED;
		snprintf(r.layer[l].detail, sizeof(r.layer[l].detail), "detail of layer %d", l);
	}
	return r;
}

static void the_isolation_event_reads_as_the_table_check_prints(void **s)
{
	struct sbx_report r = some_report();
	/* What sandbox/isolation.c logs. */
	json_t *layers = json_object();
	for (int l = 0; l < SBX_L_COUNT; l++)
		json_object_set_new(layers, sbx_layer_name((enum sbx_layer)l),
				    json_pack("{s:s,s:s}", "state",
					      sbx_state_name(r.layer[l].state), "detail",
					      r.layer[l].detail));
	char *json = json_dumps(layers, JSON_COMPACT);
	json_decref(layers);
	struct log_text_view view = { 0 };
	textlog_render("sandbox.report",
		       LOG_FIELDS(LOG_STR("user_namespace", "applied"), LOG_JSON("layers", json)),
		       &view);
	char *table = NULL;
	size_t size = 0;
	FILE *f = open_memstream(&table, &size);
	sbx_report_print(&r, f);
	fclose(f);
	assert_true(view.hide_fields);
	assert_non_null(view.block);
	assert_string_equal(view.block, table);
	free(view.block);
	free(table);
	free(json);
}

static void the_exit_event_reads_as_the_paragraph(void **s)
{
	struct log_text_view view = { 0 };
	textlog_render("supervisor.exit",
		       LOG_FIELDS(LOG_INT("code", 0), LOG_JSON("summary", JOB_RAN)), &view);
	json_t *j = json_loads(JOB_RAN, 0, NULL);
	char *p = summary_paragraph(j, 96);
	json_decref(j);
	assert_true(view.hide_fields);
	assert_string_equal(view.block, p);
	free(p);
	free(view.block);
	/* exec's exit has no summary: its fields stay. */
	view = (struct log_text_view){ 0 };
	textlog_render("supervisor.exit", LOG_FIELDS(LOG_INT("code", 3)), &view);
	assert_false(view.hide_fields);
	assert_null(view.block);
}

static void runner_lines_are_shown_as_printed(void **s)
{
	struct log_text_view view = { 0 };
	textlog_render("runner.output", LOG_FIELDS(LOG_STR("stream", "stdout")), &view);
	assert_true(view.hide_fields);
	assert_null(view.block);
	view = (struct log_text_view){ 0 };
	textlog_render("runner.registered", LOG_FIELDS(LOG_INT("runner_id", 1)), &view);
	assert_false(view.hide_fields);
	assert_null(view.block);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(
		    a_job_that_ran_reads_as_what_ran_its_cost_exit_wipe_and_deregistration),
		cmocka_unit_test(a_pod_without_a_job_says_what_was_left_and_what_may_remain),
		cmocka_unit_test(strings_from_the_summary_cannot_drive_the_terminal),
		cmocka_unit_test(what_is_not_a_summary_has_no_paragraph),
		cmocka_unit_test(the_summary_is_found_in_a_json_log_last_line_wins),
		cmocka_unit_test(the_fleet_has_a_row_per_pod_and_the_totals),
		cmocka_unit_test(a_fleet_without_summaries_counts_none),
		cmocka_unit_test(a_huge_line_is_skipped_and_the_next_summary_read),
		cmocka_unit_test(the_isolation_event_reads_as_the_table_check_prints),
		cmocka_unit_test(the_exit_event_reads_as_the_paragraph),
		cmocka_unit_test(runner_lines_are_shown_as_printed),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
