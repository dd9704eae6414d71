/* The runner's name and labels as GitHub receives them. */
#ifndef RS_NAMES_H
#define RS_NAMES_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

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

/* A runner of a fleet (SUPERVISOR_FLEET) also carries rs-born-T, T the wall-clock time of its
 * registration request in whole minutes since the epoch: GitHub's runners API tells no
 * registration time, and the fleet's sweep needs one to judge a runner registered after its
 * own (sweep.h). Minutes keep the label short and the same for the pods of a wave. */
#define BORN_LABEL_PREFIX "rs-born-"
#define BORN_LABEL_SIZE   32

/* The label for a registration requested at now. */
void runner_born_label(time_t now, char out[BORN_LABEL_SIZE]);

/* The labels a registration at now adds to RUNNER_LABELS (labels, n): with a fleet label,
 * that label unless labels lists it already (GitHub compares labels without case), then the
 * born label, written into born. Both registrations (JIT and token mode) send these last.
 * Returns how many of out[0..1] are set: 0 without a fleet label. */
size_t runner_fleet_labels(const char *fleet_label, char *const *labels, size_t n, time_t now,
			   char born[BORN_LABEL_SIZE], const char *out[2]);

/* The minute a born label says, or -1 when label is not exactly one: the prefix (in any case,
 * as GitHub compares labels) and 1 to 18 decimal digits, at most BORN_MINUTE_MAX, nothing else.
 * What a pod of the fleet cannot read it judges as if there were no label. */
#define BORN_MINUTE_MAX (INT64_MAX / 60) /* T * 60 does not overflow */
long long runner_born_minute(const char *label);

#endif
