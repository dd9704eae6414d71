/* What one job cost (issue 17): CPU, peak memory, bytes under the work folder, pids, OOM kills,
 * so that an operator can size a pod's requests and see a job that outgrew them.
 *
 * Where each figure comes from:
 *   cpu_ms         the job cgroup's CPU time where the sandbox has one on cgroup v2
 *                  (cpu.stat); else the kernel's usage of every process the sandbox ran
 *                  (wait4 of the sandbox init, whose usage holds everything reaped below it;
 *                  pid1.c)
 *   memory_peak    the job cgroup's peak (sandbox/cgroup.c) where the sandbox has one: all
 *                  its processes together; else the largest single process's peak (rusage)
 *   workdir_bytes  the files left under RUNNER_WORKDIR when the job's sandbox was gone
 *   tasks          pids the sandbox's PID namespace handed out (processes and threads, as a
 *                  pod's pid limit counts them); without a PID namespace, unknown
 *   oom_kills      the job cgroup's OOM kills; without a job cgroup, unknown */
#ifndef RS_COST_H
#define RS_COST_H

#include <stdbool.h>
#include <stddef.h>

struct job_cost {
	long long cpu_ms;        /* -1: unknown */
	long long memory_peak;   /* bytes; -1: unknown */
	bool memory_from_cgroup; /* the job cgroup's peak, not one process's */
	long long workdir_bytes; /* -1: unknown */
	long long tasks;         /* -1: unknown */
	long long oom_kills;     /* -1: unknown (no job cgroup) */
};

#define JOB_COST_UNKNOWN                                                                           \
	((struct job_cost){                                                                        \
	    .cpu_ms = -1, .memory_peak = -1, .workdir_bytes = -1, .tasks = -1, .oom_kills = -1 })

/* The bytes of the regular files below dir, on dir's filesystem, never following a symlink;
 * -1 when dir cannot be opened (a tree deeper than the walk goes counts what it reached). */
long long cost_dir_bytes(const char *dir);

/* 1536 -> "1.5 KiB"; never longer than 16 bytes with its NUL. */
void cost_format_bytes(long long bytes, char out[16]);

/* "1.24 s CPU, peak memory 38.2 MiB (all its processes), 1.7 KiB left in the work folder,
 * 57 processes and threads, no OOM kill": the known figures, for a person. */
void cost_describe(const struct job_cost *c, char *out, size_t size);

#endif
