/* The final summary (DESIGN.md, "Reporting"): JSON, at most 4096 bytes (Kubernetes'
 * termination-message limit), written to SUPERVISOR_TERMINATION_LOG and logged last. */
#ifndef RS_REPORT_H
#define RS_REPORT_H

#include <stdbool.h>
#include <stdint.h>

#include "lifecycle.h"

#define REPORT_MAX 4096

struct report_layer {
	const char *name;
	const char *state; /* "applied", "unavailable", "disabled" */
};

struct report {
	char runner_name[65];
	long long runner_id;
	char job_name[256];
	char job_result[32];
	/* What the job cost (cost.h); -1: unknown. */
	long long oom_kills;     /* in the job's own cgroup; -1: no such cgroup */
	long long memory_peak;   /* bytes: the job cgroup's peak, or its largest process's */
	const char *memory_from; /* "cgroup", "rusage"; NULL: not measured */
	long long cpu_ms, workdir_bytes, tasks;
	int exit_code;
	const char *reason;
	int listener_code; /* -1 when the runner never ran */
	uint64_t phase_ms[PH_COUNT];
	int killed;
	long long wipe_files, wipe_dirs, wipe_bytes, wipe_left;
	int github_calls;
	long long output_lines, output_dropped; /* the runner's lines, and those not logged */
	const char
	    *deregistered;   /* "confirmed", "unconfirmed" (may remain), "left to ARC", "none" */
	long long swept[20]; /* ghosts of the fleet this pod deleted (sweep.h) */
	unsigned n_swept;
	struct report_layer layers[24];
	unsigned n_layers;
};

/* The summary as compact JSON, never longer than REPORT_MAX (long names are shortened). */
char *report_json(const struct report *r);

/* Writes json to path (when not NULL); returns -1 with errno on failure. */
int report_write(const char *json, const char *path);

#endif
