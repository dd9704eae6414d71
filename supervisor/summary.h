/* Reading summaries back (issue 17): the JSON summary a pod ends with (report.h: its
 * termination message, and the supervisor.exit log line) as a short paragraph for a person,
 * and many of them as one table for the fleet: `runner-supervisor report [--fleet] [FILE]`,
 * and the last lines of a text log. */
#ifndef RS_SUMMARY_H
#define RS_SUMMARY_H

#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>

#include "err.h"

/* The summary as a few sentences, wrapped at width columns: what ran and its result, what it
 * cost, the exit code and why, the wipe, the deregistration, the isolation. Every string of
 * the summary is shown with its control characters escaped (it may come from anywhere).
 * NULL when summary is not a summary (no "exit" object) or memory runs out. */
char *summary_paragraph(json_t *summary, int width);

/* "17 of 19 layers applied; unavailable: job_memory; disabled: job_root", of an isolation
 * object ({"layer": "state", ...}, in the report's order), layer names escaped. */
void summary_put_isolation(FILE *f, json_t *isolation);

/* The summary in text: a summary object itself, or the supervisor.exit line of a JSON log
 * (`kubectl logs POD`), whose "summary" field holds it (the last one wins). New reference,
 * or NULL. */
json_t *summary_find(const char *text);

/* One row per summary (one per line of in; other lines are counted and skipped), then the
 * totals: jobs and results, exit codes, registrations that may remain, ghosts swept, and the
 * isolation levels seen. Returns the number of summaries read. */
int summary_fleet(FILE *in, FILE *out);

/* `runner-supervisor report [--fleet] [FILE]`: FILE, or standard input when NULL or "-".
 * 0; -1 with err: 66 when FILE cannot be read, 65 when it holds no summary. */
int summary_command(const char *file, bool fleet, FILE *out, struct rs_err *err);

#endif
