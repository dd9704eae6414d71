/* Descendants through /proc.
 *
 * A subreaper inherits every orphan of its tree, so "below us" is the transitive closure of
 * the parent links in /proc/PID/stat. The pids read there are those of the PID namespace
 * that mounted /proc: when that is not ours (a container that kept the host's /proc), a pid
 * read there names another process for kill(2), so we check /proc/self first and refuse. */
#include "procs.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util.h"

struct proc_link {
	pid_t pid;
	pid_t ppid;
};

/* True when /proc shows our own PID namespace. */
static bool proc_is_ours(void)
{
	char buf[32];
	ssize_t n = readlink("/proc/self", buf, sizeof(buf) - 1);
	if (n <= 0)
		return false;
	buf[n] = '\0';
	return strtol(buf, NULL, 10) == getpid();
}

static pid_t read_ppid(int proc_fd, const char *name)
{
	char path[64], buf[512];
	snprintf(path, sizeof(path), "%s/stat", name);
	_cleanup_(closep) int fd = openat(proc_fd, path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	ssize_t n = read(fd, buf, sizeof(buf) - 1);
	if (n <= 0)
		return -1;
	buf[n] = '\0';
	/* comm may hold spaces and parentheses: the fields start after the last ')'. */
	char *p = strrchr(buf, ')');
	char state;
	int ppid;
	if (!p || sscanf(p + 1, " %c %d", &state, &ppid) != 2)
		return -1;
	return ppid;
}

/* Reads every (pid, ppid) pair; returns the count, -1 on error. */
static int read_links(struct proc_link **out)
{
	*out = NULL;
	_cleanup_(closep) int proc_fd = open("/proc", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (proc_fd < 0)
		return -1;
	DIR *dir = fdopendir(dup(proc_fd));
	if (!dir)
		return -1;
	size_t n = 0, cap = 0;
	struct proc_link *links = NULL;
	for (struct dirent *de; (de = readdir(dir));) {
		if (!isdigit((unsigned char)de->d_name[0]))
			continue;
		pid_t ppid = read_ppid(proc_fd, de->d_name);
		if (ppid < 0)
			continue; /* gone meanwhile */
		if (n == cap) {
			cap = cap ? cap * 2 : 256;
			struct proc_link *grown = realloc(links, cap * sizeof(*links));
			if (!grown) {
				free(links);
				closedir(dir);
				return -1;
			}
			links = grown;
		}
		links[n++] = (struct proc_link){ (pid_t)strtol(de->d_name, NULL, 10), ppid };
	}
	closedir(dir);
	*out = links;
	return (int)n;
}

static int cmp_pid(const void *a, const void *b)
{
	pid_t x = ((const struct proc_link *)a)->pid, y = ((const struct proc_link *)b)->pid;
	return (x > y) - (x < y);
}

static bool is_marked(const struct proc_link *links, int n, pid_t pid, pid_t root)
{
	if (pid == root)
		return true;
	struct proc_link key = { .pid = pid };
	const struct proc_link *hit = bsearch(&key, links, (size_t)n, sizeof(*links), cmp_pid);
	return hit && hit->ppid < 0;
}

/* Marks the descendants of root (their ppid becomes -ppid - 1, keeping the parent) and
 * returns how many there are. Each pass adds the children of what is marked, so a tree of
 * depth d takes d passes of n binary searches. */
static int mark_descendants(struct proc_link *links, int n, pid_t root)
{
	if (n == 0)
		return 0;
	qsort(links, (size_t)n, sizeof(*links), cmp_pid);
	int count = 0, added;
	do {
		added = 0;
		for (int i = 0; i < n; i++) {
			if (links[i].ppid >= 0 && is_marked(links, n, links[i].ppid, root)) {
				links[i].ppid = -links[i].ppid - 1;
				added++;
			}
		}
		count += added;
	} while (added);
	return count;
}

static int signal_descendants(int sig, bool do_kill)
{
	if (!proc_is_ours())
		return -1;
	_cleanup_(freep) struct proc_link *links = NULL;
	int n = read_links(&links);
	if (n < 0)
		return -1;
	int count = mark_descendants(links, n, getpid());
	for (int i = 0; do_kill && i < n; i++)
		if (links[i].ppid < 0)
			kill(links[i].pid, sig);
	return count;
}

int procs_count_descendants(void)
{
	return signal_descendants(0, false);
}

int procs_signal_all(int sig, bool pid1)
{
	if (pid1) {
		int count = procs_count_descendants();
		kill(-1, sig);
		return count < 0 ? 0 : count;
	}
	int count = signal_descendants(sig, true);
	return count < 0 ? 0 : count;
}

int procs_kill_uid(uid_t uid)
{
	if (!proc_is_ours())
		return -1;
	DIR *dir = opendir("/proc");
	if (!dir)
		return -1;
	int n = 0;
	for (struct dirent *de; (de = readdir(dir));) {
		if (!isdigit((unsigned char)de->d_name[0]))
			continue;
		struct stat st;
		pid_t pid = (pid_t)strtol(de->d_name, NULL, 10);
		/* /proc/PID belongs to the process's effective uid. */
		if (pid != getpid() && fstatat(dirfd(dir), de->d_name, &st, 0) == 0 &&
		    st.st_uid == uid && kill(pid, SIGKILL) == 0)
			n++;
	}
	closedir(dir);
	return n;
}
