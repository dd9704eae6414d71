/* Signal names and the supervisor's signal policy. */
#ifndef RS_SIGNALS_H
#define RS_SIGNALS_H

#include <signal.h>
#include <stdbool.h>

/* "SIGTERM", "SIGRTMIN+3"; buf must hold 16 bytes. */
const char *sig_name(int sig, char *buf);

/* Signals the supervisor catches and forwards to its child: every catchable one except
 * SIGCHLD (ours), SIGTTIN/SIGTTOU (ignored, so that PID 1 never stops on the terminal),
 * the synchronous faults SEGV, BUS, FPE, ILL, TRAP (a handler would loop on a real fault), and the two real-time
 * signals glibc keeps for itself. */
bool sig_is_forwarded(int sig);

/* Blocks every signal we can block except the synchronous faults; returns the old mask in
 * *old when not NULL. */
void sig_block_all(sigset_t *old);

#endif
