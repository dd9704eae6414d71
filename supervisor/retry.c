/* The policy, in GitHub's words (rate-limits-for-the-rest-api.md, reference §6):
 * 1. retry-after present: wait that many seconds;
 * 2. else x-ratelimit-remaining is 0: wait until x-ratelimit-reset;
 * 3. else (a secondary limit without a hint): wait at least one minute;
 * 4. secondary-limit failures that continue: wait exponentially longer, and give up (the
 *    caller's deadline). A fleet's pods sharing one credential are refused in turn while the
 *    endpoint's minute is used by those before them: that is a queue, which drains at the
 *    limit's pace whatever the waits, so the doubling starts only after RETRY_QUEUE_STREAK
 *    secondary limits in a row. Doubling from the first leaves the endpoint idle while the
 *    queue waits: at GitHub's 180 registrations a minute, the last of 1,000 pods, refused five
 *    times would wait 1 + 2 + 4 + 8 + 16 = 31 minutes instead of about 6.
 * Each rate limit's wait gets a small random extra (retry_hint_jitter_ms) so that pods told
 * the same hint do not return in the same instant. Server errors and broken connections get
 * exponential backoff with full jitter (AWS Architecture Blog, "Exponential Backoff And
 * Jitter"), so that a fleet of pods that lost GitHub at the same moment does not come back in
 * lockstep. */
#include "retry.h"

#include <stdbool.h>
#include <string.h>
#include <strings.h>

#define RETRY_HINT_JITTER_CAP_MS 4000

uint64_t retry_backoff_ms(unsigned attempt, uint64_t base_ms, uint64_t cap_ms, uint32_t rnd)
{
	uint64_t ceiling = cap_ms;
	if (attempt < 32 && base_ms <= (cap_ms >> attempt))
		ceiling = base_ms << attempt;
	if (ceiling == 0)
		return 0;
	return (uint64_t)(((unsigned __int128)rnd * ceiling) >> 32);
}

uint64_t retry_hint_jitter_ms(uint64_t wait_ms, uint32_t rnd)
{
	uint64_t spread = wait_ms / 20 + 1000;
	if (spread > RETRY_HINT_JITTER_CAP_MS)
		spread = RETRY_HINT_JITTER_CAP_MS;
	return (uint64_t)(((unsigned __int128)rnd * spread) >> 32);
}

bool retry_budget_reserved(long long remaining, long long limit)
{
	return remaining >= 0 && limit > 0 && remaining < limit / RETRY_RESERVE_DIVISOR;
}

static bool says_rate_limit(const char *body)
{
	return body && (strcasestr(body, "rate limit") != NULL);
}

static struct retry_decision decide(enum retry_verdict v, uint64_t wait_ms, const char *why)
{
	return (struct retry_decision){ .verdict = v, .wait_ms = wait_ms, .why = why };
}

/* base_ms doubled `times` times, at most RETRY_MAX_WAIT_S. */
static uint64_t doubled(uint64_t base_ms, unsigned times)
{
	uint64_t cap = (uint64_t)RETRY_MAX_WAIT_S * 1000;
	for (unsigned i = 0; i < times && base_ms < cap; i++)
		base_ms *= 2;
	return base_ms < cap ? base_ms : cap;
}

struct retry_decision retry_classify(const struct http_response *r, unsigned attempt,
				     unsigned secondary_before, long long now_s, uint32_t rnd)
{
	uint64_t backoff = retry_backoff_ms(attempt, RETRY_BASE_MS, RETRY_CAP_MS, rnd);
	if (r->transport_error)
		return decide(RETRY_AGAIN, backoff, "connection failed");
	long s = r->status;
	bool limited =
	    s == 429 || (s == 403 && (r->retry_after_s >= 0 || r->ratelimit_remaining == 0 ||
				      says_rate_limit(r->body)));
	if (limited) {
		/* The primary limit is exhausted when x-ratelimit-remaining says 0; anything else
		 * that limits us is a secondary limit. */
		bool secondary = r->ratelimit_remaining != 0;
		/* How many times this wait is doubled: none while a fleet's queue explains it. */
		unsigned streak = secondary && secondary_before >= RETRY_QUEUE_STREAK
				      ? secondary_before - RETRY_QUEUE_STREAK + 1
				      : 0;
		struct retry_decision d;
		/* Capped, so that a broken proxy's huge value cannot overflow; the caller's
		 * deadline decides long before. */
		if (r->retry_after_s >= 0) {
			d = decide(RETRY_RATE_LIMITED,
				   doubled((uint64_t)(r->retry_after_s < RETRY_MAX_WAIT_S
							  ? r->retry_after_s
							  : RETRY_MAX_WAIT_S) *
					       1000,
					   streak),
				   streak ? "secondary rate limit again: retry-after, doubled"
					  : "rate limited: retry-after");
			d.secondary = secondary;
			return d;
		}
		if (r->ratelimit_remaining == 0 && r->ratelimit_reset > 0) {
			long long wait = r->ratelimit_reset - now_s;
			wait = wait < RETRY_MAX_WAIT_S ? wait : RETRY_MAX_WAIT_S;
			/* One second past the reset: the window flips on the server's clock. */
			return decide(RETRY_RATE_LIMITED,
				      (uint64_t)(wait > 0 ? wait + 1 : 1) * 1000,
				      "primary rate limit: waiting for x-ratelimit-reset");
		}
		d = decide(RETRY_RATE_LIMITED, doubled(RETRY_SECONDARY_MS, streak),
			   streak ? "secondary rate limit again: waiting exponentially longer"
				  : "secondary rate limit: waiting at least a minute");
		d.secondary = true;
		return d;
	}
	if (s == 401 || s == 403)
		return decide(RETRY_AUTH_FAILED, 0, "credentials rejected");
	if (s >= 500 || s == 408)
		return decide(RETRY_AGAIN, backoff, "server error");
	return decide(RETRY_DONE, 0, "");
}
