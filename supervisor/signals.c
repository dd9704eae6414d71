#include "signals.h"

#include <signal.h>
#include <stdio.h>
#include <string.h>

const char *sig_name(int sig, char *buf)
{
	if (sig >= SIGRTMIN && sig <= SIGRTMAX) {
		snprintf(buf, 16, "SIGRTMIN+%d", sig - SIGRTMIN);
		return buf;
	}
	const char *abbrev = sigabbrev_np(sig);
	if (abbrev)
		snprintf(buf, 16, "SIG%s", abbrev);
	else
		snprintf(buf, 16, "SIG%d", sig);
	return buf;
}

/* Faults the kernel raises on the faulting instruction: a handler that returns re-runs the
 * instruction and faults again, so these keep their default action. SIGSYS is not among
 * them: on Linux only a seccomp RET_TRAP raises it, and we install no such filter on us. */
static bool sig_is_synchronous(int sig)
{
	return sig == SIGSEGV || sig == SIGBUS || sig == SIGFPE || sig == SIGILL || sig == SIGTRAP;
}

bool sig_is_forwarded(int sig)
{
	if (sig <= 0 || sig >= NSIG || sig == SIGKILL || sig == SIGSTOP || sig == SIGCHLD ||
	    sig == SIGTTIN || sig == SIGTTOU || sig_is_synchronous(sig))
		return false;
	/* 32 and 33 are glibc's (thread cancellation, setxid): never ours to catch. */
	return sig < 32 || (sig >= SIGRTMIN && sig <= SIGRTMAX);
}

void sig_block_all(sigset_t *old)
{
	sigset_t all;
	sigfillset(&all);
	for (int sig = 1; sig < NSIG; sig++)
		if (sig_is_synchronous(sig))
			sigdelset(&all, sig);
	sigprocmask(SIG_BLOCK, &all, old);
}
