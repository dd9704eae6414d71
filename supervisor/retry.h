/* What to do with a GitHub response: the documented retry procedure (reference §6). */
#ifndef RS_RETRY_H
#define RS_RETRY_H

#include <stdbool.h>
#include <stdint.h>

#include "http.h"

enum retry_verdict {
	RETRY_DONE,         /* a response for the caller to interpret (2xx, 404, 409, 422...) */
	RETRY_AGAIN,        /* transport error or 5xx: back off and retry */
	RETRY_RATE_LIMITED, /* primary or secondary limit: wait as GitHub says, then retry */
	RETRY_AUTH_FAILED,  /* 401, or 403 that is not a rate limit: retrying will not help */
};

struct retry_decision {
	enum retry_verdict verdict;
	uint64_t wait_ms;
	const char *why; /* for the log */
	bool secondary;  /* a secondary rate limit: the caller counts them in a row */
};

/* Exponential backoff with full jitter: a uniform wait in [0, min(cap, base * 2^attempt)).
 * rnd is a uniform 32-bit random number (a parameter, so that tests are exact). */
uint64_t retry_backoff_ms(unsigned attempt, uint64_t base_ms, uint64_t cap_ms, uint32_t rnd);

/* attempt counts from 0 for the first retry; secondary_before is how many secondary
 * rate-limit answers came in a row just before this one (GitHub: "if your request continues
 * to fail due to a secondary rate limit, wait for an exponentially increasing amount of time
 * between retries"); now_s is the wall clock (epoch seconds) for x-ratelimit-reset. */
struct retry_decision retry_classify(const struct http_response *r, unsigned attempt,
				     unsigned secondary_before, long long now_s, uint32_t rnd);

/* What is added to a rate limit's wait (retry-after, x-ratelimit-reset, the minute without a
 * hint): a uniform [0, min(wait / 20 + 1 s, 4 s)), so that the pods of a fleet told the same
 * hint at the same moment do not all come back in the same instant (README, "Outages and rate
 * limits"). Small: the pods refused by a limit that admits so many a minute are a queue, and
 * every second of spread is a second the endpoint's next minute is not used. */
uint64_t retry_hint_jitter_ms(uint64_t wait_ms, uint32_t rnd);

/* Whether a credential's hourly budget (x-ratelimit-remaining of x-ratelimit-limit, -1 when
 * unknown) is down to its last RETRY_RESERVE_DIVISOR-th. Spending that part is kept for
 * deregistrations: a registration refused by a rate limit stops competing for it, and no
 * sweep starts (README, "Outages and rate limits"). A pod refused while the budget is that
 * low is one of a crowd sharing the credential; each of the crowd's registered runners needs
 * a DELETE later, and a DELETE that finds the hour spent leaves a ghost until the reset. */
bool retry_budget_reserved(long long remaining, long long limit);

#define RETRY_RESERVE_DIVISOR 5

#define RETRY_BASE_MS 500
#define RETRY_CAP_MS  30000
/* "Otherwise wait at least one minute" for a secondary limit without retry-after. */
#define RETRY_SECONDARY_MS 60000
/* Secondary limits in a row that a fleet's queue explains: a pod refused because the pods
 * before it used the endpoint's minute gets in when its turn comes, and doubling its wait
 * would only leave the endpoint idle (docs/benchmarks.md, "A fleet against GitHub's limits").
 * Ten minutes of them (1,800 registrations at GitHub's 900 points a minute) is no queue: from
 * then on each one doubles the wait, as GitHub asks of a request that keeps failing. */
#define RETRY_QUEUE_STREAK 10
/* No wait GitHub asks for is longer than its one-hour rate-limit window. */
#define RETRY_MAX_WAIT_S 3600

#endif
