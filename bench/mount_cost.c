/* What the job root's mounts cost on this kernel (bench/jobroot_bench.py), each alone: one
 * overlay of a directory of the image with its upper layer on a tmpfs (the job root makes one
 * per directory without a mount below, and one of its staged skeleton), and the pivot_root
 * into the new root. Run in a new user and mount namespace (unshare -Urm); prints
 * "OVERLAY_US PIVOT_US": the median of 8 overlays of /usr, and one pivot_root. */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define OVERLAYS 8

static long long now_us(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (long long)t.tv_sec * 1000000 + t.tv_nsec / 1000;
}

static int by_value(const void *a, const void *b)
{
	long long x = *(const long long *)a, y = *(const long long *)b;
	return (x > y) - (x < y);
}

int main(void)
{
	if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0 ||
	    mount("tmpfs", "/tmp", "tmpfs", 0, NULL) < 0 || mkdir("/tmp/r", 0755) < 0 ||
	    mount("tmpfs", "/tmp/r", "tmpfs", 0, NULL) < 0 || mkdir("/tmp/r/old", 0755) < 0) {
		perror("preparing the new root");
		return 1;
	}
	long long took[OVERLAYS];
	for (int i = 0; i < OVERLAYS; i++) {
		char up[64], work[64], at[64], opts[256];
		snprintf(up, sizeof(up), "/tmp/%du", i);
		snprintf(work, sizeof(work), "/tmp/%dw", i);
		snprintf(at, sizeof(at), "/tmp/r/%d", i);
		snprintf(opts, sizeof(opts), "lowerdir=/usr,upperdir=%s,workdir=%s,userxattr", up,
			 work);
		long long t0 = now_us();
		if (mkdir(up, 0755) < 0 || mkdir(work, 0700) < 0 || mkdir(at, 0755) < 0 ||
		    mount("overlay", at, "overlay", MS_NOSUID | MS_NODEV, opts) < 0) {
			perror("an overlay of /usr");
			return 1;
		}
		took[i] = now_us() - t0;
	}
	qsort(took, OVERLAYS, sizeof(took[0]), by_value);
	long long t0 = now_us();
	if (syscall(SYS_pivot_root, "/tmp/r", "/tmp/r/old") < 0) {
		perror("pivot_root");
		return 1;
	}
	printf("%lld %lld\n", took[OVERLAYS / 2], now_us() - t0);
	return 0;
}
