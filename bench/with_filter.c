/* with_filter [--none|--allow-all] CMD [ARG...]: sets PR_SET_NO_NEW_PRIVS, loads the
 * sandbox's seccomp filter (sandbox/seccomp.c, the same table and compiler as
 * `exec --sandbox=strict`), then execvp's CMD. Everything but the filter is the same every
 * way, so `with_filter CMD` against `with_filter --none CMD` measures the filter alone.
 * --none: no filter. --allow-all: a one-instruction filter (RET ALLOW) instead, the fixed cost
 * of having any seccomp filter at all.
 * Built by bench/sandbox_bench.py, linked against build/obj/sandbox/seccomp.o and
 * build/obj/supervisor/err.o. */
#include <errno.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

#include "err.h"
#include "sbx_seccomp.h"

int main(int argc, char **argv)
{
	int i = 1;
	int filter = 1; /* 0: none, 1: the sandbox's, 2: allow-all */
	if (i < argc && strcmp(argv[i], "--none") == 0) {
		filter = 0;
		i++;
	} else if (i < argc && strcmp(argv[i], "--allow-all") == 0) {
		filter = 2;
		i++;
	}
	if (i < argc && strcmp(argv[i], "--") == 0)
		i++;
	if (i >= argc) {
		fprintf(stderr, "usage: with_filter [--none|--allow-all] CMD [ARG...]\n");
		return 64;
	}
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) {
		perror("with_filter: PR_SET_NO_NEW_PRIVS");
		return 71;
	}
	if (filter == 2) {
		struct sock_filter ret = BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW);
		struct sbx_filter f = { .insns = &ret, .len = 1 };
		int rc = sbx_seccomp_load(&f);
		if (rc != 0) {
			fprintf(stderr, "with_filter: loading the filter: %s\n", strerror(-rc));
			return 71;
		}
	} else if (filter == 1) {
		struct sbx_filter f;
		struct rs_err err = { 0 };
		if (sbx_seccomp_build(&f, false, false, &err) != 0) {
			fprintf(stderr, "with_filter: %s\n", err.msg);
			return 71;
		}
		int rc = sbx_seccomp_load(&f);
		sbx_seccomp_free(&f);
		if (rc != 0) {
			fprintf(stderr, "with_filter: loading the filter: %s\n", strerror(-rc));
			return 71;
		}
	}
	execvp(argv[i], argv + i);
	fprintf(stderr, "with_filter: %s: %s\n", argv[i], strerror(errno));
	return errno == ENOENT ? 127 : 126;
}
