/* The sandbox init: PID 1 of the runner's PID namespace.
 *
 * It is the supervisor's binary exec'd fresh (initexec.c), undumpable, holding no secret; it
 * runs with every signal blocked (inherited) and taken synchronously with rt_sigtimedwait. It:
 *   - relays to the runner the signals that come from outside the namespace (si_pid is 0
 *     for a sender the namespace cannot see: the supervisor); a job that signals its PID 1
 *     is ignored, so it cannot stop the runner that way;
 *   - reaps every orphan of the namespace;
 *   - exits as soon as the runner has exited, with the runner's status (128+signal when
 *     killed): the kernel then kills whatever the job left in the namespace, and the
 *     supervisor sees one exit for the whole sandbox. */
#include "plan.h"

#include <errno.h>
#include <signal.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static int status_of(int st)
{
	if (WIFEXITED(st))
		return WEXITSTATUS(st);
	return 128 + (WIFSIGNALED(st) ? WTERMSIG(st) : 0);
}

/* Reaps what has exited; returns the runner's status once it is among them, else -1. */
static int reap(pid_t runner)
{
	int result = -1, st;
	pid_t pid;
	while ((pid = (pid_t)syscall(SYS_wait4, -1, &st, WNOHANG, NULL)) > 0)
		if (pid == runner)
			result = status_of(st);
	return result;
}

int sbx_init_kill_rest(void)
{
	/* kill(-1) from a namespace's init reaches every other process in it. */
	kill(-1, SIGKILL);
	int n = 0;
	for (;;) {
		pid_t pid = (pid_t)syscall(SYS_wait4, -1, NULL, __WALL, NULL);
		if (pid > 0)
			n++;
		else if (errno != EINTR)
			return n;
	}
}

static bool is_job_control(int sig)
{
	return sig == SIGTSTP || sig == SIGTTIN || sig == SIGTTOU;
}

int sbx_init_loop(pid_t runner)
{
	sigset_t all;
	sigfillset(&all);
	/* A reap every second whatever happens: a lost SIGCHLD must not leave the runner a
	 * zombie and the sandbox alive. */
	const struct timespec tick = { 1, 0 };
	for (;;) {
		siginfo_t si;
		int sig = (int)syscall(SYS_rt_sigtimedwait, &all, &si, &tick, sizeof(long));
		if (sig < 0) {
			int status = reap(runner); /* EAGAIN: the tick; EINTR */
			if (status >= 0)
				return status;
			continue;
		}
		if (sig == SIGCHLD) {
			int status = reap(runner);
			if (status >= 0)
				return status;
			continue;
		}
		/* Only the supervisor speaks for the pod: a kill() from outside the namespace
		 * (si_pid 0, SI_USER). rt_sigqueueinfo lets a job forge si_pid but not SI_USER
		 * (the kernel refuses a non-negative si_code from another process). */
		if (si.si_pid == 0 && si.si_code == SI_USER && !is_job_control(sig))
			kill(runner, sig);
	}
}
