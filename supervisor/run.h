/* `runner-supervisor run`: register, run the runner, confirm deregistration. */
#ifndef RS_RUN_H
#define RS_RUN_H

#include "config.h"
#include "err.h"

/* Takes ACTIONS_RUNNER_INPUT_JITCONFIG out of the environment (so that nothing we start
 * inherits it), registers it as a secret, and returns a copy, or NULL when unset. */
char *run_take_arc_blob(void);

/* The whole run; returns the exit status (DESIGN.md, "Exit codes"). */
int run_lifecycle(const struct rs_config *cfg, char *arc_blob, struct rs_err *err);

/* `check --online`: prints what it proved on stdout. */
int run_check_online(const struct rs_config *cfg, struct rs_err *err);

#endif
