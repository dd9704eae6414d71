/* GITHUB_URL and GITHUB_API_URL: which GitHub instance, which scope, where its REST API is.
 *
 * Only https: the URL's host receives the PAT or the App's installation token, and a plain
 * http hop would hand it to anyone on the path. Userinfo ("user:secret@host") is refused
 * without echoing the URL, because what sits before the '@' is usually a credential. */

#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "util.h" /* ARRAY_SIZE */

#define EXPECTED_FORMS                                                                             \
	"expected https://HOST/ORG, https://HOST/OWNER/REPO or https://HOST/enterprises/ENT"

/* github.com's web hosts; every other host is a GitHub Enterprise Server. */
static const char *const dotcom_hosts[] = { "github.com", "www.github.com" };

struct https_url {
	char *host;       /* lowercased, with ":PORT" when given */
	const char *path; /* from the first '/' after the host, or "" */
};

static int out_of_memory(struct rs_err *err)
{
	return rs_fail(err, EX_RS_SOFTWARE, ENOMEM, "configuration");
}

/* Printable ASCII without spaces: what an URL may contain once percent-encoded. */
static bool is_url_text(const char *s)
{
	for (; *s; s++)
		if (*s <= ' ' || *s >= 0x7f)
			return false;
	return true;
}

static bool valid_port(const char *p, size_t len)
{
	if (len == 0 || len > 5)
		return false;
	long port = 0;
	for (size_t i = 0; i < len; i++) {
		if (!isdigit((unsigned char)p[i]))
			return false;
		port = port * 10 + (p[i] - '0');
	}
	return port >= 1 && port <= 65535;
}

/* A DNS name or IPv4 address, or an IPv6 literal in brackets; then an optional ":PORT". */
static bool valid_host(const char *h, size_t len)
{
	size_t name_len;

	if (len > 0 && h[0] == '[') {
		const char *close = memchr(h, ']', len);
		if (!close || close == h + 1)
			return false;
		for (const char *c = h + 1; c < close; c++)
			if (!isxdigit((unsigned char)*c) && *c != ':' && *c != '.')
				return false;
		name_len = (size_t)(close - h) + 1;
	} else {
		name_len = 0;
		while (name_len < len && h[name_len] != ':') {
			unsigned char c = (unsigned char)h[name_len];
			if (!isalnum(c) && c != '.' && c != '-')
				return false;
			name_len++;
		}
		if (name_len == 0)
			return false;
	}
	if (name_len == len)
		return true;
	return h[name_len] == ':' && valid_port(h + name_len + 1, len - name_len - 1);
}

/* Splits "https://HOST[:PORT][/PATH]" for the setting called name. */
static int split_https(const char *name, const char *url, struct https_url *u, struct rs_err *err)
{
	static const char scheme[] = "https://";

	if (!is_url_text(url))
		return rs_fail(err, EX_RS_CONFIG, 0,
			       "%s contains spaces, control or non-ASCII characters", name);
	if (strchr(url, '@'))
		return rs_fail(err, EX_RS_CONFIG, 0,
			       "%s must not contain user information (user@host): credentials "
			       "go in GITHUB_TOKEN_FILE or the GITHUB_APP_* settings",
			       name);
	if (strncasecmp(url, "http://", 7) == 0)
		return rs_fail(err, EX_RS_CONFIG, 0,
			       "%s=%s: must be https:// (http would send the credentials in "
			       "clear text)",
			       name, cfg_quote(url).s);
	if (strncasecmp(url, scheme, sizeof(scheme) - 1) != 0)
		return rs_fail(err, EX_RS_CONFIG, 0, "%s=%s: not an https:// URL", name,
			       cfg_quote(url).s);
	if (strpbrk(url, "?#"))
		return rs_fail(err, EX_RS_CONFIG, 0,
			       "%s=%s: a query string or fragment is not allowed", name,
			       cfg_quote(url).s);

	const char *host = url + sizeof(scheme) - 1;
	size_t host_len = strcspn(host, "/");
	if (!valid_host(host, host_len))
		return rs_fail(err, EX_RS_CONFIG, 0, "%s=%s: no valid host after https://", name,
			       cfg_quote(url).s);
	u->host = strndup(host, host_len);
	if (!u->host)
		return out_of_memory(err);
	for (char *c = u->host; *c; c++)
		*c = (char)tolower((unsigned char)*c);
	u->path = host + host_len;
	return 0;
}

/* GitHub's owner, repository and enterprise slugs. */
static bool valid_slug(const char *s, size_t len)
{
	if (len == 0 || (len == 1 && s[0] == '.') || (len == 2 && s[0] == '.' && s[1] == '.'))
		return false;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		if (!isalnum(c) && c != '.' && c != '_' && c != '-')
			return false;
	}
	return true;
}

static bool slug_is(const char *s, size_t len, const char *word)
{
	return len == strlen(word) && strncasecmp(s, word, len) == 0;
}

static bool is_dotcom(const char *host)
{
	for (size_t i = 0; i < ARRAY_SIZE(dotcom_hosts); i++)
		if (strcmp(host, dotcom_hosts[i]) == 0)
			return true;
	return false;
}

struct segment {
	const char *s;
	size_t len;
};

/* "/a/b/" → {a, b}. Returns the number of segments (at most max are stored), or -1 for an
 * empty segment ("//"). One trailing slash is allowed. */
static int split_path(const char *path, struct segment *seg, int max)
{
	int n = 0;

	while (*path == '/') {
		path++;
		size_t len = strcspn(path, "/");
		if (len == 0) {
			if (*path == '\0')
				break; /* the trailing slash */
			return -1;
		}
		if (n < max)
			seg[n] = (struct segment){ path, len };
		n++;
		path += len;
	}
	return n;
}

static int classify_path(const char *url, const char *path, struct gh_target *t, struct rs_err *err)
{
	struct segment seg[2];
	int n = split_path(path, seg, 2);

	if (n <= 0)
		return rs_fail(err, EX_RS_CONFIG, 0, "GITHUB_URL=%s: %s; " EXPECTED_FORMS,
			       cfg_quote(url).s,
			       n == 0 ? "no organization, repository or enterprise in the path"
				      : "empty path segment");
	if (n > 2)
		return rs_fail(err, EX_RS_CONFIG, 0,
			       "GITHUB_URL=%s: too many path segments; " EXPECTED_FORMS,
			       cfg_quote(url).s);
	for (int i = 0; i < n; i++)
		if (!valid_slug(seg[i].s, seg[i].len))
			return rs_fail(err, EX_RS_CONFIG, 0,
				       "GITHUB_URL=%s: %s is not a valid GitHub name "
				       "(letters, digits, '.', '_', '-')",
				       cfg_quote(url).s, cfg_quote_span(seg[i].s, seg[i].len).s);
	/* "enterprises" and "orgs" are reserved words in GitHub's URLs, never an org's name:
	 * https://github.com/orgs/X/... is an org's settings page pasted by mistake. */
	if (n == 1 && slug_is(seg[0].s, seg[0].len, "enterprises"))
		return rs_fail(err, EX_RS_CONFIG, 0,
			       "GITHUB_URL=%s: the enterprise slug is missing; " EXPECTED_FORMS,
			       cfg_quote(url).s);
	if (n == 2 && slug_is(seg[0].s, seg[0].len, "orgs"))
		return rs_fail(err, EX_RS_CONFIG, 0,
			       "GITHUB_URL=%s: for an organization use https://HOST/ORG",
			       cfg_quote(url).s);

	if (n == 2 && slug_is(seg[0].s, seg[0].len, "enterprises")) {
		t->scope = GH_SCOPE_ENTERPRISE;
		t->owner = strndup(seg[1].s, seg[1].len);
	} else if (n == 2) {
		t->scope = GH_SCOPE_REPO;
		t->owner = strndup(seg[0].s, seg[0].len);
		t->repo = strndup(seg[1].s, seg[1].len);
		if (!t->repo)
			return out_of_memory(err);
	} else {
		t->scope = GH_SCOPE_ORG;
		t->owner = strndup(seg[0].s, seg[0].len);
	}
	return t->owner ? 0 : out_of_memory(err);
}

/* GHE.com with data residency: SUBDOMAIN.ghe.com, one label before "ghe.com" (docs, "About
 * GitHub Enterprise Cloud with data residency"; reference §7.12). Its API is at
 * https://api.SUBDOMAIN.ghe.com, not under /api/v3. */
static bool is_ghe_com(const char *host)
{
	static const char suffix[] = ".ghe.com";
	size_t n = strlen(host), s = sizeof(suffix) - 1;
	if (n <= s || strcmp(host + n - s, suffix) != 0)
		return false;
	return memchr(host, '.', n - s) == NULL && memchr(host, ':', n) == NULL;
}

static int derive_bases(const char *host, struct gh_target *t, struct rs_err *err)
{
	t->ghes = !is_dotcom(host) && !is_ghe_com(host);
	if (is_ghe_com(host)) {
		if (asprintf(&t->web_base, "https://%s", host) < 0) {
			t->web_base = NULL;
			return out_of_memory(err);
		}
		if (asprintf(&t->api_base, "https://api.%s", host) < 0) {
			t->api_base = NULL;
			return out_of_memory(err);
		}
		return 0;
	}
	if (!t->ghes) {
		t->web_base = strdup("https://github.com");
		t->api_base = strdup("https://api.github.com");
		return t->web_base && t->api_base ? 0 : out_of_memory(err);
	}
	if (asprintf(&t->web_base, "https://%s", host) < 0) {
		t->web_base = NULL;
		return out_of_memory(err);
	}
	if (asprintf(&t->api_base, "https://%s/api/v3", host) < 0) {
		t->api_base = NULL;
		return out_of_memory(err);
	}
	return 0;
}

int gh_target_parse(const char *url, struct gh_target *target, struct rs_err *err)
{
	struct https_url u = { .path = "" };
	struct gh_target t = { 0 };

	if (split_https("GITHUB_URL", url, &u, err) < 0)
		return -1;
	char *host = u.host;
	int rc = -1;

	/* The API host pasted where the web URL belongs would otherwise pass for a GHES host. */
	if (strcmp(host, "api.github.com") == 0 ||
	    (strncmp(host, "api.", 4) == 0 && is_ghe_com(host + 4)))
		rs_fail(err, EX_RS_CONFIG, 0,
			"GITHUB_URL=%s: this is the API address; give the web URL "
			"(https://github.com/ORG ...), and GITHUB_API_URL if the API is elsewhere",
			cfg_quote(url).s);
	else if (classify_path(url, u.path, &t, err) == 0 && derive_bases(host, &t, err) == 0)
		rc = 0;
	free(host);
	if (rc < 0)
		gh_target_free(&t);
	else
		*target = t;
	return rc;
}

void gh_target_free(struct gh_target *target)
{
	free(target->web_base);
	free(target->owner);
	free(target->repo);
	free(target->api_base);
	*target = (struct gh_target){ 0 };
}

int gh_api_url_parse(const char *url, char **base, struct rs_err *err)
{
	struct https_url u = { .path = "" };

	if (split_https("GITHUB_API_URL", url, &u, err) < 0)
		return -1;
	size_t path_len = strlen(u.path);
	while (path_len > 0 && u.path[path_len - 1] == '/')
		path_len--;
	int rc = asprintf(base, "https://%s%.*s", u.host, (int)path_len, u.path);
	free(u.host);
	if (rc < 0) {
		*base = NULL;
		return out_of_memory(err);
	}
	return 0;
}
