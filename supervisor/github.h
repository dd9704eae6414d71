/* The supervisor's whole conversation with GitHub's REST API (reference/github-runner-api.md):
 * authentication (PAT or App), JIT registration, registration tokens, confirmed
 * deregistration, and the online check. Every call goes through one retry loop that follows
 * GitHub's rate-limit guidance and is bounded by the caller's deadline. */
#ifndef RS_GITHUB_H
#define RS_GITHUB_H

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "config.h"
#include "err.h"

struct github;

struct gh_registration {
	long long runner_id;
	char name[65];  /* the name GitHub registered (maybe suffixed after a 409) */
	char *jit_blob; /* encoded_jit_config: a secret, registered with the logger */
};

struct gh_budget {
	long long remaining, limit, reset; /* from the last response; -1 when unknown */
};

struct gh_check {
	struct gh_budget budget;
	const char *auth_kind;    /* "classic PAT", "fine-grained PAT", "GitHub App" */
	const char *permission;   /* what was checked, e.g. "admin:org", "administration=write" */
	bool permission_verified; /* false when it cannot be known without registering */
	long long runners_seen;   /* total_count of the list call */
};

struct gh_stats {
	int calls;
	uint64_t ms;
};

/* cancel: a flag that a signal handler sets (SIGTERM during registration); waits and
 * requests stop early when it becomes true. */
struct github *gh_new(const struct rs_config *cfg, uv_loop_t *loop, const volatile bool *cancel,
		      struct rs_err *err);
void gh_free(struct github *gh);

/* Monotonic milliseconds, the clock of every deadline below. */
uint64_t gh_now_ms(void);

/* PAT read from its file, or App installation token minted (installation id looked up
 * when not configured). Once per pod: later calls reuse it. */
int gh_authenticate(struct github *gh, uint64_t deadline_ms, struct rs_err *err);

/* The runner name for this pod: RUNNER_NAME, or the pod name shortened to 64 characters. */
void gh_runner_name(const struct rs_config *cfg, char out[65]);

int gh_register_jit(struct github *gh, const char *name, uint64_t deadline_ms,
		    struct gh_registration *reg, struct rs_err *err);
/* The runner group's name for `configure --runnergroup` (which takes names): RUNNER_GROUP's
 * name, or the name of the group with RUNNER_GROUP's id; "" for the default group. */
int gh_runner_group_name(struct github *gh, uint64_t deadline_ms, char *out, size_t size,
			 struct rs_err *err);

int gh_registration_token(struct github *gh, uint64_t deadline_ms, char **token,
			  struct rs_err *err);

/* Deletes the runner and confirms it is gone, in the fewest points: DELETE first (204 or
 * 404 is the proof), or GET first when likely_gone (after a job GitHub removes an ephemeral
 * runner itself). A busy runner is watched until its job ends or the deadline. Returns 0
 * when GitHub confirmed the runner is gone; -1 with ECANCELED when the cancel flag rose. */
int gh_confirm_gone(struct github *gh, long long runner_id, bool likely_gone, uint64_t deadline_ms,
		    struct rs_err *err);

/* After a registration that may have reached GitHub but whose answer we lost (a signal, a
 * timeout): deletes a runner of that name if it is offline and idle, our own ghost.
 * Returns 0 when no such runner remains. */
int gh_forget_name(struct github *gh, const char *name, uint64_t deadline_ms, struct rs_err *err);

/* True when a generate-jitconfig of this client may have registered a runner whose id
 * we never learnt (its answer was lost, cut or garbled): the name must be looked up. */
bool gh_registration_uncertain(const struct github *gh);

/* Replaces the cancel flag: deregistration passes NULL (it must not be canceled by the
 * signal that asked for it) or a flag that only shortens its bound. */
void gh_set_cancel(struct github *gh, const volatile bool *cancel);

/* A runner as the fleet's sweep sees it (sweep.h). */
struct gh_runner_brief {
	long long id;
	char name[65];
	bool online;           /* status is not "offline" */
	bool busy;             /* running a job (or not said) */
	bool in_fleet;         /* carries the fleet's label */
	long long born_minute; /* what its rs-born-T label says (names.h); -1 without one */
};

struct gh_runner_page {
	struct gh_runner_brief *runners;
	size_t n;
	long long total; /* total_count: runners at the scope */
};

/* One page (from 1) of the scope's runners, 100 a page; label marks the fleet's. */
int gh_runners_page(struct github *gh, unsigned page, const char *label, uint64_t deadline_ms,
		    struct gh_runner_page *out, struct rs_err *err);
void gh_runner_page_free(struct gh_runner_page *page);

/* One DELETE: 0 when this call deleted the runner (204); 1 when it was not this call's to
 * delete: busy (422), or already gone (404: another pod of the fleet swept it first); -1 on
 * error. */
int gh_delete_idle_runner(struct github *gh, long long runner_id, uint64_t deadline_ms,
			  struct rs_err *err);

/* Proves the credentials work at the configured scope, without registering anything. */
int gh_check_online(struct github *gh, uint64_t deadline_ms, struct gh_check *check,
		    struct rs_err *err);

struct gh_stats gh_get_stats(const struct github *gh);

/* The credential's primary budget as the last answer gave it. */
struct gh_budget gh_get_budget(const struct github *gh);

void gh_registration_free(struct gh_registration *reg);

#endif
