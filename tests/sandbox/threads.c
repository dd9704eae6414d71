/*
 * threads.c - starts 8 threads, joins them and prints the sum of their work.
 * Used by workload.sh to check that thread creation works in the sandbox:
 * glibc >= 2.34 creates threads with clone3 and falls back to clone only
 * when clone3 answers ENOSYS (an EPERM from seccomp would break this).
 *
 * Build: gcc -std=gnu11 -Wall -Wextra -Werror -O2 -pthread threads.c -o threads
 * Output: "threads=8 sum=<N>" and exit 0 when the sum is right.
 */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#define NTHREADS 8
#define PER_THREAD 1000000ULL

struct job {
	uint64_t start, end, sum;
};

static void *work(void *arg)
{
	struct job *j = arg;
	uint64_t s = 0;
	for (uint64_t i = j->start; i < j->end; i++)
		s += i;
	j->sum = s;
	return NULL;
}

int main(void)
{
	pthread_t t[NTHREADS];
	struct job jobs[NTHREADS];
	for (int i = 0; i < NTHREADS; i++) {
		jobs[i].start = (uint64_t)i * PER_THREAD;
		jobs[i].end = (uint64_t)(i + 1) * PER_THREAD;
		jobs[i].sum = 0;
		int rc = pthread_create(&t[i], NULL, work, &jobs[i]);
		if (rc != 0) {
			fprintf(stderr, "pthread_create %d: %s\n", i, strerror(rc));
			return 1;
		}
	}
	uint64_t total = 0;
	for (int i = 0; i < NTHREADS; i++) {
		int rc = pthread_join(t[i], NULL);
		if (rc != 0) {
			fprintf(stderr, "pthread_join %d: %s\n", i, strerror(rc));
			return 1;
		}
		total += jobs[i].sum;
	}
	uint64_t n = NTHREADS * PER_THREAD;
	uint64_t want = n * (n - 1) / 2;
	printf("threads=%d sum=%llu\n", NTHREADS, (unsigned long long)total);
	if (total != want) {
		fprintf(stderr, "wrong sum: got %llu want %llu\n",
			(unsigned long long)total, (unsigned long long)want);
		return 1;
	}
	return 0;
}
