#include "report.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "util.h"

/* Names and the reason come from GitHub, a workflow or a proxy's error page: never trusted to
 * be short or UTF-8. Bytes that are not UTF-8 are replaced (jansson refuses the whole string
 * otherwise, and with it the summary), then the text is cut to max bytes on a character
 * boundary. */
static json_t *text(const char *s, size_t max)
{
	if (!s || !*s)
		return json_null();
	char *clean = log_utf8_clean(s);
	if (!clean)
		return json_string("?");
	size_t n = strnlen(clean, max);
	while (n > 0 && ((unsigned char)clean[n] & 0xC0) == 0x80)
		n--;
	json_t *j = json_stringn(clean, n);
	free(clean);
	return j ? j : json_string("?");
}

static json_t *count(long long v)
{
	return v >= 0 ? json_integer(v) : json_null();
}

/* The job: its name and result, and what it cost (cost.h). */
static json_t *job(const struct report *r, size_t name_max)
{
	return json_pack("{s:o,s:o,s:o,s:o,s:o,s:o,s:o,s:o}", "name", text(r->job_name, name_max),
			 "result", text(r->job_result, 32), "cpu_ms", count(r->cpu_ms),
			 "memory_peak_bytes", count(r->memory_peak), "memory_from",
			 r->memory_from ? json_string(r->memory_from) : json_null(),
			 "workdir_bytes", count(r->workdir_bytes), "tasks", count(r->tasks),
			 "oom_kills", count(r->oom_kills));
}

static json_t *build(const struct report *r, size_t name_max)
{
	json_t *phases = json_object();
	for (int p = PH_REGISTERING; p < PH_DONE; p++)
		if (r->phase_ms[p])
			json_object_set_new(phases, lc_phase_name(p),
					    json_integer((json_int_t)r->phase_ms[p]));
	json_t *iso = json_object();
	for (unsigned i = 0; i < r->n_layers; i++)
		json_object_set_new(iso, r->layers[i].name, json_string(r->layers[i].state));
	json_t *swept = json_array();
	for (unsigned i = 0; i < r->n_swept && i < ARRAY_SIZE(r->swept); i++)
		json_array_append_new(swept, json_integer(r->swept[i]));
	return json_pack(
	    "{s:{s:o,s:o},s:o,s:{s:i,s:o,s:o},s:o,s:{s:i},s:{s:I,s:I,s:I,s:I},"
	    "s:{s:i,s:s,s:o},s:o,s:{s:I,s:I}}",
	    "runner", "name", text(r->runner_name, name_max), "id",
	    r->runner_id ? json_integer(r->runner_id) : json_null(), "job", job(r, name_max),
	    "exit", "code", r->exit_code, "reason",
	    r->reason && *r->reason ? text(r->reason, 2 * name_max) : json_string(""),
	    "listener_code", r->listener_code >= 0 ? json_integer(r->listener_code) : json_null(),
	    "phases_ms", phases, "teardown", "killed", r->killed, "wipe", "files",
	    (json_int_t)r->wipe_files, "dirs", (json_int_t)r->wipe_dirs, "bytes",
	    (json_int_t)r->wipe_bytes, "left", (json_int_t)r->wipe_left, "github", "calls",
	    r->github_calls, "deregistered", r->deregistered ? r->deregistered : "none", "swept",
	    swept, "isolation", iso, "output", "lines", (json_int_t)r->output_lines, "dropped",
	    (json_int_t)r->output_dropped);
}

char *report_json(const struct report *r)
{
	/* Shorten the free-text fields (names, and the reason at twice their length) until the
	 * summary fits Kubernetes' limit. */
	for (size_t name_max = 256;; name_max /= 2) {
		json_t *j = build(r, name_max);
		char *s = j ? json_dumps(j, JSON_COMPACT) : NULL;
		json_decref(j);
		if (!s || strlen(s) <= REPORT_MAX || name_max < 8)
			return s;
		free(s);
	}
}

int report_write(const char *json, const char *path)
{
	if (!path)
		return 0;
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		return -1;
	size_t len = strlen(json);
	ssize_t n = write(fd, json, len);
	int saved = errno;
	close(fd);
	errno = saved;
	return n == (ssize_t)len ? 0 : -1;
}
