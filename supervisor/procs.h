/* Finding and signalling what a child left behind. */
#ifndef RS_PROCS_H
#define RS_PROCS_H

#include <stdbool.h>
#include <sys/types.h>

/* Sends sig to every process below us (our children, theirs, and orphans reparented to us
 * as subreaper or PID 1). As PID 1 of a PID namespace this is kill(-1, sig), which reaches
 * every process of the namespace, also those that escaped our tree. Returns how many
 * processes were signalled (counted through /proc; 0 when /proc is not ours to read). */
int procs_signal_all(int sig, bool pid1);

/* SIGKILL to every process whose effective uid is uid (the runner's, when no PID
 * namespace contains the job); returns how many were signalled, -1 when /proc is not
 * ours. The caller repeats until it returns 0. */
int procs_kill_uid(uid_t uid);

/* Number of processes below us, or -1 when /proc is not this PID namespace's. */
int procs_count_descendants(void);

#endif
