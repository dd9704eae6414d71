/* The fleet sweeps its own ghosts (README, "Ghosts of the fleet"): a pod the kubelet
 * SIGKILLs, one OOM-killed, a node that dies leave their runners registered, and GitHub
 * removes an ephemeral one only after a day. Each pod of a fleet (SUPERVISOR_FLEET), as it
 * ends, looks at one or two pages of its scope's runners and deletes at most
 * SUPERVISOR_SWEEP_MAX runners that carry the fleet's label, are offline and idle, and were
 * registered long enough ago that their pod had SUPERVISOR_SWEEP_AFTER to bring them online:
 * before its own runner (a lower id), once its own registration is older than that; or, by
 * their rs-born-T label (names.h), more than that and a minute ago, whatever their id. The
 * label is what lets a pod take a ghost registered after its own: without it, a runner
 * SIGKILLed late in a wave's registrations could be taken only by the few pods registered
 * after it. Not every pod looks: each does with a chance that grows with its own life
 * (sweep_chosen), so that the fleet looks about as often as it has pods, whether they live a
 * minute or an hour, and a short-lived pod rarely pays for a list call. */
#ifndef RS_SWEEP_H
#define RS_SWEEP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "github.h"

#define SWEEP_IDS_KEPT 20

struct sweep_report {
	const char *skipped; /* why the pod did not look, or NULL */
	int pages;           /* pages of runners listed */
	int deleted;
	int attempts;                  /* DELETEs sent: at most twice SUPERVISOR_SWEEP_MAX */
	long long ids[SWEEP_IDS_KEPT]; /* the runners deleted (the first ones) */
};

/* What a pod judges others by. */
struct sweep_judge {
	long long own_id;  /* its own runner's, registered more than after_s ago (why_not) */
	long long now_s;   /* the wall clock, seconds since the epoch, as born labels count */
	long long after_s; /* SUPERVISOR_SWEEP_AFTER */
};

/* A born label's margin on top of SUPERVISOR_SWEEP_AFTER (sweep.c). */
#define SWEEP_BORN_MARGIN_S 60

/* Which runners of a page are the fleet's ghosts, in the page's order (the oldest first): in
 * the fleet, offline, idle, not the pod's own, and registered before own_id or, by their born
 * label, more than after_s + SWEEP_BORN_MARGIN_S before now_s. Nothing without an own_id.
 * Writes at most max ids to out; returns how many. */
size_t sweep_pick(const struct gh_runner_brief *runners, size_t n, const struct sweep_judge *by,
		  size_t max, long long *out);

/* The life over which a pod of the fleet looks for ghosts once, on average: this many times
 * SUPERVISOR_SWEEP_AFTER (16 minutes at its default). Measured with 200 pods living 150 s, 4
 * of them SIGKILLed: 8 swept every ghost, at 1.28 times the minimum calls on a PAT
 * (docs/benchmarks.md); 32 made that 1.08 but left a ghost when the wave ended (only pods
 * registered after a ghost may delete it, and few of those looked). No registration left
 * behind comes first. */
#define SWEEP_PERIOD_FACTOR 8

/* Whether a pod whose registration is age_ms old looks for ghosts: never before after_s, then
 * with the chance age / (SWEEP_PERIOD_FACTOR * after_s), always from there on. rnd is a
 * uniform 32-bit random number. */
bool sweep_chosen(uint64_t age_ms, long long after_s, uint32_t rnd);

/* The page to look at after the first (2..pages), from a uniform random number. */
unsigned sweep_second_page(long long total, uint32_t rnd);

/* Runs the sweep (bounded by a short deadline, cut short by *stop) and logs what it did:
 * runner.swept for each runner deleted, fleet.swept once. */
void sweep_fleet(struct github *gh, const struct rs_config *cfg, long long own_id,
		 uint64_t registered_ms_ago, const volatile bool *stop, struct sweep_report *rep);

#endif
