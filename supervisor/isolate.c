/* From settings to a sandbox policy. The paths hidden from the job always include the
 * credential files and Kubernetes' service-account directory (DESIGN.md, "Settings"). */
#include "isolate.h"

#include <dirent.h>
#include <errno.h>
#include <sys/stat.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "util.h"
#include "wipe.h"

#define SERVICE_ACCOUNT_DIR "/var/run/secrets/kubernetes.io"

struct paths {
	const char *v[64];
	size_t n;
	char *owned[64];
	size_t n_owned;
};

static void push_owned(struct paths *p, char *path);

/* A file in a Kubernetes Secret or ConfigMap volume is a symlink through ..data, which the
 * kubelet swaps to rotate the content: a cover over (or a Landlock rule for) today's file
 * would leave tomorrow's readable. Such a file is hidden with its whole volume directory. */
static void push_hidden(struct paths *p, const char *path)
{
	if (!path || !*path)
		return;
	const char *slash = strrchr(path, '/');
	char *dir = slash && slash != path ? strndup(path, (size_t)(slash - path)) : NULL;
	char *data = NULL;
	struct stat st;
	if (dir && asprintf(&data, "%s/..data", dir) >= 0 && lstat(data, &st) == 0 &&
	    S_ISLNK(st.st_mode)) {
		free(data);
		push_owned(p, dir);
		return;
	}
	free(data);
	free(dir);
	push_owned(p, strdup(path));
}

static void push(struct paths *p, const char *path)
{
	if (path && *path && p->n < ARRAY_SIZE(p->v) - 1)
		p->v[p->n++] = path;
	p->v[p->n] = NULL;
}

static void push_owned(struct paths *p, char *path)
{
	if (!path || p->n_owned >= ARRAY_SIZE(p->owned)) {
		free(path);
		return;
	}
	p->owned[p->n_owned++] = path;
	push(p, path);
}

static void paths_free(struct paths *p)
{
	for (size_t i = 0; i < p->n_owned; i++)
		free(p->owned[i]);
}

static char *joined(const char *dir, const char *name)
{
	char *s = NULL;
	return asprintf(&s, "%s/%s", dir, name) < 0 ? NULL : s;
}

/* The runner's installation, read-only in the sandbox: every top-level entry of the root but
 * the dotfiles (the runner user's home in the official image: HOME=/home/runner; what a job
 * writes there is put back by the wipe, manifest.c), the work folder and _diag, which the
 * runner writes. A job can then neither change the scripts nor make the pod exit 74 by
 * touching one (in the official image the runner user owns them). */
static void push_installation(struct paths *ro, const struct rs_config *cfg)
{
	DIR *d = opendir(cfg->runner_root);
	if (!d)
		return;
	size_t root_len = strlen(cfg->runner_root);
	for (struct dirent *e; (e = readdir(d));) {
		if (e->d_name[0] == '.' || strcmp(e->d_name, "_work") == 0 ||
		    strcmp(e->d_name, "_diag") == 0)
			continue;
		char *path = joined(cfg->runner_root, e->d_name);
		/* RUNNER_WORKDIR inside the root, or above it. */
		bool work = path && strncmp(cfg->runner_workdir, path, strlen(path)) == 0 &&
			    (cfg->runner_workdir[strlen(path)] == '/' ||
			     cfg->runner_workdir[strlen(path)] == '\0');
		if (!path || work || root_len == 0) {
			free(path);
			continue;
		}
		push_owned(ro, path);
	}
	closedir(d);
}

/* SUPERVISOR_CONTAINERS: the engine's directory, in the folder emptied after the job: the
 * work folder for `run`, the --workdir of `exec`; `check` tries one of its own there (see
 * isolate_release). NULL: none. */
static char *containers_dir(const struct rs_config *cfg)
{
	const char *base = cfg->command == CMD_EXEC ? cfg->exec_workdir : cfg->runner_workdir;
	if (!cfg->containers || !base)
		return NULL;
	/* `check` may run beside a pod's supervisor (kubectl exec): never in its engine's. */
	char *s = NULL;
	if (cfg->command == CMD_CHECK)
		return asprintf(&s, "%s/_containers-check-%d", base, (int)getpid()) < 0 ? NULL : s;
	return joined(base, "_containers");
}

/* The runner makes its work folder when it first needs it; the engine's directory goes in it
 * before that, so it is made here as the runner would make it: its own, 0755. */
static void make_workdir_for_engine(const struct rs_config *cfg)
{
	if (!cfg->containers || cfg->command == CMD_EXEC)
		return;
	if (mkdir(cfg->runner_workdir, 0755) == 0 &&
	    chown(cfg->runner_workdir, cfg->runner_uid, cfg->runner_gid) < 0)
		log_event(LOG_WARN, "workdir.unowned",
			  LOG_FIELDS(LOG_STR("dir", cfg->runner_workdir)),
			  "RUNNER_WORKDIR %s: cannot give it to the runner's uid: %s",
			  cfg->runner_workdir, strerror(errno));
}

void isolate_release(const struct rs_config *cfg, struct sbx_plan *plan)
{
	sbx_plan_free(plan);
	char *dir = cfg->command == CMD_CHECK ? containers_dir(cfg) : NULL;
	struct wipe_stats st;
	struct rs_err err;
	if (dir && access(dir, F_OK) == 0 && wipe_dir(dir, &st, &err) == 0)
		rmdir(dir);
	free(dir);
}

struct sbx_plan *isolate_prepare(const struct rs_config *cfg, const char *hostname,
				 struct sbx_report *report, struct rs_err *err)
{
	bool exec = cfg->command == CMD_EXEC;
	struct paths hide = { .n = 0 }, ro = { .n = 0 }, keep = { .n = 0 };
	push_hidden(&hide, cfg->token_file);
	push_hidden(&hide, cfg->app_key_file);
	push(&hide, SERVICE_ACCOUNT_DIR);
	/* The job must not write the pod's termination message either. */
	push(&hide, cfg->termination_log);
	for (size_t i = 0; i < cfg->n_hide_paths; i++)
		push_hidden(&hide, cfg->hide_paths[i]);
	if (exec) {
		/* The command starts in --workdir, or where we were started: that stays visible
		 * even under the fresh /tmp. */
		if (cfg->exec_workdir)
			push(&keep, cfg->exec_workdir);
		else
			push_owned(&keep, getcwd(NULL, 0));
	} else {
		push(&keep, cfg->runner_root);
		push(&keep, cfg->runner_workdir);
		push_installation(&ro, cfg);
	}
	bool switch_ids = !exec || cfg->runner_user_given;
	struct sbx_policy pol = {
		.mode = cfg->sandbox,
		.profile = (enum sbx_profile)cfg->sandbox_profile,
		.uid = switch_ids ? cfg->runner_uid : getuid(),
		.gid = switch_ids ? cfg->runner_gid : getgid(),
		.switch_ids = switch_ids,
		.hostname = hostname,
		.readonly = ro.v,
		.keep = keep.v,
		.hide = hide.v,
		.rlimit_nofile = cfg->rlimit_nofile,
		.rlimit_nproc = cfg->rlimit_nproc,
		.job_memory_max = cfg->job_memory_max,
		.job_root = cfg->job_root,
		.job_root_size = cfg->job_root_size,
		.containers = cfg->containers,
	};
	make_workdir_for_engine(cfg);
	char *engine_dir = containers_dir(cfg);
	pol.containers_dir = engine_dir;
	*report = (struct sbx_report){ 0 };
	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	struct sbx_probe probe = { 0 };
	struct sbx_plan *plan = NULL;
	if (cfg->sandbox != SBX_OFF) {
		sbx_protect_self(report);
		if (sbx_probe(&probe, pol.uid, pol.gid, err) < 0)
			goto out;
	} else {
		report->layer[SBX_L_DUMPABLE].state = SBX_DISABLED;
	}
	plan = sbx_plan_prepare(&pol, &probe, report, err);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	report->took_us = (t1.tv_sec - t0.tv_sec) * 1000000LL + (t1.tv_nsec - t0.tv_nsec) / 1000;
	sbx_report_log(report);
out:
	free(engine_dir);
	paths_free(&hide);
	paths_free(&ro);
	paths_free(&keep);
	return plan;
}
