/* The termination summary: report_json() with the strings that come from outside. The runner
 * name (RUNNER_NAME, the pod name, or AgentName from a JIT blob), the job's name and result
 * (the runner's output lines, i.e. the workflow's text), and the exit reason (an error
 * message that may quote GitHub's answer or a proxy's body), each cut into its field as
 * run.c cuts it. Kubernetes keeps at most 4096 bytes of a termination message, so the
 * summary must always be written and always fit, whatever those strings hold.
 *
 * Input: runner name, job name, job result and reason, separated by NUL bytes; the numbers
 * (ids, counts, phase times, layer states) come from a hash of the input. */
#include <jansson.h>

#include "err.h"
#include "fuzz.h"
#include "log.h"
#include "report.h"

/* Every layer the sandbox reports (sandbox/plan.c, sbx_layer_name; not linked here: it pulls in
 * the whole sandbox), so that the summary is as long as a real one. */
static const char *const layer_names[] = {
	"user_namespace",
	"pid_namespace",
	"mount_namespace",
	"ipc_namespace",
	"uts_namespace",
	"cgroup_namespace",
	"proc",
	"tmp",
	"readonly_install",
	"hidden_paths",
	"separate_uid",
	"no_new_privs",
	"capabilities",
	"seccomp",
	"landlock",
	"rlimits",
	"supervisor_undumpable",
	"job_memory",
	"job_root",
};
static const char *const states[] = { "applied", "unavailable", "disabled" };
static const char *const deregistered[] = { "confirmed", "unconfirmed", "left to ARC", "none" };

/* The next NUL-terminated part of the input, or "" past its end. */
static const char *part(const uint8_t **p, const uint8_t *end, char *buf, size_t size)
{
	size_t n = 0;
	while (*p < end && **p != 0 && n + 1 < size)
		buf[n++] = (char)*(*p)++;
	while (*p < end && **p != 0)
		(*p)++; /* longer than any field: the rest is cut, as snprintf cuts it */
	if (*p < end)
		(*p)++;
	buf[n] = '\0';
	return buf;
}

static uint64_t next(uint64_t *h)
{
	*h = *h * 6364136223846793005ULL + 1442695040888963407ULL;
	return *h >> 17;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *p = data, *end = data + size;
	static char buf[8192];
	struct report r = { 0 };
	struct rs_err err = { 0 };
	snprintf(r.runner_name, sizeof(r.runner_name), "%s", part(&p, end, buf, sizeof(buf)));
	snprintf(r.job_name, sizeof(r.job_name), "%s", part(&p, end, buf, sizeof(buf)));
	snprintf(r.job_result, sizeof(r.job_result), "%s", part(&p, end, buf, sizeof(buf)));
	/* The reason is an error message (struct rs_err) or a fixed text. */
	snprintf(err.msg, sizeof(err.msg), "%s", part(&p, end, buf, sizeof(buf)));
	r.reason = err.msg;

	uint64_t h = fuzz_hash(data, size);
	r.runner_id = (long long)(next(&h) >> (next(&h) % 48));
	r.oom_kills = (long long)(next(&h) % 3) - 1;
	r.memory_peak = (long long)next(&h) - 1;
	r.exit_code = (int)(next(&h) % 256);
	r.listener_code = (int)(next(&h) % 260) - 1;
	for (int ph = 0; ph < PH_COUNT; ph++)
		r.phase_ms[ph] = next(&h) >> (next(&h) % 48);
	r.killed = (int)(next(&h) % 100000);
	r.wipe_files = (long long)next(&h);
	r.wipe_dirs = (long long)next(&h);
	r.wipe_bytes = (long long)next(&h);
	r.wipe_left = (long long)(next(&h) % 1000);
	r.github_calls = (int)(next(&h) % 10000);
	r.output_lines = (long long)next(&h);
	r.output_dropped = (long long)next(&h);
	r.deregistered = deregistered[next(&h) % 4];
	r.n_layers = sizeof(layer_names) / sizeof(*layer_names);
	for (unsigned i = 0; i < r.n_layers; i++)
		r.layers[i] = (struct report_layer){ layer_names[i], states[next(&h) % 3] };

	char *json = report_json(&r);
	/* Always a summary, and one Kubernetes keeps whole. */
	FUZZ_CHECK(json != NULL);
	FUZZ_CHECK(strlen(json) <= REPORT_MAX);
	json_t *j = json_loads(json, 0, NULL);
	FUZZ_CHECK(json_is_object(j));
	FUZZ_CHECK(json_is_string(json_object_get(json_object_get(j, "exit"), "reason")));
	json_t *name = json_object_get(json_object_get(j, "runner"), "name");
	FUZZ_CHECK(json_is_null(name) || json_is_string(name));
	json_decref(j);
	/* run.c redacts it before writing it. */
	char *redacted = log_redact(json);
	FUZZ_CHECK(redacted != NULL && strcmp(redacted, json) == 0);
	free(redacted);
	free(json);
	return 0;
}
