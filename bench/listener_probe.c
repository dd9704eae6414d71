/* Benchmark stand-in for bin/Runner.Listener: the moment it starts, the JIT files are
 * written. It records the monotonic clock and its parent's CPU time so far (the sum of
 * /proc/PPID/task/<tid>/schedstat, nanoseconds on CPU), then execs the job taker. */
#define _GNU_SOURCE
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

static unsigned long long parent_cpu_ns(void)
{
	char path[64];
	snprintf(path, sizeof(path), "/proc/%d/task", (int)getppid());
	DIR *d = opendir(path);
	unsigned long long sum = 0;
	for (struct dirent *de; d && (de = readdir(d));) {
		if (de->d_name[0] == '.')
			continue;
		char f[128];
		snprintf(f, sizeof(f), "%s/%s/schedstat", path, de->d_name);
		FILE *fp = fopen(f, "r");
		unsigned long long ns = 0;
		if (fp && fscanf(fp, "%llu", &ns) == 1)
			sum += ns;
		if (fp)
			fclose(fp);
	}
	if (d)
		closedir(d);
	return sum;
}

int main(int argc, char **argv)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	unsigned long long cpu = parent_cpu_ns();
	const char *out = getenv("PROBE_RECORD");
	FILE *f = out ? fopen(out, "w") : NULL;
	if (f) {
		fprintf(f, "%lld.%09ld %llu\n", (long long)ts.tv_sec, ts.tv_nsec, cpu);
		fclose(f);
	}
	const char *next = getenv("PROBE_NEXT");
	if (next)
		execl("/usr/bin/python3", "python3", next, (char *)NULL);
	return 0;
}
