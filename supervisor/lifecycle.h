/* The runner's life in one pod as a table: phases, events, and what each transition does.
 * The driver (run.c) feeds events in; this file decides. A test walks the table. */
#ifndef RS_LIFECYCLE_H
#define RS_LIFECYCLE_H

enum lc_phase {
	PH_CONFIGURED,
	PH_REGISTERING,
	PH_STARTING, /* the runner is starting: not yet "Listening for Jobs" */
	PH_LISTENING,
	PH_JOB_RUNNING,
	PH_STOPPING,      /* the runner was asked to stop, or exited: tearing down */
	PH_DEREGISTERING, /* first: on a stop, the kubelet's grace may not outlast a long wipe */
	PH_WIPING,
	PH_REPORTING,
	PH_DONE,
	PH_COUNT
};

enum lc_event {
	EV_BEGIN,
	EV_REGISTERED,
	EV_REGISTER_FAILED, /* also a stop during registration */
	EV_LISTENING,
	EV_JOB_STARTED,
	EV_JOB_COMPLETED,
	EV_STOP,          /* SIGTERM/SIGINT to the supervisor */
	EV_START_TIMEOUT, /* no "Listening for Jobs" in time */
	EV_IDLE_TIMEOUT,
	EV_JOB_TIMEOUT,
	EV_DRAIN_TIMEOUT,
	EV_GHOST, /* the runner says GitHub no longer knows it */
	EV_RUNNER_EXITED,
	EV_TORN_DOWN, /* no process of the runner left */
	EV_WIPED,
	EV_DEREGISTERED,
	EV_REPORTED,
	EV_COUNT
};

enum lc_action {
	ACT_NONE,
	ACT_ARM_START_TIMER, /* the runner has until the registration deadline to listen */
	ACT_ARM_IDLE_TIMER,
	ACT_JOB_STARTED, /* idle timer off, job timer on */
	ACT_ARM_DRAIN,   /* SIGTERM during a job with a drain timeout: let it finish */
	ACT_STOP_RUNNER, /* SIGINT to the runner, SIGKILL of everything after the grace */
	ACT_KILL_NOW,    /* a second stop signal: no more waiting */
	ACT_AWAIT_EXIT,  /* the job is over: the runner exits by itself, within the grace */
};

struct lc_transition {
	enum lc_phase from;
	enum lc_event event;
	enum lc_phase to;
	enum lc_action action;
};

/* The transition for (phase, event), or NULL when the event means nothing in that phase
 * (then the phase stays). */
const struct lc_transition *lc_next(enum lc_phase phase, enum lc_event event);

const char *lc_phase_name(enum lc_phase phase);
const char *lc_event_name(enum lc_event event);

/* The table, for the tests. */
extern const struct lc_transition lc_table[];
extern const unsigned lc_table_len;

#endif
