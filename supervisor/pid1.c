/* The init: one main child, every orphan reaped, signals forwarded, nothing left behind.
 *
 * Everything happens on the libuv loop: uv_signal handlers for every forwarded signal and
 * SIGCHLD, a uv_poll on the main child's pidfd, and two timers for the kill grace. The
 * child is never started with uv_spawn: libuv reaps only its own pids and would lose exits
 * that our waitpid(-1) reaper took first (DESIGN.md, "Process model").
 *
 * Teardown rule: once the main child has exited, every process still below us gets
 * SIGTERM, then SIGKILL after SUPERVISOR_STOP_GRACE seconds, repeated until waitpid(-1)
 * says ECHILD. ECHILD is exact: a subreaper (or PID 1) inherits every orphan of its tree,
 * so "no child left" means "no descendant left". */
#include "pid1.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>
#include <uv.h>

#include "isolate.h"
#include "log.h"
#include "procs.h"
#include "signals.h"
#include "spawn.h"
#include "util.h"
#include "wipe.h"

extern char **environ;

/* How often SIGKILL is repeated after the grace, for processes forked while we scanned. */
#define REKILL_INTERVAL_MS 100

struct pid1 {
	uv_loop_t *loop;
	uv_signal_t sigs[NSIG];
	bool sig_active[NSIG];
	uv_poll_t child_poll;
	uv_timer_t grace_timer;
	uv_timer_t rekill_timer;
	struct sbx_child child;
	bool is_pid1;
	bool child_exited;
	bool grace_armed;
	bool teardown_started;
	bool killing;
	bool done;
	int stop_requests;
	uint64_t grace_ms;
	int exit_code;
	long reaped;
	int left_behind; /* processes still there when the main child exited */
	struct pid1_usage usage;
	const struct pid1_hooks *hooks;
};

static int pidfd_signal(int pidfd, int sig)
{
	return (int)syscall(SYS_pidfd_send_signal, pidfd, sig, NULL, 0);
}

static void finish(struct pid1 *p)
{
	if (p->done)
		return;
	p->done = true;
	uv_stop(p->loop);
}

static void on_rekill(uv_timer_t *t);

static void kill_everything(struct pid1 *p)
{
	if (!p->child_exited)
		pidfd_signal(p->child.pidfd, SIGKILL);
	int n = procs_signal_all(SIGKILL, p->is_pid1);
	if (!p->killing) {
		p->killing = true;
		log_event(LOG_WARN, "teardown.kill",
			  LOG_FIELDS(LOG_STR("signal", "SIGKILL"), LOG_INT("count", n)),
			  "grace period over: killed %d process(es)", n);
		uv_timer_start(&p->rekill_timer, on_rekill, REKILL_INTERVAL_MS, REKILL_INTERVAL_MS);
	}
}

static void reap_all(struct pid1 *p);

static void on_rekill(uv_timer_t *t)
{
	struct pid1 *p = t->data;
	procs_signal_all(SIGKILL, p->is_pid1);
	reap_all(p);
}

static void on_grace_over(uv_timer_t *t)
{
	struct pid1 *p = t->data;
	kill_everything(p);
	reap_all(p);
}

static void arm_grace(struct pid1 *p)
{
	if (p->grace_armed)
		return;
	p->grace_armed = true;
	uv_timer_start(&p->grace_timer, on_grace_over, p->grace_ms, 0);
}

/* Every reaped process's usage counts: in a PID namespace only the sandbox init reaches us,
 * and its usage holds everything it and the runner reaped; without one, the runner and the
 * orphans that come to us as the subreaper do. */
static void add_usage(struct pid1 *p, const struct rusage *ru)
{
	p->usage.cpu_us += (long long)ru->ru_utime.tv_sec * 1000000 + ru->ru_utime.tv_usec +
			   (long long)ru->ru_stime.tv_sec * 1000000 + ru->ru_stime.tv_usec;
	if (ru->ru_maxrss > p->usage.maxrss_kb)
		p->usage.maxrss_kb = ru->ru_maxrss;
}

/* What the sandbox init killed when the command had exited (its namespace's leftovers,
 * which never reach us), then how many pids its namespace handed out: it wrote both just
 * before it exited. */
static int sandbox_killed(struct pid1 *p)
{
	int killed = 0, tasks = -1;
	if (p->child.teardown_fd < 0)
		return 0;
	if (read(p->child.teardown_fd, &killed, sizeof(killed)) != (ssize_t)sizeof(killed))
		killed = 0;
	else if (read(p->child.teardown_fd, &tasks, sizeof(tasks)) == (ssize_t)sizeof(tasks))
		p->usage.tasks = tasks;
	if (killed > 0)
		log_event(LOG_INFO, "teardown.kill",
			  LOG_FIELDS(LOG_STR("signal", "SIGKILL"), LOG_INT("count", killed),
				     LOG_BOOL("sandbox", true)),
			  "command left %d process(es) in the sandbox: killed with it", killed);
	return killed;
}

static void on_main_exit(struct pid1 *p, int code, int sig)
{
	if (p->child_exited)
		return;
	p->child_exited = true;
	p->exit_code = sig ? 128 + sig : code;
	p->left_behind = sandbox_killed(p);
	if (uv_is_active((uv_handle_t *)&p->child_poll))
		uv_poll_stop(&p->child_poll);
	if (p->hooks && p->hooks->exited)
		p->hooks->exited(p, p->exit_code, p->hooks->ud);
	char name[16];
	if (sig)
		log_event(LOG_INFO, "child.exited",
			  LOG_FIELDS(LOG_INT("pid", p->child.pid),
				     LOG_STR("signal", sig_name(sig, name))),
			  "command killed by %s", sig_name(sig, name));
	else
		log_event(LOG_INFO, "child.exited",
			  LOG_FIELDS(LOG_INT("pid", p->child.pid), LOG_INT("code", code)),
			  "command exited with %d", code);
}

/* After the main child: SIGTERM to whatever it left, then the grace, then SIGKILL. */
static void start_teardown(struct pid1 *p)
{
	p->teardown_started = true;
	int n = procs_signal_all(SIGTERM, p->is_pid1);
	p->left_behind += n;
	log_event(LOG_INFO, "teardown.kill",
		  LOG_FIELDS(LOG_STR("signal", "SIGTERM"), LOG_INT("count", n)),
		  "command left %d process(es): sent SIGTERM", n);
	arm_grace(p);
}

static void reap_all(struct pid1 *p)
{
	for (;;) {
		int status;
		struct rusage ru;
		pid_t pid = wait4(-1, &status, WNOHANG | __WALL, &ru);
		if (pid > 0) {
			p->reaped++;
			add_usage(p, &ru);
			if (pid == p->child.pid)
				on_main_exit(p, WIFEXITED(status) ? WEXITSTATUS(status) : 0,
					     WIFSIGNALED(status) ? WTERMSIG(status) : 0);
			continue;
		}
		if (pid < 0 && errno == EINTR)
			continue;
		if (pid < 0 && errno == ECHILD && p->child_exited) {
			finish(p);
			return;
		}
		break;
	}
	if (p->child_exited && !p->teardown_started)
		start_teardown(p);
}

static void on_child_pidfd(uv_poll_t *h, int status, int events)
{
	struct pid1 *p = h->data;
	siginfo_t si = { 0 };
	struct rusage ru;
	/* The SIGCHLD reaper may have taken the status first: then it already reported. The
	 * system call's fifth argument (glibc's waitid has none) is the reaped child's usage. */
	if (syscall(SYS_waitid, P_PIDFD, p->child.pidfd, &si, WEXITED | WNOHANG | __WALL, &ru) ==
		0 &&
	    si.si_pid > 0) {
		p->reaped++;
		add_usage(p, &ru);
		bool killed = si.si_code == CLD_KILLED || si.si_code == CLD_DUMPED;
		on_main_exit(p, killed ? 0 : si.si_status, killed ? si.si_status : 0);
	}
	reap_all(p);
}

static void on_stop_signal(struct pid1 *p)
{
	/* The first SIGTERM/SIGINT starts the grace (the pod's terminationGracePeriod runs from
	 * it); a second one means "now". */
	if (++p->stop_requests == 1) {
		arm_grace(p);
	} else {
		kill_everything(p);
		reap_all(p);
	}
}

static void on_signal(uv_signal_t *h, int sig)
{
	struct pid1 *p = h->data;
	if (sig == SIGCHLD) {
		reap_all(p);
		return;
	}
	if (p->hooks && p->hooks->signal && p->hooks->signal(p, sig, p->hooks->ud))
		return;
	char name[16];
	if (!p->child_exited) {
		int rc = pidfd_signal(p->child.pidfd, sig);
		log_event(LOG_INFO, "signal.forwarded",
			  LOG_FIELDS(LOG_STR("signal", sig_name(sig, name)),
				     LOG_INT("pid", p->child.pid)),
			  "%s forwarded%s", sig_name(sig, name),
			  rc < 0 ? " (child already gone)" : "");
	}
	if (sig == SIGTERM || sig == SIGINT)
		on_stop_signal(p);
}

int pid1_signal_child(struct pid1 *p, int sig)
{
	return p->child_exited ? -1 : pidfd_signal(p->child.pidfd, sig);
}

void pid1_kill_after(struct pid1 *p, uint64_t ms)
{
	/* Only ever shortens: a stop that is already due sooner stays due. */
	uint64_t due = uv_now(p->loop) + ms;
	if (p->grace_armed && uv_timer_get_due_in(&p->grace_timer) + uv_now(p->loop) <= due)
		return;
	p->grace_armed = true;
	uv_timer_start(&p->grace_timer, on_grace_over, ms, 0);
}

void pid1_kill_now(struct pid1 *p)
{
	kill_everything(p);
	reap_all(p);
}

bool pid1_child_exited(const struct pid1 *p)
{
	return p->child_exited;
}

static int watch_signals(struct pid1 *p, struct rs_err *err)
{
	for (int sig = 1; sig < NSIG; sig++) {
		if (!sig_is_forwarded(sig) && sig != SIGCHLD)
			continue;
		uv_signal_init(p->loop, &p->sigs[sig]);
		p->sigs[sig].data = p;
		int rc = uv_signal_start(&p->sigs[sig], on_signal, sig);
		if (rc < 0)
			return rs_fail(err, EX_RS_SOFTWARE, -rc, "watching signal %d", sig);
		p->sig_active[sig] = true;
	}
	return 0;
}

/* The child's directory, created with its parents first when asked (exec --workdir). */
static int open_workdir(const struct pid1_opts *o, struct rs_err *err)
{
	const char *dir = o->workdir ? o->workdir : ".";
	struct stat st;
	bool existed = stat(dir, &st) == 0;
	int e = o->create_workdir ? sbx_make_dirs(dir) : 0;
	if (e)
		return rs_fail(err, EX_RS_CONFIG, e, "--workdir %s: cannot create", dir);
	/* A directory made for the command belongs to the user it runs as. */
	if (o->create_workdir && !existed && o->set_ids && chown(dir, o->uid, o->gid) < 0)
		return rs_fail(err, EX_RS_CONFIG, errno, "--workdir %s: cannot give it to uid %u",
			       dir, (unsigned)o->uid);
	int fd = open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return rs_fail(err, o->workdir ? EX_RS_CONFIG : EX_RS_SOFTWARE, errno,
			       "working directory %s: cannot open", dir);
	return fd;
}

static void log_exec_failure(const struct sbx_child *c)
{
	struct stat st;
	/* execve says EACCES for a directory; say what it is. */
	bool is_dir =
	    c->exec_errno == EACCES && stat(c->failed_path, &st) == 0 && S_ISDIR(st.st_mode);
	if (c->failed_step[0]) {
		log_event(
		    LOG_ERROR, "sandbox.failed",
		    LOG_FIELDS(LOG_STR("step", c->failed_step), LOG_INT("errno", c->exec_errno)),
		    "sandbox setup failed at %s: %s", c->failed_step, strerror(c->exec_errno));
		return;
	}
	log_event(LOG_ERROR, "child.exec_failed",
		  LOG_FIELDS(LOG_STR("path", c->failed_path), LOG_INT("errno", c->exec_errno)),
		  "cannot run %s: %s", c->failed_path,
		  is_dir ? "is a directory" : strerror(c->exec_errno));
}

static void close_all(struct pid1 *p)
{
	for (int sig = 1; sig < NSIG; sig++)
		if (p->sig_active[sig])
			uv_close((uv_handle_t *)&p->sigs[sig], NULL);
	uv_close((uv_handle_t *)&p->grace_timer, NULL);
	uv_close((uv_handle_t *)&p->rekill_timer, NULL);
	if (p->child.pidfd >= 0)
		uv_close((uv_handle_t *)&p->child_poll, NULL);
	/* The loop may serve others (the GitHub client): one turn completes our closes. */
	uv_run(p->loop, UV_RUN_NOWAIT);
	if (p->child.pidfd >= 0)
		close(p->child.pidfd);
	if (p->child.teardown_fd >= 0)
		close(p->child.teardown_fd);
}

static void prepare_process(struct pid1 *p)
{
	p->is_pid1 = getpid() == 1;
	/* Not PID 1 (a test, `docker run --init` style nesting): become the subreaper so that
	 * orphans of the command come to us and not to an init that does not know them. */
	if (!p->is_pid1)
		prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);
	/* Job control must never stop PID 1: with TOSTOP or a background tcsetpgrp the kernel
	 * sends these to us, and a stopped init stops the pod. Ignored, not forwarded (the
	 * terminal signals the child's own group directly). */
	signal(SIGTTIN, SIG_IGN);
	signal(SIGTTOU, SIG_IGN);
}

static void log_started(const struct pid1 *p, const struct pid1_opts *o)
{
	if (p->child.unstaged[0])
		log_event(LOG_WARN, "sandbox.job_root_unstaged",
			  LOG_FIELDS(LOG_STR("why", p->child.unstaged)),
			  "the job root's skeleton could not be staged (%s): the sandbox built it",
			  p->child.unstaged);
	if (p->child.exec_errno)
		log_exec_failure(&p->child);
	else
		log_event(LOG_INFO, "child.started",
			  LOG_FIELDS(LOG_INT("pid", p->child.pid), LOG_STR("command", o->argv[0]),
				     LOG_BOOL("sandbox_init", p->child.sandbox_init),
				     LOG_INT("setup_us", p->child.setup_us),
				     LOG_INT("prepared_us", p->child.prepared_us),
				     LOG_INT("stage_us", p->child.stage_us)),
			  "started %s %s", o->what, o->argv[0]);
}

static int supervise(struct pid1 *p, const struct pid1_opts *o, struct rs_err *err)
{
	uv_loop_t *loop = p->loop;
	p->child = SBX_CHILD_NONE;
	p->grace_ms = o->grace_ms;
	p->hooks = o->hooks;
	p->usage.tasks = -1;
	prepare_process(p);

	_cleanup_(closep) int cwd_fd = open_workdir(o, err);
	if (cwd_fd < 0)
		return -1;
	/* In a new mount namespace the child changes directory by path (spawn.h). */
	_cleanup_(freep) char *cwd_path = realpath(o->workdir ? o->workdir : ".", NULL);
	/* Our own cwd must not pin a filesystem (or the job's workdir) for the pod's life. */
	if (chdir("/") < 0)
		return rs_fail(err, EX_RS_SOFTWARE, errno, "chdir /");

	uv_timer_init(loop, &p->grace_timer);
	uv_timer_init(loop, &p->rekill_timer);
	p->grace_timer.data = p->rekill_timer.data = p;
	struct sbx_spawn_req req = {
		.argv = o->argv,
		.envp = o->envp,
		.cwd_fd = cwd_fd,
		.own_pgrp = true,
		.stdout_fd = o->stdout_fd > 0 ? o->stdout_fd : -1,
		.stderr_fd = o->stderr_fd > 0 ? o->stderr_fd : -1,
		.umask = o->umask,
		.plan = o->plan,
		.cwd_path = cwd_path,
		.without_engine = o->without_engine,
	};
	/* The child starts with every signal blocked (spawn.h): a signal meanwhile waits for
	 * the new program (or the sandbox init's loop), and no copy of our handlers runs in it.
	 * `run` has them unblocked while it registers; they are unblocked again below. */
	sig_block_all(NULL);
	if (watch_signals(p, err) < 0) {
		close_all(p);
		return -1;
	}
	/* A sandbox made ahead (run.c, while the runner registered) is ours from here on. */
	if (o->prepared) {
		p->child = *o->prepared;
		*o->prepared = SBX_CHILD_NONE;
	}
	if (sbx_spawn(&req, &p->child, err) < 0) {
		close_all(p);
		return -1;
	}
	log_started(p, o);
	if (p->hooks && p->hooks->started)
		p->hooks->started(p, p->child.pid, p->hooks->ud);
	uv_poll_init(loop, &p->child_poll, p->child.pidfd);
	p->child_poll.data = p;
	uv_poll_start(&p->child_poll, UV_READABLE, on_child_pidfd);

	/* Signals held since main() now reach our handlers, and through them the child. */
	sigset_t none;
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	uv_run(loop, UV_RUN_DEFAULT);
	sig_block_all(NULL);
	close_all(p);
	if (o->left_behind)
		*o->left_behind = p->left_behind;
	if (o->usage)
		*o->usage = p->usage;
	return p->exit_code;
}

int pid1_run(uv_loop_t *loop, const struct pid1_opts *o, struct rs_err *err)
{
	/* On the heap: one uv_signal_t per signal is more than we want on the stack. */
	struct pid1 *p = calloc(1, sizeof(*p));
	if (!p)
		return rs_fail(err, EX_RS_SOFTWARE, ENOMEM, "supervising %s", o->argv[0]);
	p->loop = loop;
	int code = supervise(p, o, err);
	free(p);
	return code;
}

/* exec --workdir: once the command and all it left are gone, DIR is emptied (DIR stays).
 * Anything left makes the status 74: this pod must not run another command there. */
static int empty_workdir(const char *dir, int code)
{
	struct wipe_stats st;
	struct rs_err werr = { 0 };
	if (wipe_dir(dir, &st, &werr) < 0) {
		log_event(LOG_ERROR, "workspace.unwiped", LOG_FIELDS(LOG_STR("dir", dir)), "%s",
			  werr.msg);
		return EX_RS_IOERR;
	}
	log_event(st.left ? LOG_WARN : LOG_INFO, "workspace.wiped",
		  LOG_FIELDS(LOG_STR("dir", dir), LOG_INT("files", st.files),
			     LOG_INT("dirs", st.dirs), LOG_INT("left", st.left)),
		  "%s: %s", dir, st.left ? "not empty after the wipe" : "emptied");
	return st.left ? EX_RS_IOERR : code;
}

int pid1_exec(const struct rs_config *cfg, struct rs_err *err)
{
	uv_loop_t loop;
	uv_loop_init(&loop);
	struct pid1_opts o = {
		.argv = cfg->exec_argv,
		.envp = environ,
		.workdir = cfg->exec_workdir,
		.create_workdir = cfg->exec_workdir != NULL,
		.grace_ms = (uint64_t)cfg->stop_grace_s * 1000,
		.what = "command",
		.set_ids = cfg->runner_user_given,
		.uid = cfg->runner_uid,
		.gid = cfg->runner_gid,
	};
	struct sbx_report report;
	/* The sandbox's hostname: RUNNER_NAME when given, as for `run`. */
	struct sbx_plan *plan = isolate_prepare(cfg, cfg->runner_name, &report, err);
	if (!plan) {
		uv_loop_close(&loop);
		return -1;
	}
	o.plan = plan;
	int code = pid1_run(&loop, &o, err);
	sbx_plan_free(plan);
	if (code >= 0 && cfg->exec_workdir)
		code = empty_workdir(cfg->exec_workdir, code);
	uv_run(&loop, UV_RUN_DEFAULT);
	uv_loop_close(&loop);
	return code;
}
