/* The runner's life in one pod: register -> run -> confirm deregistration -> exit.
 *
 * Registration and deregistration run the libuv loop inside each request (http.c), the
 * runner phase runs it in pid1_run(); a SIGTERM/SIGINT is seen in every phase. Once a runner
 * id exists, every path out of here passes through the deregistration confirmation. */
#include "run.h"

#include <dirent.h>
#include <signal.h>
#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <uv.h>

#include "cost.h"
#include "deregister.h"
#include "exitcode.h"
#include "github.h"
#include "hook.h"
#include "ipcclean.h"
#include "ahead.h"
#include "jit.h"
#include "lifecycle.h"
#include "manifest.h"
#include "names.h"
#include "procs.h"
#include "relay.h"
#include "report.h"
#include "runner_lines.h"
#include "wipe.h"
#include "log.h"
#include "pid1.h"
#include "isolate.h"
#include "runenv.h"
#include "sweep.h"
#include "signals.h"
#include "util.h"

#define ARC_BLOB_ENV "ACTIONS_RUNNER_INPUT_JITCONFIG"

extern char **environ;

struct run {
	const struct rs_config *cfg;
	uv_loop_t loop;
	uv_signal_t stop_sigs[2];
	uv_timer_t phase_timer; /* start, idle and drain deadlines */
	uv_timer_t job_timer;   /* SUPERVISOR_JOB_TIMEOUT: a hard limit, a drain cannot extend */
	volatile bool stop_requested;
	int stops;
	struct github *gh;
	char name[65];
	long long runner_id;
	bool registration_sent; /* a generate-jitconfig may have reached GitHub */
	uint64_t t_start;
	struct timespec started_wall; /* at start, for the temp entries' birth times */

	enum lc_phase phase;
	uint64_t phase_since;
	uint64_t runner_started_at;
	uint64_t job_took_ms;
	struct pid1 *pid1;       /* while the runner runs */
	struct pid1_usage usage; /* of the runner's sandbox, once it is gone */
	bool job_seen;
	bool job_completed; /* the runner printed the job's completion line */
	bool job_stopped;   /* our stop reached the runner while its job ran */
	bool ghost;         /* the runner said GitHub no longer knows it */
	bool update_line;   /* "Runner update in progress" before a job */
	bool fatal_line;    /* "An error occurred: ..." before a job */
	char fatal[256];
	int session_conflicts;
	bool arc; /* the JIT configuration came from ARC */
	/* The runner's lines reach the log at most at this pace (a job can flood the Listener's
	 * stdout through the Worker's trace); every line is still parsed. */
	double out_tokens;
	uint64_t out_refilled_ms;
	bool out_dropping;
	bool idle_timeout;
	bool start_timeout;
	bool job_timeout;
	int listener;
	struct report report;
	struct manifest *install;
	struct sbx_plan *sandbox;
	struct sandbox_ahead ahead;  /* the sandbox, made while the runner registers */
	struct sbx_report isolation; /* for the job's log (hook.h) */
	enum dereg_outcome deregistered;
	uint64_t registered_at; /* gh_now_ms() when the registration succeeded */
};

static void fire(struct run *r, enum lc_event ev);

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
	log_event(LOG_INFO, "supervisor.stopping",
		  LOG_FIELDS(LOG_STR("signal", sig_name(sig, name)),
			     LOG_STR("phase", lc_phase_name(r->phase))),
		  "%s received while %s", sig_name(sig, name), lc_phase_name(r->phase));
	r->stop_requested = true;
	r->stops++;
	/* While registering, the flag cancels the request in flight; while the runner runs,
	 * the lifecycle decides (SIGINT to the runner, drain, or kill). */
	if (r->pid1)
		fire(r, EV_STOP);
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

/* ---- the runner phase ------------------------------------------------------------ */

static void on_phase_timer(uv_timer_t *t)
{
	struct run *r = t->data;
	switch (r->phase) {
	case PH_STARTING:
		r->start_timeout = true;
		fire(r, EV_START_TIMEOUT);
		break;
	case PH_LISTENING:
		r->idle_timeout = true;
		fire(r, EV_IDLE_TIMEOUT);
		break;
	case PH_JOB_RUNNING:
		fire(r, EV_DRAIN_TIMEOUT);
		break;
	default:
		break;
	}
}

static void on_job_timer(uv_timer_t *t)
{
	struct run *r = t->data;
	r->job_timeout = true;
	fire(r, EV_JOB_TIMEOUT);
}

static void arm(struct run *r, long long seconds)
{
	uv_timer_stop(&r->phase_timer);
	if (seconds > 0)
		uv_timer_start(&r->phase_timer, on_phase_timer, (uint64_t)seconds * 1000, 0);
}

/* The job's display name and result as GitHub will show them, once the runner is gone: a
 * job our stop cancelled is marked Failed by the Worker ("The runner has received a shutdown
 * signal", StepsRunner.cs), whatever the Listener prints ("Canceled", JobDispatcher.cs). */
static void settle_job_result(struct run *r)
{
	static const char *const by_code[] = { "Succeeded", "SucceededWithIssues",
					       "Failed",    "Canceled",
					       "Skipped",   "Abandoned" };
	char *result = r->report.job_result;
	size_t size = sizeof(r->report.job_result);
	if (!r->job_seen)
		return;
	/* The Listener's exit code (ACTIONS_RUNNER_RETURN_JOB_RESULT_FOR_HOSTED) outranks its
	 * completion line: a job can write that line into the Worker's stdout, which the
	 * Listener copies, but not choose the code the Listener exits with. */
	if (r->listener >= 100 && r->listener <= 105)
		snprintf(result, size, "%s", by_code[r->listener - 100]);
	if (r->job_stopped && (!*result || strcmp(result, "Canceled") == 0))
		snprintf(result, size, "Failed");
}

static void on_job_line(struct run *r, const struct runner_line_info *info, const char *line)
{
	if (info->kind == RL_JOB_STARTED) {
		/* One job per ephemeral runner: a second "Running job" is not the runner's. */
		if (r->job_seen)
			return;
		snprintf(r->report.job_name, sizeof(r->report.job_name), "%s", info->job);
		r->job_seen = true;
		fire(r, EV_JOB_STARTED);
		return;
	}
	/* The Listener prints the same display name in both lines (JobDispatcher.cs), once,
	 * also after our stop has begun (then the phase is already stopping). */
	bool running = r->phase == PH_JOB_RUNNING || (r->phase == PH_STOPPING && r->job_stopped);
	if (!r->job_seen || *r->report.job_result || !running ||
	    strcmp(info->job, r->report.job_name) != 0) {
		log_event(LOG_WARN, "runner.line_ignored", LOG_FIELDS(LOG_STR("line", line)),
			  "a job-completed line that does not match the running job: ignored");
		return;
	}
	snprintf(r->report.job_result, sizeof(r->report.job_result), "%s", info->result);
	/* job.completed is logged once the sandbox is gone (log_job_cost): what the job cost is
	 * only known then. */
	r->job_completed = true;
	r->job_took_ms = gh_now_ms() - r->phase_since;
	fire(r, EV_JOB_COMPLETED);
}

/* What the Listener says before a job about its registration and its version. Once a job
 * has started, these lines are no longer the runner's to say: the job's text is on the same
 * stream (runner_lines.h), so they are data. */
static void on_runner_state_line(struct run *r, const struct runner_line_info *info,
				 const char *line)
{
	if (r->job_seen)
		return;
	switch (info->kind) {
	case RL_GHOST:
	case RL_DELETED:
		if (!r->ghost)
			log_event(LOG_ERROR, "runner.ghost", LOG_FIELDS(LOG_STR("line", line)),
				  "GitHub no longer knows this runner%s",
				  info->kind == RL_GHOST ? ": stopping it" : "");
		r->ghost = true;
		/* The Listener retries a missing registration until it gives up: stop it now.
		 * When the runner was deleted it exits by itself. */
		if (info->kind == RL_GHOST)
			fire(r, EV_GHOST);
		break;
	case RL_SESSION_CONFLICT:
		/* Retried by the Listener every 30 s for 4 minutes, then exit 5
		 * (BrokerMessageListener.cs); the start deadline bounds the wait. */
		r->session_conflicts++;
		log_event(LOG_WARN, "runner.session_conflict",
			  LOG_FIELDS(LOG_INT("count", r->session_conflicts)),
			  "another session holds this runner's registration: the runner retries");
		break;
	case RL_UPDATING:
		r->update_line = true;
		log_event(LOG_ERROR, "runner.updating", NULL,
			  "the runner is updating itself: the image is outdated");
		break;
	case RL_FATAL:
		r->fatal_line = true;
		snprintf(r->fatal, sizeof(r->fatal), "%s", info->message);
		break;
	default:
		break;
	}
}

static bool is_trace_line(const char *line)
{
	return strncmp(line, "[RUNNER ", 8) == 0 || strncmp(line, "[WORKER ", 8) == 0;
}

#define OUTPUT_BURST_LINES 2000
#define OUTPUT_LINES_PER_S 500

/* A token bucket: true when this line may be logged. */
static bool output_may_log(struct run *r)
{
	uint64_t now = gh_now_ms();
	if (r->out_refilled_ms == 0)
		r->out_tokens = OUTPUT_BURST_LINES;
	else
		r->out_tokens += (double)(now - r->out_refilled_ms) * OUTPUT_LINES_PER_S / 1000.0;
	if (r->out_tokens > OUTPUT_BURST_LINES)
		r->out_tokens = OUTPUT_BURST_LINES;
	r->out_refilled_ms = now;
	if (r->out_tokens < 1)
		return false;
	r->out_tokens -= 1;
	return true;
}

static void log_runner_line(struct run *r, const char *line, const char *stream, bool continued)
{
	r->report.output_lines++;
	if (!output_may_log(r)) {
		if (!r->out_dropping)
			log_event(LOG_WARN, "runner.output_dropped",
				  LOG_FIELDS(LOG_INT("lines_per_s", OUTPUT_LINES_PER_S)),
				  "the runner prints faster than %d lines/s: lines are left out of "
				  "the log (still read); the count is in the summary",
				  OUTPUT_LINES_PER_S);
		r->out_dropping = true;
		r->report.output_dropped++;
		return;
	}
	r->out_dropping = false;
	/* Each line once, as the message; kept as data for the operator (kubectl logs). */
	log_event(LOG_INFO, "runner.output",
		  LOG_FIELDS(LOG_STR("stream", stream), LOG_BOOL("trace", is_trace_line(line)),
			     LOG_BOOL("continued", continued)),
		  "%s", line);
}

static void on_runner_line(const char *line, const char *stream, bool continued, void *ud)
{
	struct run *r = ud;
	log_runner_line(r, line, stream, continued);
	/* The rest of a cut line is never a status line of its own. */
	if (continued)
		return;
	struct runner_line_info info;
	runner_line_parse(line, strcmp(stream, "stderr") == 0 ? RUNNER_STDERR : RUNNER_STDOUT,
			  &info);
	switch (info.kind) {
	case RL_LISTENING:
		fire(r, EV_LISTENING);
		break;
	case RL_JOB_STARTED:
	case RL_JOB_COMPLETED:
		on_job_line(r, &info, line);
		break;
	case RL_OTHER:
		break;
	default:
		on_runner_state_line(r, &info, line);
		break;
	}
}

static void hook_started(struct pid1 *p, pid_t pid, void *ud)
{
	struct run *r = ud;
	r->pid1 = p;
	r->runner_started_at = gh_now_ms();
	log_event(LOG_INFO, "runner.started", LOG_FIELDS(LOG_INT("pid", pid)), "runner started");
	/* A stop that arrived while we were still registering or starting. */
	if (r->stop_requested)
		fire(r, EV_STOP);
}

static bool hook_signal(struct pid1 *p, int sig, void *ud)
{
	/* SIGTERM/SIGINT are the lifecycle's (on_stop_signal): never forwarded as they are. */
	return sig == SIGTERM || sig == SIGINT;
}

static void hook_exited(struct pid1 *p, int status, void *ud)
{
	struct run *r = ud;
	r->listener = status;
	log_event(LOG_INFO, "runner.exited",
		  LOG_FIELDS(LOG_INT("listener_code", status),
			     LOG_MS("took_ms", gh_now_ms() - r->runner_started_at)),
		  "Runner.Listener exited with %d", status);
	fire(r, EV_RUNNER_EXITED);
}

/* Runs the Listener with args as the runner user, relaying its output when lines is set,
 * and waits for it and its leftovers. */
static int run_listener(struct run *r, char *const *args, const char *const *extra_env,
			bool lifecycle, struct rs_err *err)
{
	const struct rs_config *cfg = r->cfg;
	char *argv[20] = { runner_path(cfg) };
	size_t i = 1;
	for (; args[i - 1] && i < ARRAY_SIZE(argv) - 1; i++)
		argv[i] = args[i - 1];
	argv[i] = NULL;
	char **env = runenv_build(cfg, environ, extra_env);
	int out[2] = { -1, -1 }, errp[2] = { -1, -1 };
	if (!argv[0] || !env || pipe2(out, O_CLOEXEC) < 0 || pipe2(errp, O_CLOEXEC) < 0) {
		free(argv[0]);
		runenv_free(env);
		for (int k = 0; k < 2; k++) {
			if (out[k] >= 0)
				close(out[k]);
			if (errp[k] >= 0)
				close(errp[k]);
		}
		return rs_fail(err, EX_RS_SOFTWARE, errno ? errno : ENOMEM, "starting the runner");
	}
	struct relay *ro = relay_start(&r->loop, out[0], "stdout", on_runner_line, r);
	struct relay *re = relay_start(&r->loop, errp[0], "stderr", on_runner_line, r);
	struct pid1_hooks hooks = {
		.ud = r, .started = hook_started, .signal = hook_signal, .exited = hook_exited
	};
	int killed = 0;
	struct pid1_opts o = {
		.argv = argv,
		.envp = env,
		.workdir = cfg->runner_root,
		.set_ids = true,
		.uid = cfg->runner_uid,
		.gid = cfg->runner_gid,
		.grace_ms = (uint64_t)cfg->stop_grace_s * 1000,
		.what = "runner",
		.stdout_fd = out[1],
		.stderr_fd = errp[1],
		/* The runner sets none and jobs expect a hosted runner's 022: dpkg-deb, tarballs
		 * and image builds break on 0600 files. The credential files are written 0600
		 * by the supervisor itself (jit.c). */
		.umask = 022,
		.plan = r->sandbox,
		/* Token mode's `configure` needs no container engine; the job's sandbox has it. */
		.without_engine = !lifecycle,
		.prepared = lifecycle ? ahead_child(&r->ahead) : NULL,
		.hooks = lifecycle ? &hooks : NULL,
		.left_behind = &killed,
		.usage = lifecycle ? &r->usage : NULL,
	};
	int code = pid1_run(&r->loop, &o, err);
	close(out[1]);
	close(errp[1]);
	relay_close(ro);
	relay_close(re);
	r->pid1 = NULL;
	if (lifecycle)
		r->report.killed += killed;
	free(argv[0]);
	runenv_free(env);
	return code;
}

/* Token mode: configure with the token in the environment, never on the command line. */
/* configure's arguments: optional ones are appended only when set. */
static void push_arg(char **args, size_t *n, size_t cap, const char *flag, const char *value)
{
	if (!value || !*value || *n + 3 > cap)
		return;
	args[(*n)++] = (char *)flag;
	args[(*n)++] = (char *)value;
	args[*n] = NULL;
}

static int configure_with_token(struct run *r, struct rs_err *err)
{
	const struct rs_config *cfg = r->cfg;
	uint64_t deadline = deadline_in(cfg->register_deadline_s);
	char group[256];
	/* configure takes a group's name, never its id (config.sh's --runnergroup). */
	if (gh_runner_group_name(r->gh, deadline, group, sizeof(group), err) < 0)
		return -1;
	char *token = NULL;
	if (gh_registration_token(r->gh, deadline, &token, err) < 0)
		return -1;
	char *token_env = NULL, *labels = NULL;
	size_t labels_len = 0;
	FILE *lf = open_memstream(&labels, &labels_len);
	for (size_t i = 0; lf && i < cfg->n_labels; i++)
		fprintf(lf, "%s%s", i ? "," : "", cfg->labels[i]);
	/* As for JIT (github.c, labels_json): the fleet's label, the time of this registration. */
	char born[BORN_LABEL_SIZE];
	const char *fleet[2];
	size_t n_fleet = runner_fleet_labels(cfg->fleet_label, cfg->labels, cfg->n_labels,
					     time(NULL), born, fleet);
	for (size_t i = 0; lf && i < n_fleet; i++)
		fprintf(lf, "%s%s", cfg->n_labels || i ? "," : "", fleet[i]);
	if (lf)
		fclose(lf);
	int rc = asprintf(&token_env, "ACTIONS_RUNNER_INPUT_TOKEN=%s", token);
	explicit_bzero(token, strlen(token));
	free(token);
	if (rc < 0 || !labels) {
		free(labels);
		return rs_fail(err, EX_RS_SOFTWARE, ENOMEM, "configure");
	}
	char *args[20] = { (char *)"configure", (char *)"--unattended", (char *)"--ephemeral",
			   (char *)"--disableupdate", NULL };
	size_t n = 4;
	push_arg(args, &n, ARRAY_SIZE(args), "--url", cfg->github_url);
	push_arg(args, &n, ARRAY_SIZE(args), "--name", r->name);
	push_arg(args, &n, ARRAY_SIZE(args), "--runnergroup", group);
	push_arg(args, &n, ARRAY_SIZE(args), "--work", cfg->runner_workdir);
	push_arg(args, &n, ARRAY_SIZE(args), "--labels", labels);
	const char *extra[] = { token_env, NULL };
	r->registration_sent = true;
	int code = run_listener(r, args, extra, false, err);
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
	if (jit_decode(blob, &jit, err) < 0 || jit_disable_update(&jit, err) < 0) {
		jit_free(&jit);
		return -1;
	}
	if (!r->runner_id)
		r->runner_id = jit.runner_id;
	/* The blob's name wins: with ARC it is the EphemeralRunner's, not the pod's. */
	if (jit.runner_name)
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
		r->arc = true;
		how = "ARC JIT configuration";
		rc = write_jit(r, arc_blob, err);
	} else if (cfg->registration == REG_TOKEN) {
		how = "registration token";
		rc = configure_with_token(r, err);
	} else {
		how = "JIT configuration";
		struct gh_registration reg;
		rc = gh_register_jit(r->gh, r->name, deadline_in(cfg->register_deadline_s), &reg,
				     err);
		r->registration_sent = rc < 0 && gh_registration_uncertain(r->gh);
		if (rc == 0) {
			r->runner_id = reg.runner_id;
			snprintf(r->name, sizeof(r->name), "%s", reg.name);
			rc = write_jit(r, reg.jit_blob, err);
		}
		gh_registration_free(&reg);
	}
	if (rc == 0)
		r->registered_at = gh_now_ms();
	if (rc == 0)
		log_event(LOG_INFO, "runner.registered",
			  LOG_FIELDS(LOG_STR("runner_name", r->name),
				     LOG_INT("runner_id", r->runner_id), LOG_STR("with", how),
				     LOG_MS("took_ms", gh_now_ms() - t0)),
			  "runner %s (%lld) registered with a %s", r->name, r->runner_id, how);
	return rc;
}

/* Every path out after a registration attempt comes through here. */
static void deregister(struct run *r)
{
	struct dereg_target t = {
		.runner_id = r->runner_id,
		.name = r->name,
		/* GitHub removes an ephemeral runner after its job: look before deleting. */
		.likely_gone = (r->job_seen && r->report.job_result[0]) ||
			       (r->listener >= 100 && r->listener <= 105),
		.arc = r->arc,
	};
	r->deregistered = deregister_runner(r->gh, r->cfg, &t, &r->stop_requested);
	r->report.deregistered = dereg_outcome_name(r->deregistered);
}

/* After our own deregistration, never on a job's path: the fleet's ghosts (sweep.h). Not
 * when GitHub did not confirm ours (it is struggling), nor in ARC mode (ARC's runners). */
static void sweep(struct run *r)
{
	if (r->arc || r->deregistered != DEREG_CONFIRMED || !r->registered_at)
		return;
	struct sweep_report rep;
	sweep_fleet(r->gh, r->cfg, r->runner_id, gh_now_ms() - r->registered_at, &r->stop_requested,
		    &rep);
	for (int i = 0; i < rep.deleted && i < SWEEP_IDS_KEPT; i++)
		r->report.swept[r->report.n_swept++] = rep.ids[i];
}

/* ---- the table's actions ----------------------------------------------------------- */

static void enter(struct run *r, enum lc_phase to)
{
	uint64_t now = gh_now_ms();
	if (to != r->phase) {
		r->report.phase_ms[r->phase] += now - r->phase_since;
		r->phase_since = now;
		log_event(LOG_DEBUG, "lifecycle.phase",
			  LOG_FIELDS(LOG_STR("from", lc_phase_name(r->phase)),
				     LOG_STR("to", lc_phase_name(to))),
			  "%s -> %s", lc_phase_name(r->phase), lc_phase_name(to));
	}
	r->phase = to;
}

static void stop_runner(struct run *r)
{
	uv_timer_stop(&r->phase_timer);
	uv_timer_stop(&r->job_timer);
	if (!r->pid1)
		return;
	/* SIGINT: the Listener cancels a running job (result Canceled), deletes its session
	 * and exits 0; everything is killed when the grace runs out (contract, "Signals"). */
	pid1_signal_child(r->pid1, SIGINT);
	pid1_kill_after(r->pid1, (uint64_t)r->cfg->stop_grace_s * 1000);
}

static void act(struct run *r, enum lc_action action)
{
	const struct rs_config *cfg = r->cfg;
	switch (action) {
	case ACT_NONE:
		break;
	case ACT_ARM_START_TIMER:
		arm(r, cfg->register_deadline_s);
		break;
	case ACT_ARM_IDLE_TIMER: {
		log_event(LOG_INFO, "runner.listening",
			  LOG_FIELDS(LOG_MS("took_ms", gh_now_ms() - r->runner_started_at)),
			  "the runner is listening for a job");
		/* Idle time counts from the runner's start, not from its first line. */
		long long used = (long long)((gh_now_ms() - r->runner_started_at) / 1000);
		if (cfg->idle_timeout_s > 0)
			arm(r, cfg->idle_timeout_s > used ? cfg->idle_timeout_s - used : 1);
		else
			uv_timer_stop(&r->phase_timer);
		break;
	}
	case ACT_JOB_STARTED:
		log_event(LOG_INFO, "job.started", LOG_FIELDS(LOG_STR("job", r->report.job_name)),
			  "job %s started", r->report.job_name);
		arm(r, 0);
		if (cfg->job_timeout_s > 0)
			uv_timer_start(&r->job_timer, on_job_timer,
				       (uint64_t)cfg->job_timeout_s * 1000, 0);
		break;
	case ACT_ARM_DRAIN:
		log_event(LOG_INFO, "job.draining",
			  LOG_FIELDS(LOG_INT("drain_s", cfg->drain_timeout_s)),
			  "letting the job finish for up to %lld s", cfg->drain_timeout_s);
		arm(r, cfg->drain_timeout_s);
		break;
	case ACT_STOP_RUNNER:
		stop_runner(r);
		break;
	case ACT_KILL_NOW:
		if (r->pid1)
			pid1_kill_now(r->pid1);
		break;
	case ACT_AWAIT_EXIT:
		uv_timer_stop(&r->phase_timer);
		uv_timer_stop(&r->job_timer);
		if (r->pid1)
			pid1_kill_after(r->pid1, (uint64_t)cfg->stop_grace_s * 1000);
		break;
	}
}

static void fire(struct run *r, enum lc_event ev)
{
	/* A stop during a job without a drain time, or a second stop while draining, cancels
	 * the job now: the same as the drain running out. */
	if (r->phase == PH_JOB_RUNNING && ev == EV_STOP &&
	    (r->cfg->drain_timeout_s == 0 || r->stops > 1))
		ev = EV_DRAIN_TIMEOUT;
	const struct lc_transition *t = lc_next(r->phase, ev);
	if (!t)
		return;
	if (r->phase == PH_JOB_RUNNING && t->action == ACT_STOP_RUNNER)
		r->job_stopped = true;
	enter(r, t->to);
	act(r, t->action);
}

/* ---- teardown, wipe, report --------------------------------------------------------- */

static void remove_credentials(const struct rs_config *cfg)
{
	/* The runner removes them after an ephemeral job, not after a crash or a stop. */
	const char *files[] = { ".runner", ".credentials", ".credentials_rsaparams" };
	for (size_t i = 0; i < ARRAY_SIZE(files); i++) {
		char path[4096];
		snprintf(path, sizeof(path), "%s/%s", cfg->runner_root, files[i]);
		unlink(path);
	}
}

/* A figure, or null when it is unknown (-1). */
static struct log_field known(const char *key, long long v)
{
	return v >= 0 ? LOG_INT(key, v) : LOG_STR(key, NULL);
}

/* What the job cost (cost.h), once its sandbox is gone: the job cgroup's figures where it
 * has one (sandbox/cgroup.c; an OOM there is the job's, and reported), the kernel's usage of
 * every process it ran (pid1.c), and what it left in the work folder. */
static void note_job_cost(struct run *r)
{
	if (r->listener < 0)
		return; /* the runner never ran: nothing to measure */
	struct job_cost c = JOB_COST_UNKNOWN;
	/* The cgroup's count holds every process, reaped or not; the init's usage is what it
	 * reaped, which with a PID namespace is the same. */
	long long cgroup_cpu_us = sbx_job_cpu_us(r->sandbox);
	c.cpu_ms = (cgroup_cpu_us >= 0 ? cgroup_cpu_us : r->usage.cpu_us) / 1000;
	c.tasks = r->usage.tasks;
	c.oom_kills = sbx_job_oom_kills(r->sandbox);
	c.memory_peak = sbx_job_memory_peak(r->sandbox);
	c.memory_from_cgroup = c.memory_peak >= 0;
	if (c.memory_peak < 0 && r->usage.maxrss_kb > 0)
		c.memory_peak = r->usage.maxrss_kb * 1024;
	c.workdir_bytes = cost_dir_bytes(r->cfg->runner_workdir);
	r->report.cpu_ms = c.cpu_ms;
	r->report.memory_peak = c.memory_peak;
	if (c.memory_peak >= 0)
		r->report.memory_from = c.memory_from_cgroup ? "cgroup" : "rusage";
	r->report.workdir_bytes = c.workdir_bytes;
	r->report.tasks = c.tasks;
	r->report.oom_kills = c.oom_kills;
	if (c.oom_kills > 0)
		log_event(LOG_WARN, "job.oom",
			  LOG_FIELDS(LOG_INT("oom_kills", c.oom_kills),
				     LOG_INT("memory_peak_bytes", c.memory_peak)),
			  "the job ran out of its memory: the kernel killed %lld of its processes",
			  c.oom_kills);
	if (!r->job_completed)
		return;
	char cost[256];
	cost_describe(&c, cost, sizeof(cost));
	log_event(LOG_INFO, "job.completed",
		  LOG_FIELDS(LOG_STR("job", r->report.job_name),
			     LOG_STR("result", r->report.job_result),
			     LOG_MS("took_ms", r->job_took_ms), known("cpu_ms", c.cpu_ms),
			     known("memory_peak_bytes", c.memory_peak),
			     LOG_STR("memory_from", r->report.memory_from),
			     known("workdir_bytes", c.workdir_bytes), known("tasks", c.tasks),
			     known("oom_kills", c.oom_kills)),
		  "job %s completed: %s in %llu.%llu s; %s", r->report.job_name,
		  r->report.job_result, (unsigned long long)(r->job_took_ms / 1000),
		  (unsigned long long)(r->job_took_ms % 1000 / 100), cost);
}

/* Without a PID namespace a job's process could also live outside our tree (a double fork
 * under another reaper cannot happen to a subreaper, but a process may have been started
 * by something else as the same uid): kill the runner uid until none is left. */
static void kill_runner_uid(struct run *r)
{
	const struct rs_config *cfg = r->cfg;
	if (!cfg->runner_user_resolved || cfg->runner_uid == 0 || cfg->runner_uid == getuid())
		return;
	for (int round = 0; round < 100; round++) {
		int n = procs_kill_uid(cfg->runner_uid);
		if (n <= 0)
			return;
		r->report.killed += n;
		struct timespec ts = { 0, 10L * 1000 * 1000 };
		nanosleep(&ts, NULL);
		while (waitpid(-1, NULL, WNOHANG | __WALL) > 0)
			;
	}
}

static void add_wipe(struct run *r, const struct wipe_stats *ws)
{
	r->report.wipe_files += ws->files;
	r->report.wipe_dirs += ws->dirs;
	r->report.wipe_bytes += ws->bytes;
	r->report.wipe_left += ws->left;
}

static void wipe_path(struct run *r, const char *path)
{
	int fd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0 && errno == ENOENT)
		return; /* never created */
	if (fd < 0) {
		/* The job put a symlink (or a file) where the directory was: remove the entry
		 * itself, never what it points to; the next runner recreates the directory. */
		if (unlink(path) == 0)
			r->report.wipe_files++;
		else
			r->report.wipe_left++;
		return;
	}
	struct wipe_stats ws = { 0 };
	struct rs_err err = { 0 };
	if (wipe_dirfd(fd, path, &ws, &err) < 0)
		ws.left++;
	close(fd);
	add_wipe(r, &ws);
}

/* Born (or, without statx birth times, changed) since the supervisor started: the job's,
 * not something the image or another tenant of the directory put there before us. */
static bool new_since(int dfd, const char *name, const struct timespec *since)
{
	struct statx stx;
	if (statx(dfd, name, AT_SYMLINK_NOFOLLOW, STATX_BTIME | STATX_CTIME, &stx) < 0)
		return false;
	struct statx_timestamp t = (stx.stx_mask & STATX_BTIME) ? stx.stx_btime : stx.stx_ctime;
	return t.tv_sec > since->tv_sec ||
	       (t.tv_sec == since->tv_sec && t.tv_nsec >= (uint32_t)since->tv_nsec);
}

/* The runner's own directories are emptied by their own rules, never removed as "temp". */
static bool is_runner_dir(const struct rs_config *cfg, int dfd, const char *name)
{
	struct stat st, other;
	if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return true;
	const char *dirs[] = { cfg->runner_root, cfg->runner_workdir };
	for (size_t i = 0; i < ARRAY_SIZE(dirs); i++)
		if (stat(dirs[i], &other) == 0 && other.st_dev == st.st_dev &&
		    other.st_ino == st.st_ino)
			return true;
	return false;
}

/* Entries of a shared temp dir that the runner user created during this run. */
static void wipe_tmp_of_user(struct run *r, const char *tmp, uid_t uid)
{
	int dfd = open(tmp, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	DIR *d = dfd >= 0 ? fdopendir(dfd) : NULL;
	if (!d) {
		if (dfd >= 0)
			close(dfd);
		return;
	}
	for (struct dirent *de; (de = readdir(d));) {
		struct stat st;
		if (de->d_name[0] == '.' &&
		    (!de->d_name[1] || (de->d_name[1] == '.' && !de->d_name[2])))
			continue;
		if (fstatat(dfd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0 || st.st_uid != uid ||
		    !new_since(dfd, de->d_name, &r->started_wall) ||
		    is_runner_dir(r->cfg, dfd, de->d_name))
			continue;
		struct wipe_stats ws = { 0 };
		if (S_ISDIR(st.st_mode)) {
			struct rs_err err = { 0 };
			int sub = openat(dfd, de->d_name,
					 O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
			if (sub >= 0) {
				wipe_dirfd(sub, de->d_name, &ws, &err);
				close(sub);
			}
			if (unlinkat(dfd, de->d_name, AT_REMOVEDIR) == 0)
				ws.dirs++;
			else
				ws.left++;
		} else if (unlinkat(dfd, de->d_name, 0) == 0) {
			ws.files++;
			ws.bytes += S_ISREG(st.st_mode) ? st.st_size : 0;
		} else {
			ws.left++;
		}
		add_wipe(r, &ws);
	}
	closedir(d);
}

static bool wipe_everything(struct run *r)
{
	const struct rs_config *cfg = r->cfg;
	uint64_t t0 = gh_now_ms();
	char diag[4096];
	snprintf(diag, sizeof(diag), "%s/_diag", cfg->runner_root);
	wipe_path(r, cfg->runner_workdir);
	wipe_path(r, diag);
	remove_credentials(cfg);
	bool intact = true;
	long long restored = 0;
	if (r->install) {
		struct manifest_result mr;
		struct rs_err err = { 0 };
		if (manifest_restore(r->install, &mr, &err) < 0) {
			r->report.wipe_left++;
		} else {
			r->report.wipe_files += mr.removed;
			r->report.wipe_bytes += mr.removed_bytes;
			r->report.wipe_left += mr.left;
			restored = mr.restored;
			intact = mr.changed == 0;
		}
	}
	/* Also when the supervisor shares the runner's uid (runAsNonRoot): it leaves nothing of
	 * its own in these places. */
	if (cfg->runner_user_resolved && cfg->runner_uid != 0) {
		wipe_tmp_of_user(r, "/tmp", cfg->runner_uid);
		wipe_tmp_of_user(r, "/var/tmp", cfg->runner_uid);
		struct ipc_cleanup ipc;
		ipc_remove_of_uid(cfg->runner_uid, &ipc);
		r->report.wipe_files += ipc.removed;
		r->report.wipe_left += ipc.left;
	}
	log_event(
	    r->report.wipe_left || !intact ? LOG_ERROR : LOG_INFO, "workspace.wiped",
	    LOG_FIELDS(LOG_INT("files", r->report.wipe_files), LOG_INT("dirs", r->report.wipe_dirs),
		       LOG_INT("bytes", r->report.wipe_bytes), LOG_INT("left", r->report.wipe_left),
		       LOG_INT("restored", restored), LOG_BOOL("installation_intact", intact),
		       LOG_MS("took_ms", gh_now_ms() - t0)),
	    "workspace wiped: %lld files, %lld dirs, %lld bytes; %lld left%s", r->report.wipe_files,
	    r->report.wipe_dirs, r->report.wipe_bytes, r->report.wipe_left,
	    intact ? "" : "; the installation changed");
	return r->report.wipe_left == 0 && intact;
}

static int exit_code(struct run *r, bool wiped, const char **reason)
{
	struct run_outcome o = {
		.listener = r->listener,
		.wiped = wiped,
		.job_seen = r->job_seen,
		.job_stopped = r->job_stopped,
		.stop_requested = r->stop_requested,
		.idle_timeout = r->idle_timeout,
		.start_timeout = r->start_timeout,
		.update_line = r->update_line,
		.fatal_line = r->fatal_line,
		.ghost = r->ghost,
		.session_conflicts = r->session_conflicts,
		.arc = r->arc,
		.deregistered = r->deregistered,
	};
	return exit_code_for(&o, reason);
}

/* The sandbox is decided before anything is registered: under strict, a pod that cannot
 * have it exits 71 without a trace at GitHub. */
static int set_isolation(struct run *r, struct rs_err *err)
{
	r->sandbox = isolate_prepare(r->cfg, r->name, &r->isolation, err);
	for (int l = 0; l < SBX_L_COUNT && r->report.n_layers < ARRAY_SIZE(r->report.layers); l++)
		r->report.layers[r->report.n_layers++] =
		    (struct report_layer){ sbx_layer_name((enum sbx_layer)l),
					   sbx_state_name(r->isolation.layer[l].state) };
	return r->sandbox ? 0 : -1;
}

/* The isolation report in the job's log (hook.h): the runner's job-started hook, with the
 * operator's own one chained. Returns the variable for the runner's environment, or NULL
 * (then the operator's hook, if any, reaches the runner as it was). */
static char *job_hook(struct run *r)
{
	static const char *const modes[] = {
		[SBX_AUTO] = "auto", [SBX_STRICT] = "strict", [SBX_OFF] = "off"
	};
	char pod[256] = "";
	gethostname(pod, sizeof(pod) - 1);
	struct hook_info info = {
		.runner_name = r->name,
		.runner_id = r->runner_id,
		.pod = pod,
		.mode = modes[r->cfg->sandbox],
		.profile =
		    r->cfg->sandbox_profile == SBX_PROFILE_USERNS_ROOT ? "userns-root" : "nnp",
		.report = &r->isolation,
		.runner_root = r->cfg->runner_root,
		.chained = getenv(HOOK_ENV),
	};
	char *script = hook_script(&info), *path = NULL, *entry = NULL;
	struct rs_err err = { 0 };
	if (!script)
		rs_fail(&err, EX_RS_SOFTWARE, ENOMEM, "the job-started hook");
	else if (hook_install(r->cfg->runner_root, script, &path, &err) == 0 &&
		 asprintf(&entry, "%s=%s", HOOK_ENV, path) < 0)
		entry = NULL;
	free(script);
	free(path);
	if (!entry)
		log_event(LOG_WARN, "hook.unwritten", NULL,
			  "the job's log will not show the isolation report: %s",
			  err.msg[0] ? err.msg : "out of memory");
	return entry;
}

static void finish_report(struct run *r, int code, const char *reason)
{
	enter(r, PH_REPORTING);
	snprintf(r->report.runner_name, sizeof(r->report.runner_name), "%s", r->name);
	r->report.runner_id = r->runner_id;
	r->report.exit_code = code;
	r->report.reason = reason;
	r->report.listener_code = r->listener;
	r->report.github_calls = r->gh ? gh_get_stats(r->gh).calls : 0;
	char *raw = report_json(&r->report);
	/* The termination log is shown in the pod's status: the same redaction as the log. */
	char *json = raw ? log_redact(raw) : NULL;
	free(raw);
	if (json && report_write(json, r->cfg->termination_log) < 0)
		log_event(LOG_WARN, "report.unwritten",
			  LOG_FIELDS(LOG_STR("path", r->cfg->termination_log)),
			  "cannot write the summary to %s: %s", r->cfg->termination_log,
			  strerror(errno));
	log_event(LOG_INFO, "supervisor.exit",
		  LOG_FIELDS(LOG_INT("code", code), LOG_INT("github_calls", r->report.github_calls),
			     LOG_JSON("summary", json)),
		  "exiting with %d: %s", code, reason);
	free(json);
	enter(r, PH_DONE);
}

static void close_loop(struct run *r)
{
	gh_free(r->gh);
	r->gh = NULL;
	manifest_free(r->install);
	r->install = NULL;
	sbx_plan_free(r->sandbox);
	r->sandbox = NULL;
	uv_close((uv_handle_t *)&r->phase_timer, NULL);
	uv_close((uv_handle_t *)&r->job_timer, NULL);
	for (size_t i = 0; i < ARRAY_SIZE(r->stop_sigs); i++)
		uv_close((uv_handle_t *)&r->stop_sigs[i], NULL);
	uv_run(&r->loop, UV_RUN_DEFAULT);
	uv_loop_close(&r->loop);
}

/* The runner must create its folders in RUNNER_WORKDIR: a volume mounted there (an emptyDir
 * made by another runtime, a PVC, a hostPath) may be root's 0755. Only the directory itself
 * changes hands, never what is below it. */
static void give_workdir_to_runner(const struct rs_config *cfg)
{
	_cleanup_(closep) int fd =
	    open(cfg->runner_workdir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	struct stat st;
	if (fd < 0 || fstat(fd, &st) < 0 ||
	    (st.st_uid == cfg->runner_uid && st.st_gid == cfg->runner_gid))
		return;
	if (fchown(fd, cfg->runner_uid, cfg->runner_gid) < 0)
		log_event(LOG_WARN, "workdir.unowned",
			  LOG_FIELDS(LOG_STR("dir", cfg->runner_workdir)),
			  "RUNNER_WORKDIR %s: cannot give it to the runner's uid: %s",
			  cfg->runner_workdir, strerror(errno));
}

/* A work folder that is not empty at start holds an earlier job's files: a Deployment's
 * container restarted over the same volume, say. It is emptied before anything is
 * registered; one that cannot be is exit 74, and no job ever sees it. */
static int empty_workdir_at_start(const struct rs_config *cfg, struct rs_err *err)
{
	DIR *d = opendir(cfg->runner_workdir);
	if (!d)
		return 0; /* not there yet: the runner makes it */
	bool empty = true;
	for (struct dirent *e; empty && (e = readdir(d));)
		empty = strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0;
	closedir(d);
	if (empty)
		return 0;
	struct wipe_stats st;
	if (wipe_dir(cfg->runner_workdir, &st, err) < 0)
		return -1;
	log_event(st.left ? LOG_ERROR : LOG_WARN, "workspace.wiped",
		  LOG_FIELDS(LOG_STR("dir", cfg->runner_workdir), LOG_BOOL("at_start", true),
			     LOG_INT("files", st.files), LOG_INT("dirs", st.dirs),
			     LOG_INT("left", st.left)),
		  "RUNNER_WORKDIR %s held an earlier job's files: %s", cfg->runner_workdir,
		  st.left ? "it cannot be emptied" : "emptied before registering");
	if (st.left)
		return rs_fail(
		    err, EX_RS_IOERR, 0,
		    "RUNNER_WORKDIR %s is not empty and cannot be emptied: this pod must "
		    "not take a job",
		    cfg->runner_workdir);
	return 0;
}

static void record_installation(struct run *r)
{
	/* What the wipe empties anyway is not part of the installation's identity. */
	static const char *const skip[] = {
		"_work", "_diag", ".runner", ".credentials", ".credentials_rsaparams", NULL
	};
	struct rs_err err = { 0 };
	r->install = manifest_record(r->cfg->runner_root, skip, &err);
	if (!r->install)
		log_event(LOG_WARN, "installation.unrecorded", NULL, "%s", err.msg);
}

int run_lifecycle(const struct rs_config *cfg, char *arc_blob, struct rs_err *err)
{
	struct run r = { .cfg = cfg, .t_start = gh_now_ms(), .listener = -1 };
	r.report.oom_kills = r.report.memory_peak = -1;
	r.report.cpu_ms = r.report.workdir_bytes = r.report.tasks = -1;
	clock_gettime(CLOCK_REALTIME, &r.started_wall);
	r.phase_since = r.t_start;
	uv_loop_init(&r.loop);
	uv_timer_init(&r.loop, &r.phase_timer);
	uv_timer_init(&r.loop, &r.job_timer);
	r.phase_timer.data = r.job_timer.data = &r;
	watch_stop_signals(&r);
	gh_runner_name(cfg, r.name);
	/* Before the sandbox is planned: the container engine's directory is made in it. */
	give_workdir_to_runner(cfg);
	if (empty_workdir_at_start(cfg, err) < 0 || set_isolation(&r, err) < 0) {
		close_loop(&r);
		return -1;
	}
	if (has_credentials(cfg) && cfg->github_api_url &&
	    !(r.gh = gh_new(cfg, &r.loop, &r.stop_requested, err))) {
		close_loop(&r);
		return -1;
	}
	hook_remove(cfg->runner_root); /* an earlier container's, never the installation's */
	record_installation(&r);
	fire(&r, EV_BEGIN);
	int code = 0;
	const char *reason = NULL;
	/* Token mode runs `configure` in a sandbox of its own meanwhile (ahead.h). */
	r.ahead = (struct sandbox_ahead){ .child = SBX_CHILD_NONE };
	if (arc_blob || cfg->registration != REG_TOKEN)
		ahead_start(&r.ahead, &r.loop, r.sandbox);
	int registered = register_runner(&r, arc_blob, err);
	ahead_stop(&r.ahead);
	if (registered < 0 || r.stop_requested)
		ahead_abandon(&r.ahead);
	if (registered < 0) {
		bool stopped = err->exit_code == EX_RS_OK && err->sys_errno == ECANCELED;
		fire(&r, EV_REGISTER_FAILED);
		code = stopped ? EX_RS_OK : (err->exit_code ? err->exit_code : EX_RS_SOFTWARE);
		reason = stopped ? "stopped by signal during registration" : err->msg;
		if (!stopped)
			log_event(LOG_ERROR, "supervisor.error", LOG_FIELDS(LOG_INT("code", code)),
				  "%s", err->msg);
		if (r.arc)
			code = arc_exit_code(code, false);
		remove_credentials(cfg);
		/* A request cut short may still have registered us: look for our ghost. */
		if (r.registration_sent || r.runner_id) {
			deregister(&r);
			if (r.deregistered == DEREG_UNCONFIRMED && code == EX_RS_OK) {
				code = EX_RS_TEMPFAIL;
				reason = "stopped during registration; the registration may remain";
			}
		} else {
			log_event(LOG_INFO, "runner.deregistered",
				  LOG_FIELDS(LOG_BOOL("confirmed", true)),
				  "nothing was registered");
			r.report.deregistered = "none";
		}
		finish_report(&r, code, reason);
		close_loop(&r);
		return code;
	}
	fire(&r, EV_REGISTERED);
	if (r.stop_requested) {
		/* SIGTERM arrived during registration: the runner is not started. */
		log_event(LOG_INFO, "runner.skipped", NULL,
			  "stop requested: the runner is not started");
		enter(&r, PH_STOPPING);
	} else {
		char *args[] = { (char *)"run", NULL };
		char *hook = job_hook(&r);
		const char *extra[] = { hook, NULL };
		if (run_listener(&r, args, extra, true, err) < 0) {
			log_event(LOG_ERROR, "runner.exited", NULL,
				  "the runner could not start: %s", err->msg);
			enter(&r, PH_STOPPING);
		}
		free(hook);
		hook_remove(cfg->runner_root);
		ahead_abandon(&r.ahead); /* not started: its pipes failed */
	}
	/* pid1_run() leaves every signal blocked: a SIGTERM must still reach the handlers while
	 * we deregister, to bound a patient deregistration by the kubelet's grace. */
	sigset_t none;
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	kill_runner_uid(&r);
	log_event(LOG_INFO, "sandbox.teardown", LOG_FIELDS(LOG_INT("killed", r.report.killed)),
		  "no process of the runner is left (%d killed)", r.report.killed);
	note_job_cost(&r);
	fire(&r, EV_TORN_DOWN);
	settle_job_result(&r);
	deregister(&r);
	sweep(&r);
	fire(&r, EV_DEREGISTERED);
	bool wiped = wipe_everything(&r);
	fire(&r, EV_WIPED);
	code = exit_code(&r, wiped, &reason);
	finish_report(&r, code, reason);
	close_loop(&r);
	return code;
}

int run_check_online(const struct rs_config *cfg, struct rs_err *err)
{
	struct run r = { .cfg = cfg };
	uv_loop_init(&r.loop);
	uv_timer_init(&r.loop, &r.phase_timer);
	uv_timer_init(&r.loop, &r.job_timer);
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
