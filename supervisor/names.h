/* The runner's name and labels as GitHub receives them. */
#ifndef RS_NAMES_H
#define RS_NAMES_H

#include <stddef.h>
#include <stdint.h>

#define RUNNER_NAME_MAX 64

/* name when it fits in 64 characters; else its first 55 characters, '-', and 8 hex digits
 * of its SHA-256, so that two long pod names that share a prefix stay distinct and the same
 * pod name always gives the same runner name. out holds RUNNER_NAME_MAX + 1 bytes. */
void runner_name_fit(const char *name, char *out);

/* name with "-" and 6 hex digits of rnd appended, shortened to fit: the fallback when the
 * name is held by a runner that is online or busy. */
void runner_name_suffixed(const char *name, uint32_t rnd, char *out);

/* The runner's own default labels for this machine: "X64", "ARM64" or "ARM". */
const char *runner_arch_label(void);

#endif
