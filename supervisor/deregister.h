/* Making sure GitHub no longer lists the pod's runner (README, "Registration, deregistration
 * and GitHub's limits"): within a short bound once a SIGTERM has started the kubelet's grace,
 * within a patient one otherwise, so that a rate limit or a runner left busy by its job does
 * not leave a registration behind. */
#ifndef RS_DEREGISTER_H
#define RS_DEREGISTER_H

#include <stdbool.h>

#include "config.h"
#include "exitcode.h"
#include "github.h"

struct dereg_target {
	long long runner_id; /* 0 when only the name is known (a registration's lost answer) */
	const char *name;
	bool likely_gone; /* its job completed: GitHub removes an ephemeral runner itself */
	bool arc;         /* ARC's registration: its controller removes or reuses it */
};

/* hurry: becomes true on SIGTERM; the bound is then SUPERVISOR_DEREGISTER_DEADLINE from
 * that moment. gh may be NULL (no credentials: ARC's). Logs runner.deregistered, and
 * runner.ghost_left when the runner may remain. */
enum dereg_outcome deregister_runner(struct github *gh, const struct rs_config *cfg,
				     const struct dereg_target *t, const volatile bool *hurry);

#endif
