/* The sandbox made ahead of its command (spawn.h: sbx_prepare).
 *
 * The clone enters the namespaces, makes the mounts and execs the sandbox init (initexec.h)
 * as sbx_spawn's does, but with the sandbox's half of the plan only; the init then waits on a
 * socket. sbx_spawn sends it the command's half (a sealed memfd) and the runner's output
 * pipes in one SCM_RIGHTS message, and reads the exec report as for any child. */
#include "spawn.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

#include "initexec.h"
#include "plan.h"
#include "spawn_internal.h"

bool sbx_can_prepare(const struct sbx_plan *plan)
{
	return plan && plan->pidns;
}

int sbx_plan_ready_fd(const struct sbx_plan *plan)
{
	return plan && plan->job_root ? sbx_root_stage_ready_fd(&plan->root) : -1;
}

int sbx_prepare(const struct sbx_plan *sbx, struct sbx_child *child, struct rs_err *err)
{
	return sbx_prepare_sandbox(sbx, true, child, err);
}

int sbx_prepare_sandbox(const struct sbx_plan *sbx, bool with_engine, struct sbx_child *child,
			struct rs_err *err)
{
	*child = SBX_CHILD_NONE;
	if (!sbx_can_prepare(sbx))
		return rs_fail(err, EX_RS_SOFTWARE, 0, "this sandbox has no init to prepare");
	sbx_child_join_stage(sbx, child);
	struct exec_plan plan = { .sbx = sbx,
				  .cwd_fd = -1,
				  .tty_fd = -1,
				  .stdout_fd = -1,
				  .stderr_fd = -1,
				  .self_fd = -1,
				  .handoff_fd = -1,
				  .without_engine = !with_engine };
	plan.max_fd = sbx_max_fd();
	struct spawn_fds f;
	if (sbx_spawn_fds_open(sbx, &f, err) < 0)
		return -1;
	/* The init is exec'd fresh (initexec.h): its binary and the sandbox's plan. */
	plan.report_fd = f.report[1];
	plan.teardown_fd = f.teardown[1];
	plan.go_fd = f.go[1];
	if ((plan.self_fd = sbx_self_exe_open(err)) < 0 ||
	    (plan.handoff_fd = sbx_handoff_create(&plan, err)) < 0) {
		if (plan.self_fd >= 0)
			close(plan.self_fd);
		sbx_spawn_fds_close(&f);
		return -1;
	}
	/* The clone starts with every signal blocked: none of our handlers may run in it, and
	 * the init takes its signals synchronously (init.c). */
	sigset_t all, old;
	sigfillset(&all);
	sigprocmask(SIG_SETMASK, &all, &old);
	int rc = sbx_clone_sandbox(&plan, &f, child, err);
	sigprocmask(SIG_SETMASK, &old, NULL);
	close(plan.self_fd);
	close(plan.handoff_fd);
	if (rc < 0)
		return -1;
	child->prepared = true;
	return 0;
}

void sbx_abandon(struct sbx_child *child)
{
	if (!child->prepared)
		return;
	/* The init waits in recvmsg with every signal blocked: only SIGKILL, then the reap. */
	syscall(SYS_pidfd_send_signal, child->pidfd, SIGKILL, NULL, 0);
	sbx_child_forget(child);
}

/* Sends the command to the prepared init: its plan, and its output pipes. 0, or an errno. */
static int send_job(int go_fd, int job_fd, int stdout_fd, int stderr_fd)
{
	int fds[3] = { job_fd }, n = 1;
	if (stdout_fd >= 0)
		fds[n++] = stdout_fd;
	if (stderr_fd >= 0)
		fds[n++] = stderr_fd;
	union {
		struct cmsghdr h;
		char buf[CMSG_SPACE(sizeof(fds))];
	} control;
	memset(&control, 0, sizeof(control));
	char byte = 'g';
	struct iovec iov = { .iov_base = &byte, .iov_len = 1 };
	struct msghdr msg = { .msg_iov = &iov,
			      .msg_iovlen = 1,
			      .msg_control = control.buf,
			      .msg_controllen = CMSG_SPACE((size_t)n * sizeof(int)) };
	struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
	c->cmsg_level = SOL_SOCKET;
	c->cmsg_type = SCM_RIGHTS;
	c->cmsg_len = CMSG_LEN((size_t)n * sizeof(int));
	memcpy(CMSG_DATA(c), fds, (size_t)n * sizeof(int));
	ssize_t w;
	do
		w = sendmsg(go_fd, &msg, MSG_NOSIGNAL);
	while (w < 0 && errno == EINTR);
	return w == 1 ? 0 : errno ? errno : EPIPE;
}

/* The prepared init is asked for req's command; its report read. */
int sbx_start_prepared(const struct sbx_spawn_req *req, struct sbx_child *child, uint64_t asked_at,
		       struct rs_err *err)
{
	struct exec_plan plan = sbx_exec_plan_for(req);
	int job_fd;
	if (sbx_plan_command(&plan, req->argv[0], req->envp) < 0) {
		sbx_exec_plan_free(&plan);
		sbx_abandon(child);
		return rs_fail(err, EX_RS_SOFTWARE, ENOMEM, "preparing to run %s", req->argv[0]);
	}
	if ((job_fd = sbx_job_create(&plan, err)) < 0) {
		sbx_exec_plan_free(&plan);
		sbx_abandon(child);
		return -1;
	}
	int e = send_job(child->go_fd, job_fd, req->stdout_fd, req->stderr_fd);
	close(job_fd);
	close(child->go_fd);
	child->go_fd = -1;
	child->prepared = false;
	sbx_take_report(child, plan.paths, req->argv[0]);
	if (e && !child->exec_errno) {
		/* The init is gone without a word: its exit status tells the rest. */
		child->exec_errno = e;
		snprintf(child->failed_step, sizeof(child->failed_step),
			 "the sandbox init ended before its command");
		snprintf(child->failed_path, sizeof(child->failed_path), "%s", req->argv[0]);
	}
	child->setup_us = sbx_now_us() - asked_at;
	sbx_exec_plan_free(&plan);
	return 0;
}
