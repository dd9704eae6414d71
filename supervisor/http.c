/* libcurl multi on libuv: curl tells us which sockets to watch (CURLMOPT_SOCKETFUNCTION) and
 * when to wake it (CURLMOPT_TIMERFUNCTION); uv_poll and uv_timer do the watching, and
 * curl_multi_socket_action() does the work. One request at a time, as GitHub asks of its
 * integrations ("send requests serially"); connections are kept in the multi handle's
 * cache and reused between requests. */
#include "http.h"

#include <ctype.h>
#include <curl/curl.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "util.h"

#define CONNECT_TIMEOUT_MS 10000L
/* GitHub aborts requests that take more than 10 s; 30 s leaves room for slow proxies. */
#define DEFAULT_TIMEOUT_MS 30000L
#define SYSTEM_CA_PATH     "/etc/ssl/certs"

struct http_client {
	uv_loop_t *loop;
	CURLM *multi;
	uv_timer_t timer;
	char *user_agent;
	char *ca_file;
	struct sock_watch *watches; /* every socket curl asked us to watch */
};

struct sock_watch {
	uv_poll_t poll;
	curl_socket_t fd;
	struct http_client *client;
	struct sock_watch *next;
};

struct transfer {
	struct http_response *resp;
	size_t cap;
	bool too_large;
	bool done;
	CURLcode result;
};

static uint64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* ---- the loop glue ------------------------------------------------------------------- */

static void check_done(struct http_client *c)
{
	CURLMsg *msg;
	int left;
	while ((msg = curl_multi_info_read(c->multi, &left))) {
		if (msg->msg != CURLMSG_DONE)
			continue;
		struct transfer *t = NULL;
		curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&t);
		if (t) {
			t->done = true;
			t->result = msg->data.result;
			/* uv_run(UV_RUN_ONCE) runs timers before it polls: a transfer that ends in
			 * curl's timer callback would leave it blocked in epoll_wait with nothing
			 * left to wake it. uv_stop makes that poll return at once. */
			uv_stop(c->loop);
		}
	}
}

static void on_socket_event(uv_poll_t *h, int status, int events)
{
	struct sock_watch *w = h->data;
	int flags = 0;
	if (status < 0)
		flags |= CURL_CSELECT_ERR;
	if (events & UV_READABLE)
		flags |= CURL_CSELECT_IN;
	if (events & UV_WRITABLE)
		flags |= CURL_CSELECT_OUT;
	int running;
	struct http_client *c = w->client;
	curl_multi_socket_action(c->multi, w->fd, flags, &running);
	check_done(c);
}

static void free_watch(uv_handle_t *h)
{
	free(h->data);
}

static void unwatch(struct http_client *c, struct sock_watch *w)
{
	for (struct sock_watch **p = &c->watches; *p; p = &(*p)->next) {
		if (*p == w) {
			*p = w->next;
			break;
		}
	}
	uv_poll_stop(&w->poll);
	uv_close((uv_handle_t *)&w->poll, free_watch);
}

static int on_curl_socket(CURL *easy, curl_socket_t fd, int what, void *userp, void *socketp)
{
	struct http_client *c = userp;
	struct sock_watch *w = socketp;
	if (what == CURL_POLL_REMOVE) {
		if (w) {
			unwatch(c, w);
			curl_multi_assign(c->multi, fd, NULL);
		}
		return 0;
	}
	if (!w) {
		w = calloc(1, sizeof(*w));
		if (!w)
			return -1;
		w->fd = fd;
		w->client = c;
		if (uv_poll_init_socket(c->loop, &w->poll, fd) < 0) {
			free(w);
			return -1;
		}
		w->poll.data = w;
		w->next = c->watches;
		c->watches = w;
		curl_multi_assign(c->multi, fd, w);
	}
	int events = 0;
	if (what & CURL_POLL_IN)
		events |= UV_READABLE;
	if (what & CURL_POLL_OUT)
		events |= UV_WRITABLE;
	return uv_poll_start(&w->poll, events, on_socket_event) < 0 ? -1 : 0;
}

static void on_curl_timeout(uv_timer_t *t)
{
	struct http_client *c = t->data;
	int running;
	curl_multi_socket_action(c->multi, CURL_SOCKET_TIMEOUT, 0, &running);
	check_done(c);
}

static int on_curl_timer(CURLM *multi, long timeout_ms, void *userp)
{
	struct http_client *c = userp;
	if (timeout_ms < 0)
		uv_timer_stop(&c->timer);
	else
		uv_timer_start(&c->timer, on_curl_timeout, (uint64_t)timeout_ms, 0);
	return 0;
}

/* ---- client -------------------------------------------------------------------------- */

struct http_client *http_client_new(uv_loop_t *loop, const char *user_agent, const char *ca_file,
				    struct rs_err *err)
{
	struct http_client *c = calloc(1, sizeof(*c));
	if (!c) {
		rs_fail(err, EX_RS_SOFTWARE, ENOMEM, "HTTP client");
		return NULL;
	}
	c->loop = loop;
	c->user_agent = strdup(user_agent);
	c->ca_file = ca_file ? strdup(ca_file) : NULL;
	c->multi = curl_multi_init();
	if (!c->user_agent || (ca_file && !c->ca_file) || !c->multi) {
		http_client_free(c);
		rs_fail(err, EX_RS_SOFTWARE, ENOMEM, "HTTP client");
		return NULL;
	}
	uv_timer_init(loop, &c->timer);
	c->timer.data = c;
	curl_multi_setopt(c->multi, CURLMOPT_SOCKETFUNCTION, on_curl_socket);
	curl_multi_setopt(c->multi, CURLMOPT_SOCKETDATA, c);
	curl_multi_setopt(c->multi, CURLMOPT_TIMERFUNCTION, on_curl_timer);
	curl_multi_setopt(c->multi, CURLMOPT_TIMERDATA, c);
	return c;
}

static void free_client(uv_handle_t *h)
{
	free(h->data);
}

void http_client_free(struct http_client *c)
{
	if (!c)
		return;
	/* Closing the multi handle closes the cached connections; any socket still watched
	 * after that is unwatched here, and the loop finishes the closes. */
	if (c->multi)
		curl_multi_cleanup(c->multi);
	while (c->watches)
		unwatch(c, c->watches);
	free(c->user_agent);
	free(c->ca_file);
	if (c->multi) {
		c->timer.data = c;
		uv_close((uv_handle_t *)&c->timer, free_client);
		uv_run(c->loop, UV_RUN_NOWAIT);
	} else {
		free(c);
	}
}

/* ---- headers ------------------------------------------------------------------------- */

char *http_link_next(const char *value)
{
	/* Entries are "<url>; rel=\"next\"", separated by commas; rel may list several. */
	for (const char *p = value; p && (p = strchr(p, '<'));) {
		const char *end = strchr(p, '>');
		if (!end)
			return NULL;
		const char *stop = strchr(end, ',');
		size_t params_len = stop ? (size_t)(stop - end) : strlen(end);
		char params[256];
		snprintf(params, sizeof(params), "%.*s", (int)params_len, end);
		if (strstr(params, "rel=\"next\"") || strstr(params, "rel=next"))
			return strndup(p + 1, (size_t)(end - p - 1));
		p = stop;
	}
	return NULL;
}

long long http_retry_after(const char *value, long long now)
{
	while (*value == ' ')
		value++;
	if (isdigit((unsigned char)*value)) {
		char *end;
		errno = 0;
		long long s = strtoll(value, &end, 10);
		while (*end == ' ' || *end == '\r' || *end == '\n')
			end++;
		return errno || *end ? -1 : s;
	}
	time_t when = curl_getdate(value, NULL);
	if (when < 0)
		return -1;
	return when > now ? when - now : 0;
}

unsigned http_ghes_version(const char *value)
{
	const char *at = strchr(value, '@');
	const char *v = at ? at + 1 : value;
	char *end;
	if (!isdigit((unsigned char)*v))
		return 0;
	unsigned long major = strtoul(v, &end, 10);
	if (*end != '.' || !isdigit((unsigned char)end[1]))
		return 0;
	unsigned long minor = strtoul(end + 1, &end, 10);
	if (major == 0 || major > 999 || minor > 999)
		return 0;
	return (unsigned)(major * 1000 + minor);
}

static long long header_number(const char *v)
{
	char *end;
	errno = 0;
	long long n = strtoll(v, &end, 10);
	return errno || end == v ? -1 : n;
}

static void reset_headers(struct http_response *r)
{
	r->retry_after_s = r->ratelimit_remaining = r->ratelimit_limit = r->ratelimit_reset = -1;
	r->date = -1;
	r->ghes_version = 0;
	free(r->link_next);
	free(r->oauth_scopes);
	r->link_next = r->oauth_scopes = NULL;
}

static size_t on_header(char *buf, size_t size, size_t n, void *userp)
{
	struct transfer *t = userp;
	struct http_response *r = t->resp;
	size_t len = size * n;
	char line[2048];
	snprintf(line, sizeof(line), "%.*s", (int)len, buf);
	line[strcspn(line, "\r\n")] = '\0';
	/* A new status line: a redirect or a proxy's CONNECT answer came first. Only the
	 * final response's headers count. */
	if (strncmp(line, "HTTP/", 5) == 0) {
		reset_headers(r);
		return len;
	}
	char *colon = strchr(line, ':');
	if (!colon)
		return len;
	*colon = '\0';
	char *v = colon + 1;
	while (*v == ' ' || *v == '\t')
		v++;
	if (strcasecmp(line, "retry-after") == 0)
		r->retry_after_s = http_retry_after(v, (long long)time(NULL));
	else if (strcasecmp(line, "x-ratelimit-remaining") == 0)
		r->ratelimit_remaining = header_number(v);
	else if (strcasecmp(line, "x-ratelimit-limit") == 0)
		r->ratelimit_limit = header_number(v);
	else if (strcasecmp(line, "x-ratelimit-reset") == 0)
		r->ratelimit_reset = header_number(v);
	else if (strcasecmp(line, "link") == 0) {
		free(r->link_next);
		r->link_next = http_link_next(v);
	} else if (strcasecmp(line, "x-oauth-scopes") == 0) {
		free(r->oauth_scopes);
		r->oauth_scopes = strdup(v);
	} else if (strcasecmp(line, "date") == 0) {
		time_t when = curl_getdate(v, NULL);
		r->date = when < 0 ? -1 : (long long)when;
	} else if (strcasecmp(line, "x-github-enterprise-version") == 0) {
		r->ghes_version = http_ghes_version(v);
	}
	return len;
}

static size_t on_body(char *buf, size_t size, size_t n, void *userp)
{
	struct transfer *t = userp;
	struct http_response *r = t->resp;
	size_t len = size * n;
	if (r->body_len + len > HTTP_MAX_BODY) {
		t->too_large = true;
		return 0; /* aborts the transfer */
	}
	if (r->body_len + len + 1 > t->cap) {
		size_t cap = (r->body_len + len + 1) * 2;
		char *grown = realloc(r->body, cap);
		if (!grown)
			return 0;
		r->body = grown;
		t->cap = cap;
	}
	memcpy(r->body + r->body_len, buf, len);
	r->body_len += len;
	r->body[r->body_len] = '\0';
	return len;
}

/* ---- requests ------------------------------------------------------------------------ */

static struct curl_slist *build_headers(const struct http_request *req)
{
	struct curl_slist *h = NULL, *next;
	const char *fixed[] = {
		"Accept: application/vnd.github+json",
		"X-GitHub-Api-Version: 2022-11-28",
		req->body ? "Content-Type: application/json" : NULL,
	};
	for (size_t i = 0; i < ARRAY_SIZE(fixed); i++) {
		if (!fixed[i])
			continue;
		if (!(next = curl_slist_append(h, fixed[i])))
			goto fail;
		h = next;
	}
	if (req->authorization) {
		char *auth;
		if (asprintf(&auth, "Authorization: %s", req->authorization) < 0)
			goto fail;
		next = curl_slist_append(h, auth);
		explicit_bzero(auth, strlen(auth));
		free(auth);
		if (!next)
			goto fail;
		h = next;
	}
	return h;
fail:
	curl_slist_free_all(h);
	return NULL;
}

static CURLcode configure_easy(struct http_client *c, CURL *e, const struct http_request *req,
			       struct curl_slist *headers, struct transfer *t, char *errbuf)
{
	CURLcode rc = CURLE_OK;
#define SET(opt, val) (rc = rc ? rc : curl_easy_setopt(e, opt, val))
	SET(CURLOPT_URL, req->url);
	SET(CURLOPT_HTTPHEADER, headers);
	SET(CURLOPT_USERAGENT, c->user_agent);
	SET(CURLOPT_NOSIGNAL, 1L);
	SET(CURLOPT_PROTOCOLS_STR, "https");
	SET(CURLOPT_REDIR_PROTOCOLS_STR, "https");
	/* GitHub asks clients to follow 301, 302 and 307; curl drops our Authorization header
	 * when a redirect leaves the host. */
	SET(CURLOPT_FOLLOWLOCATION, 1L);
	SET(CURLOPT_MAXREDIRS, 5L);
	SET(CURLOPT_SSL_VERIFYPEER, 1L);
	SET(CURLOPT_SSL_VERIFYHOST, 2L);
	if (c->ca_file) {
		/* CAINFO replaces the default bundle; CAPATH keeps the system store in use. */
		SET(CURLOPT_CAINFO, c->ca_file);
		if (access(SYSTEM_CA_PATH, R_OK) == 0)
			SET(CURLOPT_CAPATH, SYSTEM_CA_PATH);
	}
	SET(CURLOPT_CONNECTTIMEOUT_MS, CONNECT_TIMEOUT_MS);
	SET(CURLOPT_TIMEOUT_MS, req->timeout_ms > 0 ? req->timeout_ms : DEFAULT_TIMEOUT_MS);
	SET(CURLOPT_HEADERFUNCTION, on_header);
	SET(CURLOPT_HEADERDATA, t);
	SET(CURLOPT_WRITEFUNCTION, on_body);
	SET(CURLOPT_WRITEDATA, t);
	SET(CURLOPT_PRIVATE, t);
	SET(CURLOPT_ERRORBUFFER, errbuf);
	if (strcmp(req->method, "POST") == 0) {
		SET(CURLOPT_POST, 1L);
		SET(CURLOPT_POSTFIELDS, req->body ? req->body : "");
		SET(CURLOPT_POSTFIELDSIZE, (long)(req->body ? strlen(req->body) : 0));
	} else if (strcmp(req->method, "GET") != 0) {
		SET(CURLOPT_CUSTOMREQUEST, req->method);
	}
#undef SET
	return rc;
}

static void describe_failure(struct http_response *r, const struct transfer *t, CURLcode rc,
			     const char *errbuf)
{
	r->transport_error = true;
	if (t->too_large)
		snprintf(r->error, sizeof(r->error), "response larger than %u bytes",
			 HTTP_MAX_BODY);
	else
		snprintf(r->error, sizeof(r->error), "%s",
			 errbuf[0] ? errbuf : curl_easy_strerror(rc));
}

static void on_sleep_over(uv_timer_t *t);

int http_perform(struct http_client *c, const struct http_request *req, struct http_response *resp,
		 const volatile bool *cancel, struct rs_err *err)
{
	memset(resp, 0, sizeof(*resp));
	reset_headers(resp);
	struct transfer t = { .resp = resp };
	char errbuf[CURL_ERROR_SIZE] = "";
	CURL *e = curl_easy_init();
	struct curl_slist *headers = build_headers(req);
	if (!e || !headers) {
		curl_easy_cleanup(e);
		curl_slist_free_all(headers);
		return rs_fail(err, EX_RS_SOFTWARE, ENOMEM, "%s %s", req->method, req->url);
	}
	CURLcode rc = configure_easy(c, e, req, headers, &t, errbuf);
	if (rc != CURLE_OK || curl_multi_add_handle(c->multi, e) != CURLM_OK) {
		curl_easy_cleanup(e);
		curl_slist_free_all(headers);
		return rs_fail(err, EX_RS_SOFTWARE, 0, "%s %s: %s", req->method, req->url,
			       curl_easy_strerror(rc));
	}
	uint64_t start = now_ms();
	bool grace_over = false, grace_armed = false;
	uv_timer_t grace;
	uv_timer_init(c->loop, &grace);
	grace.data = &grace_over;
	while (!t.done) {
		if (cancel && *cancel) {
			if (req->cancel_grace_ms == 0 || grace_over) {
				resp->canceled = true;
				break;
			}
			if (!grace_armed) {
				grace_armed = true;
				uv_timer_start(&grace, on_sleep_over, req->cancel_grace_ms, 0);
			}
		}
		uv_run(c->loop, UV_RUN_ONCE);
	}
	uv_close((uv_handle_t *)&grace, NULL);
	uv_run(c->loop, UV_RUN_NOWAIT);
	resp->elapsed_ms = now_ms() - start;
	if (t.done && t.result == CURLE_OK)
		curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &resp->status);
	else if (t.done)
		describe_failure(resp, &t, t.result, errbuf);
	curl_multi_remove_handle(c->multi, e);
	curl_easy_cleanup(e);
	curl_slist_free_all(headers);
	if (!resp->body) {
		resp->body = strdup("");
		if (!resp->body)
			return rs_fail(err, EX_RS_SOFTWARE, ENOMEM, "%s %s", req->method, req->url);
	}
	return 0;
}

void http_response_free(struct http_response *resp)
{
	free(resp->body);
	free(resp->link_next);
	free(resp->oauth_scopes);
	resp->body = resp->link_next = resp->oauth_scopes = NULL;
}

static void on_sleep_over(uv_timer_t *t)
{
	*(bool *)t->data = true;
	uv_stop(t->loop); /* see check_done(): we are in the timer phase of UV_RUN_ONCE */
}

bool http_sleep(struct http_client *c, uint64_t ms, const volatile bool *cancel)
{
	bool over = false;
	uv_timer_t timer;
	uv_timer_init(c->loop, &timer);
	timer.data = &over;
	uv_timer_start(&timer, on_sleep_over, ms, 0);
	while (!over && !(cancel && *cancel))
		uv_run(c->loop, UV_RUN_ONCE);
	uv_close((uv_handle_t *)&timer, NULL);
	/* The close completes on the next turn; the handle lives on our stack until then. */
	uv_run(c->loop, UV_RUN_NOWAIT);
	return over;
}
