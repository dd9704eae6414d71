/* getppid_loop [getppid|fionread] [N]: times N syscalls with clock_gettime(CLOCK_MONOTONIC)
 * and prints the nanoseconds per call.
 *
 * getppid: raw syscall(SYS_getppid) (glibc does not cache it, but the raw call makes sure),
 * a syscall the sandbox's filter does not name: with the kernel's seccomp action cache
 * (>= 5.11) it never runs the BPF.
 * fionread: ioctl(fd, FIONREAD) on a pipe; the filter checks ioctl's second argument
 * (TIOCSTI, TIOCLINUX), so every call walks the BPF program: the filter's slow path. */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

static double now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

int main(int argc, char **argv)
{
	const char *what = argc > 1 ? argv[1] : "getppid";
	long n = argc > 2 ? atol(argv[2]) : 10000000L;
	if (n <= 0) {
		fprintf(stderr, "getppid_loop: bad N\n");
		return 64;
	}
	int fionread = strcmp(what, "fionread") == 0;
	if (!fionread && strcmp(what, "getppid") != 0) {
		fprintf(stderr, "usage: getppid_loop [getppid|fionread] [N]\n");
		return 64;
	}
	int p[2];
	if (fionread && pipe(p) != 0) {
		perror("pipe");
		return 1;
	}
	long sink = 0;
	double t0 = now_ns();
	if (fionread) {
		for (long i = 0; i < n; i++) {
			int avail;
			if (ioctl(p[0], FIONREAD, &avail) != 0) {
				perror("ioctl(FIONREAD)");
				return 1;
			}
			sink += avail;
		}
	} else {
		for (long i = 0; i < n; i++)
			sink += syscall(SYS_getppid);
	}
	double t1 = now_ns();
	if (sink == -1)
		puts("");
	printf("%.2f\n", (t1 - t0) / (double)n);
	return 0;
}
