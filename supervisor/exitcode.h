/* How a runner's end maps to the supervisor's exit code (DESIGN.md, "Exit codes"; README,
 * "Exit codes" and "ARC mode"). A pure function of what the lifecycle saw, so that the
 * whole table is unit-tested (tests/unit/test_exitcode.c). */
#ifndef RS_EXITCODE_H
#define RS_EXITCODE_H

#include <stdbool.h>

/* What became of the runner's registration at GitHub. */
enum dereg_outcome {
	DEREG_NONE,        /* nothing was registered */
	DEREG_CONFIRMED,   /* GitHub said it no longer lists the runner */
	DEREG_LEFT_TO_ARC, /* ARC's registration: its controller removes or reuses it */
	DEREG_UNCONFIRMED, /* not confirmed before the bound: the runner may remain listed */
};

const char *dereg_outcome_name(enum dereg_outcome d);

struct run_outcome {
	int listener;     /* the Listener's exit code; -1 when it never ran */
	bool wiped;       /* everything wiped and the installation unchanged */
	bool job_seen;    /* the runner took a job */
	bool job_stopped; /* our stop reached the runner while its job ran */
	bool stop_requested, idle_timeout, start_timeout;
	bool update_line; /* "Runner update in progress" before a job */
	bool fatal_line;  /* "An error occurred: ..." before a job */
	bool ghost;       /* the runner said GitHub no longer knows it */
	int session_conflicts;
	bool arc; /* the JIT configuration came from ARC */
	enum dereg_outcome deregistered;
};

/* The exit code, and the reason for the summary (a static string). */
int exit_code_for(const struct run_outcome *o, const char **reason);

/* ARC's EphemeralRunner controller acts on the pod's exit code alone: 0 deletes the
 * EphemeralRunner (its finalizer removes the registration), 7 marks it Outdated (the scale
 * set stops until its spec changes), anything else re-creates the pod with the same JIT
 * configuration, up to 5 times. This maps a code of ours to the one whose reaction fits. */
int arc_exit_code(int code, bool ghost);

#endif
