/* The exit-code table (README, "Exit codes" and "ARC mode"): every way a runner can end, in
 * Kubernetes Job mode and as ARC's controller will read it. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "err.h"
#include "exitcode.h"

/* A runner that listened and was stopped by nothing: the base every case starts from. */
static struct run_outcome base(void)
{
	return (
	    struct run_outcome){ .listener = 0, .wiped = true, .deregistered = DEREG_CONFIRMED };
}

static int code_of(struct run_outcome o)
{
	const char *reason = NULL;
	int code = exit_code_for(&o, &reason);
	assert_non_null(reason);
	return code;
}

static void a_job_that_ran_exits_0_whatever_the_listener_did_after(void **state)
{
	struct run_outcome o = base();
	o.job_seen = true;
	o.listener = 2; /* a job can kill the Listener: that is not the fleet's failure */
	assert_int_equal(code_of(o), EX_RS_OK);
	o.job_seen = false;
	o.listener = 102; /* the job's result as the Listener's code: a job ran */
	assert_int_equal(code_of(o), EX_RS_OK);
}

static void an_unwiped_pod_is_74_before_anything_else(void **state)
{
	struct run_outcome o = base();
	o.job_seen = true;
	o.wiped = false;
	o.deregistered = DEREG_UNCONFIRMED;
	assert_int_equal(code_of(o), EX_RS_IOERR);
	o.arc = true;
	assert_int_equal(code_of(o), EX_RS_IOERR);
}

static void an_unconfirmed_deregistration_is_75_even_after_a_job(void **state)
{
	/* Issue: a runner left busy at deregistration must not end as 0 and remain listed. */
	struct run_outcome o = base();
	o.job_seen = true;
	o.deregistered = DEREG_UNCONFIRMED;
	const char *reason;
	assert_int_equal(exit_code_for(&o, &reason), EX_RS_TEMPFAIL);
	assert_non_null(strstr(reason, "unconfirmed"));
	o.job_seen = false;
	o.idle_timeout = true;
	assert_int_equal(code_of(o), EX_RS_TEMPFAIL);
}

static void clean_stops_exit_0(void **state)
{
	struct run_outcome o = base();
	o.stop_requested = true;
	assert_int_equal(code_of(o), EX_RS_OK);
	o = base();
	o.idle_timeout = true;
	assert_int_equal(code_of(o), EX_RS_OK);
}

static void an_outdated_runner_is_76_or_7_under_arc(void **state)
{
	struct run_outcome o = base();
	o.listener = 3;
	o.update_line = true;
	assert_int_equal(code_of(o), EX_RS_OUTDATED);
	o.listener = 3;
	o.update_line = false; /* the code alone proves nothing */
	assert_int_equal(code_of(o), EX_RS_TEMPFAIL);
	o = base();
	o.listener = 7;
	o.fatal_line = true;
	assert_int_equal(code_of(o), EX_RS_OUTDATED);
	o.arc = true;
	o.deregistered = DEREG_LEFT_TO_ARC;
	assert_int_equal(code_of(o), EX_RS_RUNNER_OUTDATED);
}

static void runner_failures_before_a_job_are_75(void **state)
{
	struct run_outcome o = base();
	o.listener = 1;
	assert_int_equal(code_of(o), EX_RS_TEMPFAIL);
	o.ghost = true;
	assert_int_equal(code_of(o), EX_RS_TEMPFAIL);
	o = base();
	o.listener = 5;
	assert_int_equal(code_of(o), EX_RS_TEMPFAIL);
	o = base();
	o.start_timeout = true;
	o.session_conflicts = 2;
	assert_int_equal(code_of(o), EX_RS_TEMPFAIL);
}

static void under_arc_a_ghost_exits_0_for_a_new_registration(void **state)
{
	/* ARC re-creates the pod with the same JIT configuration on any code but 0 and 7: a
	 * registration GitHub lost would fail five more pods. */
	struct run_outcome o = base();
	o.arc = true;
	o.deregistered = DEREG_LEFT_TO_ARC;
	o.listener = 1;
	o.ghost = true;
	assert_int_equal(code_of(o), EX_RS_OK);
	o.ghost = false; /* anything else passing: the same configuration may work next time */
	assert_int_equal(code_of(o), EX_RS_TEMPFAIL);
}

static void under_arc_what_only_a_new_spec_fixes_is_7(void **state)
{
	static const int spec[] = { EX_RS_USAGE, EX_RS_SANDBOX, EX_RS_NOPERM, EX_RS_CONFIG,
				    EX_RS_OUTDATED };
	for (size_t i = 0; i < sizeof(spec) / sizeof(spec[0]); i++)
		assert_int_equal(arc_exit_code(spec[i], false), EX_RS_RUNNER_OUTDATED);
	static const int same[] = { EX_RS_OK,       EX_RS_RUNNER_OUTDATED, EX_RS_UNAVAILABLE,
				    EX_RS_SOFTWARE, EX_RS_IOERR,           EX_RS_TEMPFAIL };
	for (size_t i = 0; i < sizeof(same) / sizeof(same[0]); i++) {
		assert_int_equal(arc_exit_code(same[i], false), same[i]);
		/* idempotent: main.c maps again what run.c mapped */
		assert_int_equal(arc_exit_code(arc_exit_code(same[i], false), false), same[i]);
	}
}

static void no_code_a_job_can_cause_is_7_under_arc(void **state)
{
	/* 7 stops the whole scale set: after a job, whatever it did, never. */
	for (int listener = -1; listener < 256; listener++)
		for (int bits = 0; bits < 64; bits++) {
			struct run_outcome o = base();
			o.arc = true;
			o.deregistered = DEREG_LEFT_TO_ARC;
			o.job_seen = true;
			o.listener = listener;
			o.wiped = bits & 1;
			o.stop_requested = bits & 2;
			o.update_line = bits & 4;
			o.fatal_line = bits & 8;
			o.ghost = bits & 16;
			o.job_stopped = bits & 32;
			assert_int_not_equal(code_of(o), EX_RS_RUNNER_OUTDATED);
			o.arc = false;
			o.deregistered = DEREG_CONFIRMED;
			int code = code_of(o);
			assert_true(code == EX_RS_OK || code == EX_RS_IOERR);
		}
}

static void outcome_names_are_the_summarys(void **state)
{
	assert_string_equal(dereg_outcome_name(DEREG_NONE), "none");
	assert_string_equal(dereg_outcome_name(DEREG_CONFIRMED), "confirmed");
	assert_string_equal(dereg_outcome_name(DEREG_LEFT_TO_ARC), "left to ARC");
	assert_string_equal(dereg_outcome_name(DEREG_UNCONFIRMED), "unconfirmed");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(a_job_that_ran_exits_0_whatever_the_listener_did_after),
		cmocka_unit_test(an_unwiped_pod_is_74_before_anything_else),
		cmocka_unit_test(an_unconfirmed_deregistration_is_75_even_after_a_job),
		cmocka_unit_test(clean_stops_exit_0),
		cmocka_unit_test(an_outdated_runner_is_76_or_7_under_arc),
		cmocka_unit_test(runner_failures_before_a_job_are_75),
		cmocka_unit_test(under_arc_a_ghost_exits_0_for_a_new_registration),
		cmocka_unit_test(under_arc_what_only_a_new_spec_fixes_is_7),
		cmocka_unit_test(no_code_a_job_can_cause_is_7_under_arc),
		cmocka_unit_test(outcome_names_are_the_summarys),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
