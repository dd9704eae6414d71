/* HTTPS requests on libcurl's multi interface, driven by the libuv loop.
 *
 * A request is started on the loop and http_perform() runs the loop until it completes (or
 * `cancel` becomes true), so that signals, timers and child exits are handled while a
 * request is in flight. It must not be called from inside a libuv callback. */
#ifndef RS_HTTP_H
#define RS_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "err.h"

/* A response larger than this is an error: GitHub's runner responses are a few KiB. */
#define HTTP_MAX_BODY (4u << 20)

struct http_client;

struct http_request {
	const char *method; /* "GET", "POST", "DELETE" */
	const char *url;
	const char *authorization; /* whole header value, e.g. "Bearer xyz"; NULL for none */
	const char *body;          /* JSON body for POST, or NULL */
	long timeout_ms;           /* whole transfer; 0 = the client's default */
	/* How long the request may go on once *cancel became true: a request whose effect
	 * we must learn (a registration) gets time to answer; 0 = stop at once. */
	uint64_t cancel_grace_ms;
};

struct http_response {
	long status; /* 0 when no HTTP response arrived (see transport_error) */
	char *body;  /* NUL-terminated, may be empty; freed by http_response_free */
	size_t body_len;
	bool transport_error; /* connection refused/reset, TLS failure, timeout... */
	bool canceled;        /* *cancel became true while waiting */
	char error[256];      /* libcurl's description of a transport error */
	/* Headers a client of GitHub needs; -1 when absent. */
	long long retry_after_s;
	long long ratelimit_remaining;
	long long ratelimit_limit;
	long long ratelimit_reset; /* epoch seconds */
	char *link_next;           /* URL of rel="next" in Link, or NULL */
	char *oauth_scopes;        /* X-OAuth-Scopes (classic tokens; "" for others), or NULL */
	long long date;            /* Date: the server's clock, epoch seconds */
	/* X-GitHub-Enterprise-Version as major * 1000 + minor (3.10 -> 3010); 0 when absent
	 * (github.com, GHE.com). */
	unsigned ghes_version;
	uint64_t elapsed_ms;
};

/* user_agent is copied; ca_file (may be NULL) adds a CA bundle to the system store. */
struct http_client *http_client_new(uv_loop_t *loop, const char *user_agent, const char *ca_file,
				    struct rs_err *err);
void http_client_free(struct http_client *c);

/* Runs one request to completion on the loop. Returns 0 when resp describes the outcome
 * (any HTTP status, a transport error, or a cancellation), -1 when the request could not
 * even be set up. */
int http_perform(struct http_client *c, const struct http_request *req, struct http_response *resp,
		 const volatile bool *cancel, struct rs_err *err);

void http_response_free(struct http_response *resp);

/* Header parsers, exposed for the unit tests. */
/* Link: <https://...&page=2>; rel="next", <...>; rel="last" -> the next URL (malloc'd), or NULL. */
char *http_link_next(const char *value);
/* Retry-After: delta-seconds or an HTTP-date; -1 when unparseable. */
long long http_retry_after(const char *value, long long now);
/* X-GitHub-Enterprise-Version: "enterprise-server@3.10.2" (or "3.10.2") -> 3010; 0 when
 * unparseable. */
unsigned http_ghes_version(const char *value);

/* Runs the loop for ms milliseconds or until *cancel; returns false when canceled. */
bool http_sleep(struct http_client *c, uint64_t ms, const volatile bool *cancel);

#endif
