#include "cost.h"

#include <dirent.h>
#include <stdarg.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Each level of the walk holds one directory open: deep enough for any real checkout, and far
 * from the fd limit. What lies deeper is left out (the wipe still removes it). */
#define WALK_DEPTH_MAX 256

static long long walk(int dfd, dev_t dev, int depth)
{
	DIR *d = fdopendir(dfd);
	if (!d) {
		close(dfd);
		return 0;
	}
	long long bytes = 0;
	for (struct dirent *e; (e = readdir(d));) {
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		struct stat st;
		if (fstatat(dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0 || st.st_dev != dev)
			continue;
		if (S_ISREG(st.st_mode)) {
			bytes += st.st_size;
		} else if (S_ISDIR(st.st_mode) && depth < WALK_DEPTH_MAX) {
			int sub = openat(dirfd(d), e->d_name,
					 O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
			if (sub >= 0)
				bytes += walk(sub, dev, depth + 1);
		}
	}
	closedir(d);
	return bytes;
}

long long cost_dir_bytes(const char *dir)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	struct stat st;
	if (fd < 0)
		return -1;
	if (fstat(fd, &st) < 0) {
		close(fd);
		return -1;
	}
	return walk(fd, st.st_dev, 0);
}

void cost_format_bytes(long long bytes, char out[16])
{
	static const char *const units[] = { "KiB", "MiB", "GiB", "TiB", "PiB" };
	if (bytes < 1024) {
		snprintf(out, 16, "%lld B", bytes < 0 ? 0 : bytes);
		return;
	}
	double v = (double)bytes / 1024;
	size_t u = 0;
	while (v >= 1024 && u + 1 < sizeof(units) / sizeof(*units)) {
		v /= 1024;
		u++;
	}
	snprintf(out, 16, v < 10 ? "%.1f %s" : "%.0f %s", v, units[u]);
}

/* Appends ", " and what fmt says to out (of size size, holding *len bytes). */
__attribute__((format(printf, 4, 5))) static void add(char *out, size_t size, size_t *len,
						      const char *fmt, ...)
{
	if (*len >= size)
		return;
	if (*len > 0)
		*len += (size_t)snprintf(out + *len, size - *len, ", ");
	if (*len >= size)
		return;
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(out + *len, size - *len, fmt, ap);
	va_end(ap);
	if (n > 0)
		*len += (size_t)n;
}

void cost_describe(const struct job_cost *c, char *out, size_t size)
{
	size_t len = 0;
	char b[16];
	if (size == 0)
		return;
	out[0] = '\0';
	if (c->cpu_ms >= 0)
		add(out, size, &len, "%lld.%02lld s CPU", c->cpu_ms / 1000, c->cpu_ms % 1000 / 10);
	if (c->memory_peak >= 0) {
		cost_format_bytes(c->memory_peak, b);
		add(out, size, &len, "peak memory %s (%s)", b,
		    c->memory_from_cgroup ? "all its processes" : "its largest process");
	}
	if (c->workdir_bytes >= 0) {
		cost_format_bytes(c->workdir_bytes, b);
		add(out, size, &len, "%s left in the work folder", b);
	}
	if (c->tasks >= 0)
		add(out, size, &len, "%lld processes and threads", c->tasks);
	if (c->oom_kills > 0)
		add(out, size, &len, "%lld killed for memory (OOM)", c->oom_kills);
	else if (c->oom_kills == 0)
		add(out, size, &len, "no OOM kill");
	if (len == 0)
		snprintf(out, size, "not measured");
}
