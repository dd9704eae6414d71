#include "textlog.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sandbox.h"
#include "summary.h"

/* Where the paragraph wraps: a terminal's width less the indent of a block. */
#define PARAGRAPH_WIDTH 96

static const char *field_str(const struct log_field *fields, const char *key)
{
	for (const struct log_field *f = fields; f && f->key; f++)
		if (strcmp(f->key, key) == 0 &&
		    (f->type == LOG_FIELD_STR || f->type == LOG_FIELD_RAW_JSON))
			return f->str;
	return NULL;
}

/* sandbox.report carries each layer's state and detail as JSON (sandbox/isolation.c): read
 * back into the report, it prints as `check` prints it. */
static char *isolation_table(const char *layers_json)
{
	json_t *layers = layers_json ? json_loads(layers_json, 0, NULL) : NULL;
	if (!json_is_object(layers)) {
		json_decref(layers);
		return NULL;
	}
	struct sbx_report r = { 0 };
	for (int l = 0; l < SBX_L_COUNT; l++) {
		json_t *x = json_object_get(layers, sbx_layer_name((enum sbx_layer)l));
		const char *state = json_string_value(json_object_get(x, "state"));
		const char *detail = json_string_value(json_object_get(x, "detail"));
		for (int s = SBX_UNAVAILABLE; state && s <= SBX_DISABLED; s++)
			if (strcmp(state, sbx_state_name((enum sbx_state)s)) == 0)
				r.layer[l].state = (enum sbx_state)s;
		snprintf(r.layer[l].detail, sizeof(r.layer[l].detail), "%s", detail ? detail : "");
	}
	json_decref(layers);
	char *table = NULL;
	size_t size = 0;
	FILE *f = open_memstream(&table, &size);
	if (!f)
		return NULL;
	sbx_report_print(&r, f);
	if (fclose(f) != 0) {
		free(table);
		return NULL;
	}
	return table;
}

static char *paragraph(const char *summary_json)
{
	json_t *s = summary_json ? json_loads(summary_json, 0, NULL) : NULL;
	char *p = s ? summary_paragraph(s, PARAGRAPH_WIDTH) : NULL;
	json_decref(s);
	return p;
}

void textlog_render(const char *event, const struct log_field *fields, struct log_text_view *view)
{
	if (strcmp(event, "runner.output") == 0 || strcmp(event, "job.completed") == 0) {
		/* The line as the runner printed it; the job's result and cost, said in words. */
		view->hide_fields = true;
	} else if (strcmp(event, "sandbox.report") == 0) {
		view->block = isolation_table(field_str(fields, "layers"));
		view->hide_fields = view->block != NULL;
	} else if (strcmp(event, "supervisor.exit") == 0) {
		view->block = paragraph(field_str(fields, "summary"));
		view->hide_fields = view->block != NULL;
	}
}

void textlog_install(void)
{
	log_set_text_renderer(textlog_render);
}
