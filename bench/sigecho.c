/* Benchmark child: writes one byte to stdout for every SIGUSR1 it receives, so that the
 * driver can time signal -> init -> child round trips. */
#define _GNU_SOURCE
#include <signal.h>
#include <unistd.h>

int main(void)
{
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGUSR1);
	sigaddset(&set, SIGTERM);
	sigprocmask(SIG_BLOCK, &set, NULL);
	if (write(1, "R", 1) != 1)
		return 1;
	for (;;) {
		int sig;
		if (sigwait(&set, &sig) != 0 || sig == SIGTERM)
			return 0;
		if (write(1, "s", 1) != 1)
			return 1;
	}
}
