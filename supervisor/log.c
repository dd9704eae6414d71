/* Structured logging with a redaction guard.
 *
 * Every line is built in memory, passed through the redactor, and written with one write(2)
 * so that lines from the supervisor never interleave with each other. JSON is produced by
 * jansson; strings that are not valid UTF-8 (a file name, a line a job printed) are cleaned
 * first, because jansson refuses them and a lost log line is worse than a replaced byte. */
#include "log.h"

#include <errno.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "util.h"

#define REDACTED "***"

static enum log_format log_format = LOG_FORMAT_JSON;
static enum log_level log_min_level = LOG_INFO;
static int log_fd = STDERR_FILENO;

/* Secrets are kept with their JSON-escaped form too: a PEM key holds newlines, which the
 * JSON line carries as "\n", so redacting only the raw form would miss it. */
struct secret {
	char *raw;
	char *escaped;
};
static struct secret *secrets;
static size_t n_secrets;

static const char *const level_names[] = { "debug", "info", "warn", "error" };

void log_set_format(enum log_format format)
{
	log_format = format;
}

enum log_format log_get_format(void)
{
	return log_format;
}

void log_set_min_level(enum log_level level)
{
	log_min_level = level;
}

void log_set_fd(int fd)
{
	log_fd = fd;
}

char *log_utf8_clean(const char *s)
{
	size_t len = strlen(s);
	char *out = malloc(len * 3 + 1);
	if (!out)
		return NULL;
	const unsigned char *p = (const unsigned char *)s;
	char *o = out;
	while (*p) {
		int n = 0;
		unsigned int cp = 0;
		if (*p < 0x80) {
			*o++ = (char)*p++;
			continue;
		} else if ((*p & 0xE0) == 0xC0) {
			n = 1;
			cp = *p & 0x1F;
		} else if ((*p & 0xF0) == 0xE0) {
			n = 2;
			cp = *p & 0x0F;
		} else if ((*p & 0xF8) == 0xF0) {
			n = 3;
			cp = *p & 0x07;
		}
		int ok = n > 0;
		for (int i = 1; ok && i <= n; i++) {
			if ((p[i] & 0xC0) != 0x80)
				ok = 0;
			else
				cp = (cp << 6) | (p[i] & 0x3F);
		}
		/* Overlong forms, surrogates and values past U+10FFFF are invalid too. */
		static const unsigned int min_cp[] = { 0, 0x80, 0x800, 0x10000 };
		if (ok && (cp < min_cp[n] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)))
			ok = 0;
		if (ok) {
			memcpy(o, p, (size_t)n + 1);
			o += n + 1;
			p += n + 1;
		} else {
			memcpy(o, "\xEF\xBF\xBD", 3);
			o += 3;
			p++;
		}
	}
	*o = '\0';
	return out;
}

static json_t *json_text(const char *s)
{
	if (!s)
		return json_string("");
	json_t *j = json_string(s);
	if (j)
		return j;
	char *clean = log_utf8_clean(s);
	j = json_string(clean ? clean : "");
	free(clean);
	return j;
}

/* The JSON string body of s (what appears between the quotes in a JSON line). */
static char *json_escaped_body(const char *s)
{
	json_t *j = json_text(s);
	if (!j)
		return NULL;
	char *dump = json_dumps(j, JSON_ENCODE_ANY | JSON_COMPACT);
	json_decref(j);
	if (!dump)
		return NULL;
	size_t len = strlen(dump);
	if (len >= 2) {
		memmove(dump, dump + 1, len - 2);
		dump[len - 2] = '\0';
	}
	return dump;
}

int log_add_secret(const char *secret)
{
	if (!secret || !*secret)
		return 0;
	for (size_t i = 0; i < n_secrets; i++)
		if (strcmp(secrets[i].raw, secret) == 0)
			return 0;
	struct secret *grown = realloc(secrets, (n_secrets + 1) * sizeof(*secrets));
	if (!grown)
		return -1;
	secrets = grown;
	char *raw = strdup(secret);
	char *escaped = json_escaped_body(secret);
	if (!raw || !escaped) {
		free(raw);
		free(escaped);
		return -1;
	}
	secrets[n_secrets++] = (struct secret){ .raw = raw, .escaped = escaped };
	return 0;
}

void log_forget_secrets(void)
{
	for (size_t i = 0; i < n_secrets; i++) {
		explicit_bzero(secrets[i].raw, strlen(secrets[i].raw));
		free(secrets[i].raw);
		free(secrets[i].escaped);
	}
	free(secrets);
	secrets = NULL;
	n_secrets = 0;
}

/* Replaces every occurrence of needle in *s by REDACTED; *s may be reallocated. */
static int redact_one(char **s, const char *needle)
{
	size_t nlen = strlen(needle);
	if (nlen == 0 || !strstr(*s, needle))
		return 0;
	size_t count = 0;
	for (const char *p = strstr(*s, needle); p; p = strstr(p + nlen, needle))
		count++;
	size_t len = strlen(*s);
	size_t rlen = strlen(REDACTED);
	size_t out_len = len - count * nlen + count * rlen;
	char *out = malloc(out_len + 1);
	if (!out)
		return -1;
	char *o = out;
	const char *src = *s;
	for (const char *p = strstr(src, needle); p; p = strstr(src, needle)) {
		memcpy(o, src, (size_t)(p - src));
		o += p - src;
		memcpy(o, REDACTED, rlen);
		o += rlen;
		src = p + nlen;
	}
	memcpy(o, src, strlen(src) + 1);
	free(*s);
	*s = out;
	return 0;
}

/* Redacts in place; on allocation failure the whole line is replaced, never let through. */
static char *redact_owned(char *s)
{
	for (size_t i = 0; s && i < n_secrets; i++) {
		if (redact_one(&s, secrets[i].raw) < 0 || redact_one(&s, secrets[i].escaped) < 0) {
			free(s);
			return strdup(REDACTED);
		}
	}
	return s;
}

char *log_redact(const char *s)
{
	char *copy = strdup(s ? s : "");
	return copy ? redact_owned(copy) : NULL;
}

static void format_ts(char *buf, size_t size)
{
	struct timespec ts;
	struct tm tm;
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	size_t n = strftime(buf, size, "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(buf + n, size - n, ".%03ldZ", ts.tv_nsec / 1000000);
}

static json_t *field_to_json(const struct log_field *f)
{
	switch (f->type) {
	case LOG_FIELD_STR:
		return f->str ? json_text(f->str) : json_null();
	case LOG_FIELD_INT:
		return json_integer(f->num);
	case LOG_FIELD_BOOL:
		return json_boolean(f->num);
	case LOG_FIELD_RAW_JSON: {
		json_t *j = f->str ? json_loads(f->str, JSON_DECODE_ANY, NULL) : NULL;
		return j ? j : json_text(f->str);
	}
	}
	return json_null();
}

static char *format_json(enum log_level level, const char *event, const struct log_field *fields,
			 const char *msg)
{
	char ts[40];
	format_ts(ts, sizeof(ts));
	json_t *obj = json_object();
	if (!obj)
		return NULL;
	json_object_set_new(obj, "ts", json_string(ts));
	json_object_set_new(obj, "level", json_string(level_names[level]));
	json_object_set_new(obj, "event", json_text(event));
	json_object_set_new(obj, "msg", json_text(msg));
	for (const struct log_field *f = fields; f && f->key; f++)
		json_object_set_new(obj, f->key, field_to_json(f));
	char *line = json_dumps(obj, JSON_COMPACT);
	json_decref(obj);
	return line;
}

static int append(char **buf, size_t *len, size_t *cap, const char *s)
{
	size_t n = strlen(s);
	if (*len + n + 1 > *cap) {
		size_t ncap = (*cap + n + 1) * 2;
		char *grown = realloc(*buf, ncap);
		if (!grown)
			return -1;
		*buf = grown;
		*cap = ncap;
	}
	memcpy(*buf + *len, s, n + 1);
	*len += n;
	return 0;
}

/* A value as key=value shows it: quoted (with " and \\ escaped) when it is empty or holds a
 * blank or a quote, so that "with=JIT configuration" cannot read as two fields. Redacted
 * before it is quoted: the quoted form of a secret is not the form registered. */
static int append_value(char **buf, size_t *len, size_t *cap, const char *value)
{
	char *v = log_redact(value);
	if (!v)
		return -1;
	if (*v && !strpbrk(v, " \t\"")) {
		int rc = append(buf, len, cap, v);
		free(v);
		return rc;
	}
	char *q = malloc(strlen(v) * 2 + 3), *o = q;
	if (!q) {
		free(v);
		return -1;
	}
	*o++ = '"';
	for (const char *p = v; *p; p++) {
		if (*p == '"' || *p == '\\')
			*o++ = '\\';
		*o++ = *p;
	}
	*o++ = '"';
	*o = '\0';
	free(v);
	int rc = append(buf, len, cap, q);
	free(q);
	return rc;
}

static log_text_renderer text_renderer;

void log_set_text_renderer(log_text_renderer renderer)
{
	text_renderer = renderer;
}

static char *format_text(enum log_level level, const char *event, const struct log_field *fields,
			 const char *msg, bool with_fields)
{
	char ts[40], head[160];
	format_ts(ts, sizeof(ts));
	snprintf(head, sizeof(head), "%s %-5s %s: ", ts, level_names[level], event);
	char *buf = NULL;
	size_t len = 0, cap = 0;
	int rc = append(&buf, &len, &cap, head);
	rc |= append(&buf, &len, &cap, msg ? msg : "");
	for (const struct log_field *f = fields; with_fields && rc == 0 && f && f->key; f++) {
		char num[32];
		rc |= append(&buf, &len, &cap, " ");
		rc |= append(&buf, &len, &cap, f->key);
		rc |= append(&buf, &len, &cap, "=");
		if (f->type == LOG_FIELD_INT) {
			snprintf(num, sizeof(num), "%lld", f->num);
			rc |= append(&buf, &len, &cap, num);
		} else if (f->type == LOG_FIELD_BOOL) {
			rc |= append(&buf, &len, &cap, f->num ? "true" : "false");
		} else if (f->type == LOG_FIELD_RAW_JSON || !f->str) {
			rc |= append(&buf, &len, &cap, f->str ? f->str : "null");
		} else {
			rc |= append_value(&buf, &len, &cap, f->str);
		}
	}
	if (rc) {
		free(buf);
		return NULL;
	}
	return buf;
}

/* One event, one line, and nothing a terminal would act on: a message with newlines would
 * forge extra lines, and escape sequences, carriage returns and backspaces (a job's output)
 * would rewrite what a person sees in `kubectl logs`. Control characters become \xNN. Done
 * after the redaction, which must see a multi-line secret (a PEM key) as it was registered. */
static char *escape_controls(char *line)
{
	size_t extra = 0;
	for (const unsigned char *p = (const unsigned char *)line; *p; p++)
		extra += (*p < 0x20 && *p != '\t') || *p == 0x7f ? 3 : 0;
	if (!extra)
		return line;
	char *out = malloc(strlen(line) + extra + 1);
	if (!out) {
		free(line);
		return NULL;
	}
	char *o = out;
	for (const unsigned char *p = (const unsigned char *)line; *p; p++) {
		if ((*p < 0x20 && *p != '\t') || *p == 0x7f)
			o += sprintf(o, "\\x%02x", *p);
		else
			*o++ = (char)*p;
	}
	*o = '\0';
	free(line);
	return out;
}

/* The block below a text line: each of its lines redacted, escaped and indented, so that no
 * line of it can pass for an event of its own. Appended to *line after a newline. */
static char *append_block(char *line, const char *block)
{
	char *clean = block ? log_redact(block) : NULL;
	if (!clean)
		return line;
	size_t len = strlen(line), cap = len + 1;
	int rc = 0;
	for (char *save = NULL, *l = strtok_r(clean, "\n", &save); rc == 0 && l;
	     l = strtok_r(NULL, "\n", &save)) {
		char *copy = strdup(l);
		char *esc = copy ? escape_controls(copy) : NULL;
		rc |= !esc || append(&line, &len, &cap, "\n  ") || append(&line, &len, &cap, esc);
		free(esc);
	}
	free(clean);
	if (rc) {
		free(line);
		return NULL;
	}
	return line;
}

char *log_format_line(enum log_level level, const char *event, const struct log_field *fields,
		      const char *msg)
{
	if (log_format == LOG_FORMAT_JSON) {
		char *line = format_json(level, event, fields, msg);
		return line ? redact_owned(line) : NULL;
	}
	struct log_text_view view = { 0 };
	if (text_renderer)
		text_renderer(event, fields, &view);
	char *line = format_text(level, event, fields, msg, !view.hide_fields);
	line = line ? redact_owned(line) : NULL;
	line = line ? escape_controls(line) : NULL;
	if (line && view.block)
		line = append_block(line, view.block);
	free(view.block);
	return line;
}

static void write_all(int fd, const char *buf, size_t len)
{
	while (len > 0) {
		ssize_t n = write(fd, buf, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return; /* stderr gone: nothing sensible left to do with a log line */
		buf += n;
		len -= (size_t)n;
	}
}

void log_event(enum log_level level, const char *event, const struct log_field *fields,
	       const char *fmt, ...)
{
	if (level < log_min_level)
		return;
	char small[1024], *big = NULL, *msg = small;
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(small, sizeof(small), fmt, ap);
	va_end(ap);
	if (n < 0) {
		small[0] = '\0';
	} else if ((size_t)n >= sizeof(small)) {
		/* A long message (a runner's line of up to 64 KiB) is logged whole. */
		va_start(ap, fmt);
		if (vasprintf(&big, fmt, ap) >= 0)
			msg = big;
		else
			big = NULL;
		va_end(ap);
	}
	char *line = log_format_line(level, event, fields, msg);
	free(big);
	if (!line) {
		static const char oom[] = "{\"level\":\"error\",\"event\":\"log.lost\"}\n";
		write_all(log_fd, oom, sizeof(oom) - 1);
		return;
	}
	size_t len = strlen(line);
	line[len] = '\n'; /* the terminator becomes the newline: one write, one line */
	write_all(log_fd, line, len + 1);
	free(line);
}
