#include "sweep.h"

#include <sys/random.h>
#include <time.h>

#include "log.h"
#include "names.h"
#include "retry.h"

/* A sweep is housekeeping: it gives up quickly (a rate limit's wait is longer) rather than
 * keep an ending pod. */
#define SWEEP_DEADLINE_MS 15000
#define PAGE_SIZE         100

/* Whether a born label proves the registration older than after_s. The label floors the
 * request's time to the minute: the request may have come up to 59 s after T * 60, and the
 * minute of margin is for that. What the floor did not use of it covers a skew between the
 * clocks of the registering node and ours; a larger skew is left to SUPERVISOR_SWEEP_AFTER's
 * own slack (a runner comes online seconds after its registration, not minutes), and a runner
 * taken too early costs its pod an exit 75, no job (README, "Ghosts of the fleet"). A time
 * ahead of ours is young: that node's clock is ahead, or the label is not to be trusted. */
static bool born_long_ago(long long born_minute, long long now_s, long long after_s)
{
	if (born_minute < 0 || born_minute > BORN_MINUTE_MAX || now_s < 0 || after_s < 0)
		return false;
	long long born_s = born_minute * 60;
	return born_s <= now_s && now_s - born_s > after_s + SWEEP_BORN_MARGIN_S;
}

size_t sweep_pick(const struct gh_runner_brief *runners, size_t n, const struct sweep_judge *by,
		  size_t max, long long *out)
{
	size_t k = 0;
	if (by->own_id <= 0)
		return 0;
	/* A page comes in id order; an older ghost is no less a ghost, but the oldest first
	 * makes pods that share a page agree on which to take. */
	for (size_t i = 0; i < n && k < max; i++) {
		const struct gh_runner_brief *r = &runners[i];
		if (!r->in_fleet || r->online || r->busy || r->id <= 0 || r->id == by->own_id)
			continue;
		/* Either proves the pod that registered it had SUPERVISOR_SWEEP_AFTER to bring it
		 * online. The id needs no clock and no margin, so it stays for a runner with a label
		 * too: it takes a wave's ghosts as soon as its pods are that old, where the label
		 * alone would wait the margin more. */
		if (r->id < by->own_id || born_long_ago(r->born_minute, by->now_s, by->after_s))
			out[k++] = r->id;
	}
	return k;
}

bool sweep_chosen(uint64_t age_ms, long long after_s, uint32_t rnd)
{
	uint64_t after_ms = after_s > 0 ? (uint64_t)after_s * 1000 : 0;
	if (age_ms < after_ms)
		return false;
	uint64_t period_ms = after_ms * SWEEP_PERIOD_FACTOR;
	if (age_ms >= period_ms)
		return true;
	/* rnd / 2^32 < age / period, without floating point. */
	return ((uint64_t)rnd * period_ms) >> 32 < age_ms;
}

unsigned sweep_second_page(long long total, uint32_t rnd)
{
	long long pages = (total + PAGE_SIZE - 1) / PAGE_SIZE;
	if (pages < 2)
		return 0;
	if (pages > 1000)
		pages = 1000;
	return 2 + (unsigned)(((uint64_t)rnd * (uint64_t)(pages - 1)) >> 32);
}

static uint32_t random_u32(void)
{
	uint32_t v = 0;
	if (getrandom(&v, sizeof(v), GRND_NONBLOCK) != sizeof(v))
		v = (uint32_t)gh_now_ms();
	return v;
}

static const char BUDGET_RESERVED[] =
    "the credential's hourly budget is down to the fifth kept for deregistrations";

static const char *why_not(const struct rs_config *cfg, struct gh_budget budget, long long own_id,
			   uint64_t registered_ms_ago, const volatile bool *stop)
{
	if (!cfg->fleet_label)
		return "no SUPERVISOR_FLEET";
	if (cfg->sweep_max == 0)
		return "SUPERVISOR_SWEEP_MAX is 0";
	if (own_id <= 0)
		return "no runner of its own to compare with";
	if (stop && *stop)
		return "stopping: the kubelet's grace is running";
	if (registered_ms_ago < (uint64_t)cfg->sweep_after_s * 1000)
		return "its own registration is younger than SUPERVISOR_SWEEP_AFTER";
	/* The fleet's deregistrations come first; a ghost left now is swept after the reset. */
	if (retry_budget_reserved(budget.remaining, budget.limit))
		return BUDGET_RESERVED;
	/* Every pod listing a page as it ends would cost a fleet of short-lived pods one call in
	 * three (issue 16: calls at most 1.2 times the registrations and deregistrations). */
	if (!sweep_chosen(registered_ms_ago, cfg->sweep_after_s, random_u32()))
		return "not its turn: a pod looks with a chance that grows with its life";
	return NULL;
}

/* Deletes picked runners until SUPERVISOR_SWEEP_MAX of them are deleted, starting at one of
 * them at random: pods that end together see the same page, and all starting at its oldest
 * ghost they would all delete the same ones, the rest 404s while other ghosts stay. A 404 (a
 * pod was first) moves on to the next; at most twice SUPERVISOR_SWEEP_MAX DELETEs a pod.
 * Returns -1 when GitHub stopped answering. */
static int delete_picked(struct github *gh, const long long *ids, size_t n, uint64_t deadline,
			 const struct rs_config *cfg, struct sweep_report *rep)
{
	size_t start = (size_t)(((uint64_t)random_u32() * n) >> 32);
	for (size_t k = 0;
	     k < n && rep->deleted < cfg->sweep_max && rep->attempts < 2 * cfg->sweep_max; k++) {
		long long id = ids[(start + k) % n];
		struct rs_err err = { 0 };
		rep->attempts++;
		int rc = gh_delete_idle_runner(gh, id, deadline, &err);
		if (rc < 0) {
			log_event(LOG_WARN, "fleet.sweep_failed",
				  LOG_FIELDS(LOG_INT("runner_id", id)), "%s", err.msg);
			return -1;
		}
		if (rc == 1)
			continue;
		if (rep->deleted < SWEEP_IDS_KEPT)
			rep->ids[rep->deleted] = id;
		rep->deleted++;
		log_event(LOG_INFO, "runner.swept",
			  LOG_FIELDS(LOG_INT("runner_id", id), LOG_STR("fleet", cfg->fleet)),
			  "deleted runner %lld, a ghost of fleet %s (offline, idle, registered "
			  "before this pod's or, by its born label, more than %lld s ago)",
			  id, cfg->fleet, cfg->sweep_after_s + SWEEP_BORN_MARGIN_S);
	}
	return 0;
}

/* Looks at one page; returns -1 when GitHub stopped answering. */
static int sweep_page(struct github *gh, const struct rs_config *cfg, unsigned page,
		      long long own_id, uint64_t deadline, long long *total,
		      struct sweep_report *rep)
{
	struct gh_runner_page p;
	struct rs_err err = { 0 };
	if (gh_runners_page(gh, page, cfg->fleet_label, deadline, &p, &err) < 0) {
		log_event(LOG_WARN, "fleet.sweep_failed", LOG_FIELDS(LOG_INT("page", page)), "%s",
			  err.msg);
		return -1;
	}
	rep->pages++;
	*total = p.total;
	long long ids[SWEEP_IDS_KEPT];
	struct sweep_judge by = { .own_id = own_id,
				  .now_s = (long long)time(NULL),
				  .after_s = cfg->sweep_after_s };
	size_t n = sweep_pick(p.runners, p.n, &by, SWEEP_IDS_KEPT, ids);
	gh_runner_page_free(&p);
	return delete_picked(gh, ids, n, deadline, cfg, rep);
}

void sweep_fleet(struct github *gh, const struct rs_config *cfg, long long own_id,
		 uint64_t registered_ms_ago, const volatile bool *stop, struct sweep_report *rep)
{
	*rep = (struct sweep_report){ 0 };
	rep->skipped = gh ? why_not(cfg, gh_get_budget(gh), own_id, registered_ms_ago, stop)
			  : "no credentials";
	if (rep->skipped) {
		/* Most pods do not look (not their turn): worth a line only when it is the
		 * budget that stops a pod. */
		log_event(rep->skipped == BUDGET_RESERVED ? LOG_INFO : LOG_DEBUG, "fleet.swept",
			  LOG_FIELDS(LOG_STR("skipped", rep->skipped)), "no sweep: %s",
			  rep->skipped);
		return;
	}
	uint64_t t0 = gh_now_ms(), deadline = t0 + SWEEP_DEADLINE_MS;
	gh_set_cancel(gh, stop);
	long long total = 0;
	/* The first page holds the oldest runners, where ghosts pile up; one other page, at
	 * random, so that the pods of a large scope cover all of it between them. */
	if (sweep_page(gh, cfg, 1, own_id, deadline, &total, rep) == 0 &&
	    rep->deleted < cfg->sweep_max && rep->attempts < 2 * cfg->sweep_max) {
		unsigned second = sweep_second_page(total, random_u32());
		if (second)
			sweep_page(gh, cfg, second, own_id, deadline, &total, rep);
	}
	gh_set_cancel(gh, NULL);
	log_event(LOG_INFO, "fleet.swept",
		  LOG_FIELDS(LOG_STR("fleet", cfg->fleet), LOG_INT("deleted", rep->deleted),
			     LOG_INT("pages", rep->pages), LOG_MS("took_ms", gh_now_ms() - t0)),
		  "fleet %s: %d ghost runner(s) deleted, %d page(s) of runners looked at",
		  cfg->fleet, rep->deleted, rep->pages);
}
