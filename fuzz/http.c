/* The response headers GitHub (or a proxy, or a GitHub Enterprise Server) sends, and the
 * retry decision built on them: http.c's header callback (Retry-After as seconds or an
 * HTTP-date, X-RateLimit-*, Link, Date, X-OAuth-Scopes, X-GitHub-Enterprise-Version) fills a
 * struct http_response as it does for libcurl, then retry.c's retry_classify() decides.
 *
 * Input: a status line ("HTTP/2 403"), header lines, an empty line, and the body (a rate-limit
 * message is recognised there too); bytes after a NUL are the body's, cut as C sees it. The
 * attempt number, the secondary-limit streak and the random number come from a hash of the
 * input, so that an input always means the same decision.
 *
 * http.c is compiled into this harness, because the header callback is static: it is the
 * code under test, not a copy. */
#include "../supervisor/http.c" // NOLINT(bugprone-suspicious-include): its statics

#include "fuzz.h"
#include "retry.h"

/* The longest wait retry_classify() may ask for: a doubled hint is capped at an hour, the
 * reset wait at an hour and a second, the secondary wait at an hour plus one backoff. */
#define MAX_WAIT_MS ((uint64_t)RETRY_MAX_WAIT_S * 1000 + 1000 + RETRY_CAP_MS)

static void check_response(const struct http_response *r, const char *headers)
{
	FUZZ_CHECK(r->retry_after_s >= -1);
	FUZZ_CHECK(r->date >= -1);
	FUZZ_CHECK(r->ghes_version == 0 || (r->ghes_version >= 1000 && r->ghes_version <= 999999));
	if (r->link_next) {
		/* The URL between '<' and '>' of one entry, as it was sent. */
		FUZZ_CHECK(strstr(headers, r->link_next) != NULL);
		FUZZ_CHECK(!strchr(r->link_next, '>'));
	}
	if (r->oauth_scopes)
		FUZZ_CHECK(!strpbrk(r->oauth_scopes, "\r\n"));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text = fuzz_cstr(data, size);
	uint64_t h = fuzz_hash(data, size);
	struct http_response r;
	memset(&r, 0, sizeof(r));
	reset_headers(&r);
	struct transfer t = { .resp = &r };

	/* The headers end at the first empty line that no other status line follows (a
	 * proxy's CONNECT answer and redirects come first, each with its own headers). */
	char *body = strstr(text, "\n\n");
	while (body && strncmp(body + 2, "HTTP/", 5) == 0)
		body = strstr(body + 2, "\n\n");
	if (body) {
		*body = '\0';
		body += 2;
	}
	char *headers = strdup(text);
	FUZZ_CHECK(headers != NULL);
	char *lines = text;
	for (char *line; (line = fuzz_next(&lines, "\n"));) {
		/* As libcurl passes a header: one line, CRLF included. */
		size_t len = strlen(line);
		char *buf = malloc(len + 3);
		FUZZ_CHECK(buf != NULL);
		snprintf(buf, len + 3, "%s\r\n", line);
		FUZZ_CHECK(on_header(buf, 1, len + 2, &t) == len + 2);
		free(buf);
		if (strncmp(line, "HTTP/", 5) == 0) {
			/* The last status line is the response's. */
			const char *sp = strchr(line, ' ');
			r.status = sp ? strtol(sp + 1, NULL, 10) : 0;
		}
	}
	if (body) {
		size_t len = strlen(body);
		if (on_body(body, 1, len, &t) != len)
			describe_failure(&r, &t, CURLE_WRITE_ERROR, "");
	}
	check_response(&r, headers);

	/* The response as GitHub's client sees it after a transport error, and as it is. */
	r.transport_error = r.transport_error || (h & 0xff) == 0;
	unsigned attempt = (unsigned)(h >> 8) % 40, streak = (unsigned)(h >> 16) % 12;
	struct retry_decision d =
	    retry_classify(&r, attempt, streak, (long long)time(NULL), (uint32_t)(h >> 32));
	FUZZ_CHECK(d.verdict >= RETRY_DONE && d.verdict <= RETRY_AUTH_FAILED);
	FUZZ_CHECK(d.why != NULL);
	FUZZ_CHECK(d.wait_ms <= MAX_WAIT_MS);
	if (d.verdict == RETRY_AGAIN)
		FUZZ_CHECK(d.wait_ms < RETRY_CAP_MS);
	if (d.verdict == RETRY_RATE_LIMITED)
		FUZZ_CHECK(d.wait_ms >= 1000 || r.retry_after_s == 0);

	http_response_free(&r);
	free(headers);
	free(text);
	return 0;
}
