#include "hook.h"

#include <errno.h>
#include <stdbool.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"
#include "summary.h"
#include "util.h"

/* One line of the report as a shell word: single-quoted, a quote as '\''. Control characters
 * (a name from a JIT blob, a detail quoting an error) become '?': one line stays one line of
 * the job's log. */
static void put_line(FILE *f, const char *line, size_t len)
{
	fputs("printf '%s\\n' '", f);
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)line[i];
		if (c == '\'')
			fputs("'\\''", f);
		else
			fputc(c < 0x20 || c == 0x7f ? '?' : c, f);
	}
	fputs("'\n", f);
}

static void put_text(FILE *f, const char *text)
{
	for (const char *p = text; *p;) {
		size_t n = strcspn(p, "\n");
		put_line(f, p, n);
		p += n + (p[n] == '\n');
	}
}

/* "17 of 19 layers applied; unavailable: ...", as the summary says it (summary.c). */
static void summary_line(FILE *f, const struct sbx_report *r)
{
	json_t *iso = json_object();
	for (int l = 0; iso && l < SBX_L_COUNT; l++)
		json_object_set_new(iso, sbx_layer_name((enum sbx_layer)l),
				    json_string(sbx_state_name(r->layer[l].state)));
	summary_put_isolation(f, iso);
	json_decref(iso);
}

/* A name from outside (a JIT blob's, the pod's) stays on its line: a newline in it would
 * start a line of its own, which the Worker would read as a workflow command ("::..."). */
static void put_word(FILE *f, const char *s)
{
	for (const unsigned char *p = (const unsigned char *)s; *p; p++)
		fputc(*p < 0x20 || *p == 0x7f ? '?' : *p, f);
}

/* The report itself: who ran the job, and how it was isolated, as `check` prints it. */
static char *report_text(const struct hook_info *i)
{
	char *text = NULL;
	size_t size = 0;
	FILE *f = open_memstream(&text, &size);
	if (!f)
		return NULL;
	fprintf(f, "runner-supervisor %s: runner ", RS_VERSION);
	put_word(f, i->runner_name && *i->runner_name ? i->runner_name : "(unnamed)");
	if (i->runner_id > 0)
		fprintf(f, " (id %lld)", i->runner_id);
	if (i->pod && *i->pod) {
		fputs(" in pod ", f);
		put_word(f, i->pod);
	}
	fprintf(f, "\nisolation (SUPERVISOR_SANDBOX=%s, profile %s): ", i->mode, i->profile);
	summary_line(f, i->report);
	fputc('\n', f);
	/* A detail may quote a path of SUPERVISOR_HIDE_PATHS: one layer, one line. */
	struct sbx_report r = *i->report;
	for (int l = 0; l < SBX_L_COUNT; l++)
		for (char *c = r.layer[l].detail; *c; c++)
			if ((unsigned char)*c < 0x20 || *c == 0x7f)
				*c = '?';
	sbx_report_print(&r, f);
	if (fclose(f) != 0) {
		free(text);
		return NULL;
	}
	/* Nothing secret is in it; the guard is the same as for every log line. */
	char *clean = log_redact(text);
	free(text);
	return clean;
}

/* The operator's hook, run as the Worker would have run it: by its extension
 * (HostContext.GetDefaultShellForScript), with the arguments ScriptHandler.RunAsync gives
 * that shell, after the checks JobHookProvider.RunHook makes. */
static void put_chained(FILE *f, const struct hook_info *i)
{
	fputs("\n# The hook configured in the pod (" HOOK_ENV "), run as the Worker runs one.\n"
	      "hook=",
	      f);
	fputc('\'', f);
	for (const char *p = i->chained; *p; p++)
		*p == '\'' ? fputs("'\\''", f) : fputc(*p, f);
	fputs("'\n", f);
	/* printf, not echo: sh's echo would read a backslash in the path as an escape. */
	fputs("printf '%s\\n' \"runner-supervisor: running the pod's own job-started hook, "
	      "$hook\"\n"
	      "if [ ! -f \"$hook\" ]; then\n"
	      "\tprintf '%s\\n' \"::error::$hook: File doesn't exist\"\n"
	      "\texit 1\n"
	      "fi\n"
	      "case \"$hook\" in\n"
	      "*.sh)\n"
	      "\tif command -v bash >/dev/null 2>&1; then exec bash -e \"$hook\"; fi\n"
	      "\texec sh -e \"$hook\" ;;\n"
	      "*.ps1)\n"
	      "\tif command -v pwsh >/dev/null 2>&1; then exec pwsh -command \". '$hook'\"; fi\n"
	      "\texec powershell -command \". '$hook'\" ;;\n"
	      "*.js)\n"
	      "\texec '",
	      f);
	for (const char *p = i->runner_root; *p; p++)
		*p == '\'' ? fputs("'\\''", f) : fputc(*p, f);
	fputs("/externals/node20/bin/node' \"$hook\" ;;\n"
	      "*)\n"
	      "\tprintf '%s\\n' \"::error::$hook is not a valid path to a script. Make sure it "
	      "ends in "
	      "'.sh', '.ps1' or '.js'.\"\n"
	      "\texit 1 ;;\n"
	      "esac\n",
	      f);
}

/* A pod whose environment names the supervisor's own hook (copied from a runner's, say) would
 * make the script run itself without end: that one is not chained. */
static bool names_this_hook(const char *path)
{
	const char *base = strrchr(path, '/');
	return strcmp(base ? base + 1 : path, HOOK_FILE) == 0;
}

char *hook_script(const struct hook_info *i)
{
	char *report = report_text(i);
	char *script = NULL;
	size_t size = 0;
	FILE *f = report ? open_memstream(&script, &size) : NULL;
	if (!f) {
		free(report);
		return NULL;
	}
	fputs("#!/bin/sh\n"
	      "# runner-supervisor: the isolation report in this job's log. The runner's Worker\n"
	      "# runs this file as the job's first step, \"Set up runner\" (" HOOK_ENV ").\n"
	      "# Written for this runner only; removed once its sandbox is gone.\n",
	      f);
	put_text(f, report);
	free(report);
	if (i->chained && *i->chained && !names_this_hook(i->chained))
		put_chained(f, i);
	if (fclose(f) != 0) {
		free(script);
		return NULL;
	}
	return script;
}

int hook_install(const char *runner_root, const char *script, char **path, struct rs_err *err)
{
	/* The Worker pastes the path into the shell's argument string ("-e {0}") and .NET splits
	 * that string on blanks, honouring quotes and backslashes (ScriptHandler.RunAsync): such
	 * a path would fail every job. Better no report than no job. */
	if (strpbrk(runner_root, " \t\n\"\\'"))
		return rs_fail(err, EX_RS_CONFIG, 0,
			       "RUNNER_ROOT %s holds a blank, a quote or a backslash: the runner's "
			       "Worker would split the hook's path",
			       runner_root);
	_cleanup_(closep) int dfd = open(runner_root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return rs_fail(err, EX_RS_SOFTWARE, errno, "RUNNER_ROOT %s", runner_root);
	char tmp[64];
	snprintf(tmp, sizeof(tmp), HOOK_FILE ".tmp-%d", (int)getpid());
	unlinkat(dfd, tmp, 0);
	_cleanup_(closep) int fd =
	    openat(dfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
	if (fd < 0)
		return rs_fail(err, EX_RS_SOFTWARE, errno, "%s/%s", runner_root, tmp);
	size_t len = strlen(script);
	/* Readable by the runner's uid whatever our umask. */
	if (write(fd, script, len) != (ssize_t)len || fchmod(fd, 0644) < 0 ||
	    renameat(dfd, tmp, dfd, HOOK_FILE) < 0) {
		int e = errno;
		unlinkat(dfd, tmp, 0);
		return rs_fail(err, EX_RS_SOFTWARE, e, "%s/%s", runner_root, HOOK_FILE);
	}
	if (asprintf(path, "%s/%s", runner_root, HOOK_FILE) < 0) {
		*path = NULL;
		return rs_fail(err, EX_RS_SOFTWARE, ENOMEM, "%s", HOOK_FILE);
	}
	return 0;
}

void hook_remove(const char *runner_root)
{
	_cleanup_(closep) int dfd = open(runner_root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	struct stat st;
	if (dfd >= 0 && fstatat(dfd, HOOK_FILE, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
	    S_ISREG(st.st_mode))
		unlinkat(dfd, HOOK_FILE, 0);
}
