/* The sandbox policy as the configuration asks for it: what `run`, `exec` and `check` hand
 * to sandbox/ (sandbox.h). */
#ifndef RS_ISOLATE_H
#define RS_ISOLATE_H

#include "config.h"
#include "err.h"
#include "sandbox.h"

/* Probes, decides and logs the isolation report (sandbox.report). For `run` the runner
 * installation is made read-only and hostname names the sandbox; for `exec` the command's
 * workdir is kept. Returns NULL with err (71 under strict) when the sandbox cannot be had. */
struct sbx_plan *isolate_prepare(const struct rs_config *cfg, const char *hostname,
				 struct sbx_report *report, struct rs_err *err);

/* Frees the plan; after `check`, also removes what trying the container engine made. */
void isolate_release(const struct rs_config *cfg, struct sbx_plan *plan);

#endif
