#include "summary.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cost.h"
#include "util.h"

/* A log of a pod that ran for days is read whole; past this it is not a log of ours. */
#define INPUT_MAX (256LL << 20)
/* --fleet reads a line at a time: a termination message is at most 4096 bytes, a JSON log's
 * supervisor.exit line a few times that. A longer line is read past, never held. */
#define FLEET_LINE_MAX ((size_t)1 << 20)
#define READ_CHUNK     ((size_t)64 << 10)

/* ---- reading the summary --------------------------------------------------------------- */

static json_t *get(json_t *o, const char *key)
{
	return json_object_get(o, key);
}

static const char *str(json_t *o, const char *key)
{
	const char *s = json_string_value(get(o, key));
	return s && *s ? s : NULL;
}

static long long num(json_t *o, const char *key, long long unknown)
{
	json_t *v = get(o, key);
	return json_is_integer(v) ? (long long)json_integer_value(v) : unknown;
}

static bool is_summary(json_t *j)
{
	return json_is_object(j) && json_is_object(get(j, "exit"));
}

/* A summary, or the supervisor.exit line that carries one. */
static json_t *summary_in(json_t *j)
{
	if (is_summary(j))
		return json_incref(j);
	json_t *inner = get(j, "summary");
	if (json_is_object(j) && is_summary(inner))
		return json_incref(inner);
	return NULL;
}

json_t *summary_find(const char *text)
{
	json_t *whole = json_loads(text, 0, NULL);
	json_t *found = whole ? summary_in(whole) : NULL;
	json_decref(whole);
	if (found)
		return found;
	/* A log: one JSON object per line, the summary in its last supervisor.exit. */
	char *copy = strdup(text);
	for (char *save = NULL, *line = copy ? strtok_r(copy, "\n", &save) : NULL; line;
	     line = strtok_r(NULL, "\n", &save)) {
		json_t *j = json_loads(line, 0, NULL);
		json_t *s = j ? summary_in(j) : NULL;
		json_decref(j);
		if (s) {
			json_decref(found);
			found = s;
		}
	}
	free(copy);
	return found;
}

/* The job's cost as the summary has it (report.c, "job"). */
static struct job_cost cost_of(json_t *job)
{
	struct job_cost c = JOB_COST_UNKNOWN;
	c.cpu_ms = num(job, "cpu_ms", -1);
	c.memory_peak = num(job, "memory_peak_bytes", -1);
	const char *from = str(job, "memory_from");
	c.memory_from_cgroup = from && strcmp(from, "cgroup") == 0;
	c.workdir_bytes = num(job, "workdir_bytes", -1);
	c.tasks = num(job, "tasks", -1);
	c.oom_kills = num(job, "oom_kills", -1);
	return c;
}

static bool cost_known(const struct job_cost *c)
{
	return c->cpu_ms >= 0 || c->memory_peak >= 0 || c->workdir_bytes >= 0 || c->tasks >= 0 ||
	       c->oom_kills >= 0;
}

/* ---- writing it ------------------------------------------------------------------------- */

/* Text from the summary, which may come from anywhere: nothing a terminal would act on. */
static void put_clean(FILE *f, const char *s)
{
	for (const unsigned char *p = (const unsigned char *)s; p && *p; p++) {
		if (*p < 0x20 || *p == 0x7f)
			fprintf(f, "\\x%02x", *p);
		else
			fputc(*p, f);
	}
}

static size_t applied_layers(json_t *iso)
{
	const char *key;
	json_t *v;
	size_t applied = 0;
	json_object_foreach(iso, key, v)
	{
		const char *state = json_string_value(v);
		applied += state && strcmp(state, "applied") == 0;
	}
	return applied;
}

void summary_put_isolation(FILE *f, json_t *iso)
{
	const char *key;
	json_t *v;
	fprintf(f, "%zu of %zu layers applied", applied_layers(iso), json_object_size(iso));
	static const char *const others[] = { "unavailable", "disabled" };
	for (size_t i = 0; i < ARRAY_SIZE(others); i++) {
		bool first = true;
		json_object_foreach(iso, key, v)
		{
			const char *state = json_string_value(v);
			if (!state || strcmp(state, others[i]) != 0)
				continue;
			fprintf(f, first ? "; %s: " : ", ", others[i]);
			put_clean(f, key);
			first = false;
		}
	}
}

static void put_what_ran(FILE *f, json_t *s)
{
	json_t *runner = get(s, "runner"), *job = get(s, "job");
	const char *name = str(runner, "name"), *job_name = str(job, "name");
	const char *result = str(job, "result");
	long long id = num(runner, "id", 0);
	fputs("Runner ", f);
	put_clean(f, name ? name : "(unnamed)");
	if (id > 0)
		fprintf(f, " (id %lld)", id);
	if (!job_name) {
		fputs(" took no job.", f);
		return;
	}
	fputs(" ran job \"", f);
	put_clean(f, job_name);
	fputs(result ? "\": " : "\", and no result was reported", f);
	put_clean(f, result);
	fputs(".", f);
	struct job_cost c = cost_of(job);
	if (cost_known(&c)) {
		char cost[256];
		cost_describe(&c, cost, sizeof(cost));
		fprintf(f, " It took %s.", cost);
	}
}

static void put_exit(FILE *f, json_t *exit)
{
	fprintf(f, " Exit %lld", num(exit, "code", -1));
	const char *reason = str(exit, "reason");
	if (reason) {
		fputs(": ", f);
		put_clean(f, reason);
	}
	long long listener = num(exit, "listener_code", -1);
	if (listener >= 0)
		fprintf(f, " (Runner.Listener exited %lld)", listener);
	fputs(".", f);
}

static void put_wipe(FILE *f, json_t *s)
{
	json_t *wipe = get(s, "wipe");
	if (!json_is_object(wipe))
		return;
	char b[16];
	long long left = num(wipe, "left", 0);
	cost_format_bytes(num(wipe, "bytes", 0), b);
	fprintf(f, " The wipe removed %lld files and %lld directories (%s)", num(wipe, "files", 0),
		num(wipe, "dirs", 0), b);
	if (left > 0)
		fprintf(f, " and could not remove %lld: this pod must not be reused.", left);
	else
		fputs(" and left nothing.", f);
	long long killed = num(get(s, "teardown"), "killed", 0);
	if (killed > 0)
		fprintf(f, " The teardown killed %lld processes left behind.", killed);
}

static void put_github(FILE *f, json_t *s)
{
	json_t *gh = get(s, "github");
	const char *dereg = str(gh, "deregistered");
	if (!dereg)
		return;
	if (strcmp(dereg, "confirmed") == 0)
		fputs(" GitHub no longer lists the runner", f);
	else if (strcmp(dereg, "unconfirmed") == 0)
		fputs(
		    " GitHub did not confirm the deregistration: the runner may remain registered",
		    f);
	else if (strcmp(dereg, "left to ARC") == 0)
		fputs(" The registration is ARC's to remove", f);
	else
		fputs(" Nothing was registered at GitHub", f);
	long long calls = num(gh, "calls", -1);
	if (calls >= 0)
		fprintf(f, " (%lld API call%s)", calls, calls == 1 ? "" : "s");
	fputs(".", f);
	size_t swept = json_array_size(get(gh, "swept"));
	if (swept)
		fprintf(f, " It deleted %zu offline runner%s the fleet had left behind.", swept,
			swept == 1 ? "" : "s");
}

static void put_rest(FILE *f, json_t *s)
{
	json_t *iso = get(s, "isolation");
	if (json_object_size(iso)) {
		fputs(" Isolation: ", f);
		summary_put_isolation(f, iso);
		fputs(".", f);
	}
	json_t *out = get(s, "output");
	long long dropped = num(out, "dropped", 0);
	if (dropped > 0)
		fprintf(f, " %lld of the runner's %lld lines were left out of the log (too many).",
			dropped, num(out, "lines", 0));
}

/* A unit stays on the line of its number ("980 KiB", "0.46 s"). */
static size_t word_len(const char *p)
{
	static const char *const units[] = { "B", "KiB", "MiB", "GiB", "TiB", "PiB", "s" };
	size_t n = strcspn(p, " ");
	if (p[n] != ' ' || n == 0 || p[n - 1] < '0' || p[n - 1] > '9')
		return n;
	const char *next = p + n + 1;
	size_t m = strcspn(next, " ");
	for (size_t i = 0; i < ARRAY_SIZE(units); i++)
		if (strncmp(next, units[i], strlen(units[i])) == 0 &&
		    (m == strlen(units[i]) || !strchr("abcdefghijklmnopqrstuvwxyz", next[m - 1])))
			return n + 1 + m;
	return n;
}

/* Words of text into lines of at most width columns (a longer word gets a line of its own). */
static char *wrap(const char *text, int width)
{
	char *out = malloc(strlen(text) + 2), *o = out;
	if (!out)
		return NULL;
	int col = 0;
	for (const char *p = text; *p;) {
		while (*p == ' ')
			p++;
		size_t n = word_len(p);
		if (n == 0)
			break;
		if (col > 0 && col + 1 + (int)n > width) {
			*o++ = '\n';
			col = 0;
		} else if (col > 0) {
			*o++ = ' ';
			col++;
		}
		memcpy(o, p, n);
		o += n;
		col += (int)n;
		p += n;
	}
	*o = '\0';
	return out;
}

char *summary_paragraph(json_t *s, int width)
{
	if (!is_summary(s))
		return NULL;
	char *text = NULL;
	size_t size = 0;
	FILE *f = open_memstream(&text, &size);
	if (!f)
		return NULL;
	put_what_ran(f, s);
	put_exit(f, get(s, "exit"));
	put_wipe(f, s);
	put_github(f, s);
	put_rest(f, s);
	if (fclose(f) != 0) {
		free(text);
		return NULL;
	}
	char *wrapped = wrap(text, width);
	free(text);
	return wrapped;
}

/* ---- the fleet ---------------------------------------------------------------------------- */

/* How often each value was seen, in the order first seen. */
struct tally {
	struct {
		char *key;
		int n;
	} * v;
	size_t len;
};

static void count(struct tally *t, const char *key)
{
	for (size_t i = 0; i < t->len; i++)
		if (strcmp(t->v[i].key, key) == 0) {
			t->v[i].n++;
			return;
		}
	void *grown = realloc(t->v, (t->len + 1) * sizeof(*t->v));
	char *copy = strdup(key);
	if (!grown || !copy) {
		free(copy);
		if (grown)
			t->v = grown;
		return;
	}
	t->v = grown;
	t->v[t->len].key = copy;
	t->v[t->len++].n = 1;
}

static void tally_free(struct tally *t)
{
	for (size_t i = 0; i < t->len; i++)
		free(t->v[i].key);
	free(t->v);
}

/* "0 (9 pods), 75 (1 pod)"; without a unit only the values ("pod-7 (id 12), pod-9 (id 15)"). */
static void put_tally(FILE *f, const struct tally *t, const char *unit)
{
	for (size_t i = 0; i < t->len; i++) {
		fputs(i ? ", " : "", f);
		put_clean(f, t->v[i].key);
		if (unit)
			fprintf(f, " (%d %s%s)", t->v[i].n, unit, t->v[i].n == 1 ? "" : "s");
	}
}

/* s cut to width columns (a character counts one, whatever its bytes), padded with blanks,
 * control characters shown as '?'. */
static void put_cell(FILE *f, const char *s, int width)
{
	int col = 0;
	for (const unsigned char *p = (const unsigned char *)(s ? s : "-"); *p; p++) {
		bool starts = (*p & 0xC0) != 0x80;
		if (starts && col == width)
			break;
		if (*p < 0x20 || *p == 0x7f)
			fputc('?', f);
		else
			fputc(*p, f);
		col += starts;
	}
	fprintf(f, "%*s", width - col + 1, "");
}

struct fleet {
	int pods, jobs, ghosts_left, swept, not_summaries;
	long long cpu_ms, peak;
	char peak_pod[65];
	struct tally results, codes, isolation, left;
};

static void fleet_row(FILE *out, json_t *s, struct fleet *fl)
{
	json_t *runner = get(s, "runner"), *job = get(s, "job"), *exit = get(s, "exit");
	json_t *gh = get(s, "github");
	const char *name = str(runner, "name"), *job_name = str(job, "name");
	const char *dereg = str(gh, "deregistered");
	struct job_cost c = cost_of(job);
	char code[16], cpu[24] = "-", mem[16] = "-", layers[16] = "-";
	snprintf(code, sizeof(code), "%lld", num(exit, "code", -1));
	if (c.cpu_ms >= 0)
		snprintf(cpu, sizeof(cpu), "%lld.%02lld s", c.cpu_ms / 1000, c.cpu_ms % 1000 / 10);
	if (c.memory_peak >= 0)
		cost_format_bytes(c.memory_peak, mem);
	char *iso = NULL;
	size_t iso_size = 0;
	FILE *isof = open_memstream(&iso, &iso_size);
	if (isof) {
		summary_put_isolation(isof, get(s, "isolation"));
		fclose(isof);
	}
	if (json_object_size(get(s, "isolation")))
		snprintf(layers, sizeof(layers), "%zu/%zu", applied_layers(get(s, "isolation")),
			 json_object_size(get(s, "isolation")));

	put_cell(out, name, 24);
	put_cell(out, job_name, 16);
	put_cell(out, job_name ? str(job, "result") : NULL, 19);
	put_cell(out, code, 4);
	put_cell(out, cpu, 9);
	put_cell(out, mem, 9);
	put_cell(out, layers, 6);
	put_cell(out, dereg, 11);
	put_clean(out, str(exit, "reason"));
	fputc('\n', out);

	fl->pods++;
	if (job_name) {
		fl->jobs++;
		count(&fl->results, str(job, "result") ? str(job, "result") : "(no result)");
	}
	count(&fl->codes, code);
	if (iso)
		count(&fl->isolation, iso);
	free(iso);
	if (dereg && strcmp(dereg, "unconfirmed") == 0) {
		fl->ghosts_left++;
		char who[96];
		snprintf(who, sizeof(who), "%s (id %lld)", name ? name : "?", num(runner, "id", 0));
		count(&fl->left, who);
	}
	fl->swept += (int)json_array_size(get(gh, "swept"));
	if (c.cpu_ms > 0)
		fl->cpu_ms += c.cpu_ms;
	if (c.memory_peak > fl->peak) {
		fl->peak = c.memory_peak;
		snprintf(fl->peak_pod, sizeof(fl->peak_pod), "%s", name ? name : "?");
	}
}

static void fleet_totals(FILE *out, struct fleet *fl)
{
	fprintf(out, "\n%d pod%s, %d job%s", fl->pods, fl->pods == 1 ? "" : "s", fl->jobs,
		fl->jobs == 1 ? "" : "s");
	if (fl->pods > fl->jobs)
		fprintf(out, ", %d pod%s without a job", fl->pods - fl->jobs,
			fl->pods - fl->jobs == 1 ? "" : "s");
	if (fl->results.len) {
		fputs("\nresults: ", out);
		put_tally(out, &fl->results, "job");
	}
	fputs("\nexit codes: ", out);
	put_tally(out, &fl->codes, "pod");
	fprintf(out, "\nregistrations that may remain (ghosts): %d", fl->ghosts_left);
	if (fl->left.len) {
		fputs(": ", out);
		put_tally(out, &fl->left, NULL);
	}
	fprintf(out, "; offline runners of the fleet deleted: %d\n", fl->swept);
	for (size_t i = 0; i < fl->isolation.len; i++) {
		fputs(i ? "               " : "isolation seen: ", out);
		put_clean(out, fl->isolation.v[i].key);
		fprintf(out, " (%d pod%s)\n", fl->isolation.v[i].n,
			fl->isolation.v[i].n == 1 ? "" : "s");
	}
	char b[16];
	cost_format_bytes(fl->peak, b);
	fprintf(out, "cost: %lld.%02lld s CPU in all; the largest peak memory %s",
		fl->cpu_ms / 1000, fl->cpu_ms % 1000 / 10, b);
	if (fl->peak > 0) {
		fputs(" (", out);
		put_clean(out, fl->peak_pod);
		fputs(")", out);
	}
	fputc('\n', out);
	if (fl->not_summaries)
		fprintf(out,
			"%d line%s without a summary skipped (a pod still running, or killed "
			"before it wrote one)\n",
			fl->not_summaries, fl->not_summaries == 1 ? "" : "s");
}

/* The next line of in into line (of size FLEET_LINE_MAX); false at the end. A longer line is
 * read to its end and comes back empty, with *too_long set. */
static bool next_line(FILE *in, char *line, bool *too_long)
{
	*too_long = false;
	if (!fgets(line, (int)FLEET_LINE_MAX, in))
		return false;
	size_t n = strlen(line);
	if (n == FLEET_LINE_MAX - 1 && line[n - 1] != '\n') {
		*too_long = true;
		line[0] = '\0';
		for (int c; (c = getc(in)) != EOF && c != '\n';)
			;
	}
	return true;
}

int summary_fleet(FILE *in, FILE *out)
{
	struct fleet fl = { 0 };
	char *line = malloc(FLEET_LINE_MAX);
	bool header = false, too_long;
	while (line && next_line(in, line, &too_long)) {
		if (too_long) {
			fl.not_summaries++;
			continue;
		}
		if (strspn(line, " \t\r\n") == strlen(line))
			continue;
		json_t *j = json_loads(line, 0, NULL);
		json_t *s = j ? summary_in(j) : NULL;
		json_decref(j);
		if (!s) {
			fl.not_summaries++;
			continue;
		}
		if (!header) {
			fprintf(out, "%-24s %-16s %-19s %-4s %-9s %-9s %-6s %-11s %s\n", "RUNNER",
				"JOB", "RESULT", "EXIT", "CPU", "PEAK MEM", "LAYERS", "GITHUB",
				"REASON");
			header = true;
		}
		fleet_row(out, s, &fl);
		json_decref(s);
	}
	free(line);
	if (fl.pods)
		fleet_totals(out, &fl);
	tally_free(&fl.results);
	tally_free(&fl.codes);
	tally_free(&fl.isolation);
	tally_free(&fl.left);
	return fl.pods;
}

/* ---- the command -------------------------------------------------------------------------- */

static char *read_all(FILE *in)
{
	char *buf = NULL;
	size_t len = 0, cap = 0;
	for (;;) {
		if (len + READ_CHUNK + 1 > cap) {
			if ((long long)cap > INPUT_MAX) {
				free(buf);
				errno = EFBIG;
				return NULL;
			}
			cap = cap ? cap * 2 : READ_CHUNK * 2;
			char *grown = realloc(buf, cap);
			if (!grown) {
				free(buf);
				return NULL;
			}
			buf = grown;
		}
		size_t n = fread(buf + len, 1, cap - len - 1, in);
		len += n;
		if (n == 0)
			break;
	}
	if (ferror(in)) {
		free(buf);
		return NULL;
	}
	buf[len] = '\0';
	return buf;
}

int summary_command(const char *file, bool fleet, FILE *out, struct rs_err *err)
{
	bool stdin_ = !file || strcmp(file, "-") == 0;
	const char *what = stdin_ ? "standard input" : file;
	FILE *in = stdin_ ? stdin : fopen(file, "re");
	if (!in)
		return rs_fail(err, EX_RS_NOINPUT, errno, "report: %s", file);
	int rc = 0;
	if (fleet) {
		if (summary_fleet(in, out) == 0)
			rc = rs_fail(err, EX_RS_DATAERR, 0,
				     "report --fleet: no runner-supervisor summary in %s (one per "
				     "line: the pods' termination messages)",
				     what);
	} else {
		char *text = read_all(in);
		json_t *s = text ? summary_find(text) : NULL;
		char *para = s ? summary_paragraph(s, 96) : NULL;
		if (!text)
			rc = rs_fail(err, EX_RS_NOINPUT, errno, "report: reading %s", what);
		else if (!para)
			rc = rs_fail(err, EX_RS_DATAERR, 0,
				     "report: no runner-supervisor summary in %s (a pod's "
				     "termination message, or its JSON log)",
				     what);
		else
			fprintf(out, "%s\n", para);
		free(para);
		json_decref(s);
		free(text);
	}
	if (!stdin_)
		fclose(in);
	fflush(out);
	return rc;
}
