/* The runner's life in one pod: register -> run -> confirm deregistration -> exit.
 *
 * Registration and deregistration run the libuv loop inside each request (http.c), the
 * runner phase runs it in pid1_run(); a SIGTERM/SIGINT is seen in every phase. Once a runner
 * id exists, every path out of here passes through the deregistration confirmation. */
#include "run.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <uv.h>

#include "github.h"
#include "jit.h"
#include "log.h"
#include "pid1.h"
#include "runenv.h"
#include "signals.h"
#include "util.h"

#define ARC_BLOB_ENV "ACTIONS_RUNNER_INPUT_JITCONFIG"

extern char **environ;

struct run {
	const struct rs_config *cfg;
	uv_loop_t loop;
	uv_signal_t stop_sigs[2];
	volatile bool stop_requested;
	struct github *gh;
	char name[65];
	long long runner_id;
	bool registration_sent; /* a generate-jitconfig may have reached GitHub */
	uint64_t t_start;
};

char *run_take_arc_blob(void)
{
	const char *v = getenv(ARC_BLOB_ENV);
	char *blob = v && *v ? strdup(v) : NULL;
	if (blob)
		log_add_secret(blob);
	unsetenv(ARC_BLOB_ENV);
	return blob;
}

static void on_stop_signal(uv_signal_t *h, int sig)
{
	struct run *r = h->data;
	char name[16];
	if (!r->stop_requested)
		log_event(LOG_INFO, "supervisor.stopping",
			  LOG_FIELDS(LOG_STR("signal", sig_name(sig, name))),
			  "%s received: stopping", sig_name(sig, name));
	r->stop_requested = true;
}

static void watch_stop_signals(struct run *r)
{
	const int sigs[] = { SIGTERM, SIGINT };
	for (size_t i = 0; i < ARRAY_SIZE(sigs); i++) {
		uv_signal_init(&r->loop, &r->stop_sigs[i]);
		r->stop_sigs[i].data = r;
		uv_signal_start(&r->stop_sigs[i], on_stop_signal, sigs[i]);
	}
	sigset_t none;
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
}

static bool has_credentials(const struct rs_config *cfg)
{
	return cfg->token_file || (cfg->app_id && cfg->app_key_file);
}

static uint64_t deadline_in(long long seconds)
{
	return gh_now_ms() + (uint64_t)seconds * 1000;
}

static char *runner_path(const struct rs_config *cfg)
{
	char *p = NULL;
	return asprintf(&p, "%s/bin/Runner.Listener", cfg->runner_root) < 0 ? NULL : p;
}

/* Runs the Listener with args as the runner user and waits for it and its leftovers. */
static int run_listener(struct run *r, char *const *args, const char *const *extra_env,
			struct rs_err *err)
{
	const struct rs_config *cfg = r->cfg;
	char *argv[16] = { runner_path(cfg) };
	size_t i = 1;
	for (; args[i - 1] && i < ARRAY_SIZE(argv) - 1; i++)
		argv[i] = args[i - 1];
	argv[i] = NULL;
	char **env = runenv_build(cfg, environ, extra_env);
	if (!argv[0] || !env) {
		free(argv[0]);
		runenv_free(env);
		return rs_fail(err, EX_RS_SOFTWARE, ENOMEM, "starting the runner");
	}
	struct pid1_opts o = {
		.argv = argv,
		.envp = env,
		.workdir = cfg->runner_root,
		.set_ids = true,
		.uid = cfg->runner_uid,
		.gid = cfg->runner_gid,
		.grace_ms = (uint64_t)cfg->stop_grace_s * 1000,
		.what = "runner",
	};
	int code = pid1_run(&r->loop, &o, err);
	free(argv[0]);
	runenv_free(env);
	return code;
}

/* Token mode: configure with the token in the environment, never on the command line. */
static int configure_with_token(struct run *r, struct rs_err *err)
{
	const struct rs_config *cfg = r->cfg;
	char *token = NULL;
	if (gh_registration_token(r->gh, deadline_in(cfg->register_deadline_s), &token, err) < 0)
		return -1;
	char *token_env = NULL, *labels = NULL, group[32];
	size_t labels_len = 0;
	FILE *lf = open_memstream(&labels, &labels_len);
	for (size_t i = 0; lf && i < cfg->n_labels; i++)
		fprintf(lf, "%s%s", i ? "," : "", cfg->labels[i]);
	if (lf)
		fclose(lf);
	snprintf(group, sizeof(group), "%lld", cfg->runner_group_id > 0 ? cfg->runner_group_id : 1);
	int rc = asprintf(&token_env, "ACTIONS_RUNNER_INPUT_TOKEN=%s", token);
	explicit_bzero(token, strlen(token));
	free(token);
	if (rc < 0 || !labels) {
		free(labels);
		return rs_fail(err, EX_RS_SOFTWARE, ENOMEM, "configure");
	}
	char *args[] = { (char *)"configure",
			 (char *)"--unattended",
			 (char *)"--ephemeral",
			 (char *)"--disableupdate",
			 (char *)"--url",
			 cfg->github_url,
			 (char *)"--name",
			 r->name,
			 (char *)"--runnergroup",
			 cfg->runner_group ? cfg->runner_group : group,
			 (char *)"--work",
			 cfg->runner_workdir,
			 *labels ? (char *)"--labels" : NULL,
			 labels,
			 NULL };
	const char *extra[] = { token_env, NULL };
	r->registration_sent = true;
	int code = run_listener(r, args, extra, err);
	explicit_bzero(token_env, strlen(token_env));
	free(token_env);
	free(labels);
	if (code < 0)
		return -1;
	if (code != 0)
		return rs_fail(err, EX_RS_TEMPFAIL, 0, "Runner.Listener configure exited with %d",
			       code);
	char *name = NULL;
	if (jit_read_identity(cfg->runner_root, &r->runner_id, &name) < 0)
		return rs_fail(err, EX_RS_SOFTWARE, 0, "%s/.runner: no runner id after configure",
			       cfg->runner_root);
	free(name);
	return 0;
}

static int write_jit(struct run *r, const char *blob, struct rs_err *err)
{
	struct jit_config jit;
	if (jit_decode(blob, &jit, err) < 0)
		return -1;
	if (!r->runner_id)
		r->runner_id = jit.runner_id;
	if (jit.runner_name && !r->name[0])
		snprintf(r->name, sizeof(r->name), "%s", jit.runner_name);
	int rc = jit_write(&jit, r->cfg->runner_root, r->cfg->runner_uid, r->cfg->runner_gid, err);
	jit_free(&jit);
	return rc;
}

static int register_runner(struct run *r, const char *arc_blob, struct rs_err *err)
{
	const struct rs_config *cfg = r->cfg;
	uint64_t t0 = gh_now_ms();
	int rc;
	const char *how;
	if (arc_blob) {
		how = "ARC JIT configuration";
		rc = write_jit(r, arc_blob, err);
	} else if (cfg->registration == REG_TOKEN) {
		how = "registration token";
		rc = configure_with_token(r, err);
	} else {
		how = "JIT configuration";
		struct gh_registration reg;
		r->registration_sent = true;
		rc = gh_register_jit(r->gh, r->name, deadline_in(cfg->register_deadline_s), &reg,
				     err);
		if (rc == 0) {
			r->runner_id = reg.runner_id;
			snprintf(r->name, sizeof(r->name), "%s", reg.name);
			rc = write_jit(r, reg.jit_blob, err);
		}
		gh_registration_free(&reg);
	}
	if (rc == 0)
		log_event(LOG_INFO, "runner.registered",
			  LOG_FIELDS(LOG_STR("runner_name", r->name),
				     LOG_INT("runner_id", r->runner_id), LOG_STR("with", how),
				     LOG_MS("took_ms", gh_now_ms() - t0)),
			  "runner %s (%lld) registered with a %s", r->name, r->runner_id, how);
	return rc;
}

/* Every path out after a registration attempt comes through here. */
static bool deregister(struct run *r)
{
	const struct rs_config *cfg = r->cfg;
	if (!r->gh) {
		log_event(
		    LOG_INFO, "runner.deregistered",
		    LOG_FIELDS(LOG_INT("runner_id", r->runner_id), LOG_BOOL("confirmed", false)),
		    "no credentials: the runner's removal is left to ARC");
		return false;
	}
	gh_set_cancel(r->gh, NULL);
	struct rs_err err = { 0 };
	uint64_t t0 = gh_now_ms(), deadline = deadline_in(cfg->deregister_deadline_s);
	int rc = r->runner_id ? gh_confirm_gone(r->gh, r->runner_id, deadline, &err)
			      : gh_forget_name(r->gh, r->name, deadline, &err);
	if (rc < 0) {
		log_event(
		    LOG_ERROR, "runner.deregistered",
		    LOG_FIELDS(LOG_INT("runner_id", r->runner_id), LOG_BOOL("confirmed", false)),
		    "could not confirm that GitHub no longer lists runner %s: it may remain (%s)",
		    r->name, err.msg);
		return false;
	}
	log_event(LOG_INFO, "runner.deregistered",
		  LOG_FIELDS(LOG_INT("runner_id", r->runner_id), LOG_BOOL("confirmed", true),
			     LOG_MS("took_ms", gh_now_ms() - t0)),
		  "GitHub no longer lists runner %s", r->name);
	return true;
}

/* The Listener's code -> ours (DESIGN.md, "Exit codes"). Job lines are not parsed yet: a
 * job result code (100-105) or 0 counts as a run that ended normally. */
static int map_listener_code(int code)
{
	if (code == 0 || (code >= 100 && code <= 105))
		return EX_RS_OK;
	if (code == 3 || code == 4 || code == 7)
		return EX_RS_OUTDATED;
	return EX_RS_TEMPFAIL;
}

static void remove_credentials(const struct rs_config *cfg)
{
	/* The runner removes them after an ephemeral job, not after a crash. */
	const char *files[] = { ".runner", ".credentials", ".credentials_rsaparams" };
	for (size_t i = 0; i < ARRAY_SIZE(files); i++) {
		char path[4096];
		snprintf(path, sizeof(path), "%s/%s", cfg->runner_root, files[i]);
		unlink(path);
	}
}

static void close_loop(struct run *r)
{
	gh_free(r->gh);
	r->gh = NULL;
	for (size_t i = 0; i < ARRAY_SIZE(r->stop_sigs); i++)
		uv_close((uv_handle_t *)&r->stop_sigs[i], NULL);
	uv_run(&r->loop, UV_RUN_DEFAULT);
	uv_loop_close(&r->loop);
}

int run_lifecycle(const struct rs_config *cfg, char *arc_blob, struct rs_err *err)
{
	struct run r = { .cfg = cfg, .t_start = gh_now_ms() };
	uv_loop_init(&r.loop);
	watch_stop_signals(&r);
	gh_runner_name(cfg, r.name);
	if (has_credentials(cfg) && cfg->github_api_url &&
	    !(r.gh = gh_new(cfg, &r.loop, &r.stop_requested, err))) {
		close_loop(&r);
		return -1;
	}
	int code;
	if (register_runner(&r, arc_blob, err) < 0) {
		bool stopped = err->exit_code == EX_RS_OK && err->sys_errno == ECANCELED;
		/* A request cut short may still have registered us: look for our ghost. */
		if (r.registration_sent || r.runner_id)
			deregister(&r);
		remove_credentials(cfg);
		close_loop(&r);
		if (stopped) {
			log_event(LOG_INFO, "supervisor.exit", LOG_FIELDS(LOG_INT("code", 0)),
				  "stopped before the runner started; nothing left registered");
			return 0;
		}
		return -1;
	}
	int listener = -1;
	if (r.stop_requested) {
		log_event(LOG_INFO, "runner.skipped", NULL,
			  "stop requested: the runner is not started");
		code = EX_RS_OK;
	} else {
		char *args[] = { (char *)"run", NULL };
		listener = run_listener(&r, args, NULL, err);
		if (listener < 0) {
			code = err->exit_code ? err->exit_code : EX_RS_SOFTWARE;
			log_event(LOG_ERROR, "runner.exited", NULL,
				  "the runner could not start: %s", err->msg);
		} else {
			code = r.stop_requested && listener == 0 ? EX_RS_OK
								 : map_listener_code(listener);
			log_event(LOG_INFO, "runner.exited",
				  LOG_FIELDS(LOG_INT("listener_code", listener)),
				  "Runner.Listener exited with %d", listener);
		}
	}
	remove_credentials(cfg);
	deregister(&r);
	struct gh_stats st = r.gh ? gh_get_stats(r.gh) : (struct gh_stats){ 0 };
	log_event(LOG_INFO, "supervisor.exit",
		  LOG_FIELDS(LOG_INT("code", code), LOG_INT("listener_code", listener),
			     LOG_INT("github_calls", st.calls),
			     LOG_MS("took_ms", gh_now_ms() - r.t_start)),
		  "exiting with %d", code);
	close_loop(&r);
	return code;
}

int run_check_online(const struct rs_config *cfg, struct rs_err *err)
{
	struct run r = { .cfg = cfg };
	uv_loop_init(&r.loop);
	watch_stop_signals(&r);
	struct gh_check check = { 0 };
	int rc = -1;
	if ((r.gh = gh_new(cfg, &r.loop, &r.stop_requested, err)))
		rc = gh_check_online(r.gh, deadline_in(cfg->register_deadline_s), &check, err);
	if (rc == 0) {
		printf("credentials: %s, accepted by %s\n", check.auth_kind, cfg->github_api_url);
		printf("permission: %s %s\n", check.permission,
		       check.permission_verified ? "(granted)"
						 : "(cannot be verified without registering; read "
						   "access is proven)");
		printf("runners listed at this scope: %lld\n", check.runners_seen);
		if (check.budget.remaining >= 0)
			printf("rate limit: %lld of %lld requests left, window resets at %lld "
			       "(epoch s)\n",
			       check.budget.remaining, check.budget.limit, check.budget.reset);
		else
			printf("rate limit: not reported by this server\n");
		log_event(LOG_INFO, "github.checked",
			  LOG_FIELDS(LOG_STR("auth", check.auth_kind),
				     LOG_BOOL("permission_verified", check.permission_verified),
				     LOG_INT("ratelimit_remaining", check.budget.remaining)),
			  "credentials work (no registration made)");
	}
	close_loop(&r);
	return rc;
}
