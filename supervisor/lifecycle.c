/* The lifecycle table (DESIGN.md, "Process model" and "Exit codes"): every exit path after
 * registration passes through stopping -> deregistering -> wiping -> reporting. */
#include "lifecycle.h"

#include <stddef.h>

#define T(f, e, t, a)                                                                              \
	{                                                                                          \
		PH_##f, EV_##e, PH_##t, ACT_##a                                                    \
	}

const struct lc_transition lc_table[] = {
	T(CONFIGURED, BEGIN, REGISTERING, NONE),
	T(REGISTERING, REGISTERED, STARTING, ARM_START_TIMER),
	/* A failed or interrupted registration may still have reached GitHub. */
	T(REGISTERING, REGISTER_FAILED, DEREGISTERING, NONE),

	T(STARTING, LISTENING, LISTENING, ARM_IDLE_TIMER),
	/* Some runners print the job line without a listening line in between. */
	T(STARTING, JOB_STARTED, JOB_RUNNING, JOB_STARTED),
	T(STARTING, STOP, STOPPING, STOP_RUNNER),
	T(STARTING, START_TIMEOUT, STOPPING, STOP_RUNNER),
	T(STARTING, GHOST, STOPPING, STOP_RUNNER),
	T(STARTING, RUNNER_EXITED, STOPPING, NONE),

	T(LISTENING, JOB_STARTED, JOB_RUNNING, JOB_STARTED),
	T(LISTENING, STOP, STOPPING, STOP_RUNNER),
	T(LISTENING, IDLE_TIMEOUT, STOPPING, STOP_RUNNER),
	T(LISTENING, GHOST, STOPPING, STOP_RUNNER),
	T(LISTENING, RUNNER_EXITED, STOPPING, NONE),

	/* SIGTERM during a job: drain first when a drain time is set (the driver turns the
	 * event into ACT_STOP_RUNNER when it is 0). */
	T(JOB_RUNNING, STOP, JOB_RUNNING, ARM_DRAIN),
	T(JOB_RUNNING, DRAIN_TIMEOUT, STOPPING, STOP_RUNNER),
	T(JOB_RUNNING, JOB_TIMEOUT, STOPPING, STOP_RUNNER),
	T(JOB_RUNNING, JOB_COMPLETED, STOPPING, AWAIT_EXIT),
	/* No GHOST once a job runs: the job's text shares the runner's output (runner_lines.h),
	 * and a runner GitHub deleted mid-job ends by itself. */
	T(JOB_RUNNING, RUNNER_EXITED, STOPPING, NONE),

	T(STOPPING, STOP, STOPPING, KILL_NOW),
	/* The deregistration before the wipe: the job decides how long the wipe takes (1M files,
	 * a slow disk), and a stop must not run out of the kubelet's grace before GitHub is told. */
	T(STOPPING, TORN_DOWN, DEREGISTERING, NONE),
	T(DEREGISTERING, DEREGISTERED, WIPING, NONE),
	T(WIPING, WIPED, REPORTING, NONE),
	T(REPORTING, REPORTED, DONE, NONE),
};
const unsigned lc_table_len = sizeof(lc_table) / sizeof(lc_table[0]);

const struct lc_transition *lc_next(enum lc_phase phase, enum lc_event event)
{
	for (unsigned i = 0; i < lc_table_len; i++)
		if (lc_table[i].from == phase && lc_table[i].event == event)
			return &lc_table[i];
	return NULL;
}

const char *lc_phase_name(enum lc_phase phase)
{
	static const char *const names[PH_COUNT] = {
		"configured", "registering",   "starting", "listening", "job_running",
		"stopping",   "deregistering", "wiping",   "reporting", "done",
	};
	return phase < PH_COUNT ? names[phase] : "?";
}

const char *lc_event_name(enum lc_event event)
{
	static const char *const names[EV_COUNT] = {
		"begin",         "registered", "register_failed", "listening",    "job_started",
		"job_completed", "stop",       "start_timeout",   "idle_timeout", "job_timeout",
		"drain_timeout", "ghost",      "runner_exited",   "torn_down",    "wiped",
		"deregistered",  "reported",
	};
	return event < EV_COUNT ? names[event] : "?";
}
