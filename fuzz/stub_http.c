/* The github harness's HTTP layer: http.h's client functions, answering from a script (the
 * fuzz input) instead of the network. Not a harness of its own.
 *
 * http.c is compiled in here with its client functions renamed, so that the response headers
 * and body go through its real callbacks (on_header: Retry-After, X-RateLimit-*, Link, Date,
 * X-OAuth-Scopes, X-GitHub-Enterprise-Version; on_body: the size limit) and github.c sees
 * exactly the struct http_response libcurl would have produced from those bytes. */
#define http_client_new  real_http_client_new
#define http_client_free real_http_client_free
#define http_perform     real_http_perform
#define http_sleep       real_http_sleep
#include "../supervisor/http.c" // NOLINT(bugprone-suspicious-include): its statics
#undef http_client_new
#undef http_client_free
#undef http_perform
#undef http_sleep

#include "fuzz.h"
#include "stub_http.h"

struct http_client *http_client_new(uv_loop_t *loop, const char *user_agent, const char *ca_file,
				    struct rs_err *err);
void http_client_free(struct http_client *c);
int http_perform(struct http_client *c, const struct http_request *req, struct http_response *resp,
		 const volatile bool *cancel, struct rs_err *err);
bool http_sleep(struct http_client *c, uint64_t ms, const volatile bool *cancel);

/* What is left of the responses. */
static char *script;

void stub_http_script(char *responses)
{
	script = responses;
}

struct http_client *http_client_new(uv_loop_t *loop, const char *user_agent, const char *ca_file,
				    struct rs_err *err)
{
	struct http_client *c = calloc(1, sizeof(*c));
	FUZZ_CHECK(c != NULL);
	c->loop = loop;
	c->user_agent = strdup(user_agent);
	c->ca_file = ca_file ? strdup(ca_file) : NULL;
	return c;
}

void http_client_free(struct http_client *c)
{
	if (!c)
		return;
	free(c->user_agent);
	free(c->ca_file);
	free(c);
}

/* One header line as libcurl hands it to the callback: with its CRLF. */
static void header_line(struct transfer *t, const char *line)
{
	size_t len = strlen(line);
	char *buf = malloc(len + 3);
	FUZZ_CHECK(buf != NULL);
	snprintf(buf, len + 3, "%s\r\n", line);
	FUZZ_CHECK(on_header(buf, 1, len + 2, t) == len + 2);
	free(buf);
}

/* "HTTP/2 201 Created" -> 201; -1 when libcurl would not take it as a status line. */
static long status_of(const char *line)
{
	const char *sp = strncmp(line, "HTTP/", 5) == 0 ? strchr(line, ' ') : NULL;
	if (!sp || strspn(sp + 1, "0123456789") != 3 || (sp[4] != '\0' && sp[4] != ' '))
		return -1;
	return strtol(sp + 1, NULL, 10);
}

int http_perform(struct http_client *c, const struct http_request *req, struct http_response *resp,
		 const volatile bool *cancel, struct rs_err *err)
{
	FUZZ_CHECK(req->method && req->url && strncmp(req->url, "https://", 8) == 0);
	memset(resp, 0, sizeof(*resp));
	reset_headers(resp);
	char *rec = fuzz_next(&script, STUB_HTTP_SEP);
	if (!rec || (cancel && *cancel)) {
		/* Out of script: the request is cut short, as a SIGTERM would (also where the caller
		 * passed no cancel flag: that is what ends every retry loop here). */
		resp->canceled = true;
	} else {
		struct transfer t = { .resp = resp };
		char *body = strstr(rec, "\n\n");
		if (body) {
			*body = '\0';
			body += 2;
		}
		char *lines = rec;
		char *status_line = fuzz_next(&lines, "\n");
		long status = status_of(status_line);
		if (status < 0) {
			resp->transport_error = true;
			snprintf(resp->error, sizeof(resp->error), "%s", status_line);
		} else {
			header_line(&t, status_line);
			for (char *h; (h = fuzz_next(&lines, "\n"));)
				header_line(&t, h);
			header_line(&t, "");
			if (body && on_body(body, 1, strlen(body), &t) != strlen(body))
				describe_failure(resp, &t, CURLE_WRITE_ERROR, "");
			else
				resp->status = status;
		}
	}
	if (!resp->body) {
		resp->body = strdup("");
		FUZZ_CHECK(resp->body != NULL);
	}
	return 0;
}

bool http_sleep(struct http_client *c, uint64_t ms, const volatile bool *cancel)
{
	return !(cancel && *cancel);
}
