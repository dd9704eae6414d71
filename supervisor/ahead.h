/* The runner's sandbox made while the runner registers.
 *
 * The sandbox's set-up (namespaces, mounts, the job root's overlays: milliseconds) does not
 * depend on the registration, but used to run after it, on the path from "registered" to
 * "listening". Here it starts as soon as the plan allows (the job root's skeleton staged):
 * sbx_prepare clones the sandbox, whose init then waits for the runner's command, which
 * pid1_run sends once the registration is done. Not in token mode, where `configure` runs
 * as a child of its own (pid1_run) while the supervisor registers. */
#ifndef RS_AHEAD_H
#define RS_AHEAD_H

#include <stdbool.h>
#include <uv.h>

#include "spawn.h"

struct sbx_plan;

struct sandbox_ahead {
	struct sbx_child child; /* prepared, or SBX_CHILD_NONE */
	uv_poll_t ready;        /* the staging's eventfd, while waiting for it */
	bool waiting;
	const struct sbx_plan *plan;
};

/* Starts making plan's sandbox on loop: now, or once the plan is ready. Nothing when the plan
 * has no init to wait for the command (then sbx_spawn makes it as before). */
void ahead_start(struct sandbox_ahead *a, uv_loop_t *loop, const struct sbx_plan *plan);

/* The registration is over: no more waiting for the plan. */
void ahead_stop(struct sandbox_ahead *a);

/* The prepared child for pid1_opts.prepared, or NULL. */
struct sbx_child *ahead_child(struct sandbox_ahead *a);

/* Not used after all (or left after the runner's phase): killed and reaped. */
void ahead_abandon(struct sandbox_ahead *a);

#endif
