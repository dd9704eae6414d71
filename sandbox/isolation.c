/* The isolation report: one sandbox.report event at start, a table for `check`, and the
 * supervisor's own protection (it holds the credentials). */
#include "sandbox.h"

#include <errno.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>

#include "log.h"

int sbx_protect_self(struct sbx_report *r)
{
	/* No ptrace, /proc/PID/mem, environ or fd access by anything without CAP_SYS_PTRACE
	 * over us, whatever its uid; no core dump with the credentials in it. */
	int rc = prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
	r->layer[SBX_L_DUMPABLE].state = rc == 0 ? SBX_APPLIED : SBX_UNAVAILABLE;
	snprintf(r->layer[SBX_L_DUMPABLE].detail, sizeof(r->layer[SBX_L_DUMPABLE].detail), "%s",
		 rc == 0 ? "no ptrace, /proc/PID/mem or environ access to the supervisor"
			 : strerror(errno));
	return rc;
}

void sbx_report_log(const struct sbx_report *r)
{
	json_t *layers = json_object();
	struct log_field f[SBX_L_COUNT + 3];
	size_t n = 0, applied = 0;
	for (int l = 0; l < SBX_L_COUNT; l++) {
		const struct sbx_layer_report *x = &r->layer[l];
		json_object_set_new(
		    layers, sbx_layer_name((enum sbx_layer)l),
		    json_pack("{s:s,s:s}", "state", sbx_state_name(x->state), "detail", x->detail));
		f[n++] = LOG_STR(sbx_layer_name((enum sbx_layer)l), sbx_state_name(x->state));
		applied += x->state == SBX_APPLIED;
	}
	char *json = json_dumps(layers, JSON_COMPACT);
	json_decref(layers);
	f[n++] = LOG_JSON("layers", json);
	f[n++] = LOG_INT("took_us", r->took_us);
	f[n] = (struct log_field){ .key = NULL };
	log_event(LOG_INFO, "sandbox.report", f, "isolation: %zu of %d layers applied", applied,
		  SBX_L_COUNT);
	free(json);
}

void sbx_report_print(const struct sbx_report *r, FILE *out)
{
	fprintf(out, "%-22s %-12s %s\n", "LAYER", "STATE", "DETAIL");
	for (int l = 0; l < SBX_L_COUNT; l++)
		fprintf(out, "%-22s %-12s %s\n", sbx_layer_name((enum sbx_layer)l),
			sbx_state_name(r->layer[l].state), r->layer[l].detail);
	fflush(out);
}
