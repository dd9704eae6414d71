/* `runner-supervisor exec -- CMD`: the PID-1 duties around one command. */
#ifndef RS_PID1_H
#define RS_PID1_H

#include "config.h"
#include "err.h"

/* Runs cfg->exec_argv as the main child and returns the exit status to exit with: the
 * child's code, or 128+signal. Returns -1 (err filled) only when no child could be
 * started. Must be called with every signal blocked (sig_block_all). */
int pid1_exec(const struct rs_config *cfg, struct rs_err *err);

#endif
