/* What every harness shares: libFuzzer's entry points, a checked copy of the input, and the
 * assertion that turns a broken invariant into a crash libFuzzer records. */
#ifndef RS_FUZZ_H
#define RS_FUZZ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

/* An invariant the code under test promises: a violation is a bug, reported like a crash. */
#define FUZZ_CHECK(cond)                                                                           \
	do {                                                                                       \
		if (!(cond)) {                                                                     \
			fprintf(stderr, "%s:%d: invariant broken: %s\n", __FILE__, __LINE__,       \
				#cond);                                                            \
			abort();                                                                   \
		}                                                                                  \
	} while (0)

/* data as a C string: a NUL-terminated copy, cut at its first NUL as C code would see it. */
static inline char *fuzz_cstr(const uint8_t *data, size_t size)
{
	char *s = malloc(size + 1);
	if (!s)
		abort();
	memcpy(s, data, size);
	s[size] = '\0';
	return s;
}

/* Cuts *rest at the first occurrence of sep: returns the part before it (NUL-terminated in
 * place) and moves *rest past it; at the end, returns the remainder and sets *rest to NULL. */
static inline char *fuzz_next(char **rest, const char *sep)
{
	char *s = *rest;
	if (!s)
		return NULL;
	char *at = strstr(s, sep);
	if (at) {
		*at = '\0';
		*rest = at + strlen(sep);
	} else {
		*rest = NULL;
	}
	return s;
}

/* FUZZ_KNOWN_BUGS=fail: the harness also crashes on the known bugs it otherwise tolerates
 * (fuzz/README.md, "Known bugs"), to reproduce one or to check its fix. */
static inline bool fuzz_known_bugs_fail(void)
{
	const char *v = getenv("FUZZ_KNOWN_BUGS");
	return v && strcmp(v, "fail") == 0;
}

/* FNV-1a: a deterministic stand-in for the random numbers and clock the code would read. */
static inline uint64_t fuzz_hash(const uint8_t *data, size_t size)
{
	uint64_t h = 1469598103934665603ULL;
	for (size_t i = 0; i < size; i++)
		h = (h ^ data[i]) * 1099511628211ULL;
	return h;
}

#endif
