/* What pivot_root costs on this kernel (bench/jobroot_bench.py): the job root switches into
 * its new root with it, and the old root must be detached, not merely covered. Run in a new
 * user and mount namespace (unshare -Urm); prints the microseconds of one pivot_root from a
 * tmpfs root to another, as the sandbox does it. */
#define _GNU_SOURCE
#include <stdio.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

static long long now_us(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (long long)t.tv_sec * 1000000 + t.tv_nsec / 1000;
}

int main(void)
{
	if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0 ||
	    mount("tmpfs", "/tmp", "tmpfs", 0, NULL) < 0 || mkdir("/tmp/r", 0755) < 0 ||
	    mount("tmpfs", "/tmp/r", "tmpfs", 0, NULL) < 0 || mkdir("/tmp/r/old", 0755) < 0) {
		perror("preparing the new root");
		return 1;
	}
	long long t0 = now_us();
	if (syscall(SYS_pivot_root, "/tmp/r", "/tmp/r/old") < 0) {
		perror("pivot_root");
		return 1;
	}
	printf("%lld\n", now_us() - t0);
	return 0;
}
