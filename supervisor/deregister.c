#include "deregister.h"

#include <errno.h>

#include "log.h"

static uint64_t in_seconds(long long s)
{
	return gh_now_ms() + (uint64_t)s * 1000;
}

static enum dereg_outcome left_to_arc(const struct dereg_target *t)
{
	/* ARC's controller deletes the EphemeralRunner on exit 0 or 7 (its finalizer removes
	 * the registration) and re-creates the pod with the same JIT configuration on any
	 * other code: deleting it here would make that pod a ghost (README, "ARC mode"). */
	log_event(LOG_INFO, "runner.deregistered",
		  LOG_FIELDS(LOG_INT("runner_id", t->runner_id), LOG_BOOL("confirmed", false)),
		  "the registration is ARC's: its controller removes or reuses it");
	return DEREG_LEFT_TO_ARC;
}

/* One attempt within [now, deadline]; a SIGTERM cuts a patient attempt short. */
static int attempt(struct github *gh, const struct dereg_target *t, uint64_t deadline,
		   struct rs_err *err)
{
	return t->runner_id ? gh_confirm_gone(gh, t->runner_id, t->likely_gone, deadline, err)
			    : gh_forget_name(gh, t->name, deadline, err);
}

enum dereg_outcome deregister_runner(struct github *gh, const struct rs_config *cfg,
				     const struct dereg_target *t, const volatile bool *hurry)
{
	if (t->arc || !gh)
		return left_to_arc(t);
	uint64_t t0 = gh_now_ms();
	bool hurried = hurry && *hurry;
	long long patience = cfg->deregister_patience_s > cfg->deregister_deadline_s
				 ? cfg->deregister_patience_s
				 : cfg->deregister_deadline_s;
	uint64_t deadline = in_seconds(hurried ? cfg->deregister_deadline_s : patience);
	struct rs_err err = { 0 };
	/* Patient, the SIGTERM flag cancels a wait or a request; then the rest is hurried. */
	gh_set_cancel(gh, hurried ? NULL : hurry);
	int rc = attempt(gh, t, deadline, &err);
	if (rc < 0 && err.sys_errno == ECANCELED) {
		uint64_t hurried_deadline = in_seconds(cfg->deregister_deadline_s);
		deadline = hurried_deadline < deadline ? hurried_deadline : deadline;
		gh_set_cancel(gh, NULL);
		err = (struct rs_err){ 0 };
		rc = attempt(gh, t, deadline, &err);
	}
	if (rc == 0) {
		log_event(LOG_INFO, "runner.deregistered",
			  LOG_FIELDS(LOG_INT("runner_id", t->runner_id),
				     LOG_BOOL("confirmed", true),
				     LOG_MS("took_ms", gh_now_ms() - t0)),
			  "GitHub no longer lists runner %s", t->name);
		return DEREG_CONFIRMED;
	}
	log_event(LOG_ERROR, "runner.deregistered",
		  LOG_FIELDS(LOG_INT("runner_id", t->runner_id), LOG_BOOL("confirmed", false),
			     LOG_MS("took_ms", gh_now_ms() - t0)),
		  "could not confirm that GitHub no longer lists runner %s: %s", t->name, err.msg);
	log_event(LOG_ERROR, "runner.ghost_left",
		  LOG_FIELDS(LOG_INT("runner_id", t->runner_id), LOG_STR("runner_name", t->name)),
		  "runner %s (%lld) may remain registered at GitHub: the fleet's sweep removes it "
		  "once it is offline, or GitHub after a day",
		  t->name, t->runner_id);
	return DEREG_UNCONFIRMED;
}
