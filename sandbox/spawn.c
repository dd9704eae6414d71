/* clone + execve with nothing between them but raw syscalls.
 *
 * libuv runs threads, so after clone the child owns a copy of an address space whose locks
 * (malloc's, stdio's) may be held by threads that do not exist in it. Everything the child
 * needs (candidate paths for PATH lookup, the argv for the ENOEXEC fallback) is therefore
 * built here in the parent, and the child only makes system calls. */
#include "spawn.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <termios.h>
#include <unistd.h>

#include "initexec.h"
#include "nsmaps.h"
#include "plan.h"
#include "spawn_internal.h"
#include "util.h"

#ifndef CLONE_PIDFD
#define CLONE_PIDFD 0x00001000
#endif
#ifndef CLOSE_RANGE_CLOEXEC
#define CLOSE_RANGE_CLOEXEC (1U << 2)
#endif

/* The kernel's struct clone_args (v0, 64 bytes); defined here because <linux/sched.h>
 * clashes with glibc's <sched.h>. */
struct rs_clone_args {
	uint64_t flags;
	uint64_t pidfd;
	uint64_t child_tid;
	uint64_t parent_tid;
	uint64_t exit_signal;
	uint64_t stack;
	uint64_t stack_size;
	uint64_t tls;
};

void sbx_exec_plan_free(struct exec_plan *plan)
{
	for (char **p = plan->paths; p && *p; p++)
		free(*p);
	free(plan->paths);
	free(plan->sh_argv);
}

static const char *env_get(char *const *envp, const char *name)
{
	size_t n = strlen(name);
	for (char *const *e = envp; e && *e; e++)
		if (strncmp(*e, name, n) == 0 && (*e)[n] == '=')
			return *e + n + 1;
	return NULL;
}

/* The execvp(3) search, done ahead of time: one candidate per PATH entry. */
int sbx_plan_command(struct exec_plan *plan, const char *cmd, char *const *envp)
{
	if (strchr(cmd, '/')) {
		plan->paths = calloc(2, sizeof(char *));
		if (!plan->paths || !(plan->paths[0] = strdup(cmd)))
			return -1;
		return 0;
	}
	const char *path = env_get(envp, "PATH");
	if (!path)
		path = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
	size_t n = 2;
	for (const char *p = path; *p; p++)
		n += *p == ':';
	plan->paths = calloc(n, sizeof(char *));
	if (!plan->paths)
		return -1;
	size_t i = 0;
	for (const char *start = path;; i++) {
		const char *end = strchrnul(start, ':');
		int dlen = (int)(end - start);
		/* An empty PATH entry means the current directory, as for execvp. */
		if (asprintf(&plan->paths[i], "%.*s%s%s", dlen, start, dlen ? "/" : "", cmd) < 0) {
			plan->paths[i] = NULL;
			return -1;
		}
		if (!*end)
			break;
		start = end + 1;
	}
	return 0;
}

int sbx_plan_sh_argv(struct exec_plan *plan, char *const *argv)
{
	size_t argc = 0;
	while (argv[argc])
		argc++;
	plan->sh_argv = calloc(argc + 2, sizeof(char *));
	if (!plan->sh_argv)
		return -1;
	plan->sh_argv[0] = (char *)"/bin/sh";
	for (size_t i = 1; i < argc; i++)
		plan->sh_argv[i + 1] = argv[i];
	return 0;
}

int sbx_foreground_tty(void)
{
	/* Only when we are the terminal's foreground group may we hand it to the child. */
	return isatty(STDIN_FILENO) && tcgetpgrp(STDIN_FILENO) == getpgrp() ? STDIN_FILENO : -1;
}

static __attribute__((noreturn)) void child_fail_step(const struct exec_plan *plan, int err,
						      int candidate, const char *step)
{
	struct exec_failure f = { .err = err, .candidate = candidate };
	for (size_t i = 0; step && step[i] && i < sizeof(f.step) - 1; i++)
		f.step[i] = step[i];
	ssize_t n;
	do
		n = write(plan->report_fd, &f, sizeof(f));
	while (n < 0 && errno == EINTR);
	_exit(sbx_exec_failure_status(err));
}

static __attribute__((noreturn)) void child_fail(const struct exec_plan *plan, int err,
						 int candidate)
{
	child_fail_step(plan, err, candidate, NULL);
}

/* Default dispositions: SIG_IGN would survive execve (handlers would not), and the sandbox
 * init needs SIGCHLD's default to reap. The raw syscall, because glibc's sigaction refuses
 * 32 and 33, which a parent may have left ignored all the same. A zeroed kernel sigaction
 * is SIG_DFL, no flags, empty mask, whatever the architecture's layout. */
void sbx_reset_dispositions(void)
{
	static const unsigned long dfl[4];
	for (int sig = 1; sig < NSIG; sig++)
		if (sig != SIGKILL && sig != SIGSTOP)
			syscall(SYS_rt_sigaction, sig, dfl, NULL,
				sizeof(sigset_t) < 8 ? sizeof(sigset_t) : 8);
}

static void child_close_fds(const struct exec_plan *plan)
{
	/* Only 0-2 may cross into the command; the report pipe closes itself at execve. */
	if (syscall(SYS_close_range, 3U, ~0U, CLOSE_RANGE_CLOEXEC) == 0)
		return;
	for (int fd = 3; fd <= plan->max_fd; fd++)
		if (fd != plan->report_fd)
			close(fd);
}

/* The command's own process, between clone and execve: raw syscalls only. */
void sbx_child_exec(const struct exec_plan *plan)
{
	const struct sbx_plan *sbx = plan->sbx;
	const char *step = NULL;
	if (plan->own_pgrp) {
		setpgid(0, 0);
		/* SIGTTOU is still ignored here (inherited), so tcsetpgrp cannot stop us. */
		if (plan->tty_fd >= 0)
			tcsetpgrp(plan->tty_fd, getpid());
	}
	/* In a new mount namespace by path: a descriptor from the parent's namespace would
	 * be a way back out of it. */
	if (sbx->mounts && plan->cwd_path) {
		if (chdir(plan->cwd_path) < 0)
			child_fail_step(plan, errno, CANDIDATE_SETUP, "the working directory");
	} else if (plan->cwd_fd >= 0 && fchdir(plan->cwd_fd) < 0) {
		child_fail(plan, errno, CANDIDATE_SETUP);
	}
	if ((plan->stdout_fd >= 0 && dup2(plan->stdout_fd, STDOUT_FILENO) < 0) ||
	    (plan->stderr_fd >= 0 && dup2(plan->stderr_fd, STDERR_FILENO) < 0))
		child_fail(plan, errno, CANDIDATE_SETUP);
	if (plan->umask)
		umask(plan->umask);
	/* Ids, capabilities, no_new_privs, Landlock: sandbox/caps.c. */
	int e = sbx_child_lockdown(sbx, &step);
	if (e)
		child_fail_step(plan, e, CANDIDATE_SETUP, step);
	child_close_fds(plan);

	sbx_reset_dispositions();
	sigset_t none;
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	/* Last before execve, so that nothing above runs under the filter. */
	if (sbx->seccomp && (e = sbx_seccomp_load(&sbx->filter)) != 0)
		child_fail_step(plan, -e, CANDIDATE_SETUP, "loading the seccomp filter");

	int saved = ENOENT, saved_idx = CANDIDATE_NONE;
	for (int i = 0; plan->paths[i]; i++) {
		execve(plan->paths[i], plan->argv, plan->envp);
		e = errno;
		if (e == ENOEXEC) {
			/* A script without "#!": run it with the shell, as execvp does. */
			plan->sh_argv[1] = plan->paths[i];
			execve("/bin/sh", plan->sh_argv, plan->envp);
		}
		/* As execvp: remember EACCES but keep searching; stop on any other real error. */
		if (e == EACCES || (saved != EACCES && e != ENOENT && e != ENOTDIR)) {
			saved = e;
			saved_idx = i;
		}
		if (e != ENOENT && e != ENOTDIR && e != EACCES && e != ENOEXEC)
			break;
	}
	child_fail(plan, saved, saved_idx);
}

/* Runs in the child between clone and execve: raw syscalls only. With a PID namespace the
 * child becomes the sandbox init and the command runs in a child of it. */
static __attribute__((noreturn)) void child_main(const struct exec_plan *plan)
{
	const struct sbx_plan *sbx = plan->sbx;
	const char *step = NULL;
	int e;
	if (sbx->userns) {
		char c;
		/* Our copy of the parent's end goes first: a parent that cannot write the maps
		 * closes its own, and the read must then see EOF. */
		close(plan->sync_write_fd);
		if (read(plan->sync_fd, &c, 1) != 1)
			_exit(126); /* the parent could not write our maps, and said so */
		if ((e = sbx_child_enter_userns(sbx)) != 0)
			child_fail_step(plan, e, CANDIDATE_SETUP, "entering the user namespace");
	}
	if (sbx->unshare_ipc && unshare(CLONE_NEWIPC) < 0)
		child_fail_step(plan, errno, CANDIDATE_SETUP, "the IPC namespace");
	if (sbx->hostname && (sbx->clone_flags & CLONE_NEWUTS) &&
	    sethostname(sbx->hostname, strlen(sbx->hostname)) < 0)
		child_fail_step(plan, errno, CANDIDATE_SETUP, "the hostname");
	if (sbx->mounts && (e = sbx_child_mounts(sbx, &step)) != 0)
		child_fail_step(plan, e, CANDIDATE_SETUP, step);
	if (!sbx->pidns)
		sbx_child_exec(plan);
	/* The sandbox init is exec'd fresh (initexec.c): this clone holds a copy of the
	 * supervisor's memory, the credentials among it, and the init lives on beside the job.
	 * If the supervisor dies, so does the sandbox (the signal survives execve). */
	prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
	/* In a user namespace our ids are already the runner's (inner) ones, so the execve
	 * drops our capabilities: what needs CAP_SETPCAP is done now (initexec.c then skips
	 * it). As root without one, the init keeps its capabilities and the runner does all. */
	if (sbx->userns && sbx->drop_caps && (e = sbx_child_drop_bounding(sbx)) != 0)
		child_fail_step(plan, e, CANDIDATE_SETUP, "emptying the capability bounding set");
	syscall(SYS_close_range, 3U, ~0U, CLOSE_RANGE_CLOEXEC);
	const int keep[] = { plan->handoff_fd, plan->report_fd,  plan->teardown_fd,
			     plan->go_fd,      sbx->landlock_fd, sbx->engine.listen_fd };
	for (size_t i = 0; i < sizeof(keep) / sizeof(*keep); i++)
		if (keep[i] >= 0 && fcntl(keep[i], F_SETFD, 0) < 0)
			child_fail_step(plan, errno, CANDIDATE_SETUP, "starting the sandbox init");
	e = sbx_exec_init(plan->self_fd, plan->handoff_fd);
	child_fail_step(plan, e, CANDIDATE_SETUP, "starting the sandbox init");
}

static pid_t clone_child(unsigned long flags, int *pidfd)
{
	struct rs_clone_args args = {
		.flags = flags | CLONE_PIDFD,
		.pidfd = (uint64_t)(uintptr_t)pidfd,
		.exit_signal = SIGCHLD,
	};
	pid_t pid = (pid_t)syscall(SYS_clone3, &args, sizeof(args));
	if (pid >= 0 || (errno != ENOSYS && errno != EPERM))
		return pid;
	/* clone3 is ENOSYS under Docker's default seccomp profile: fall back to clone, whose
	 * parent_tid argument receives the pidfd (third argument on every architecture). */
	return (pid_t)syscall(SYS_clone, flags | CLONE_PIDFD | SIGCHLD, NULL, pidfd, NULL, NULL);
}

int sbx_max_fd(void)
{
	struct rlimit rl;
	return getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < 65536 ? (int)rl.rlim_cur : 65536;
}

int sbx_exec_failure_status(int exec_errno)
{
	return exec_errno == ENOENT || exec_errno == ENOTDIR ? 127 : 126;
}

static void close_if_open(int fd)
{
	if (fd >= 0)
		close(fd);
}

static void close_pair(int p[2])
{
	close_if_open(p[0]);
	close_if_open(p[1]);
	p[0] = p[1] = -1;
}

void sbx_spawn_fds_close(struct spawn_fds *f)
{
	close_pair(f->report);
	close_pair(f->sync);
	close_pair(f->teardown);
	close_pair(f->go);
}

int sbx_spawn_fds_open(const struct sbx_plan *sbx, struct spawn_fds *f, struct rs_err *err)
{
	*f = SPAWN_FDS_NONE;
	const char *what = "pipe for the exec report";
	if (pipe2(f->report, O_CLOEXEC) < 0)
		goto fail;
	what = "pipe for the sandbox";
	if (sbx->userns && pipe2(f->sync, O_CLOEXEC) < 0)
		goto fail;
	what = "pipes for the sandbox init";
	if (sbx->pidns && (pipe2(f->teardown, O_CLOEXEC) < 0 ||
			   socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, f->go) < 0))
		goto fail;
	return 0;
fail:;
	int e = errno;
	sbx_spawn_fds_close(f);
	return rs_fail(err, EX_RS_SOFTWARE, e, "%s", what);
}

static int read_failure(int fd, struct exec_failure *f)
{
	ssize_t n;
	do
		n = read(fd, f, sizeof(*f));
	while (n < 0 && errno == EINTR);
	return n == (ssize_t)sizeof(*f) ? 1 : 0;
}

uint64_t sbx_now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

void sbx_child_forget(struct sbx_child *child)
{
	if (child->pid > 0)
		waitpid(child->pid, NULL, __WALL);
	close_if_open(child->pidfd);
	close_if_open(child->teardown_fd);
	close_if_open(child->go_fd);
	close_if_open(child->report_fd);
	char unstaged[sizeof(child->unstaged)];
	memcpy(unstaged, child->unstaged, sizeof(unstaged));
	uint64_t stage_us = child->stage_us;
	*child = SBX_CHILD_NONE;
	memcpy(child->unstaged, unstaged, sizeof(unstaged));
	child->stage_us = stage_us;
}

/* Clones with plan and f (whose child ends are closed here, whatever happens) and, in a new
 * user namespace, writes the child's maps. 0 with child->pid and pidfd; -1 with no child. */
int sbx_clone_sandbox(struct exec_plan *plan, struct spawn_fds *f, struct sbx_child *child,
		      struct rs_err *err)
{
	const struct sbx_plan *s = plan->sbx;
	plan->report_fd = f->report[1];
	plan->sync_fd = f->sync[0];
	plan->sync_write_fd = f->sync[1];
	plan->teardown_fd = f->teardown[1];
	plan->go_fd = f->go[1];
	int pidfd = -1;
	child->prepared_at = sbx_now_us();
	/* Born inside the job's own cgroup, with everything it will fork (cgroup.c). */
	int cg_err = sbx_cgroup_enter(&s->cgroup);
	pid_t pid = clone_child(s->clone_flags, &pidfd);
	if (pid == 0)
		child_main(plan);
	int clone_errno = errno;
	if (!cg_err)
		sbx_cgroup_leave(&s->cgroup);
	close_if_open(f->report[1]);
	close_if_open(f->sync[0]);
	close_if_open(f->teardown[1]);
	close_if_open(f->go[1]);
	f->report[1] = f->sync[0] = f->teardown[1] = f->go[1] = -1;
	if (pid < 0) {
		sbx_spawn_fds_close(f);
		return rs_fail(err, s->clone_flags ? EX_RS_SANDBOX : EX_RS_SOFTWARE, clone_errno,
			       "clone%s", s->clone_flags ? " (sandbox namespaces)" : "");
	}
	child->pid = pid;
	child->pidfd = pidfd;
	child->sandbox_init = s->pidns;
	child->teardown_fd = f->teardown[0];
	child->report_fd = f->report[0];
	child->go_fd = f->go[0];
	f->teardown[0] = f->report[0] = f->go[0] = -1;
	if (f->sync[1] < 0)
		return 0;
	int e = s->job_root ? sbx_write_identity_maps(pid, s->map_count)
			    : sbx_write_id_maps(pid, s->inner_uid, s->inner_gid, s->outer_uid,
						s->outer_gid, s->outer_groups, s->n_outer_groups);
	if (e == 0 && write(f->sync[1], "x", 1) != 1)
		e = errno;
	close_pair(f->sync);
	if (!e)
		return 0;
	/* The child reads EOF and exits; reap it: no child on error. */
	sbx_child_forget(child);
	return rs_fail(err, EX_RS_SANDBOX, e, "writing the sandbox's uid/gid maps");
}

/* The exec report: EOF means the command's execve succeeded (the pipe is CLOEXEC), a record
 * that it failed. paths names the candidates (NULL: only req's command is known). */
void sbx_take_report(struct sbx_child *child, char *const *paths, const char *command)
{
	struct exec_failure f;
	if (read_failure(child->report_fd, &f)) {
		child->exec_errno = f.err ? f.err : ENOEXEC;
		memcpy(child->failed_step, f.step, sizeof(child->failed_step));
		child->failed_step[sizeof(child->failed_step) - 1] = '\0';
		const char *what = f.candidate >= 0 && paths ? paths[f.candidate]
				   : f.candidate == CANDIDATE_SETUP
				       ? "setting up the child (directory, user)"
				       : command;
		snprintf(child->failed_path, sizeof(child->failed_path), "%s", what);
	}
	close(child->report_fd);
	child->report_fd = -1;
}

struct exec_plan sbx_exec_plan_for(const struct sbx_spawn_req *req)
{
	return (struct exec_plan){
		.argv = req->argv,
		.envp = req->envp,
		.cwd_fd = req->cwd_fd,
		.own_pgrp = req->own_pgrp,
		.tty_fd = req->own_pgrp ? sbx_foreground_tty() : -1,
		.max_fd = sbx_max_fd(),
		.stdout_fd = req->stdout_fd,
		.stderr_fd = req->stderr_fd,
		.umask = req->umask,
		.sbx = req->plan,
		.cwd_path = req->cwd_path,
		.sync_fd = -1,
		.sync_write_fd = -1,
		.self_fd = -1,
		.handoff_fd = -1,
		.go_fd = -1,
	};
}

void sbx_child_join_stage(const struct sbx_plan *sbx, struct sbx_child *child)
{
	/* The job root's skeleton, staged by a thread since the plan was made: done before the
	 * clone (a thread writing files is no company for it). */
	if (sbx->job_root) {
		sbx_root_stage_join(&sbx->root, child->unstaged, sizeof(child->unstaged));
		child->stage_us = sbx_root_stage_us(&sbx->root);
	}
}

/* No sandbox init: the clone execs the command itself. */
static int spawn_direct(const struct sbx_spawn_req *req, struct sbx_child *child,
			struct rs_err *err)
{
	struct exec_plan plan = sbx_exec_plan_for(req);
	if (sbx_plan_command(&plan, req->argv[0], req->envp) < 0 ||
	    sbx_plan_sh_argv(&plan, req->argv) < 0) {
		sbx_exec_plan_free(&plan);
		return rs_fail(err, EX_RS_SOFTWARE, ENOMEM, "preparing to run %s", req->argv[0]);
	}
	sbx_child_join_stage(req->plan, child);
	struct spawn_fds f;
	if (sbx_spawn_fds_open(req->plan, &f, err) < 0 ||
	    sbx_clone_sandbox(&plan, &f, child, err) < 0) {
		sbx_exec_plan_free(&plan);
		return -1;
	}
	sbx_take_report(child, plan.paths, req->argv[0]);
	child->setup_us = sbx_now_us() - child->prepared_at;
	child->prepared_at = 0;
	sbx_exec_plan_free(&plan);
	return 0;
}

int sbx_spawn(const struct sbx_spawn_req *req, struct sbx_child *child, struct rs_err *err)
{
	if (!req->argv || !req->argv[0]) {
		sbx_abandon(child);
		return rs_fail(err, EX_RS_USAGE, 0, "no command to run");
	}
	if (!req->plan) {
		sbx_abandon(child);
		return rs_fail(err, EX_RS_SOFTWARE, 0, "no sandbox plan for %s", req->argv[0]);
	}
	if (!sbx_can_prepare(req->plan)) {
		*child = SBX_CHILD_NONE;
		return spawn_direct(req, child, err);
	}
	uint64_t asked_at = sbx_now_us();
	bool ahead = child->prepared;
	if (!ahead && sbx_prepare_sandbox(req->plan, !req->without_engine, child, err) < 0)
		return -1;
	/* Made just now: the command waited for the whole set-up. */
	if (!ahead)
		asked_at = child->prepared_at;
	child->prepared_us = ahead ? asked_at - child->prepared_at : 0;
	return sbx_start_prepared(req, child, asked_at, err);
}
