/* GitHub REST client. Sources for every behaviour: reference/github-runner-api.md (§ numbers
 * below). Requests are sent one at a time, as GitHub asks of integrations (§6). */
#include "github.h"

#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "http.h"
#include "jwt.h"
#include "log.h"
#include "names.h"
#include "retry.h"
#include "util.h"

#define USER_AGENT     "runner-supervisor/" RS_VERSION
#define MAX_TOKEN_FILE 65536
/* A 422 on DELETE means the runner is still running a job (§7.5): look at this pace (a
 * runner killed mid-job stays busy until GitHub gives the job up, minutes later). */
#define BUSY_RETRY_BASE_MS 1000
#define BUSY_RETRY_CAP_MS  30000
/* "If you are making a large number of POST, PATCH, PUT, or DELETE requests for a single
 * user or client ID, wait at least one second between each request" (docs, "Best practices
 * for using the REST API"; reference §7.16). */
#define MUTATION_GAP_MS 1000
/* Installation tokens last an hour (§2.7, §7.10): re-minted this long before expires_at, or
 * a twelfth of a shorter lifetime (never less than a second). */
#define TOKEN_RENEW_AHEAD_MS 300000ULL /* 5 minutes */
#define TOKEN_LIFETIME_S     3600      /* what GitHub documents, when expires_at is unreadable */
/* generate-jitconfig arrived in GHES 3.10, the list-runners `name` filter in 3.11 (the GHES
 * descriptions of @octokit/openapi; reference §7.11). */
#define GHES_JIT_SINCE        3010
#define GHES_NAME_QUERY_SINCE 3011
/* Lists are read 100 at a time (the maximum, §1) up to this many pages. */
#define PER_PAGE  100
#define MAX_PAGES 1000

struct github {
	const struct rs_config *cfg;
	struct http_client *http;
	const volatile bool *cancel;
	char *scope_path; /* "/orgs/acme", "/repos/o/r", "/enterprises/e" */
	char *auth;       /* "Bearer <token>" for the runner endpoints, once authenticated */
	EVP_PKEY *app_key;
	long long installation_id; /* the App's, once known: a renewal is one call */
	/* An installation token is re-minted at renew_at_ms (monotonic; 0 = never), and once
	 * after a 401 (renew_now). A PAT is what it is. */
	uint64_t renew_at_ms;
	bool renew_now;
	unsigned ghes_version;     /* from X-GitHub-Enterprise-Version; 0 = not GHES or unknown */
	uint64_t last_mutation_ms; /* when the last POST/DELETE ended (monotonic; 0 = none) */
	unsigned secondary_streak; /* secondary rate-limit answers in a row */
	long long server_date;     /* Date of the last answer (epoch s), -1 when absent */
	json_t *token_permissions; /* what the installation token may do (§2.7) */
	char *oauth_scopes;        /* X-OAuth-Scopes of the last response (classic PATs) */
	struct gh_budget budget;
	struct gh_stats stats;
	/* A generate-jitconfig was sent and its answer did not say "not registered": it may
	 * have registered us (a lost 201, a cut connection, a signal mid-request). */
	bool registration_uncertain;
};

struct gh_call {
	uint64_t cancel_grace_ms; /* see struct http_request */
	const char *method;
	const char *path; /* under the API base */
	const char *body;
	/* The request authenticates as the App itself: a JWT signed for each attempt (a request
	 * refused by rate limits for longer than the JWT lives must not go out with an expired
	 * one). Otherwise the PAT or installation token, which is minted, or renewed, as needed
	 * before the request. */
	bool as_app;
	/* A call the pod can do without (its registration): once refused by a secondary limit while
	 * the credential's budget is in its reserve (retry_budget_reserved), it is given up at
	 * once rather than retried. */
	bool optional;
};

uint64_t gh_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static uint32_t random32(void)
{
	uint32_t r = 0;
	if (getrandom(&r, sizeof(r), GRND_NONBLOCK) != sizeof(r))
		r = (uint32_t)gh_now_ms() * 2654435761u; /* no entropy yet: jitter only */
	return r;
}

static const char *scope_prefix(enum gh_scope scope)
{
	switch (scope) {
	case GH_SCOPE_ORG:
		return "/orgs/";
	case GH_SCOPE_REPO:
		return "/repos/";
	case GH_SCOPE_ENTERPRISE:
		return "/enterprises/";
	case GH_SCOPE_NONE:
		break;
	}
	return NULL;
}

struct github *gh_new(const struct rs_config *cfg, uv_loop_t *loop, const volatile bool *cancel,
		      struct rs_err *err)
{
	const char *prefix = scope_prefix(cfg->target.scope);
	if (!prefix || !cfg->github_api_url) {
		rs_fail(err, EX_RS_CONFIG, 0, "GITHUB_URL is not set: nothing to talk to");
		return NULL;
	}
	struct github *gh = calloc(1, sizeof(*gh));
	if (!gh) {
		rs_fail(err, EX_RS_SOFTWARE, ENOMEM, "GitHub client");
		return NULL;
	}
	gh->cfg = cfg;
	gh->cancel = cancel;
	gh->budget = (struct gh_budget){ -1, -1, -1 };
	int n =
	    cfg->target.scope == GH_SCOPE_REPO
		? asprintf(&gh->scope_path, "%s%s/%s", prefix, cfg->target.owner, cfg->target.repo)
		: asprintf(&gh->scope_path, "%s%s", prefix, cfg->target.owner);
	if (n < 0) {
		gh->scope_path = NULL;
		gh_free(gh);
		rs_fail(err, EX_RS_SOFTWARE, ENOMEM, "GitHub client");
		return NULL;
	}
	gh->http = http_client_new(loop, USER_AGENT, cfg->ca_file, err);
	if (!gh->http) {
		gh_free(gh);
		return NULL;
	}
	return gh;
}

void gh_free(struct github *gh)
{
	if (!gh)
		return;
	http_client_free(gh->http);
	free(gh->scope_path);
	if (gh->auth)
		explicit_bzero(gh->auth, strlen(gh->auth));
	free(gh->auth);
	EVP_PKEY_free(gh->app_key);
	json_decref(gh->token_permissions);
	free(gh->oauth_scopes);
	free(gh);
}

struct gh_stats gh_get_stats(const struct github *gh)
{
	return gh->stats;
}

struct gh_budget gh_get_budget(const struct github *gh)
{
	return gh->budget;
}

/* GitHub's error bodies carry a "message" (§1): quoted in errors, shortened. */
static void error_message(const struct http_response *r, char *out, size_t size)
{
	json_t *j = r->body ? json_loads(r->body, 0, NULL) : NULL;
	const char *msg = json_string_value(json_object_get(j, "message"));
	const char *text = msg                   ? msg
			   : r->transport_error  ? r->error
			   : r->body && *r->body ? r->body
						 : "no message";
	/* Redacted before it is cut: a secret the server quoted back must not survive in
	 * part, straddling the cut, where the logger can no longer recognise it. */
	char *safe = log_redact(text);
	snprintf(out, size, "%.200s", safe ? safe : "(message withheld)");
	free(safe);
	json_decref(j);
}

static void note_headers(struct github *gh, const struct http_response *r)
{
	if (r->ratelimit_remaining >= 0) {
		gh->budget.remaining = r->ratelimit_remaining;
		gh->budget.limit = r->ratelimit_limit;
		gh->budget.reset = r->ratelimit_reset;
	}
	if (r->oauth_scopes) {
		/* Present but empty: not a classic token (fine-grained PATs, reference §7.14),
		 * the same as no header at all. */
		free(gh->oauth_scopes);
		gh->oauth_scopes = r->oauth_scopes[strspn(r->oauth_scopes, " \t")]
				       ? strdup(r->oauth_scopes)
				       : NULL;
	}
	if (r->ghes_version)
		gh->ghes_version = r->ghes_version;
	gh->server_date = r->date;
}

static int canceled(struct rs_err *err)
{
	/* Stopped by SIGTERM before anything was registered: a clean exit (DESIGN.md). */
	return rs_fail(err, EX_RS_OK, ECANCELED, "stopped while talking to GitHub");
}

static int give_up(struct github *gh, const struct gh_call *c, enum retry_verdict v,
		   const struct http_response *r, unsigned attempts, struct rs_err *err)
{
	char msg[256];
	error_message(r, msg, sizeof(msg));
	int code = v == RETRY_RATE_LIMITED ? EX_RS_TEMPFAIL : EX_RS_UNAVAILABLE;
	if (r->transport_error)
		return rs_fail(
		    err, code, 0,
		    "%s %s: GitHub unreachable after %u attempt(s) before the deadline: %s",
		    c->method, c->path, attempts, msg);
	return rs_fail(err, code, 0, "%s %s: HTTP %ld after %u attempt(s) before the deadline: %s",
		       c->method, c->path, r->status, attempts, msg);
}

/* An optional call refused by a secondary rate limit while the credential's hour is down to its
 * reserve: 75, as any rate limit that outlasts a deadline. */
static int give_up_to_reserve(const struct github *gh, const struct gh_call *c,
			      const struct http_response *r, unsigned attempts, struct rs_err *err)
{
	return rs_fail(
	    err, EX_RS_TEMPFAIL, 0,
	    "%s %s: HTTP %ld (secondary rate limit) after %u attempt(s), with %lld of the "
	    "credential's %lld requests left this hour: the last fifth is kept for "
	    "deregistrations, so this pod stops competing for it",
	    c->method, c->path, r->status, attempts, gh->budget.remaining, gh->budget.limit);
}

static int ensure_token(struct github *gh, uint64_t deadline_ms, struct rs_err *err);
static char *app_bearer(struct github *gh, struct rs_err *err);

static bool is_mutation(const char *method)
{
	return strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0;
}

/* Keeps MUTATION_GAP_MS between the end of one mutating request and the start of the next.
 * Returns false when canceled while waiting. */
static bool pace(struct github *gh, const char *method)
{
	if (!is_mutation(method) || !gh->last_mutation_ms)
		return true;
	uint64_t ready = gh->last_mutation_ms + MUTATION_GAP_MS, now = gh_now_ms();
	return now >= ready || http_sleep(gh->http, ready - now, gh->cancel);
}

/* One request, retried as §6 says until it gets an answer to interpret or the deadline. A
 * call with the installation token gets a fresh one when it is due, and once after a 401. */
static int gh_request(struct github *gh, const struct gh_call *c, uint64_t deadline_ms,
		      struct http_response *r, struct rs_err *err)
{
	memset(r, 0, sizeof(*r));
	char *url = NULL;
	if (asprintf(&url, "%s%s", gh->cfg->github_api_url, c->path) < 0)
		return rs_fail(err, EX_RS_SOFTWARE, ENOMEM, "%s %s", c->method, c->path);
	int rc = -1;
	bool final_try = false, renewed_after_401 = false;
	char *app_auth = NULL;
	for (unsigned attempt = 0;; attempt++) {
		if (!c->as_app && ensure_token(gh, deadline_ms, err) < 0)
			break;
		if (!pace(gh, c->method)) {
			rc = canceled(err);
			break;
		}
		free(app_auth);
		app_auth = NULL;
		if (c->as_app && !(app_auth = app_bearer(gh, err)))
			break;
		uint64_t now = gh_now_ms();
		long budget_ms = deadline_ms > now ? (long)(deadline_ms - now) : 1;
		struct http_request req = {
			.method = c->method,
			.url = url,
			.authorization = c->as_app ? app_auth : gh->auth,
			.body = c->body,
			.timeout_ms = budget_ms < 30000 ? budget_ms : 30000,
			.cancel_grace_ms = c->cancel_grace_ms,
		};
		if (http_perform(gh->http, &req, r, gh->cancel, err) < 0)
			break;
		if (is_mutation(c->method))
			gh->last_mutation_ms = gh_now_ms();
		if (r->canceled) {
			rc = canceled(err);
			break;
		}
		gh->stats.calls++;
		gh->stats.ms += r->elapsed_ms;
		note_headers(gh, r);
		log_event(LOG_DEBUG, "github.call",
			  LOG_FIELDS(LOG_STR("method", c->method), LOG_STR("path", c->path),
				     LOG_INT("status", r->status),
				     LOG_MS("took_ms", r->elapsed_ms)),
			  "%s %s: %ld", c->method, c->path, r->status);
		struct retry_decision d = retry_classify(r, attempt, gh->secondary_streak,
							 (long long)time(NULL), random32());
		gh->secondary_streak = d.secondary ? gh->secondary_streak + 1 : 0;
		if (d.verdict == RETRY_RATE_LIMITED)
			d.wait_ms += retry_hint_jitter_ms(d.wait_ms, random32());
		if (d.verdict == RETRY_DONE) {
			rc = 0;
			break;
		}
		if (d.verdict == RETRY_AUTH_FAILED && r->status == 401 && !c->as_app &&
		    gh->app_key && !renewed_after_401) {
			/* The installation token expired sooner than it said, or was revoked: one
			 * new token, one more try (reference §7.10). */
			renewed_after_401 = true;
			gh->renew_now = true;
			log_event(LOG_WARN, "github.retry",
				  LOG_FIELDS(LOG_STR("method", c->method), LOG_STR("path", c->path),
					     LOG_INT("status", 401), LOG_MS("wait_ms", 0)),
				  "%s %s: 401; minting a new installation token", c->method,
				  c->path);
			http_response_free(r);
			continue;
		}
		if (d.verdict == RETRY_AUTH_FAILED) {
			char msg[256];
			error_message(r, msg, sizeof(msg));
			rc = rs_fail(err, EX_RS_NOPERM, 0,
				     "%s %s: HTTP %ld, credentials rejected: %s", c->method,
				     c->path, r->status, msg);
			break;
		}
		/* A secondary limit only: the primary one's wait for the reset costs no call,
		 * and after it the hour's budget is whole again. */
		if (c->optional && d.verdict == RETRY_RATE_LIMITED && d.secondary &&
		    retry_budget_reserved(gh->budget.remaining, gh->budget.limit)) {
			rc = give_up_to_reserve(gh, c, r, attempt + 1, err);
			break;
		}
		uint64_t left = deadline_ms > gh_now_ms() ? deadline_ms - gh_now_ms() : 0;
		if (d.wait_ms > left) {
			/* A server error whose backoff overshoots the deadline still gets one last
			 * try a second before it, rather than giving up early by chance. */
			if (d.verdict != RETRY_AGAIN || final_try || left < 1500) {
				rc = give_up(gh, c, d.verdict, r, attempt + 1, err);
				break;
			}
			d.wait_ms = left - 1000;
			final_try = true;
		}
		log_event(LOG_WARN, "github.retry",
			  LOG_FIELDS(LOG_STR("method", c->method), LOG_STR("path", c->path),
				     LOG_INT("status", r->status), LOG_MS("wait_ms", d.wait_ms)),
			  "%s %s: %s; retrying in %llu ms", c->method, c->path, d.why,
			  (unsigned long long)d.wait_ms);
		http_response_free(r);
		if (!http_sleep(gh->http, d.wait_ms, gh->cancel)) {
			rc = canceled(err);
			break;
		}
	}
	free(url);
	free(app_auth);
	return rc;
}

/* A request whose JSON answer is wanted when the status is `want`. */
static int gh_json(struct github *gh, const struct gh_call *c, uint64_t deadline_ms, long *status,
		   json_t **json, struct rs_err *err)
{
	struct http_response r;
	*json = NULL;
	int rc = gh_request(gh, c, deadline_ms, &r, err);
	*status = r.status; /* also on failure: the caller may need to know what was said */
	if (rc < 0) {
		http_response_free(&r);
		return -1;
	}
	if (r.status >= 200 && r.status < 300 && r.body_len > 0) {
		*json = json_loads(r.body, 0, NULL);
		if (!*json) {
			http_response_free(&r);
			return rs_fail(err, EX_RS_UNAVAILABLE, 0,
				       "%s %s: HTTP %ld with a body that is not JSON", c->method,
				       c->path, *status);
		}
	} else if (r.status >= 300) {
		char msg[256];
		error_message(&r, msg, sizeof(msg));
		*json = json_pack("{s:s}", "message", msg);
	}
	http_response_free(&r);
	return 0;
}

static int unexpected(const struct gh_call *c, long status, json_t *j, struct rs_err *err)
{
	const char *msg = json_string_value(json_object_get(j, "message"));
	int code = status == 404 || status == 403 ? EX_RS_NOPERM
		   : status == 422                ? EX_RS_CONFIG
						  : EX_RS_UNAVAILABLE;
	const char *hint = status == 404 ? " (GitHub answers 404 when the URL is wrong or the "
					   "credentials cannot see it)"
					 : "";
	return rs_fail(err, code, 0, "%s %s: HTTP %ld: %s%s", c->method, c->path, status,
		       msg ? msg : "unexpected answer", hint);
}

/* ---- numbers in GitHub's answers ----------------------------------------------------- */

/* 2^53: past it a double no longer holds every whole number, and no count or id does. */
#define JSON_WHOLE_MAX 9007199254740992LL

/* The whole number `field` of obj, at least min, into *out; or -1 with an error that names the
 * field: a malformed answer from GitHub. The spec types total_count and a runner group's id
 * "number", not "integer" (reference §7.8), so 3.0 is a whole number too; a fraction, a
 * string, a missing field, a negative or a huge value is refused, never converted: converting
 * -1 to size_t or 1e300 to long long is undefined behaviour (C11 6.3.1.4), found by fuzzing
 * (fuzz/corpus/github/bug-*total-count-out-of-range). */
static int json_whole(const struct gh_call *c, json_t *obj, const char *field, long long min,
		      long long *out, struct rs_err *err)
{
	json_t *v = json_object_get(obj, field);
	if (json_is_integer(v) && json_integer_value(v) >= min &&
	    json_integer_value(v) <= JSON_WHOLE_MAX) {
		*out = json_integer_value(v);
		return 0;
	}
	if (json_is_real(v)) {
		double d = json_real_value(v);
		/* In range first: only then is the conversion defined. NaN fails both. */
		if (d >= (double)min && d <= (double)JSON_WHOLE_MAX && d == (double)(long long)d) {
			*out = (long long)d;
			return 0;
		}
	}
	return rs_fail(
	    err, EX_RS_UNAVAILABLE, 0,
	    "%s %s: malformed answer from GitHub: \"%s\" is not a whole number from %lld "
	    "to 2^53",
	    c->method, c->path, field, min);
}

/* ---- authentication ------------------------------------------------------------------ */

static int read_token_file(const char *path, char **out, struct rs_err *err)
{
	_cleanup_(closep) int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return rs_fail(err, EX_RS_CONFIG, errno, "GITHUB_TOKEN_FILE %s: cannot open", path);
	char *buf = malloc(MAX_TOKEN_FILE + 1);
	if (!buf)
		return rs_fail(err, EX_RS_SOFTWARE, ENOMEM, "GITHUB_TOKEN_FILE");
	size_t len = 0;
	for (ssize_t n;
	     len < MAX_TOKEN_FILE && (n = read(fd, buf + len, MAX_TOKEN_FILE - len)) != 0;) {
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			free(buf);
			return rs_fail(err, EX_RS_CONFIG, errno,
				       "GITHUB_TOKEN_FILE %s: cannot read", path);
		}
		len += (size_t)n;
	}
	buf[len] = '\0';
	/* Secrets mounted from Kubernetes often end with a newline. */
	while (len > 0 && strchr(" \t\r\n", buf[len - 1]))
		buf[--len] = '\0';
	size_t start = strspn(buf, " \t\r\n");
	const char *problem = len == start ? "empty" : NULL;
	for (size_t i = start; !problem && i < len; i++)
		if ((unsigned char)buf[i] <= ' ' || buf[i] == 0x7f)
			problem = "the token contains whitespace or control characters";
	if (problem) {
		explicit_bzero(buf, MAX_TOKEN_FILE);
		free(buf);
		return rs_fail(err, EX_RS_CONFIG, 0, "GITHUB_TOKEN_FILE %s: %s", path, problem);
	}
	memmove(buf, buf + start, len - start + 1);
	*out = buf;
	return 0;
}

static int set_bearer(struct github *gh, const char *token, struct rs_err *err)
{
	if (log_add_secret(token) < 0)
		return rs_fail(err, EX_RS_SOFTWARE, ENOMEM, "registering a secret");
	if (gh->auth)
		explicit_bzero(gh->auth, strlen(gh->auth));
	free(gh->auth);
	if (asprintf(&gh->auth, "Bearer %s", token) < 0) {
		gh->auth = NULL;
		return rs_fail(err, EX_RS_SOFTWARE, ENOMEM, "authorization header");
	}
	return 0;
}

/* A fresh JWT for each App call: cheap, and never close to its expiry. */
static char *app_bearer(struct github *gh, struct rs_err *err)
{
	char *jwt = jwt_sign_rs256(gh->app_key, gh->cfg->app_id, time(NULL), err);
	if (!jwt)
		return NULL;
	char *auth = NULL;
	if (log_add_secret(jwt) < 0 || asprintf(&auth, "Bearer %s", jwt) < 0) {
		auth = NULL;
		rs_fail(err, EX_RS_SOFTWARE, ENOMEM, "JWT");
	}
	free(jwt);
	return auth;
}

static int app_call(struct github *gh, const char *method, const char *path, const char *body,
		    uint64_t deadline_ms, long *status, json_t **json, struct rs_err *err)
{
	struct gh_call c = { .method = method, .path = path, .body = body, .as_app = true };
	return gh_json(gh, &c, deadline_ms, status, json, err);
}

static int lookup_installation(struct github *gh, uint64_t deadline_ms, long long *id,
			       struct rs_err *err)
{
	char path[512];
	snprintf(path, sizeof(path), "%s/installation", gh->scope_path);
	long status;
	json_t *j;
	if (app_call(gh, "GET", path, NULL, deadline_ms, &status, &j, err) < 0)
		return -1;
	int rc = 0;
	if (status == 200)
		rc = json_whole(&(struct gh_call){ .method = "GET", .path = path }, j, "id", 1, id,
				err);
	else if (status == 404)
		rc = rs_fail(err, EX_RS_NOPERM, 0,
			     "GET %s: the GitHub App %s is not installed on %s (install it, or set "
			     "GITHUB_APP_INSTALLATION_ID)",
			     path, gh->cfg->app_id, gh->scope_path);
	else
		rc = unexpected(&(struct gh_call){ .method = "GET", .path = path }, status, j, err);
	json_decref(j);
	return rc;
}

/* The narrowest permission that registers runners at this scope (§4). */
static const char *needed_app_permission(enum gh_scope scope)
{
	return scope == GH_SCOPE_REPO ? "administration" : "organization_self_hosted_runners";
}

/* expires_at as GitHub writes it ("2016-07-11T22:14:10Z", or with ".123" and "+01:00")
 * -> epoch seconds; -1 when it is not that. */
static long long parse_timestamp(const char *s)
{
	struct tm tm = { 0 };
	const char *p = s ? strptime(s, "%Y-%m-%dT%H:%M:%S", &tm) : NULL;
	if (!p)
		return -1;
	if (*p == '.')
		p += 1 + strspn(p + 1, "0123456789");
	long long offset = 0;
	if ((*p == '+' || *p == '-') && strlen(p) == 6 && p[3] == ':') {
		int h = (p[1] - '0') * 10 + (p[2] - '0'), m = (p[4] - '0') * 10 + (p[5] - '0');
		offset = (*p == '-' ? -1 : 1) * (h * 3600LL + m * 60LL);
	} else if (strcmp(p, "Z") != 0) {
		return -1;
	}
	time_t t = timegm(&tm);
	return t == (time_t)-1 ? -1 : (long long)t - offset;
}

/* When to mint the next installation token. The lifetime is read on the server's clock
 * (expires_at minus the answer's Date) and counted on ours from the answer, so that a skewed
 * clock in the pod renews neither too early nor too late. */
static uint64_t renewal_time(const char *expires_at, long long server_now, uint64_t received_ms)
{
	long long expires = parse_timestamp(expires_at);
	long long base = server_now >= 0 ? server_now : (long long)time(NULL);
	long long lifetime_s = expires >= 0 ? expires - base : TOKEN_LIFETIME_S;
	if (lifetime_s <= 0)
		return 0; /* nonsense: rely on the 401 */
	uint64_t lifetime = (uint64_t)lifetime_s * 1000;
	uint64_t ahead = lifetime / 12;
	ahead = ahead > TOKEN_RENEW_AHEAD_MS ? TOKEN_RENEW_AHEAD_MS : ahead < 1000 ? 1000 : ahead;
	if (ahead > lifetime / 2)
		ahead = lifetime / 2;
	return received_ms + lifetime - ahead;
}

static int mint_installation_token(struct github *gh, uint64_t deadline_ms, struct rs_err *err)
{
	const struct rs_config *cfg = gh->cfg;
	char path[128];
	snprintf(path, sizeof(path), "/app/installations/%lld/access_tokens", gh->installation_id);
	/* Ask for no more than registering runners needs: a leaked token can do little else.
	 * At a repository, the token is also narrowed to that one repository (§7.15). */
	json_t *req = json_pack("{s:{s:s}}", "permissions",
				needed_app_permission(cfg->target.scope), "write");
	if (req && cfg->target.scope == GH_SCOPE_REPO)
		json_object_set_new(req, "repositories", json_pack("[s]", cfg->target.repo));
	char *body = req ? json_dumps(req, JSON_COMPACT) : NULL;
	json_decref(req);
	if (!body)
		return rs_fail(err, EX_RS_SOFTWARE, ENOMEM, "installation token request");
	long status;
	json_t *j;
	int rc = app_call(gh, "POST", path, body, deadline_ms, &status, &j, err);
	free(body);
	if (rc < 0)
		return -1;
	uint64_t received = gh_now_ms();
	long long server_now = gh->server_date;
	const char *token = json_string_value(json_object_get(j, "token"));
	if (status == 201 && token && *token) {
		rc = set_bearer(gh, token, err);
		json_decref(gh->token_permissions);
		gh->token_permissions = json_incref(json_object_get(j, "permissions"));
		gh->renew_at_ms = renewal_time(json_string_value(json_object_get(j, "expires_at")),
					       server_now, received);
		gh->renew_now = false;
	} else if (status == 422) {
		/* GitHub refuses to mint a token with a permission the installation lacks. */
		rc = rs_fail(err, EX_RS_NOPERM, 0,
			     "POST %s: the App's installation lacks %s=write%s%s: %s", path,
			     needed_app_permission(cfg->target.scope),
			     cfg->target.scope == GH_SCOPE_REPO ? " on " : "",
			     cfg->target.scope == GH_SCOPE_REPO ? cfg->target.repo : "",
			     json_string_value(json_object_get(j, "message")) ?: "422");
	} else {
		rc =
		    unexpected(&(struct gh_call){ .method = "POST", .path = path }, status, j, err);
	}
	json_decref(j);
	return rc;
}

/* The PAT, or an installation token that is not due for renewal. */
static int ensure_token(struct github *gh, uint64_t deadline_ms, struct rs_err *err)
{
	if (!gh->auth)
		return gh_authenticate(gh, deadline_ms, err);
	if (!gh->app_key || !(gh->renew_now || (gh->renew_at_ms && gh_now_ms() >= gh->renew_at_ms)))
		return 0;
	bool again = !gh->renew_now;
	if (mint_installation_token(gh, deadline_ms, err) < 0)
		return -1;
	log_event(LOG_INFO, "github.token_renewed",
		  LOG_FIELDS(LOG_INT("installation_id", gh->installation_id),
			     LOG_BOOL("ahead_of_expiry", again)),
		  "minted a new installation token (%s)",
		  again ? "the last one was about to expire" : "the last one was refused");
	return 0;
}

int gh_authenticate(struct github *gh, uint64_t deadline_ms, struct rs_err *err)
{
	if (gh->auth)
		return 0;
	const struct rs_config *cfg = gh->cfg;
	if (cfg->token_file) {
		char *token = NULL;
		if (read_token_file(cfg->token_file, &token, err) < 0 || !token)
			return -1;
		int rc = set_bearer(gh, token, err);
		explicit_bzero(token, strlen(token));
		free(token);
		return rc;
	}
	if (!cfg->app_id || !cfg->app_key_file)
		return rs_fail(err, EX_RS_CONFIG, 0,
			       "no GitHub credentials: set GITHUB_TOKEN_FILE, or GITHUB_APP_ID and "
			       "GITHUB_APP_PRIVATE_KEY_FILE");
	if (!gh->app_key && !(gh->app_key = jwt_load_key(cfg->app_key_file, err)))
		return -1;
	if (!gh->installation_id) {
		long long id = cfg->app_installation_id;
		if (id == 0 && lookup_installation(gh, deadline_ms, &id, err) < 0)
			return -1;
		gh->installation_id = id;
	}
	return mint_installation_token(gh, deadline_ms, err);
}

/* ---- registration -------------------------------------------------------------------- */

void gh_runner_name(const struct rs_config *cfg, char out[65])
{
	runner_name_fit(cfg->runner_name ? cfg->runner_name : "runner", out);
}

static json_t *labels_json(const struct rs_config *cfg)
{
	/* The runner's own defaults first, as config.sh sends them (DESIGN.md, "GitHub"). */
	const char *defaults[] = { "self-hosted", "Linux", runner_arch_label() };
	json_t *a = json_array();
	for (size_t i = 0; a && i < ARRAY_SIZE(defaults); i++)
		json_array_append_new(a, json_string(defaults[i]));
	for (size_t i = 0; a && i < cfg->n_labels; i++) {
		bool dup = false;
		for (size_t k = 0; k < ARRAY_SIZE(defaults); k++)
			dup |= strcasecmp(cfg->labels[i], defaults[k]) == 0;
		if (!dup)
			json_array_append_new(a, json_string(cfg->labels[i]));
	}
	/* Last: how the fleet's pods recognise each other's runners (sweep.h), and when the
	 * registration was asked for, which the runners API does not tell (names.h). Built anew
	 * for each request: after a 409 the runner is created by a later request, and the first
	 * one's time would make it look older than it is, the unsafe side for the sweep; a later
	 * time only makes it wait longer for it. */
	char born[BORN_LABEL_SIZE];
	const char *fleet[2];
	size_t n = runner_fleet_labels(cfg->fleet_label, cfg->labels, cfg->n_labels, time(NULL),
				       born, fleet);
	for (size_t i = 0; a && i < n; i++)
		json_array_append_new(a, json_string(fleet[i]));
	return a;
}

/* Pages through the scope's runner groups for one matching by name (when name is set) or
 * by id; fills id and name. Returns 1 when there is none. There is no name filter, and the
 * list declares no Link header (§2.5, §7.13): pages are asked for by number until
 * total_count groups have been seen. */
static int find_group(struct github *gh, uint64_t deadline_ms, const char *name, long long *id,
		      char *found_name, size_t name_size, struct rs_err *err)
{
	int rc = 1;
	size_t seen = 0;
	for (unsigned page = 1; rc == 1 && page <= MAX_PAGES; page++) {
		char path[512];
		snprintf(path, sizeof(path), "%s/actions/runner-groups?per_page=%d&page=%u",
			 gh->scope_path, PER_PAGE, page);
		struct gh_call c = { .method = "GET", .path = path };
		long status;
		json_t *j;
		if (gh_json(gh, &c, deadline_ms, &status, &j, err) < 0)
			return -1;
		if (status != 200) {
			rc = unexpected(&c, status, j, err);
			json_decref(j);
			break;
		}
		json_t *groups = json_object_get(j, "runner_groups"), *g;
		long long total = 0;
		if (json_whole(&c, j, "total_count", 0, &total, err) < 0) {
			json_decref(j);
			return -1;
		}
		size_t i;
		json_array_foreach(groups, i, g)
		{
			const char *gname = json_string_value(json_object_get(g, "name"));
			long long gid = 0;
			if (json_whole(&c, g, "id", 1, &gid, err) < 0) {
				json_decref(j);
				return -1;
			}
			if (gname && (name ? strcmp(gname, name) == 0 : gid == *id)) {
				*id = gid;
				snprintf(found_name, name_size, "%s", gname);
				rc = 0;
				break;
			}
		}
		seen += json_array_size(groups);
		bool last = json_array_size(groups) == 0 || seen >= (size_t)total;
		json_decref(j);
		if (last)
			break;
	}
	return rc;
}

static int resolve_group(struct github *gh, uint64_t deadline_ms, long long *group_id,
			 struct rs_err *err)
{
	const struct rs_config *cfg = gh->cfg;
	if (cfg->target.scope == GH_SCOPE_REPO && (cfg->runner_group || cfg->runner_group_id > 1))
		return cfg->runner_group
			   ? rs_fail(err, EX_RS_CONFIG, 0,
				     "RUNNER_GROUP=\"%s\": runner groups belong to an organization "
				     "or an enterprise; a repository URL has none",
				     cfg->runner_group)
			   : rs_fail(
				 err, EX_RS_CONFIG, 0,
				 "RUNNER_GROUP=%lld: runner groups belong to an organization or "
				 "an enterprise; a repository's runners are in the default group",
				 cfg->runner_group_id);
	if (!cfg->runner_group) {
		*group_id = cfg->runner_group_id > 0 ? cfg->runner_group_id : 1;
		return 0;
	}
	char name[256];
	int rc = find_group(gh, deadline_ms, cfg->runner_group, group_id, name, sizeof(name), err);
	if (rc == 1)
		rc =
		    rs_fail(err, EX_RS_CONFIG, 0, "RUNNER_GROUP=\"%s\": no such runner group in %s",
			    cfg->runner_group, gh->scope_path);
	return rc;
}

/* generate-jitconfig refused the runner group (404 or 403, which GitHub answers for a group
 * it does not know or will not let this scope use: §7.13). Tells that apart from a URL or
 * credentials that are wrong: a group given by id is looked up in the list, which needs only
 * read access. Returns -1 with err filled. */
static int refused_group(struct github *gh, long long group_id, long status, const char *why,
			 uint64_t deadline_ms, struct rs_err *err)
{
	const struct rs_config *cfg = gh->cfg;
	char setting[300], name[256] = "";
	if (cfg->runner_group)
		snprintf(setting, sizeof(setting), "RUNNER_GROUP=\"%s\" (id %lld)",
			 cfg->runner_group, group_id);
	else
		snprintf(setting, sizeof(setting), "RUNNER_GROUP=%lld", group_id);
	if (!cfg->runner_group) {
		struct rs_err lookup = { 0 };
		long long id = group_id;
		int rc = find_group(gh, deadline_ms, NULL, &id, name, sizeof(name), &lookup);
		if (rc < 0) {
			/* The list is refused too: the URL or the credentials, not the group. */
			*err = lookup;
			return -1;
		}
		if (rc == 1)
			return rs_fail(err, EX_RS_CONFIG, 0,
				       "%s: no runner group with that id in %s (generate-jitconfig "
				       "answered %ld: %s)",
				       setting, gh->scope_path, status, why);
	}
	return rs_fail(err, EX_RS_CONFIG, 0,
		       "%s%s%s: GitHub refuses to register runners in this group from %s (HTTP "
		       "%ld: %s); check the group's repository and workflow access, or choose "
		       "another group",
		       setting, *name ? " " : "", name, gh->scope_path, status, why);
}

int gh_runner_group_name(struct github *gh, uint64_t deadline_ms, char *out, size_t size,
			 struct rs_err *err)
{
	const struct rs_config *cfg = gh->cfg;
	*out = '\0';
	if (cfg->runner_group) {
		snprintf(out, size, "%s", cfg->runner_group);
		return 0;
	}
	if (cfg->runner_group_id <= 0)
		return 0; /* the default group: configure picks it */
	if (cfg->target.scope == GH_SCOPE_REPO)
		return rs_fail(err, EX_RS_CONFIG, 0,
			       "RUNNER_GROUP=%lld: a repository URL has no runner groups",
			       cfg->runner_group_id);
	long long id = cfg->runner_group_id;
	if (gh_authenticate(gh, deadline_ms, err) < 0)
		return -1;
	int rc = find_group(gh, deadline_ms, NULL, &id, out, size, err);
	if (rc == 1)
		rc = rs_fail(err, EX_RS_CONFIG, 0, "RUNNER_GROUP=%lld: no such runner group in %s",
			     cfg->runner_group_id, gh->scope_path);
	return rc;
}

struct found_runner {
	long long id;
	bool online;
	bool busy;
};

/* Whether this server knows the list-runners `name` filter (GHES from 3.11; github.com and
 * GHE.com always). An older GHES ignores it and lists every runner: the names are compared
 * here either way. */
static bool name_query_known(const struct github *gh)
{
	return !gh->ghes_version || gh->ghes_version >= GHES_NAME_QUERY_SINCE;
}

/* Looks for the runner called name, page by page (the answer may hold other names: the
 * spec does not say the filter matches exactly, and without it every runner is listed).
 * Runner names are unique regardless of case (a 409 says so), so they are compared that way.
 * found->id is 0 when there is none. */
static int find_runner_pages(struct github *gh, const char *name, bool filter, uint64_t deadline_ms,
			     struct found_runner *found, struct rs_err *err)
{
	char *esc = filter ? curl_easy_escape(NULL, name, 0) : NULL;
	found->id = 0;
	size_t seen = 0;
	int rc = 0;
	for (unsigned page = 1; page <= MAX_PAGES && !found->id; page++) {
		char path[512];
		snprintf(path, sizeof(path), "%s/actions/runners?%s%s%sper_page=%d&page=%u",
			 gh->scope_path, esc ? "name=" : "", esc ? esc : "", esc ? "&" : "",
			 PER_PAGE, page);
		struct gh_call c = { .method = "GET", .path = path };
		long status;
		json_t *j;
		if (gh_json(gh, &c, deadline_ms, &status, &j, err) < 0) {
			rc = -1;
			break;
		}
		if (status != 200) {
			rc = unexpected(&c, status, j, err);
			json_decref(j);
			break;
		}
		json_t *runners = json_object_get(j, "runners"), *r;
		long long total = 0;
		if (json_whole(&c, j, "total_count", 0, &total, err) < 0) {
			json_decref(j);
			rc = -1;
			break;
		}
		size_t i;
		json_array_foreach(runners, i, r)
		{
			const char *n = json_string_value(json_object_get(r, "name"));
			if (n && strcasecmp(n, name) == 0) {
				if (json_whole(&c, r, "id", 1, &found->id, err) < 0) {
					found->id = 0;
					rc = -1;
					break;
				}
				const char *st = json_string_value(json_object_get(r, "status"));
				found->online = st && strcmp(st, "offline") != 0;
				found->busy = json_is_true(json_object_get(r, "busy"));
				break;
			}
		}
		seen += json_array_size(runners);
		bool last = rc < 0 || json_array_size(runners) == 0 || seen >= (size_t)total;
		json_decref(j);
		if (last)
			break;
	}
	curl_free(esc);
	return rc;
}

/* After a 409 the name is surely taken: when the filter finds no runner of that name (a
 * filter that matches case-sensitively, say), every runner is listed once more. */
static int find_runner(struct github *gh, const char *name, bool surely_taken, uint64_t deadline_ms,
		       struct found_runner *found, struct rs_err *err)
{
	bool filter = name_query_known(gh);
	if (find_runner_pages(gh, name, filter, deadline_ms, found, err) < 0)
		return -1;
	if (!found->id && filter && surely_taken)
		return find_runner_pages(gh, name, false, deadline_ms, found, err);
	return 0;
}

static int delete_runner(struct github *gh, long long id, uint64_t deadline_ms, long *status,
			 struct rs_err *err)
{
	char path[512];
	snprintf(path, sizeof(path), "%s/actions/runners/%lld", gh->scope_path, id);
	struct gh_call c = { .method = "DELETE", .path = path };
	json_t *j;
	int rc = gh_json(gh, &c, deadline_ms, status, &j, err);
	json_decref(j);
	return rc;
}

/* RUNNER_WORKDIR as the runner's .runner file wants it: relative to the installation when
 * inside it; else absolute (the runner takes Path.GetFullPath(Path.Combine(root, folder)),
 * and Combine keeps an absolute second part: docs/runner-facts.md). */
static const char *work_folder(const struct rs_config *cfg)
{
	size_t n = strlen(cfg->runner_root);
	while (n > 1 && cfg->runner_root[n - 1] == '/')
		n--;
	const char *w = cfg->runner_workdir;
	if (!w)
		return "_work";
	if (strncmp(w, cfg->runner_root, n) == 0 && w[n] == '/' && w[n + 1])
		return w + n + 1;
	return w;
}

/* generate-jitconfig once. Returns 0 with *status 201 (reg filled), or 409 or 422 for the
 * caller to find out whether the name is taken (why holds GitHub's message); -1 otherwise. */
static int post_jitconfig(struct github *gh, const char *name, long long group_id,
			  uint64_t deadline_ms, long *status, char why[256],
			  struct gh_registration *reg, struct rs_err *err)
{
	const struct rs_config *cfg = gh->cfg;
	char path[512];
	snprintf(path, sizeof(path), "%s/actions/runners/generate-jitconfig", gh->scope_path);
	json_t *req =
	    json_pack("{s:s,s:I,s:o,s:s}", "name", name, "runner_group_id", (json_int_t)group_id,
		      "labels", labels_json(cfg), "work_folder", work_folder(cfg));
	char *body = req ? json_dumps(req, JSON_COMPACT) : NULL;
	json_decref(req);
	if (!body)
		return rs_fail(err, EX_RS_SOFTWARE, ENOMEM, "generate-jitconfig body");
	/* A SIGTERM while GitHub registers us: let the answer come for half the stop grace
	 * (GitHub itself aborts requests after 10 s), so that we learn the runner's id and
	 * delete it, rather than guess by name before GitHub has created it. */
	uint64_t grace = (uint64_t)cfg->stop_grace_s * 500;
	struct gh_call c = { .method = "POST",
			     .path = path,
			     .body = body,
			     .cancel_grace_ms = grace < 10000 ? (grace ? grace : 1) : 10000,
			     .optional = true };
	json_t *j;
	gh->registration_uncertain = true;
	*status = 0;
	*why = '\0';
	int rc = gh_json(gh, &c, deadline_ms, status, &j, err);
	free(body);
	/* A definite answer other than 201 (401, 403, 404, 409, 422, a rate limit) created
	 * nothing; no answer, a 5xx or a garbled 201 may have. */
	if (*status >= 400 && *status < 500 && *status != 408)
		gh->registration_uncertain = false;
	if (rc < 0 && *status == 403 && err->exit_code == EX_RS_NOPERM && group_id != 1) {
		/* Refused, not rate limited: GitHub's own words, without our prefix. */
		const char *said = strstr(err->msg, "credentials rejected: ");
		char msg[256];
		snprintf(msg, sizeof(msg), "%.200s",
			 said ? said + strlen("credentials rejected: ") : err->msg);
		return refused_group(gh, group_id, 403, msg, deadline_ms, err);
	}
	if (rc < 0)
		return -1;
	const char *blob = json_string_value(json_object_get(j, "encoded_jit_config"));
	json_t *id = json_object_get(json_object_get(j, "runner"), "id");
	const char *msg = json_string_value(json_object_get(j, "message"));
	snprintf(why, 256, "%s", msg ? msg : "");
	if (*status == 201 && blob && json_is_integer(id) && json_integer_value(id) > 0) {
		gh->registration_uncertain = false;
		reg->runner_id = json_integer_value(id);
		snprintf(reg->name, sizeof(reg->name), "%s", name);
		reg->jit_blob = strdup(blob);
		if (!reg->jit_blob || log_add_secret(blob) < 0)
			rc = rs_fail(err, EX_RS_SOFTWARE, ENOMEM, "JIT configuration");
	} else if (*status == 201) {
		rc = rs_fail(err, EX_RS_UNAVAILABLE, 0,
			     "POST %s: 201 without runner.id (a whole number above 0) and "
			     "encoded_jit_config",
			     path);
	} else if (*status == 404 && gh->ghes_version && gh->ghes_version < GHES_JIT_SINCE) {
		rc = rs_fail(
		    err, EX_RS_CONFIG, 0,
		    "GitHub Enterprise Server %u.%u has no JIT registration "
		    "(generate-jitconfig came with 3.10): set SUPERVISOR_REGISTRATION=token",
		    gh->ghes_version / 1000, gh->ghes_version % 1000);
	} else if (*status == 404 && group_id != 1) {
		rc = refused_group(gh, group_id, 404, why, deadline_ms, err);
	} else if (*status == 404 && cfg->target.ghes && !gh->ghes_version) {
		rc =
		    rs_fail(err, EX_RS_NOPERM, 0,
			    "POST %s: HTTP 404: %s (GitHub answers 404 when the URL is wrong or "
			    "the credentials cannot see it; a GitHub Enterprise Server before 3.10 "
			    "has no generate-jitconfig: there, set SUPERVISOR_REGISTRATION=token)",
			    path, *why ? why : "Not Found");
	} else if (*status != 409 && *status != 422) {
		rc = unexpected(&c, *status, j, err);
	}
	json_decref(j);
	return rc;
}

/* The name is taken: 409 (§7.4), or, where 409 is not documented (GHES before 3.17 lists
 * only 201/404/422, §7.11), a 422 while a runner of that name exists. Fills old. */
static int name_taken(struct github *gh, const char *name, long status, const char *why,
		      uint64_t deadline_ms, struct found_runner *old, struct rs_err *err)
{
	if (find_runner(gh, name, status == 409, deadline_ms, old, err) < 0)
		return -1;
	if (status == 422 && !old->id)
		return rs_fail(err, EX_RS_CONFIG, 0,
			       "POST %s/actions/runners/generate-jitconfig: HTTP 422: %s",
			       gh->scope_path, *why ? why : "unprocessable");
	return 0;
}

int gh_register_jit(struct github *gh, const char *name, uint64_t deadline_ms,
		    struct gh_registration *reg, struct rs_err *err)
{
	memset(reg, 0, sizeof(*reg));
	long long group_id = 1;
	if (gh_authenticate(gh, deadline_ms, err) < 0 ||
	    resolve_group(gh, deadline_ms, &group_id, err) < 0)
		return -1;
	long status;
	char why[256];
	if (post_jitconfig(gh, name, group_id, deadline_ms, &status, why, reg, err) < 0)
		return -1;
	if (status == 201)
		return 0;
	/* The name is taken. An offline, idle holder is a ghost of an earlier pod with our
	 * name: delete it and take the name back, once. Otherwise someone is using it: take a
	 * suffixed name. */
	struct found_runner old;
	if (name_taken(gh, name, status, why, deadline_ms, &old, err) < 0)
		return -1;
	if (old.id && !old.online && !old.busy) {
		long del;
		if (delete_runner(gh, old.id, deadline_ms, &del, err) < 0)
			return -1;
		log_event(LOG_WARN, "runner.replaced",
			  LOG_FIELDS(LOG_STR("runner_name", name), LOG_INT("old_runner_id", old.id),
				     LOG_INT("status", del)),
			  "name %s was held by offline runner %lld: deleted it", name, old.id);
		if (post_jitconfig(gh, name, group_id, deadline_ms, &status, why, reg, err) < 0)
			return -1;
		if (status == 201)
			return 0;
	}
	char suffixed[RUNNER_NAME_MAX + 1];
	runner_name_suffixed(name, random32(), suffixed);
	log_event(LOG_WARN, "runner.renamed",
		  LOG_FIELDS(LOG_STR("runner_name", name), LOG_STR("new_name", suffixed)),
		  "name %s is in use by another runner: registering as %s", name, suffixed);
	if (post_jitconfig(gh, suffixed, group_id, deadline_ms, &status, why, reg, err) < 0)
		return -1;
	if (status == 201)
		return 0;
	if (status == 422 && name_taken(gh, suffixed, status, why, deadline_ms, &old, err) < 0)
		return -1;
	return rs_fail(err, EX_RS_TEMPFAIL, 0,
		       "generate-jitconfig: the names %s and %s are both taken", name, suffixed);
}

int gh_registration_token(struct github *gh, uint64_t deadline_ms, char **token, struct rs_err *err)
{
	*token = NULL;
	if (gh_authenticate(gh, deadline_ms, err) < 0)
		return -1;
	char path[512];
	snprintf(path, sizeof(path), "%s/actions/runners/registration-token", gh->scope_path);
	struct gh_call c = { .method = "POST", .path = path, .optional = true };
	long status;
	json_t *j;
	if (gh_json(gh, &c, deadline_ms, &status, &j, err) < 0)
		return -1;
	const char *t = json_string_value(json_object_get(j, "token"));
	int rc = 0;
	if (status == 201 && t && *t) {
		*token = strdup(t);
		if (!*token || log_add_secret(t) < 0)
			rc = rs_fail(err, EX_RS_SOFTWARE, ENOMEM, "registration token");
	} else {
		rc = unexpected(&c, status, j, err);
	}
	json_decref(j);
	return rc;
}

/* ---- deregistration ------------------------------------------------------------------ */

/* One look at the runner (GET: 1 point): 1 when gone, 0 when present (*busy says whether it
 * runs a job), -1 on error. */
static int look_at_runner(struct github *gh, const char *path, uint64_t deadline_ms, bool *busy,
			  struct rs_err *err)
{
	struct gh_call get = { .method = "GET", .path = path };
	long status;
	json_t *j;
	if (gh_json(gh, &get, deadline_ms, &status, &j, err) < 0)
		return -1;
	*busy = json_is_true(json_object_get(j, "busy"));
	int rc = status == 404 ? 1 : status == 200 ? 0 : unexpected(&get, status, NULL, err);
	json_decref(j);
	return rc;
}

/* The cheapest proof in points (secondary limit: GET 1, DELETE 5; reference §6): a DELETE
 * answered 204 or 404 is the proof by itself, so a runner that is likely still listed is
 * deleted first; one that likely is gone (GitHub removes an ephemeral runner after its job)
 * is looked at first. A busy runner (DELETE 422, or GET busy) is watched with GETs until
 * its job ends or is given up, and only then deleted. */
int gh_confirm_gone(struct github *gh, long long runner_id, bool likely_gone, uint64_t deadline_ms,
		    struct rs_err *err)
{
	if (gh_authenticate(gh, deadline_ms, err) < 0)
		return -1;
	char path[512];
	snprintf(path, sizeof(path), "%s/actions/runners/%lld", gh->scope_path, runner_id);
	bool look_first = likely_gone;
	for (unsigned attempt = 0;; attempt++) {
		bool busy = false;
		const char *method = "GET";
		long status = 200;
		if (look_first) {
			int seen = look_at_runner(gh, path, deadline_ms, &busy, err);
			if (seen != 0)
				return seen < 0 ? -1 : 0;
		}
		if (!busy) {
			method = "DELETE";
			if (delete_runner(gh, runner_id, deadline_ms, &status, err) < 0)
				return -1;
			if (status == 204 || status == 404)
				return 0;
			if (status != 422)
				return unexpected(
				    &(struct gh_call){ .method = "DELETE", .path = path }, status,
				    NULL, err);
			/* 422: still running a job (§7.5): watch it cheaply from now on. */
			look_first = true;
		}
		uint64_t wait =
		    BUSY_RETRY_BASE_MS +
		    retry_backoff_ms(attempt, BUSY_RETRY_BASE_MS, BUSY_RETRY_CAP_MS, random32());
		if (gh_now_ms() + wait > deadline_ms)
			return rs_fail(err, EX_RS_UNAVAILABLE, 0,
				       "runner %lld is still busy with a job at the deregistration "
				       "deadline",
				       runner_id);
		log_event(LOG_WARN, "github.retry",
			  LOG_FIELDS(LOG_STR("method", method), LOG_STR("path", path),
				     LOG_INT("status", status), LOG_MS("wait_ms", wait)),
			  "runner %lld is still busy; looking again in %llu ms", runner_id,
			  (unsigned long long)wait);
		if (!http_sleep(gh->http, wait, gh->cancel))
			return canceled(err);
	}
}

/* ---- the fleet's sweep --------------------------------------------------------------- */

static int brief_from(const struct gh_call *c, json_t *r, const char *label,
		      struct gh_runner_brief *b, struct rs_err *err)
{
	/* A runner without a usable id is never a ghost to delete: the page is malformed. */
	if (json_whole(c, r, "id", 1, &b->id, err) < 0)
		return -1;
	snprintf(b->name, sizeof(b->name), "%s",
		 json_string_value(json_object_get(r, "name")) ?: "");
	const char *st = json_string_value(json_object_get(r, "status"));
	b->online = !st || strcmp(st, "offline") != 0; /* unknown counts as online: kept */
	b->busy = !json_is_boolean(json_object_get(r, "busy")) ||
		  json_is_true(json_object_get(r, "busy"));
	json_t *labels = json_object_get(r, "labels"), *l;
	size_t i;
	b->in_fleet = false;
	b->born_minute = -1;
	json_array_foreach(labels, i, l)
	{
		const char *n = json_string_value(json_object_get(l, "name"));
		b->in_fleet |= label && n && strcasecmp(n, label) == 0;
		/* Should a runner carry two, the younger: the sweep errs on the side of keeping. */
		long long born = runner_born_minute(n);
		if (born > b->born_minute)
			b->born_minute = born;
	}
	return 0;
}

int gh_runners_page(struct github *gh, unsigned page, const char *label, uint64_t deadline_ms,
		    struct gh_runner_page *out, struct rs_err *err)
{
	memset(out, 0, sizeof(*out));
	if (gh_authenticate(gh, deadline_ms, err) < 0)
		return -1;
	char path[512];
	snprintf(path, sizeof(path), "%s/actions/runners?per_page=%d&page=%u", gh->scope_path,
		 PER_PAGE, page);
	struct gh_call c = { .method = "GET", .path = path };
	long status;
	json_t *j;
	if (gh_json(gh, &c, deadline_ms, &status, &j, err) < 0)
		return -1;
	int rc = status == 200 ? 0 : unexpected(&c, status, j, err);
	json_t *runners = json_object_get(j, "runners");
	size_t n = json_array_size(runners);
	if (rc == 0 && n && !(out->runners = calloc(n, sizeof(*out->runners))))
		rc = rs_fail(err, EX_RS_SOFTWARE, ENOMEM, "GET %s", path);
	if (rc == 0)
		rc = json_whole(&c, j, "total_count", 0, &out->total, err);
	for (size_t i = 0; rc == 0 && out->runners && i < n; i++)
		rc =
		    brief_from(&c, json_array_get(runners, i), label, &out->runners[out->n++], err);
	json_decref(j);
	if (rc < 0)
		gh_runner_page_free(out);
	return rc;
}

void gh_runner_page_free(struct gh_runner_page *page)
{
	free(page->runners);
	memset(page, 0, sizeof(*page));
}

int gh_delete_idle_runner(struct github *gh, long long runner_id, uint64_t deadline_ms,
			  struct rs_err *err)
{
	long status;
	if (delete_runner(gh, runner_id, deadline_ms, &status, err) < 0)
		return -1;
	if (status == 204)
		return 0;
	/* 422: it took a job meanwhile, not a ghost. 404: gone already, another pod's sweep
	 * took it (pods ending together see the same page): not counted as ours. */
	if (status == 422 || status == 404)
		return 1;
	char path[512];
	snprintf(path, sizeof(path), "%s/actions/runners/%lld", gh->scope_path, runner_id);
	return unexpected(&(struct gh_call){ .method = "DELETE", .path = path }, status, NULL, err);
}

/* ---- check --online ------------------------------------------------------------------ */

static const char *needed_classic_scope(enum gh_scope scope)
{
	return scope == GH_SCOPE_REPO         ? "repo"
	       : scope == GH_SCOPE_ENTERPRISE ? "manage_runners:enterprise"
					      : "admin:org";
}

/* What a classic scope includes ("Scopes for OAuth apps" in GitHub's docs; reference
 * §7.14): a token granted the first has the second too. */
static const struct {
	const char *scope, *includes;
} scope_includes[] = {
	{ "admin:enterprise", "manage_runners:enterprise" },
	{ "admin:enterprise", "manage_billing:enterprise" },
	{ "admin:enterprise", "read:enterprise" },
	{ "admin:org", "write:org" },
	{ "write:org", "read:org" },
	{ "repo", "repo:status" },
	{ "repo", "repo_deployment" },
	{ "repo", "public_repo" },
	{ "repo", "repo:invite" },
	{ "repo", "security_events" },
};

/* Whether scope, or a scope that includes it, is granted. */
static bool scope_granted(const char *granted, const char *scope, unsigned depth)
{
	char buf[1024];
	snprintf(buf, sizeof(buf), "%s", granted);
	char *save = NULL;
	for (char *tok = strtok_r(buf, ", ", &save); tok; tok = strtok_r(NULL, ", ", &save))
		if (strcmp(tok, scope) == 0)
			return true;
	for (size_t i = 0; depth < 4 && i < ARRAY_SIZE(scope_includes); i++)
		if (strcmp(scope_includes[i].includes, scope) == 0 &&
		    scope_granted(granted, scope_includes[i].scope, depth + 1))
			return true;
	return false;
}

static int check_permission(struct github *gh, struct gh_check *check, struct rs_err *err)
{
	enum gh_scope scope = gh->cfg->target.scope;
	if (gh->cfg->app_id && !gh->cfg->token_file) {
		const char *perm = needed_app_permission(scope);
		const char *level = json_string_value(json_object_get(gh->token_permissions, perm));
		check->auth_kind = "GitHub App";
		check->permission = scope == GH_SCOPE_REPO
					? "administration=write"
					: "organization_self_hosted_runners=write";
		check->permission_verified = true;
		if (!level || strcmp(level, "write") != 0)
			return rs_fail(err, EX_RS_NOPERM, 0,
				       "the GitHub App's installation token lacks %s: registering "
				       "would fail",
				       check->permission);
		return 0;
	}
	check->permission = needed_classic_scope(scope);
	if (!gh->oauth_scopes) {
		/* Fine-grained tokens carry no X-OAuth-Scopes: write access shows only when used. */
		check->auth_kind = "fine-grained PAT";
		check->permission_verified = false;
		return 0;
	}
	check->auth_kind = "classic PAT";
	check->permission_verified = true;
	if (!scope_granted(gh->oauth_scopes, check->permission, 0))
		return rs_fail(err, EX_RS_NOPERM, 0,
			       "the token's scopes (%s) lack %s: registering would fail",
			       gh->oauth_scopes, check->permission);
	return 0;
}

int gh_check_online(struct github *gh, uint64_t deadline_ms, struct gh_check *check,
		    struct rs_err *err)
{
	memset(check, 0, sizeof(*check));
	if (gh_authenticate(gh, deadline_ms, err) < 0)
		return -1;
	char path[512];
	snprintf(path, sizeof(path), "%s/actions/runners?per_page=1", gh->scope_path);
	struct gh_call c = { .method = "GET", .path = path };
	long status;
	json_t *j;
	if (gh_json(gh, &c, deadline_ms, &status, &j, err) < 0)
		return -1;
	int rc = status == 200 ? 0 : unexpected(&c, status, j, err);
	if (rc == 0)
		rc = json_whole(&c, j, "total_count", 0, &check->runners_seen, err);
	json_decref(j);
	check->budget = gh->budget;
	if (rc == 0 && gh->cfg->registration == REG_JIT && !gh->cfg->has_jitconfig &&
	    gh->ghes_version && gh->ghes_version < GHES_JIT_SINCE)
		return rs_fail(
		    err, EX_RS_CONFIG, 0,
		    "GitHub Enterprise Server %u.%u has no JIT registration "
		    "(generate-jitconfig came with 3.10): set SUPERVISOR_REGISTRATION=token",
		    gh->ghes_version / 1000, gh->ghes_version % 1000);
	return rc == 0 ? check_permission(gh, check, err) : rc;
}

void gh_registration_free(struct gh_registration *reg)
{
	if (reg->jit_blob) {
		explicit_bzero(reg->jit_blob, strlen(reg->jit_blob));
		free(reg->jit_blob);
	}
	reg->jit_blob = NULL;
}

int gh_forget_name(struct github *gh, const char *name, uint64_t deadline_ms, struct rs_err *err)
{
	if (!gh->auth)
		return 0; /* never authenticated: nothing was sent */
	struct found_runner old;
	if (find_runner(gh, name, false, deadline_ms, &old, err) < 0)
		return -1;
	if (!old.id)
		return 0;
	if (old.online || old.busy)
		return rs_fail(err, EX_RS_UNAVAILABLE, 0,
			       "runner %s (%lld) is online: not ours to delete", name, old.id);
	return gh_confirm_gone(gh, old.id, false, deadline_ms, err);
}

bool gh_registration_uncertain(const struct github *gh)
{
	return gh->registration_uncertain;
}

void gh_set_cancel(struct github *gh, const volatile bool *cancel)
{
	gh->cancel = cancel;
}
