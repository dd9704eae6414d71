/* Structured log events on stderr: one JSON object (or one text line) per event.
 *
 *   log_event(LOG_INFO, "child.started", LOG_FIELDS(LOG_INT("pid", pid)), "started %s", argv0);
 *
 * Event names are stable (tests and dashboards match on them); messages are for people.
 * Every value registered with log_add_secret() is replaced by "***" in every line, whatever
 * the code path, before the line is written. */
#ifndef RS_LOG_H
#define RS_LOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum log_level { LOG_DEBUG, LOG_INFO, LOG_WARN, LOG_ERROR };
enum log_format { LOG_FORMAT_JSON, LOG_FORMAT_TEXT };

enum log_field_type { LOG_FIELD_STR, LOG_FIELD_INT, LOG_FIELD_BOOL, LOG_FIELD_RAW_JSON };

struct log_field {
	const char *key; /* NULL ends a field list */
	enum log_field_type type;
	const char *str;
	long long num;
};

#define LOG_STR(k, v) ((struct log_field){ .key = (k), .type = LOG_FIELD_STR, .str = (v) })
#define LOG_INT(k, v)                                                                              \
	((struct log_field){ .key = (k), .type = LOG_FIELD_INT, .num = (long long)(v) })
#define LOG_MS(k, v)   LOG_INT(k, v)
#define LOG_BOOL(k, v) ((struct log_field){ .key = (k), .type = LOG_FIELD_BOOL, .num = !!(v) })
/* A value that is already a JSON document (the final summary); printed as is in text mode. */
#define LOG_JSON(k, v)  ((struct log_field){ .key = (k), .type = LOG_FIELD_RAW_JSON, .str = (v) })
#define LOG_FIELDS(...) ((const struct log_field[]){ __VA_ARGS__, { .key = NULL } })

void log_set_format(enum log_format format);
enum log_format log_get_format(void);
void log_set_min_level(enum log_level level);
/* Where lines go; stderr (2) by default. For tests. */
void log_set_fd(int fd);

/* Registers a secret: from now on it is replaced by "***" in every line. Copies the value.
 * Returns -1 (and registers nothing) only when memory runs out. */
int log_add_secret(const char *secret);
void log_forget_secrets(void);

void log_event(enum log_level level, const char *event, const struct log_field *fields,
	       const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/* Formats one line (without writing it), with every secret redacted; the caller frees it.
 * log_event() is this plus one write(2). Exposed for tests. */
char *log_format_line(enum log_level level, const char *event, const struct log_field *fields,
		      const char *msg);

/* Returns a copy of s with every registered secret replaced by "***". */
char *log_redact(const char *s);

/* Returns a copy of s with every invalid UTF-8 sequence replaced by U+FFFD (jansson refuses
 * strings that are not UTF-8); NULL when out of memory. */
char *log_utf8_clean(const char *s);

/* The text format is for a person: an event may read better as more than its line (the
 * isolation report as a table, the summary as a paragraph), or without its key=value fields
 * (a line the runner printed, shown as it was). A renderer, set once by the program
 * (textlog.c), says so per event; log.c itself knows no event. JSON lines never change. */
struct log_text_view {
	bool hide_fields; /* the line shows the message only */
	char *block;      /* malloc'd lines printed below the event's line, indented; NULL: none */
};
typedef void (*log_text_renderer)(const char *event, const struct log_field *fields,
				  struct log_text_view *view);
void log_set_text_renderer(log_text_renderer renderer);

#endif
