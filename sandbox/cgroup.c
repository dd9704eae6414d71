/* The job's own memory cgroup (cgroup.h).
 *
 * Why: the kubelet sets memory.oom.group=1 on the container's cgroup (cgroup v2, since
 * Kubernetes 1.28), so a job that outgrows the container's limit takes the supervisor with it:
 * no teardown, no wipe, no deregistration, no report. Below the container's cgroup, the sandbox
 * gets one of its own with a limit under the container's, and its own oom.group: the job's OOM
 * stays the job's.
 *
 * cgroup v2: a cgroup with processes cannot give its children controllers ("no internal
 * processes"), so the supervisor moves itself to a child "supervisor" first. v1: the memory
 * hierarchy allows processes at every level. Either way the sandbox's clone is made from inside
 * the job cgroup (the supervisor steps in for the clone and back out), so that everything the
 * sandbox ever forks is born there, and its cgroup namespace's root is that cgroup. */
#include "cgroup.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>

#include "util.h"

#ifndef CGROUP2_SUPER_MAGIC
#define CGROUP2_SUPER_MAGIC 0x63677270
#endif

/* What the supervisor keeps for itself under the container's limit. */
#define SUPERVISOR_RESERVE (64LL << 20)
/* Below this a job cannot do anything useful: no cgroup then. */
#define JOB_MINIMUM (64LL << 20)
/* "max" in v2; v1 reports a page-rounded LLONG_MAX. */
#define UNLIMITED (1LL << 60)

static int write_text(const char *dir, const char *file, const char *text)
{
	char path[PATH_MAX];
	snprintf(path, sizeof(path), "%s/%s", dir, file);
	_cleanup_(closep) int fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return errno;
	size_t n = strlen(text);
	return write(fd, text, n) == (ssize_t)n ? 0 : errno ? errno : EIO;
}

static long long read_number(const char *dir, const char *file)
{
	char path[PATH_MAX], buf[64] = { 0 };
	snprintf(path, sizeof(path), "%s/%s", dir, file);
	_cleanup_(closep) int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || read(fd, buf, sizeof(buf) - 1) <= 0)
		return -1;
	if (strncmp(buf, "max", 3) == 0)
		return UNLIMITED;
	return strtoll(buf, NULL, 10);
}

/* "key N" in a flat keyed file (memory.events, memory.oom_control). */
static long long read_key(const char *dir, const char *file, const char *key)
{
	char path[PATH_MAX];
	snprintf(path, sizeof(path), "%s/%s", dir, file);
	FILE *f = fopen(path, "re");
	if (!f)
		return -1;
	char line[256];
	long long v = -1;
	size_t k = strlen(key);
	while (fgets(line, sizeof(line), f))
		if (strncmp(line, key, k) == 0 && line[k] == ' ')
			v = strtoll(line + k + 1, NULL, 10);
	fclose(f);
	return v;
}

/* Our cgroup's directory in the hierarchy that holds the memory controller. */
static int own_dir(int version, char *out, size_t size)
{
	FILE *f = fopen("/proc/self/cgroup", "re");
	if (!f)
		return errno;
	char line[PATH_MAX];
	int rc = ENOENT;
	while (fgets(line, sizeof(line), f)) {
		line[strcspn(line, "\n")] = '\0';
		const char *path = NULL;
		if (version == 2 && strncmp(line, "0::", 3) == 0)
			path = line + 3;
		char *controllers = strchr(line, ':');
		if (version == 1 && controllers) {
			char *end = strchr(controllers + 1, ':');
			if (end) {
				*end = '\0';
				for (char *save = NULL, *c = strtok_r(controllers + 1, ",", &save);
				     c; c = strtok_r(NULL, ",", &save))
					if (strcmp(c, "memory") == 0)
						path = end + 1;
			}
		}
		if (path) {
			int n = snprintf(out, size, "%s%s",
					 version == 2 ? "/sys/fs/cgroup" : "/sys/fs/cgroup/memory",
					 strcmp(path, "/") == 0 ? "" : path);
			rc = n < 0 || (size_t)n >= size ? ENAMETOOLONG : 0;
			break;
		}
	}
	fclose(f);
	return rc;
}

static int version_here(void)
{
	struct statfs fs;
	if (statfs("/sys/fs/cgroup", &fs) < 0)
		return 0;
	if ((unsigned long)fs.f_type == CGROUP2_SUPER_MAGIC)
		return 2;
	return access("/sys/fs/cgroup/memory/cgroup.procs", F_OK) == 0 ? 1 : 0;
}

/* v2: the supervisor leaves the container's cgroup for a child of it, and the children get
 * the memory controller. */
static int v2_make_room(struct sbx_cgroup *cg)
{
	int n = snprintf(cg->home, sizeof(cg->home), "%s/supervisor", cg->parent);
	if (n < 0 || (size_t)n >= sizeof(cg->home))
		return ENAMETOOLONG;
	if (mkdir(cg->home, 0755) < 0 && errno != EEXIST)
		return errno;
	int e = write_text(cg->home, "cgroup.procs", "0");
	if (e)
		return e;
	return write_text(cg->parent, "cgroup.subtree_control", "+memory");
}

int sbx_cgroup_prepare(struct sbx_cgroup *cg, long long job_max, char *why, size_t why_size)
{
	*cg = (struct sbx_cgroup){ .version = version_here() };
	if (!cg->version)
		return snprintf(why, why_size, "no cgroup filesystem with a memory controller"),
		       ENOENT;
	int e = own_dir(cg->version, cg->parent, sizeof(cg->parent));
	if (e)
		return snprintf(why, why_size, "/proc/self/cgroup names no memory cgroup"), e;
	long long limit =
	    read_number(cg->parent, cg->version == 2 ? "memory.max" : "memory.limit_in_bytes");
	if (job_max <= 0) {
		if (limit < 0 || limit >= UNLIMITED)
			return snprintf(why, why_size,
					"the container has no memory limit: nothing to keep the "
					"job under (SUPERVISOR_JOB_MEMORY_MAX sets one)"),
			       ENOENT;
		job_max = limit - SUPERVISOR_RESERVE;
	}
	if (limit > 0 && limit < UNLIMITED && job_max > limit - SUPERVISOR_RESERVE)
		job_max = limit - SUPERVISOR_RESERVE;
	if (job_max < JOB_MINIMUM)
		return snprintf(why, why_size,
				"the container's memory limit leaves the job under "
				"64 MiB beside the supervisor"),
		       ENOSPC;
	snprintf(cg->home, sizeof(cg->home), "%s", cg->parent);
	if (cg->version == 2 && (e = v2_make_room(cg)) != 0)
		return snprintf(why, why_size, "the container's cgroup is not delegated (%s)",
				strerror(e)),
		       e;
	int n = snprintf(cg->dir, sizeof(cg->dir), "%s/job-%d", cg->parent, (int)getpid());
	if (n < 0 || (size_t)n >= sizeof(cg->dir)) {
		cg->dir[0] = '\0';
		return snprintf(why, why_size, "the cgroup path is too long"), ENAMETOOLONG;
	}
	if (mkdir(cg->dir, 0755) < 0 && errno != EEXIST)
		return e = errno,
		       snprintf(why, why_size, "the container's cgroup is not writable (%s)",
				strerror(e)),
		       e;
	char value[32];
	snprintf(value, sizeof(value), "%lld", job_max);
	e = write_text(cg->dir, cg->version == 2 ? "memory.max" : "memory.limit_in_bytes", value);
	/* The whole job goes on an OOM, never half of its processes (v2 only). */
	if (!e && cg->version == 2)
		e = write_text(cg->dir, "memory.oom.group", "1");
	if (e) {
		rmdir(cg->dir);
		cg->dir[0] = '\0';
		return snprintf(why, why_size, "setting the job cgroup's limit (%s)", strerror(e)),
		       e;
	}
	cg->max = job_max;
	snprintf(why, why_size, "cgroup v%d, its own limit: %lld MiB%s", cg->version, job_max >> 20,
		 cg->version == 2 ? ", oom.group" : "");
	return 0;
}

int sbx_cgroup_enter(const struct sbx_cgroup *cg)
{
	return cg->dir[0] ? write_text(cg->dir, "cgroup.procs", "0") : 0;
}

int sbx_cgroup_leave(const struct sbx_cgroup *cg)
{
	return cg->dir[0] ? write_text(cg->home, "cgroup.procs", "0") : 0;
}

long long sbx_cgroup_oom_kills(const struct sbx_cgroup *cg)
{
	if (!cg->dir[0])
		return -1;
	return read_key(cg->dir, cg->version == 2 ? "memory.events" : "memory.oom_control",
			"oom_kill");
}

long long sbx_cgroup_peak(const struct sbx_cgroup *cg)
{
	if (!cg->dir[0])
		return -1;
	return read_number(cg->dir, cg->version == 2 ? "memory.peak" : "memory.max_usage_in_bytes");
}

long long sbx_cgroup_cpu_us(const struct sbx_cgroup *cg)
{
	if (!cg->dir[0] || cg->version != 2)
		return -1;
	return read_key(cg->dir, "cpu.stat", "usage_usec");
}

void sbx_cgroup_remove(struct sbx_cgroup *cg)
{
	if (cg->dir[0] && rmdir(cg->dir) == 0)
		cg->dir[0] = '\0';
}
