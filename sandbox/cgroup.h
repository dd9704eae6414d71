/* The job's own memory cgroup, below the container's (cgroup.c). Internal to sandbox/. */
#ifndef RS_SBX_CGROUP_H
#define RS_SBX_CGROUP_H

#include <limits.h>
#include <stddef.h>

struct sbx_cgroup {
	int version;           /* 1 or 2; 0: none */
	char parent[PATH_MAX]; /* the container's cgroup (ours at start) */
	char home[PATH_MAX];   /* where the supervisor lives meanwhile */
	char dir[PATH_MAX];    /* the job's; "" when there is none */
	long long max;         /* its memory limit, bytes */
};

/* Makes the job cgroup with job_max bytes (0: the container's limit minus what the supervisor
 * keeps). 0, or an errno value with why saying what is missing, in words. */
int sbx_cgroup_prepare(struct sbx_cgroup *cg, long long job_max, char *why, size_t why_size);

/* The supervisor steps into the job cgroup for the sandbox's clone, and back out: 0 or errno. */
int sbx_cgroup_enter(const struct sbx_cgroup *cg);
int sbx_cgroup_leave(const struct sbx_cgroup *cg);

/* After the job: processes the kernel killed for memory in it, and its peak use; -1: unknown. */
long long sbx_cgroup_oom_kills(const struct sbx_cgroup *cg);
long long sbx_cgroup_peak(const struct sbx_cgroup *cg);
/* The CPU time of every process that ran in it, microseconds (cgroup v2's cpu.stat, there
 * without the cpu controller); -1 on v1, where the job cgroup is in the memory hierarchy
 * only and cpuacct is another one. */
long long sbx_cgroup_cpu_us(const struct sbx_cgroup *cg);

/* Removes the (empty) job cgroup. */
void sbx_cgroup_remove(struct sbx_cgroup *cg);

#endif
