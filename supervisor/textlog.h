/* Text logs for a person (SUPERVISOR_LOG_FORMAT=text, issue 17): one line per event, with
 * four events shown as a person reads them best (log.h, log_set_text_renderer):
 *   runner.output    the runner's line as it printed it, nothing added
 *   job.completed    its message only: the result and the cost in words
 *   sandbox.report   the isolation report as the table `check` prints (sbx_report_print)
 *   supervisor.exit  the summary as a short paragraph (summary.h), not as JSON
 * JSON lines are never changed: they keep every field. */
#ifndef RS_TEXTLOG_H
#define RS_TEXTLOG_H

#include "log.h"

void textlog_render(const char *event, const struct log_field *fields, struct log_text_view *view);

/* log_set_text_renderer(textlog_render). */
void textlog_install(void);

#endif
