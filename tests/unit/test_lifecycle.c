/* The lifecycle table and the summary's size. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "lifecycle.h"
#include "report.h"

/* Follows events from a phase and returns where they lead (unknown events keep the phase). */
static enum lc_phase walk(enum lc_phase from, const enum lc_event *events, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		const struct lc_transition *t = lc_next(from, events[i]);
		if (t)
			from = t->to;
	}
	return from;
}

static void every_path_after_registration_ends_through_wipe_deregister_report(void **state)
{
	/* From each phase where the runner can be, every event that leaves it must reach DONE
	 * through stopping -> deregistering -> wiping -> reporting. */
	const enum lc_event tail[] = { EV_TORN_DOWN, EV_DEREGISTERED, EV_WIPED, EV_REPORTED };
	const enum lc_phase running[] = { PH_STARTING, PH_LISTENING, PH_JOB_RUNNING };
	for (size_t p = 0; p < sizeof(running) / sizeof(*running); p++) {
		for (int ev = 0; ev < EV_COUNT; ev++) {
			const struct lc_transition *t = lc_next(running[p], (enum lc_event)ev);
			if (!t || t->to != PH_STOPPING)
				continue;
			assert_int_equal(walk(PH_STOPPING, tail, 4), PH_DONE);
		}
	}
	/* A registration that failed still goes through the wipe and the deregistration. */
	const enum lc_event failed[] = { EV_BEGIN, EV_REGISTER_FAILED };
	assert_int_equal(walk(PH_CONFIGURED, failed, 2), PH_DEREGISTERING);
}

static void happy_path_visits_every_phase_in_order(void **state)
{
	const enum lc_event evs[] = { EV_BEGIN,       EV_REGISTERED,    EV_LISTENING,
				      EV_JOB_STARTED, EV_JOB_COMPLETED, EV_RUNNER_EXITED,
				      EV_TORN_DOWN,   EV_DEREGISTERED,  EV_WIPED,
				      EV_REPORTED };
	enum lc_phase expect[] = { PH_REGISTERING, PH_STARTING, PH_LISTENING,     PH_JOB_RUNNING,
				   PH_STOPPING,    PH_STOPPING, PH_DEREGISTERING, PH_WIPING,
				   PH_REPORTING,   PH_DONE };
	enum lc_phase ph = PH_CONFIGURED;
	for (size_t i = 0; i < sizeof(evs) / sizeof(*evs); i++) {
		const struct lc_transition *t = lc_next(ph, evs[i]);
		if (t)
			ph = t->to;
		assert_int_equal(ph, expect[i]);
	}
}

static void stop_while_listening_stops_the_runner(void **state)
{
	const struct lc_transition *t = lc_next(PH_LISTENING, EV_STOP);
	assert_non_null(t);
	assert_int_equal(t->to, PH_STOPPING);
	assert_int_equal(t->action, ACT_STOP_RUNNER);
}

static void stop_during_a_job_drains_then_cancels(void **state)
{
	const struct lc_transition *t = lc_next(PH_JOB_RUNNING, EV_STOP);
	assert_int_equal(t->to, PH_JOB_RUNNING);
	assert_int_equal(t->action, ACT_ARM_DRAIN);
	t = lc_next(PH_JOB_RUNNING, EV_DRAIN_TIMEOUT);
	assert_int_equal(t->to, PH_STOPPING);
	assert_int_equal(t->action, ACT_STOP_RUNNER);
}

static void second_stop_while_stopping_kills_at_once(void **state)
{
	assert_int_equal(lc_next(PH_STOPPING, EV_STOP)->action, ACT_KILL_NOW);
}

static void timeouts_and_ghosts_stop_the_runner(void **state)
{
	assert_int_equal(lc_next(PH_LISTENING, EV_IDLE_TIMEOUT)->action, ACT_STOP_RUNNER);
	assert_int_equal(lc_next(PH_JOB_RUNNING, EV_JOB_TIMEOUT)->action, ACT_STOP_RUNNER);
	assert_int_equal(lc_next(PH_STARTING, EV_START_TIMEOUT)->action, ACT_STOP_RUNNER);
	assert_int_equal(lc_next(PH_LISTENING, EV_GHOST)->action, ACT_STOP_RUNNER);
}

static void a_ghost_line_during_a_job_changes_nothing(void **state)
{
	/* The job's text shares the runner's output: it must not stop its own job. */
	assert_null(lc_next(PH_JOB_RUNNING, EV_GHOST));
}

static void events_out_of_place_change_nothing(void **state)
{
	assert_null(lc_next(PH_REGISTERING, EV_JOB_COMPLETED));
	assert_null(lc_next(PH_WIPING, EV_STOP));
	assert_null(lc_next(PH_DONE, EV_BEGIN));
	assert_null(lc_next(PH_LISTENING, EV_JOB_TIMEOUT));
}

static void table_has_one_row_per_phase_and_event(void **state)
{
	for (unsigned i = 0; i < lc_table_len; i++)
		for (unsigned k = i + 1; k < lc_table_len; k++)
			assert_false(lc_table[i].from == lc_table[k].from &&
				     lc_table[i].event == lc_table[k].event);
	for (int p = 0; p < PH_COUNT; p++)
		assert_string_not_equal(lc_phase_name((enum lc_phase)p), "?");
}

static void summary_has_the_contract_keys_and_fits_4096_bytes(void **state)
{
	struct report r = { .runner_id = 7,
			    .exit_code = 0,
			    .reason = "job ran",
			    .listener_code = 0,
			    .deregistered = "confirmed" };
	memset(r.runner_name, 'n', 64);
	memset(r.job_name, 'j', sizeof(r.job_name) - 1);
	strcpy(r.job_result, "Succeeded");
	r.layers[r.n_layers++] = (struct report_layer){ "user", "applied" };
	char *s = report_json(&r);
	assert_non_null(s);
	assert_true(strlen(s) <= REPORT_MAX);
	json_t *j = json_loads(s, 0, NULL);
	assert_non_null(j);
	const char *paths[][2] = {
		{ "runner", "name" },        { "runner", "id" },           { "job", "name" },
		{ "job", "result" },         { "exit", "code" },           { "exit", "reason" },
		{ "exit", "listener_code" }, { "teardown", "killed" },     { "wipe", "files" },
		{ "wipe", "dirs" },          { "wipe", "bytes" },          { "wipe", "left" },
		{ "github", "calls" },       { "github", "deregistered" }, { "isolation", "user" }
	};
	for (size_t k = 0; k < sizeof(paths) / sizeof(*paths); k++)
		assert_non_null(json_object_get(json_object_get(j, paths[k][0]), paths[k][1]));
	assert_non_null(json_object_get(j, "phases_ms"));
	json_decref(j);
	free(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(every_path_after_registration_ends_through_wipe_deregister_report),
		cmocka_unit_test(happy_path_visits_every_phase_in_order),
		cmocka_unit_test(stop_while_listening_stops_the_runner),
		cmocka_unit_test(stop_during_a_job_drains_then_cancels),
		cmocka_unit_test(second_stop_while_stopping_kills_at_once),
		cmocka_unit_test(timeouts_and_ghosts_stop_the_runner),
		cmocka_unit_test(a_ghost_line_during_a_job_changes_nothing),
		cmocka_unit_test(events_out_of_place_change_nothing),
		cmocka_unit_test(table_has_one_row_per_phase_and_event),
		cmocka_unit_test(summary_has_the_contract_keys_and_fits_4096_bytes),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
