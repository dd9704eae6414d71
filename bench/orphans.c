/* Benchmark child: makes N orphans (double fork, the grandchild exits at once), then waits
 * until its init has reaped every one of them (no other process left in /proc but init and
 * itself), and exits. Run as the init's main child in a fresh PID namespace. */
#define _GNU_SOURCE
#include <ctype.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static int others_in_proc(void)
{
	DIR *d = opendir("/proc");
	int n = 0;
	for (struct dirent *de; d && (de = readdir(d));)
		if (isdigit((unsigned char)de->d_name[0]))
			n++;
	if (d)
		closedir(d);
	return n - 2; /* init and us */
}

int main(int argc, char **argv)
{
	int n = argc > 1 ? atoi(argv[1]) : 10000;
	for (int i = 0; i < n; i++) {
		pid_t a = fork();
		if (a == 0) {
			if (fork() == 0)
				_exit(0);
			_exit(0);
		}
		if (a > 0)
			waitpid(a, NULL, 0);
	}
	struct timespec pause = { 0, 200000 };
	while (others_in_proc() > 0)
		nanosleep(&pause, NULL);
	return 0;
}
