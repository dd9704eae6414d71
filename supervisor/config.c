/* Configuration: the settings table, the command line, and the checks each command needs.
 *
 * Every setting is an environment variable and the same-named flag (GITHUB_URL <->
 * --github-url); a flag wins. An empty variable counts as unset, because Kubernetes renders
 * `value: ""` for every optional value a template left blank; an empty flag, on the other
 * hand, is a typo worth reporting. Values are parsed and range-checked by cfg_load();
 * what depends on the filesystem or the user database is checked by cfg_validate(), and
 * only for the command that needs it. */

#include "config.h"
#include "sandbox.h"

#include <ctype.h>
#include <jansson.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pwd.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "names.h"
#include "util.h"

/* Table callbacks share one signature; not every one needs every argument. */
#define _unused_ __attribute__((unused))

/* The ARC/JIT blob is a runner credential: read from the environment only, never copied
 * into cfg and never printed. */
#define JITCONFIG_ENV "ACTIONS_RUNNER_INPUT_JITCONFIG"

#define WEEK_S 604800LL
#define DAY_S  86400LL
#define HOUR_S 3600LL
/* GitHub ids travel as JSON numbers, which are exact up to 2^53. */
#define MAX_GITHUB_ID (1LL << 53)
/* Explicit names only: a longer pod name ($HOSTNAME) is shortened by whoever registers. */
#define MAX_RUNNER_NAME 64
/* actions/runner's config validation (src/Runner.Listener/Configuration/Validators.cs). */
#define MAX_LABEL 256
/* The API takes at most 100 labels, and the runner's own self-hosted, Linux, ARCH come first. */
#define MAX_LABELS     97
#define MAX_GROUP_NAME 255
/* SUPERVISOR_FLEET: its label, rs-fleet-NAME, stays short and unambiguous. */
#define MAX_FLEET          40
#define FLEET_LABEL_PREFIX "rs-fleet-"
/* (uid_t)-1 means "leave unchanged" to setresuid(2): never a real user. */
#define MAX_UID 4294967294LL

static int out_of_memory(struct rs_err *err)
{
	return rs_fail(err, EX_RS_SOFTWARE, ENOMEM, "configuration");
}

/* ---- quoting values in messages ------------------------------------------------------ */

/* Values that must not reach a log even when they are in the wrong place. */
static const char *const secret_prefixes[] = {
	"ghp_",        /* classic PAT */
	"github_pat_", /* fine-grained PAT */
	"gho_",        /* OAuth token */
	"ghu_",        /* App user-to-server token */
	"ghs_",        /* App installation token */
	"ghr_",        /* refresh token */
	"-----BEGIN",  /* a PEM key pasted where its file name belongs */
	"eyJ",         /* base64 of '{"': a JWT, or the JIT config */
};

static bool looks_secret(const char *v, size_t len)
{
	/* Anywhere in the value: " ghp_...", "Bearer ghp_..." and "token: ghs_..." too. */
	for (size_t i = 0; i < ARRAY_SIZE(secret_prefixes); i++)
		if (memmem(v, len, secret_prefixes[i], strlen(secret_prefixes[i])))
			return true;
	return false;
}

static struct cfg_quoted quote_span(const char *v, size_t len, char mark)
{
	struct cfg_quoted q;
	const size_t room = sizeof(q.s) - 8; /* keeps space for an escape, "...", mark, NUL */
	size_t o = 0, i;

	if (looks_secret(v, len)) {
		snprintf(q.s, sizeof(q.s), "(value not shown: it looks like a secret)");
		return q;
	}

	q.s[o++] = mark;
	for (i = 0; i < len && o < room; i++) {
		unsigned char c = (unsigned char)v[i];
		if (c < 0x20 || c == 0x7f || c == '\\' || c == (unsigned char)mark)
			o += (size_t)snprintf(q.s + o, sizeof(q.s) - o, "\\x%02x", c);
		else
			q.s[o++] = (char)c;
	}
	if (i < len) {
		memcpy(q.s + o, "...", 3);
		o += 3;
	}
	q.s[o++] = mark;
	q.s[o] = '\0';
	return q;
}

struct cfg_quoted cfg_quote(const char *value)
{
	return quote_span(value, strlen(value), '"');
}

struct cfg_quoted cfg_quote_span(const char *v, size_t len)
{
	return quote_span(v, len, '"');
}

/* What GitHub's JSON carries (the name, labels, group, work folder) must be UTF-8: jansson
 * refuses anything else, and the registration would fail as an internal error. */
static int check_utf8(const char *name, const char *v, size_t len, struct rs_err *err)
{
	json_t *j = json_stringn(v, len);
	if (j) {
		json_decref(j);
		return 0;
	}
	return rs_fail(err, EX_RS_CONFIG, 0, "%s=%s: not UTF-8 (GitHub's API takes UTF-8 only)",
		       name, quote_span(v, len, '"').s);
}

/* ---- small checks -------------------------------------------------------------------- */

static bool has_control(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			return true;
	return false;
}

static bool has_space_or_control(const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if (isspace((unsigned char)s[i]) || iscntrl((unsigned char)s[i]))
			return true;
	return false;
}

static bool all_digits(const char *s, size_t len)
{
	if (len == 0)
		return false;
	for (size_t i = 0; i < len; i++)
		if (!isdigit((unsigned char)s[i]))
			return false;
	return true;
}

enum number_rc { NUMBER_OK, NUMBER_MALFORMED, NUMBER_OUT_OF_RANGE };

/* Decimal only: no sign, no spaces, no "0x", no trailing junk; overflow is out of range. */
static enum number_rc whole_number(const char *s, size_t len, long long min, long long max,
				   long long *out)
{
	if (!all_digits(s, len))
		return NUMBER_MALFORMED;
	long long n = 0;
	for (size_t i = 0; i < len; i++) {
		int digit = s[i] - '0';
		if (n > (LLONG_MAX - digit) / 10)
			return NUMBER_OUT_OF_RANGE;
		n = n * 10 + digit;
	}
	if (n < min || n > max)
		return NUMBER_OUT_OF_RANGE;
	*out = n;
	return NUMBER_OK;
}

/* Paths a setting names: absolute, because the supervisor's working directory means
 * nothing to an operator, and one line, because they are logged. */
static int check_path(const char *name, const char *path, struct rs_err *err)
{
	if (path[0] != '/')
		return rs_fail(err, EX_RS_CONFIG, 0, "%s=%s: not an absolute path", name,
			       cfg_quote(path).s);
	if (has_control(path))
		return rs_fail(err, EX_RS_CONFIG, 0,
			       "%s=%s: contains a newline or control character", name,
			       cfg_quote(path).s);
	if (strlen(path) >= PATH_MAX)
		return rs_fail(err, EX_RS_CONFIG, 0, "%s=%s: longer than PATH_MAX", name,
			       cfg_quote(path).s);
	return 0;
}

/* "/", "//", "/./." ...: a directory that is about to be emptied must not be one of these. */
static bool is_filesystem_root(const char *path)
{
	for (const char *p = path; *p; p++)
		if (*p != '/' &&
		    !(*p == '.' && p > path && p[-1] == '/' && (p[1] == '/' || p[1] == '\0')))
			return false;
	return true;
}

static bool has_dotdot(const char *path)
{
	for (const char *p = strstr(path, ".."); p; p = strstr(p + 1, ".."))
		if ((p == path || p[-1] == '/') && (p[2] == '/' || p[2] == '\0'))
			return true;
	return false;
}

static int set_string(char **field, const char *value, struct rs_err *err)
{
	char *copy = strdup(value);
	if (!copy)
		return out_of_memory(err);
	free(*field);
	*field = copy;
	return 0;
}

static void free_strv(char ***v, size_t *n)
{
	for (char **p = *v; p && *p; p++)
		free(*p);
	free(*v);
	*v = NULL;
	*n = 0;
}

/* ---- the settings table -------------------------------------------------------------- */

struct setting;
typedef int (*parse_fn)(struct rs_config *cfg, const struct setting *s, const char *value,
			struct rs_err *err);
/* Runs after every setting is parsed, for defaults that depend on other settings or on the
 * machine; given tells whether the setting was set. */
typedef int (*finish_fn)(struct rs_config *cfg, bool given, char **envp, struct rs_err *err);

struct enum_name {
	const char *name;
	int value;
};

struct setting {
	const char *env;
	const char *flag;
	const char *alias;         /* a second flag, or NULL */
	const char *shown_default; /* the --help column; the README's table says the same */
	const char *help;
	parse_fn parse;
	size_t field;       /* offsetof(struct rs_config, ...), for the generic parsers */
	long long min, max; /* numbers */
	const struct enum_name *names; /* enums, NULL-terminated */
	const char *fallback;          /* fed to parse when unset; NULL: none, or finish decides */
	finish_fn finish;
};

static char **string_field(struct rs_config *cfg, const struct setting *s)
{
	return (char **)((char *)cfg + s->field);
}

static long long *number_field(struct rs_config *cfg, const struct setting *s)
{
	return (long long *)((char *)cfg + s->field);
}

static int parse_path(struct rs_config *cfg, const struct setting *s, const char *value,
		      struct rs_err *err)
{
	if (check_path(s->env, value, err) < 0)
		return -1;
	return set_string(string_field(cfg, s), value, err);
}

static int parse_number(struct rs_config *cfg, const struct setting *s, const char *value,
			const char *unit, struct rs_err *err)
{
	switch (whole_number(value, strlen(value), s->min, s->max, number_field(cfg, s))) {
	case NUMBER_OK:
		return 0;
	case NUMBER_MALFORMED:
		return rs_fail(err, EX_RS_CONFIG, 0, "%s=%s: not a whole number%s (%lld-%lld)",
			       s->env, cfg_quote(value).s, unit, s->min, s->max);
	case NUMBER_OUT_OF_RANGE:
		break;
	}
	return rs_fail(err, EX_RS_CONFIG, 0, "%s=%s: out of range%s (%lld-%lld)", s->env,
		       cfg_quote(value).s, unit, s->min, s->max);
}

static int parse_seconds(struct rs_config *cfg, const struct setting *s, const char *value,
			 struct rs_err *err)
{
	return parse_number(cfg, s, value, " of seconds", err);
}

/* Bytes, as Kubernetes writes quantities: 536870912, 512Mi, 2Gi, 1G (decimal), 0. */
static int parse_bytes(struct rs_config *cfg, const struct setting *s, const char *value,
		       struct rs_err *err)
{
	static const struct {
		const char *suffix;
		long long factor;
	} units[] = { { "Ki", 1LL << 10 },   { "Mi", 1LL << 20 },      { "Gi", 1LL << 30 },
		      { "Ti", 1LL << 40 },   { "k", 1000LL },          { "M", 1000000LL },
		      { "G", 1000000000LL }, { "T", 1000000000000LL }, { "", 1 } };
	size_t digits = strspn(value, "0123456789");
	for (size_t i = 0; digits > 0 && digits <= 15 && i < ARRAY_SIZE(units); i++) {
		if (strcmp(value + digits, units[i].suffix) != 0)
			continue;
		long long n = strtoll(value, NULL, 10);
		if (n > s->max / units[i].factor)
			break;
		if (n * units[i].factor < s->min)
			return rs_fail(err, EX_RS_CONFIG, 0, "%s=%s: less than %lld bytes", s->env,
				       cfg_quote(value).s, s->min);
		*number_field(cfg, s) = n * units[i].factor;
		return 0;
	}
	return rs_fail(err, EX_RS_CONFIG, 0,
		       "%s=%s: not a size in bytes (a whole number, or with Ki, Mi, Gi, k, M, G)",
		       s->env, cfg_quote(value).s);
}

static int parse_id(struct rs_config *cfg, const struct setting *s, const char *value,
		    struct rs_err *err)
{
	return parse_number(cfg, s, value, "", err);
}

static int lookup_enum(const struct setting *s, const char *value, int *out, struct rs_err *err)
{
	char choices[64] = "";
	size_t used = 0;

	for (const struct enum_name *e = s->names; e->name; e++) {
		if (strcmp(value, e->name) == 0) {
			*out = e->value;
			return 0;
		}
		int n = snprintf(choices + used, sizeof(choices) - used, "%s%s",
				 e == s->names ? "" : ", ", e->name);
		if (n > 0 && (size_t)n < sizeof(choices) - used)
			used += (size_t)n;
	}
	return rs_fail(err, EX_RS_CONFIG, 0, "%s=%s: must be one of %s", s->env, cfg_quote(value).s,
		       choices);
}

static const struct enum_name sandbox_modes[] = {
	{ "strict", SBX_STRICT }, { "auto", SBX_AUTO }, { "off", SBX_OFF }, { NULL, 0 }
};
static const struct enum_name sandbox_profiles[] = { { "nnp", SBX_PROFILE_NNP },
						     { "userns-root", SBX_PROFILE_USERNS_ROOT },
						     { NULL, 0 } };
static const struct enum_name registration_modes[] = { { "jit", REG_JIT },
						       { "token", REG_TOKEN },
						       { NULL, 0 } };
static const struct enum_name job_roots[] = { { "off", 0 }, { "overlay", 1 }, { NULL, 0 } };
static const struct enum_name container_engines[] = { { "off", 0 }, { "podman", 1 }, { NULL, 0 } };
static const struct enum_name log_formats[] = { { "json", 1 }, { "text", 0 }, { NULL, 0 } };

static int parse_sandbox(struct rs_config *cfg, const struct setting *s, const char *value,
			 struct rs_err *err)
{
	int mode = 0;
	if (lookup_enum(s, value, &mode, err) < 0)
		return -1;
	cfg->sandbox = (enum sbx_mode)mode;
	return 0;
}

static int parse_profile(struct rs_config *cfg, const struct setting *s, const char *value,
			 struct rs_err *err)
{
	return lookup_enum(s, value, &cfg->sandbox_profile, err);
}

static int parse_limit(struct rs_config *cfg, const struct setting *s, const char *value,
		       struct rs_err *err)
{
	return parse_number(cfg, s, value, "", err);
}

static int finish_runner_user(struct rs_config *cfg, bool given, char **envp, struct rs_err *err)
{
	cfg->runner_user_given = given;
	return 0;
}

static int parse_registration(struct rs_config *cfg, const struct setting *s, const char *value,
			      struct rs_err *err)
{
	int mode = 0;
	if (lookup_enum(s, value, &mode, err) < 0)
		return -1;
	cfg->registration = (enum reg_mode)mode;
	return 0;
}

/* A setting of two names whose value is a bool field (FIELD): the name of value 1 sets it. */
static int parse_switch(struct rs_config *cfg, const struct setting *s, const char *value,
			struct rs_err *err)
{
	int on = 0;
	if (lookup_enum(s, value, &on, err) < 0)
		return -1;
	*(bool *)((char *)cfg + s->field) = on == 1;
	return 0;
}

static int parse_github_url(struct rs_config *cfg, _unused_ const struct setting *s,
			    const char *value, struct rs_err *err)
{
	gh_target_free(&cfg->target);
	if (gh_target_parse(value, &cfg->target, err) < 0)
		return -1;
	return set_string(&cfg->github_url, value, err);
}

static int parse_api_url(struct rs_config *cfg, _unused_ const struct setting *s, const char *value,
			 struct rs_err *err)
{
	char *base;
	if (gh_api_url_parse(value, &base, err) < 0)
		return -1;
	free(cfg->github_api_url);
	cfg->github_api_url = base;
	return 0;
}

/* cfg->github_api_url and cfg->target.api_base name the same base, whichever was given. */
static int finish_api_url(struct rs_config *cfg, bool given, _unused_ char **envp,
			  struct rs_err *err)
{
	if (!cfg->target.api_base)
		return 0;
	if (given)
		return set_string(&cfg->target.api_base, cfg->github_api_url, err);
	return set_string(&cfg->github_api_url, cfg->target.api_base, err);
}

/* A numeric App id, or a client id ("Iv23li..."), which GitHub accepts as the JWT's iss
 * since 2024-05. */
static int parse_app_id(struct rs_config *cfg, const struct setting *s, const char *value,
			struct rs_err *err)
{
	size_t len = strlen(value);
	bool ok = len <= 64;
	for (size_t i = 0; ok && i < len; i++)
		ok = isalnum((unsigned char)value[i]) || value[i] == '.';
	if (!ok)
		return rs_fail(err, EX_RS_CONFIG, 0,
			       "%s=%s: expected an App id (digits) or a client id (letters, digits "
			       "and '.', at most 64)",
			       s->env, cfg_quote(value).s);
	return set_string(&cfg->app_id, value, err);
}

static int parse_runner_name(struct rs_config *cfg, const struct setting *s, const char *value,
			     struct rs_err *err)
{
	size_t len = strlen(value);
	if (len > MAX_RUNNER_NAME)
		return rs_fail(err, EX_RS_CONFIG, 0, "%s=%s: longer than %d characters", s->env,
			       cfg_quote(value).s, MAX_RUNNER_NAME);
	if (has_space_or_control(value, len))
		return rs_fail(err, EX_RS_CONFIG, 0, "%s=%s: contains a space or control character",
			       s->env, cfg_quote(value).s);
	if (check_utf8(s->env, value, len, err) < 0)
		return -1;
	return set_string(&cfg->runner_name, value, err);
}

/* The value of name in envp, or NULL when unset or empty (see the top of this file). */
static const char *env_value(char **envp, const char *name)
{
	size_t len = strlen(name);

	for (; envp && *envp; envp++)
		if (strncmp(*envp, name, len) == 0 && (*envp)[len] == '=')
			return (*envp)[len + 1] ? *envp + len + 1 : NULL;
	return NULL;
}

/* Kubernetes sets HOSTNAME to the pod name; gethostname() says the same without it. */
static int finish_runner_name(struct rs_config *cfg, bool given, char **envp, struct rs_err *err)
{
	char host[HOST_NAME_MAX + 1];
	const char *name = env_value(envp, "HOSTNAME");

	if (given)
		return 0;
	if (!name) {
		if (gethostname(host, sizeof(host)) < 0)
			return rs_fail(err, EX_RS_CONFIG, errno,
				       "RUNNER_NAME is not set and the host name is unknown");
		if (host[0] == '\0')
			return rs_fail(err, EX_RS_CONFIG, 0,
				       "RUNNER_NAME is not set and the host name is empty");
		host[sizeof(host) - 1] = '\0';
		name = host;
	}
	return set_string(&cfg->runner_name, name, err);
}

/* RUNNER_LABELS: "a, b,c" → {"a", "b", "c"}; later case-insensitive duplicates are
 * dropped, because GitHub treats labels case-insensitively. */
static int add_label(struct rs_config *cfg, const struct setting *s, const char *all,
		     const char *label, size_t len, struct rs_err *err)
{
	if (len == 0)
		return rs_fail(err, EX_RS_CONFIG, 0,
			       "%s=%s: empty label (two commas, or one at an end)", s->env,
			       cfg_quote(all).s);
	if (len > MAX_LABEL)
		return rs_fail(err, EX_RS_CONFIG, 0, "%s: label %s is longer than %d characters",
			       s->env, quote_span(label, len, '"').s, MAX_LABEL);
	if (has_space_or_control(label, len))
		return rs_fail(err, EX_RS_CONFIG, 0,
			       "%s: label %s contains a space or control character", s->env,
			       quote_span(label, len, '"').s);
	if (check_utf8(s->env, label, len, err) < 0)
		return -1;
	for (char **kept = cfg->labels; *kept; kept++)
		if (strlen(*kept) == len && strncasecmp(*kept, label, len) == 0)
			return 0;
	if (cfg->n_labels == MAX_LABELS)
		return rs_fail(err, EX_RS_CONFIG, 0,
			       "%s: more than %d labels (GitHub takes 100, including self-hosted, "
			       "Linux and the architecture)",
			       s->env, MAX_LABELS);
	char *copy = strndup(label, len);
	if (!copy)
		return out_of_memory(err);
	cfg->labels[cfg->n_labels++] = copy;
	return 0;
}

static size_t count_char(const char *s, char c)
{
	size_t n = 0;
	for (; *s; s++)
		n += *s == c;
	return n;
}

static int parse_labels(struct rs_config *cfg, const struct setting *s, const char *value,
			struct rs_err *err)
{
	free_strv(&cfg->labels, &cfg->n_labels);
	cfg->labels = calloc(count_char(value, ',') + 2, sizeof(char *));
	if (!cfg->labels)
		return out_of_memory(err);
	for (const char *item = value;; item++) {
		size_t len = strcspn(item, ",");
		const char *end = item + len;
		while (item < end && isspace((unsigned char)*item))
			item++;
		while (end > item && isspace((unsigned char)end[-1]))
			end--;
		if (add_label(cfg, s, value, item, (size_t)(end - item), err) < 0)
			return -1;
		item = strchr(item, ',');
		if (!item)
			return 0;
	}
}

/* SUPERVISOR_FLEET: a name safe in a label, so that the label is the fleet's alone. */
static int parse_fleet(struct rs_config *cfg, const struct setting *s, const char *value,
		       struct rs_err *err)
{
	size_t len = strlen(value);
	if (len > MAX_FLEET ||
	    strspn(value, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-") !=
		len)
		return rs_fail(err, EX_RS_CONFIG, 0,
			       "%s=%s: a fleet name is 1 to %d letters, digits, '.', '_' or '-'",
			       s->env, cfg_quote(value).s, MAX_FLEET);
	free(cfg->fleet_label);
	cfg->fleet_label = NULL;
	if (set_string(&cfg->fleet, value, err) < 0)
		return -1;
	if (asprintf(&cfg->fleet_label, FLEET_LABEL_PREFIX "%s", value) < 0) {
		cfg->fleet_label = NULL;
		return out_of_memory(err);
	}
	return 0;
}

/* All digits: a group id; anything else: a name, resolved through the API later. */
static int parse_group(struct rs_config *cfg, const struct setting *s, const char *value,
		       struct rs_err *err)
{
	size_t len = strlen(value);

	free(cfg->runner_group);
	cfg->runner_group = NULL;
	if (all_digits(value, len))
		return parse_id(cfg, s, value, err);
	if (len > MAX_GROUP_NAME)
		return rs_fail(err, EX_RS_CONFIG, 0,
			       "%s=%s: a group name has at most %d characters", s->env,
			       cfg_quote(value).s, MAX_GROUP_NAME);
	if (check_utf8(s->env, value, len, err) < 0)
		return -1;
	if (has_control(value))
		return rs_fail(err, EX_RS_CONFIG, 0, "%s=%s: contains a control character", s->env,
			       cfg_quote(value).s);
	cfg->runner_group_id = 0;
	return set_string(&cfg->runner_group, value, err);
}

enum user_spec { USER_NAME, USER_IDS, USER_MALFORMED, USER_ID_RANGE };

/* "name", "uid" or "uid:gid"; *gid is -1 when not given. */
static enum user_spec parse_user_spec(const char *v, long long *uid, long long *gid)
{
	const char *colon = strchr(v, ':');
	size_t uid_len = colon ? (size_t)(colon - v) : strlen(v);

	*uid = *gid = -1;
	if (!all_digits(v, uid_len)) {
		if (colon || has_space_or_control(v, strlen(v)) || strlen(v) > LOGIN_NAME_MAX)
			return USER_MALFORMED;
		return USER_NAME;
	}
	enum number_rc rc = whole_number(v, uid_len, 0, MAX_UID, uid);
	if (rc == NUMBER_OK && colon)
		rc = whole_number(colon + 1, strlen(colon + 1), 0, MAX_UID, gid);
	if (rc == NUMBER_MALFORMED)
		return USER_MALFORMED;
	return rc == NUMBER_OK ? USER_IDS : USER_ID_RANGE;
}

static int parse_user(struct rs_config *cfg, const struct setting *s, const char *value,
		      struct rs_err *err)
{
	long long uid, gid;

	switch (parse_user_spec(value, &uid, &gid)) {
	case USER_NAME:
	case USER_IDS:
		return set_string(&cfg->runner_user, value, err);
	case USER_MALFORMED:
		return rs_fail(err, EX_RS_CONFIG, 0,
			       "%s=%s: expected a user name, a uid, or uid:gid", s->env,
			       cfg_quote(value).s);
	case USER_ID_RANGE:
		break;
	}
	return rs_fail(err, EX_RS_CONFIG, 0, "%s=%s: uid or gid out of range (0-%lld)", s->env,
		       cfg_quote(value).s, MAX_UID);
}

/* Colon-separated like PATH; empty items (a leading, trailing or doubled ':') are ignored. */
static int parse_hide_paths(struct rs_config *cfg, const struct setting *s, const char *value,
			    struct rs_err *err)
{
	free_strv(&cfg->hide_paths, &cfg->n_hide_paths);
	cfg->hide_paths = calloc(count_char(value, ':') + 2, sizeof(char *));
	if (!cfg->hide_paths)
		return out_of_memory(err);
	for (const char *item = value;; item++) {
		size_t len = strcspn(item, ":");
		if (len > 0) {
			char *path = strndup(item, len);
			if (!path)
				return out_of_memory(err);
			if (check_path(s->env, path, err) < 0) {
				free(path);
				return -1;
			}
			cfg->hide_paths[cfg->n_hide_paths++] = path;
		}
		item += len;
		if (*item == '\0')
			return 0;
	}
}

static int finish_workdir(struct rs_config *cfg, bool given, _unused_ char **envp,
			  struct rs_err *err)
{
	/* The work folder reaches GitHub in the JIT request (work_folder). */
	if (given)
		return check_utf8("RUNNER_WORKDIR", cfg->runner_workdir,
				  strlen(cfg->runner_workdir), err);
	if (check_utf8("RUNNER_ROOT", cfg->runner_root, strlen(cfg->runner_root), err) < 0)
		return -1;
	size_t len = strlen(cfg->runner_root);
	const char *sep = len > 0 && cfg->runner_root[len - 1] == '/' ? "" : "/";
	if (asprintf(&cfg->runner_workdir, "%s%s_work", cfg->runner_root, sep) < 0) {
		cfg->runner_workdir = NULL;
		return out_of_memory(err);
	}
	return 0;
}

/* Machine-read JSON in a pod, text for a person at a terminal. */
static int finish_log_format(struct rs_config *cfg, bool given, _unused_ char **envp,
			     _unused_ struct rs_err *err)
{
	if (!given)
		cfg->log_json = !isatty(STDERR_FILENO);
	return 0;
}

/* Kubernetes' terminationMessagePath: the summary lands in the pod's status when it exists. */
static int finish_termination_log(struct rs_config *cfg, bool given, _unused_ char **envp,
				  struct rs_err *err)
{
	static const char k8s_path[] = "/dev/termination-log";

	if (given || access(k8s_path, W_OK) < 0)
		return 0;
	return set_string(&cfg->termination_log, k8s_path, err);
}

/* One row per setting: edit the table, not the code below it. Order matters only for the
 * finish functions: RUNNER_WORKDIR's reads RUNNER_ROOT, GITHUB_API_URL's reads GITHUB_URL
 * (all parsing is done before the first finish runs). */
#define FIELD(f) .field = offsetof(struct rs_config, f)
static const struct setting settings[] = {
	{ "GITHUB_URL", "--github-url", NULL, "required unless a JIT blob is given",
	  "where the runner registers: https://github.com/ORG, .../OWNER/REPO, "
	  ".../enterprises/ENT, or a GHES host's equivalent",
	  .parse = parse_github_url },
	{ "GITHUB_API_URL", "--github-api-url", NULL,
	  "https://api.github.com, https://api.SUB.ghe.com, or https://HOST/api/v3 for GHES",
	  "REST API base", .parse = parse_api_url, .finish = finish_api_url },
	{ "GITHUB_TOKEN_FILE", "--github-token-file", NULL, "-",
	  "file holding a personal access token", .parse = parse_path, FIELD(token_file) },
	{ "GITHUB_APP_ID", "--github-app-id", NULL, "-", "GitHub App id or client id",
	  .parse = parse_app_id },
	{ "GITHUB_APP_PRIVATE_KEY_FILE", "--github-app-private-key-file", NULL, "-",
	  "GitHub App private key (PEM file)", .parse = parse_path, FIELD(app_key_file) },
	{ "GITHUB_APP_INSTALLATION_ID", "--github-app-installation-id", NULL, "looked up",
	  "GitHub App installation id", .parse = parse_id, FIELD(app_installation_id), .min = 1,
	  .max = MAX_GITHUB_ID },
	{ "GITHUB_CA_FILE", "--github-ca-file", NULL, "system store",
	  "extra CA bundle (PEM) for the API", .parse = parse_path, FIELD(ca_file) },
	{ "RUNNER_NAME", "--runner-name", NULL, "$HOSTNAME", "runner name (at most 64 characters)",
	  .parse = parse_runner_name, .finish = finish_runner_name },
	{ "RUNNER_LABELS", "--runner-labels", NULL, "-",
	  "comma list of labels, added to self-hosted,Linux,ARCH", .parse = parse_labels },
	{ "RUNNER_GROUP", "--runner-group", NULL, "default group (id 1)", "runner group name or id",
	  .parse = parse_group, FIELD(runner_group_id), .min = 1, .max = MAX_GITHUB_ID,
	  .fallback = "1" },
	{ "RUNNER_ROOT", "--runner-root", NULL, "/home/runner",
	  "runner installation (holds bin/Runner.Listener)", .parse = parse_path,
	  FIELD(runner_root), .fallback = "/home/runner" },
	{ "RUNNER_WORKDIR", "--runner-workdir", NULL, "RUNNER_ROOT/_work",
	  "work folder, emptied after the job", .parse = parse_path, FIELD(runner_workdir),
	  .finish = finish_workdir },
	{ "RUNNER_USER", "--runner-user", NULL, "runner",
	  "user the runner runs as: name, uid or uid:gid", .parse = parse_user,
	  .fallback = "runner", .finish = finish_runner_user },
	{ "SUPERVISOR_SANDBOX", "--supervisor-sandbox", "--sandbox", "auto",
	  "isolation: strict (every layer, or exit 71), auto (what the pod allows), off",
	  .parse = parse_sandbox, .names = sandbox_modes, .fallback = "auto" },
	{ "SUPERVISOR_SANDBOX_PROFILE", "--supervisor-sandbox-profile", NULL, "nnp",
	  "nnp (the runner uid, no_new_privs, no capabilities) or userns-root (root inside its "
	  "own user namespace only, so sudo-free root steps work)",
	  .parse = parse_profile, .names = sandbox_profiles, .fallback = "nnp" },
	{ "SUPERVISOR_RLIMIT_NOFILE", "--supervisor-rlimit-nofile", NULL, "0",
	  "open-files limit for the runner and the job (0 = the pod's)", .parse = parse_limit,
	  FIELD(rlimit_nofile), .max = 1 << 20, .fallback = "0" },
	{ "SUPERVISOR_JOB_MEMORY_MAX", "--supervisor-job-memory-max", NULL,
	  "the container's limit minus 64Mi",
	  "memory limit of the job's own cgroup (e.g. 3Gi), where the cgroup is delegated: the "
	  "job's OOM then stays the job's",
	  .parse = parse_bytes, FIELD(job_memory_max), .max = 1LL << 50, .fallback = "0" },
	/* Off by default: it needs a user-namespaced pod, makes the job root of its sandbox, and
	 * its upper layers live in memory (SUPERVISOR_JOB_ROOT_SIZE). */
	{ "SUPERVISOR_JOB_ROOT", "--supervisor-job-root", NULL, "off",
	  "overlay: the job is root of a copy-on-write view of the image (sudo apt-get install "
	  "works), gone with the sandbox; needs a user-namespaced pod (hostUsers: false); off",
	  .parse = parse_switch, FIELD(job_root), .names = job_roots, .fallback = "off" },
	{ "SUPERVISOR_JOB_ROOT_SIZE", "--supervisor-job-root-size", NULL, "1Gi",
	  "memory for what the job writes to its root (a tmpfs, counted in the pod's memory)",
	  .parse = parse_bytes, FIELD(job_root_size), .min = 1 << 20, .max = 1LL << 50,
	  .fallback = "1Gi" },
	/* Off by default: the engine beside the job may mount and make namespaces, so the job
	 * reaches more of the kernel through it (README, "Containers"), and it costs a process
	 * and its start-up per job. */
	{ "SUPERVISOR_CONTAINERS", "--supervisor-containers", NULL, "off",
	  "podman: a rootless engine beside the job, its Docker API at /var/run/docker.sock in "
	  "the sandbox, its storage under the work folder (wiped); off",
	  .parse = parse_switch, FIELD(containers), .names = container_engines, .fallback = "off" },
	{ "SUPERVISOR_RLIMIT_NPROC", "--supervisor-rlimit-nproc", NULL, "0",
	  "process limit for the runner uid (0 = the pod's)", .parse = parse_limit,
	  FIELD(rlimit_nproc), .max = 1 << 22, .fallback = "0" },
	{ "SUPERVISOR_HIDE_PATHS", "--supervisor-hide-paths", NULL, "-",
	  "colon-separated paths made unreadable in the sandbox (besides the credential files "
	  "and the service-account token, which always are)",
	  .parse = parse_hide_paths },
	{ "SUPERVISOR_REGISTRATION", "--supervisor-registration", NULL, "jit",
	  "jit (generate-jitconfig) or token (registration token and configure)",
	  .parse = parse_registration, .names = registration_modes, .fallback = "jit" },
	{ "SUPERVISOR_IDLE_TIMEOUT", "--supervisor-idle-timeout", NULL, "0",
	  "seconds without a job before stopping, deregistering and exiting 0 (0 = never)",
	  .parse = parse_seconds, FIELD(idle_timeout_s), .max = WEEK_S, .fallback = "0" },
	{ "SUPERVISOR_JOB_TIMEOUT", "--supervisor-job-timeout", NULL, "0",
	  "seconds one job may run before it is cancelled (0 = no limit)", .parse = parse_seconds,
	  FIELD(job_timeout_s), .max = WEEK_S, .fallback = "0" },
	/* The real runner's stop (actions-runner-contract.md, "Signals"): step cancellation
	 * (SIGINT, 7.5 s, SIGTERM, 2.5 s: 10 s), the job's finalisation (up to 15 s budgeted),
	 * then up to 30 s to delete its session: 55 s. The Listener exits as soon as it is done:
	 * a long grace costs nothing when the stop is quick. */
	{ "SUPERVISOR_STOP_GRACE", "--supervisor-stop-grace", NULL, "55",
	  "seconds between SIGINT to the runner and SIGKILL of the sandbox (the runner's own stop "
	  "takes up to 10 s of step cancellation, the job's finalisation, and 30 s to delete its "
	  "session)",
	  .parse = parse_seconds, FIELD(stop_grace_s), .max = HOUR_S, .fallback = "55" },
	{ "SUPERVISOR_DRAIN_TIMEOUT", "--supervisor-drain-timeout", NULL, "0",
	  "on SIGTERM during a job, seconds to let it finish before cancelling",
	  .parse = parse_seconds, FIELD(drain_timeout_s), .max = WEEK_S, .fallback = "0" },
	{ "SUPERVISOR_REGISTER_DEADLINE", "--supervisor-register-deadline", NULL, "300",
	  "seconds before giving up registering (exit 69, 75 or 77)", .parse = parse_seconds,
	  FIELD(register_deadline_s), .min = 1, .max = DAY_S, .fallback = "300" },
	{ "SUPERVISOR_DEREGISTER_DEADLINE", "--supervisor-deregister-deadline", NULL, "30",
	  "seconds to confirm the deregistration after a SIGTERM (the kubelet's grace is "
	  "running)",
	  .parse = parse_seconds, FIELD(deregister_deadline_s), .min = 1, .max = HOUR_S,
	  .fallback = "30" },
	{ "SUPERVISOR_DEREGISTER_PATIENCE", "--supervisor-deregister-patience", NULL, "900",
	  "seconds to confirm the deregistration when nothing hurries the pod (a rate limit, a "
	  "runner left busy by its job); at least SUPERVISOR_DEREGISTER_DEADLINE",
	  .parse = parse_seconds, FIELD(deregister_patience_s), .min = 1, .max = DAY_S,
	  .fallback = "900" },
	{ "SUPERVISOR_FLEET", "--supervisor-fleet", NULL, "-",
	  "the fleet's name (letters, digits, . _ -, at most 40): its runners get the label "
	  "rs-fleet-NAME, and each pod removes ghosts of its fleet (offline, idle, older than "
	  "its own runner) when it ends",
	  .parse = parse_fleet },
	{ "SUPERVISOR_SWEEP_MAX", "--supervisor-sweep-max", NULL, "2",
	  "ghost runners of the fleet one pod deletes at most when it ends (0 = none)",
	  .parse = parse_limit, FIELD(sweep_max), .max = 20, .fallback = "2" },
	{ "SUPERVISOR_SWEEP_AFTER", "--supervisor-sweep-after", NULL, "120",
	  "seconds a pod's own registration must have lived before it judges an offline runner "
	  "of its fleet registered earlier a ghost: more than a pod takes to bring its runner "
	  "online",
	  .parse = parse_seconds, FIELD(sweep_after_s), .min = 1, .max = DAY_S, .fallback = "120" },
	{ "SUPERVISOR_LOG_FORMAT", "--supervisor-log-format", NULL, "json, or text on a terminal",
	  "json (one object per line) or text", .parse = parse_switch, FIELD(log_json),
	  .names = log_formats, .finish = finish_log_format },
	{ "SUPERVISOR_TERMINATION_LOG", "--supervisor-termination-log", NULL,
	  "/dev/termination-log if writable", "file that receives the final JSON summary",
	  .parse = parse_path, FIELD(termination_log), .finish = finish_termination_log },
};
#undef FIELD

#define N_SETTINGS ARRAY_SIZE(settings)

/* ---- command line ---------------------------------------------------------------------- */

static const struct command_name {
	const char *word;
	enum rs_command command;
} command_names[] = {
	{ "run", CMD_RUN },   { "exec", CMD_EXEC },     { "check", CMD_CHECK },
	{ "wipe", CMD_WIPE }, { "report", CMD_REPORT },
};

/* Options that belong to one command rather than to a setting. */
enum command_option_id { OPT_WORKDIR, OPT_ONLINE, OPT_FLEET };

static const struct command_option {
	const char *flag;
	enum rs_command command;
	bool takes_value;
	enum command_option_id id;
} command_options[] = {
	{ "--workdir", CMD_EXEC, true, OPT_WORKDIR },
	{ "--online", CMD_CHECK, false, OPT_ONLINE },
	{ "--fleet", CMD_REPORT, false, OPT_FLEET },
};

/* What the command line said, before the values are parsed. */
struct command_line {
	const char *values[N_SETTINGS]; /* from flags; the last one given wins */
	const char *workdir;
	const char *wipe_dir;
	const char *report_file;
};

static const char *command_word(enum rs_command command)
{
	for (size_t i = 0; i < ARRAY_SIZE(command_names); i++)
		if (command_names[i].command == command)
			return command_names[i].word;
	return "?";
}

/* --help and --version win wherever they are before "--", so that they work even when the
 * rest of the command line or the environment is wrong. */
static bool find_help_or_version(int argc, char **argv, enum rs_command *command)
{
	for (int i = 0; i < argc && strcmp(argv[i], "--") != 0; i++) {
		if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
			*command = CMD_HELP;
			return true;
		}
		if (strcmp(argv[i], "--version") == 0) {
			*command = CMD_VERSION;
			return true;
		}
	}
	return false;
}

static bool flag_is(const char *flag, const char *arg, size_t len)
{
	return flag && strlen(flag) == len && strncmp(flag, arg, len) == 0;
}

static int find_setting_flag(const char *arg, size_t len)
{
	for (size_t i = 0; i < N_SETTINGS; i++)
		if (flag_is(settings[i].flag, arg, len) || flag_is(settings[i].alias, arg, len))
			return (int)i;
	return -1;
}

static const struct command_option *find_command_option(const char *arg, size_t len)
{
	for (size_t i = 0; i < ARRAY_SIZE(command_options); i++)
		if (flag_is(command_options[i].flag, arg, len))
			return &command_options[i];
	return NULL;
}

/* "--flag=VALUE" or "--flag VALUE". A next word starting with "--" is another option, not
 * a value: "--runner-name --sandbox=off" is a forgotten value; "--flag=--x" still works. */
static int option_value(int argc, char **argv, int *i, size_t name_len, const char **value,
			struct rs_err *err)
{
	const char *arg = argv[*i];

	if (arg[name_len] == '=') {
		*value = arg + name_len + 1;
		return 0;
	}
	if (*i + 1 >= argc || strncmp(argv[*i + 1], "--", 2) == 0)
		return rs_fail(err, EX_RS_USAGE, 0, "option %s needs a value (see --help)",
			       quote_span(arg, name_len, '\'').s);
	*value = argv[++*i];
	return 0;
}

static int apply_command_option(struct rs_config *cfg, const struct command_option *o, int argc,
				char **argv, int *i, struct command_line *cl, struct rs_err *err)
{
	const char *arg = argv[*i];
	size_t len = strlen(o->flag);

	if (o->command != cfg->command)
		return rs_fail(err, EX_RS_USAGE, 0,
			       "option '%s' belongs to the %s command (see --help)", o->flag,
			       command_word(o->command));
	if (!o->takes_value && arg[len] == '=')
		return rs_fail(err, EX_RS_USAGE, 0, "option '%s' takes no value", o->flag);
	switch (o->id) {
	case OPT_WORKDIR:
		return option_value(argc, argv, i, len, &cl->workdir, err);
	case OPT_ONLINE:
		cfg->check_online = true;
		return 0;
	case OPT_FLEET:
		cfg->report_fleet = true;
		return 0;
	}
	return rs_fail(err, EX_RS_SOFTWARE, 0, "option '%s' has no handler", o->flag);
}

static int parse_option(struct rs_config *cfg, int argc, char **argv, int *i,
			struct command_line *cl, struct rs_err *err)
{
	const char *arg = argv[*i];
	/* Only the name is ever echoed: "--github-token=ghp_..." must not reach a log. */
	size_t len = strcspn(arg, "=");

	int setting = find_setting_flag(arg, len);
	if (setting >= 0)
		return option_value(argc, argv, i, len, &cl->values[setting], err);
	const struct command_option *o = find_command_option(arg, len);
	if (o)
		return apply_command_option(cfg, o, argc, argv, i, cl, err);
	if (flag_is("--actions-runner-input-jitconfig", arg, len))
		return rs_fail(err, EX_RS_USAGE, 0,
			       JITCONFIG_ENV " is read from the environment only: a credential "
					     "does not belong on a command line");
	return rs_fail(err, EX_RS_USAGE, 0, "unknown option %s (see --help)",
		       quote_span(arg, len, '\'').s);
}

static int take_positional(struct rs_config *cfg, struct command_line *cl, const char *arg,
			   struct rs_err *err)
{
	if (cfg->command == CMD_EXEC)
		return rs_fail(err, EX_RS_USAGE, 0, "exec: missing '--' before the command");
	if (cfg->command == CMD_REPORT && !cl->report_file) {
		cl->report_file = arg;
		return 0;
	}
	if (cfg->command != CMD_WIPE)
		return rs_fail(err, EX_RS_USAGE, 0, "%s: unexpected argument %s (see --help)",
			       command_word(cfg->command), cfg_quote(arg).s);
	if (cl->wipe_dir)
		return rs_fail(err, EX_RS_USAGE, 0, "wipe: unexpected argument %s (only one DIR)",
			       cfg_quote(arg).s);
	cl->wipe_dir = arg;
	return 0;
}

/* What follows "--": the command for exec, plain arguments for the others. */
static int take_operands(struct rs_config *cfg, int argc, char **argv, struct command_line *cl,
			 struct rs_err *err)
{
	if (cfg->command == CMD_EXEC) {
		if (argc == 0)
			return rs_fail(err, EX_RS_USAGE, 0, "exec: no command after '--'");
		cfg->exec_argv = argv;
		return 0;
	}
	for (int i = 0; i < argc; i++)
		if (take_positional(cfg, cl, argv[i], err) < 0)
			return -1;
	return 0;
}

static int parse_command_word(struct rs_config *cfg, const char *word, struct rs_err *err)
{
	for (size_t i = 0; i < ARRAY_SIZE(command_names); i++) {
		if (strcmp(word, command_names[i].word) == 0) {
			cfg->command = command_names[i].command;
			return 0;
		}
	}
	return rs_fail(err, EX_RS_USAGE, 0, "unknown command %s (see --help)", cfg_quote(word).s);
}

/* [COMMAND] [OPTIONS...] [-- ...]; the first word is the command unless it is an option. */
static int parse_command_line(struct rs_config *cfg, int argc, char **argv, struct command_line *cl,
			      struct rs_err *err)
{
	int i = 0;

	cfg->command = CMD_RUN;
	if (argc > 0 && argv[0][0] != '-') {
		if (parse_command_word(cfg, argv[0], err) < 0)
			return -1;
		i = 1;
	}
	for (; i < argc; i++) {
		const char *arg = argv[i];
		int rc;

		if (strcmp(arg, "--") == 0)
			return take_operands(cfg, argc - i - 1, argv + i + 1, cl, err);
		if (arg[0] == '-' && arg[1] != '\0')
			rc = parse_option(cfg, argc, argv, &i, cl, err);
		else
			rc = take_positional(cfg, cl, arg, err);
		if (rc < 0)
			return -1;
	}
	if (cfg->command == CMD_EXEC)
		return rs_fail(err, EX_RS_USAGE, 0, "exec: missing '--' before the command");
	return 0;
}

/* ---- loading --------------------------------------------------------------------------- */

static int load_settings(struct rs_config *cfg, const struct command_line *cl, char **envp,
			 struct rs_err *err)
{
	bool given[N_SETTINGS];

	for (size_t i = 0; i < N_SETTINGS; i++) {
		const struct setting *s = &settings[i];
		const char *value = cl->values[i];

		if (value && value[0] == '\0')
			return rs_fail(err, EX_RS_CONFIG, 0,
				       "%s: empty value given with %s (leave the flag out for the "
				       "default)",
				       s->env, s->flag);
		if (!value)
			value = env_value(envp, s->env);
		given[i] = value != NULL;
		if (!value)
			value = s->fallback;
		if (value && s->parse(cfg, s, value, err) < 0)
			return -1;
	}
	for (size_t i = 0; i < N_SETTINGS; i++)
		if (settings[i].finish && settings[i].finish(cfg, given[i], envp, err) < 0)
			return -1;
	return 0;
}

static int load_operands(struct rs_config *cfg, const struct command_line *cl, struct rs_err *err)
{
	if (cfg->command == CMD_WIPE && !cl->wipe_dir)
		return rs_fail(err, EX_RS_USAGE, 0, "wipe: missing DIR (see --help)");
	if (cl->wipe_dir && set_string(&cfg->wipe_dir, cl->wipe_dir, err) < 0)
		return -1;
	if (cl->report_file && set_string(&cfg->report_file, cl->report_file, err) < 0)
		return -1;
	if (!cl->workdir)
		return 0;
	if (cl->workdir[0] == '\0')
		return rs_fail(err, EX_RS_CONFIG, 0, "exec: empty value given with --workdir");
	if (check_path("exec --workdir", cl->workdir, err) < 0)
		return -1;
	return set_string(&cfg->exec_workdir, cl->workdir, err);
}

int cfg_load(struct rs_config *cfg, int argc, char **argv, char **envp, struct rs_err *err)
{
	struct command_line cl = { 0 };

	/* Set first, so that an error below is reported in the format the terminal expects. */
	cfg->log_json = !isatty(STDERR_FILENO);
	if (find_help_or_version(argc, argv, &cfg->command))
		return 0;
	if (parse_command_line(cfg, argc, argv, &cl, err) < 0)
		return -1;
	if (load_operands(cfg, &cl, err) < 0)
		return -1;
	cfg->has_jitconfig = env_value(envp, JITCONFIG_ENV) != NULL;
	return load_settings(cfg, &cl, envp, err);
}

/* ---- validation ------------------------------------------------------------------------ */

static int validate_auth(const struct rs_config *cfg, struct rs_err *err)
{
	bool pat = cfg->token_file != NULL;
	bool app = cfg->app_id || cfg->app_key_file;

	if (pat && app)
		return rs_fail(err, EX_RS_CONFIG, 0,
			       "set either GITHUB_TOKEN_FILE or "
			       "GITHUB_APP_ID/GITHUB_APP_PRIVATE_KEY_FILE, not both");
	if (cfg->app_id && !cfg->app_key_file)
		return rs_fail(err, EX_RS_CONFIG, 0,
			       "GITHUB_APP_PRIVATE_KEY_FILE is not set (GITHUB_APP_ID needs it)");
	if (cfg->app_key_file && !cfg->app_id)
		return rs_fail(err, EX_RS_CONFIG, 0,
			       "GITHUB_APP_ID is not set (GITHUB_APP_PRIVATE_KEY_FILE needs it)");
	if (cfg->app_installation_id && !cfg->app_id)
		return rs_fail(err, EX_RS_CONFIG, 0,
			       "GITHUB_APP_INSTALLATION_ID is set but GITHUB_APP_ID is not");
	if (!pat && !app && !cfg->has_jitconfig)
		return rs_fail(err, EX_RS_CONFIG, 0,
			       "no GitHub credentials: set GITHUB_TOKEN_FILE, or GITHUB_APP_ID and "
			       "GITHUB_APP_PRIVATE_KEY_FILE (required unless " JITCONFIG_ENV
			       " is given)");
	/* The enterprise runner endpoints take no App installation token (github-runner-api.md,
	 * permissions table). */
	if (app && cfg->target.scope == GH_SCOPE_ENTERPRISE)
		return rs_fail(err, EX_RS_CONFIG, 0,
			       "GITHUB_URL is an enterprise; GitHub Apps cannot manage enterprise "
			       "runners: use GITHUB_TOKEN_FILE with a classic PAT "
			       "(manage_runners:enterprise)");
	return 0;
}

/* Opened, not just stat'ed: access(2) answers for the real uid and misses ACLs and LSMs.
 * Nothing is read, so no byte of a secret can end up in a message. O_NONBLOCK keeps a FIFO
 * from hanging the start. */
static int check_readable_file(const char *name, const char *path, struct rs_err *err)
{
	struct stat st;
	_cleanup_(closep) int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);

	if (fd < 0)
		return rs_fail(err, EX_RS_CONFIG, errno, "%s=%s: cannot open", name,
			       cfg_quote(path).s);
	if (fstat(fd, &st) < 0)
		return rs_fail(err, EX_RS_CONFIG, errno, "%s=%s: cannot stat", name,
			       cfg_quote(path).s);
	if (S_ISDIR(st.st_mode))
		return rs_fail(err, EX_RS_CONFIG, 0, "%s=%s: is a directory, not a file", name,
			       cfg_quote(path).s);
	if (!S_ISREG(st.st_mode))
		return rs_fail(err, EX_RS_CONFIG, 0, "%s=%s: not a regular file", name,
			       cfg_quote(path).s);
	return 0;
}

static const struct {
	const char *name;
	size_t field;
} input_files[] = {
	{ "GITHUB_TOKEN_FILE", offsetof(struct rs_config, token_file) },
	{ "GITHUB_APP_PRIVATE_KEY_FILE", offsetof(struct rs_config, app_key_file) },
	{ "GITHUB_CA_FILE", offsetof(struct rs_config, ca_file) },
};

static int validate_github(const struct rs_config *cfg, struct rs_err *err)
{
	if (!cfg->github_url && !cfg->has_jitconfig)
		return rs_fail(err, EX_RS_CONFIG, 0,
			       "GITHUB_URL is not set (required unless " JITCONFIG_ENV
			       " is given)");
	if (validate_auth(cfg, err) < 0)
		return -1;
	for (size_t i = 0; i < ARRAY_SIZE(input_files); i++) {
		const char *path = *(char *const *)((const char *)cfg + input_files[i].field);
		if (path && check_readable_file(input_files[i].name, path, err) < 0)
			return -1;
	}
	return 0;
}

static int validate_directories(const struct rs_config *cfg, struct rs_err *err)
{
	struct stat st;

	if (stat(cfg->runner_root, &st) < 0)
		return rs_fail(err, EX_RS_CONFIG, errno, "RUNNER_ROOT=%s",
			       cfg_quote(cfg->runner_root).s);
	if (!S_ISDIR(st.st_mode))
		return rs_fail(err, EX_RS_CONFIG, 0, "RUNNER_ROOT=%s: not a directory",
			       cfg_quote(cfg->runner_root).s);
	/* The work folder is emptied after the job: never the installation, never "/". */
	if (is_filesystem_root(cfg->runner_workdir) ||
	    strcmp(cfg->runner_workdir, cfg->runner_root) == 0)
		return rs_fail(err, EX_RS_CONFIG, 0,
			       "RUNNER_WORKDIR=%s: is emptied after every job, so it must not be "
			       "/ or RUNNER_ROOT",
			       cfg_quote(cfg->runner_workdir).s);
	return 0;
}

/* getpwnam(3): 0, ENOENT, ESRCH, EBADF and EPERM all mean "not found". */
static int user_lookup_errno(int e)
{
	return e == ENOENT || e == ESRCH || e == EBADF || e == EPERM ? 0 : e;
}

static int resolve_runner_user(struct rs_config *cfg, struct rs_err *err)
{
	long long uid, gid;
	const struct passwd *pw;

	/* cfg_validate() runs before the event loop starts threads: getpw* are safe here. */
	switch (parse_user_spec(cfg->runner_user, &uid, &gid)) {
	case USER_NAME:
		errno = 0;
		pw = getpwnam(cfg->runner_user);
		if (!pw)
			return rs_fail(err, EX_RS_CONFIG, user_lookup_errno(errno),
				       "RUNNER_USER=%s: no such user",
				       cfg_quote(cfg->runner_user).s);
		cfg->runner_uid = pw->pw_uid;
		cfg->runner_gid = pw->pw_gid;
		break;
	case USER_IDS:
		/* A bare uid need not exist in /etc/passwd (images often run as 1001). */
		if (gid < 0) {
			pw = getpwuid((uid_t)uid);
			gid = pw ? (long long)pw->pw_gid : uid;
		}
		cfg->runner_uid = (uid_t)uid;
		cfg->runner_gid = (gid_t)gid;
		break;
	case USER_MALFORMED:
	case USER_ID_RANGE:
		return rs_fail(err, EX_RS_CONFIG, 0,
			       "RUNNER_USER=%s: expected a user name, a uid, or uid:gid",
			       cfg_quote(cfg->runner_user).s);
	}
	cfg->runner_user_resolved = true;
	return 0;
}

/* A directory that is emptied: absolute, and not the whole filesystem. */
static int check_emptied_dir(const char *name, const char *path, struct rs_err *err)
{
	if (check_path(name, path, err) < 0)
		return -1;
	if (is_filesystem_root(path) || has_dotdot(path))
		return rs_fail(err, EX_RS_CONFIG, 0,
			       "%s=%s: refusing to empty / or a path with '..'", name,
			       cfg_quote(path).s);
	return 0;
}

static int validate_exec(const struct rs_config *cfg, struct rs_err *err)
{
	if (!cfg->exec_argv || !cfg->exec_argv[0])
		return rs_fail(err, EX_RS_USAGE, 0, "exec: no command after '--'");
	if (cfg->exec_argv[0][0] == '\0')
		return rs_fail(err, EX_RS_USAGE, 0, "exec: the command is an empty word");
	if (cfg->exec_workdir)
		return check_emptied_dir("exec --workdir", cfg->exec_workdir, err);
	return 0;
}

/* The fleet's label and the born label (names.h) are two of the 100 GitHub takes; the born
 * label is the supervisor's alone: one set by hand would tell the sweep a false age. */
static int validate_fleet(const struct rs_config *cfg, struct rs_err *err)
{
	if (!cfg->fleet_label)
		return 0;
	size_t added = 2;
	for (size_t i = 0; i < cfg->n_labels; i++) {
		if (strcasecmp(cfg->labels[i], cfg->fleet_label) == 0)
			added = 1;
		if (strncasecmp(cfg->labels[i], BORN_LABEL_PREFIX, strlen(BORN_LABEL_PREFIX)) == 0)
			return rs_fail(err, EX_RS_CONFIG, 0,
				       "RUNNER_LABELS: %s: with SUPERVISOR_FLEET, the supervisor "
				       "sets the label " BORN_LABEL_PREFIX "T (its registration's "
				       "time) itself",
				       cfg_quote(cfg->labels[i]).s);
	}
	if (cfg->n_labels + added <= MAX_LABELS)
		return 0;
	return rs_fail(
	    err, EX_RS_CONFIG, 0,
	    "RUNNER_LABELS: more than %d labels with SUPERVISOR_FLEET's %s and " BORN_LABEL_PREFIX
	    "T (GitHub takes 100, including self-hosted, Linux and the architecture)",
	    (int)(MAX_LABELS - added), cfg->fleet_label);
}

int cfg_validate(struct rs_config *cfg, struct rs_err *err)
{
	switch (cfg->command) {
	case CMD_RUN:
	case CMD_CHECK:
		if (validate_github(cfg, err) < 0 || validate_directories(cfg, err) < 0 ||
		    validate_fleet(cfg, err) < 0)
			return -1;
		return resolve_runner_user(cfg, err);
	case CMD_EXEC:
		if (validate_exec(cfg, err) < 0)
			return -1;
		return cfg->runner_user_given ? resolve_runner_user(cfg, err) : 0;
	case CMD_WIPE:
		if (!cfg->wipe_dir)
			return rs_fail(err, EX_RS_USAGE, 0, "wipe: missing DIR (see --help)");
		return check_emptied_dir("wipe DIR", cfg->wipe_dir, err);
	case CMD_REPORT: /* reads a summary: no setting matters */
	case CMD_HELP:
	case CMD_VERSION:
		return 0;
	}
	return rs_fail(err, EX_RS_SOFTWARE, 0, "unknown command %d", (int)cfg->command);
}

void cfg_free(struct rs_config *cfg)
{
	free(cfg->github_url);
	gh_target_free(&cfg->target);
	free(cfg->github_api_url);
	free(cfg->token_file);
	free(cfg->app_id);
	free(cfg->app_key_file);
	free(cfg->ca_file);
	free(cfg->runner_name);
	free_strv(&cfg->labels, &cfg->n_labels);
	free(cfg->fleet);
	free(cfg->fleet_label);
	free(cfg->runner_group);
	free(cfg->runner_root);
	free(cfg->runner_workdir);
	free(cfg->runner_user);
	free_strv(&cfg->hide_paths, &cfg->n_hide_paths);
	free(cfg->termination_log);
	free(cfg->exec_workdir);
	free(cfg->wipe_dir);
	free(cfg->report_file);
	/* exec_argv points into argv: not ours. */
	*cfg = (struct rs_config){ 0 };
}

/* ---- help ------------------------------------------------------------------------------ */

static const struct {
	int code;
	const char *meaning;
} exit_codes[] = {
	{ EX_RS_OK, "the runner ran its job (whatever its result), or stopped cleanly and is "
		    "deregistered" },
	{ EX_RS_RUNNER_OUTDATED, "ARC mode only: what only a new spec fixes (an outdated runner; "
				 "64, 71, 77, 78), as the runner's own 7, which ARC's controller "
				 "marks Outdated" },
	{ EX_RS_USAGE, "bad command line" },
	{ EX_RS_DATAERR, "report: the input holds no runner-supervisor summary" },
	{ EX_RS_NOINPUT, "report: FILE cannot be read" },
	{ EX_RS_UNAVAILABLE, "GitHub unavailable past the registration deadline" },
	{ EX_RS_SOFTWARE, "internal error" },
	{ EX_RS_SANDBOX, "sandbox could not be set up (strict)" },
	{ EX_RS_IOERR, "wipe failed or could not be verified: the pod must not be reused" },
	{ EX_RS_TEMPFAIL, "temporary failure (rate limited past the deadline; the runner ended "
			  "before a job: ghost, session conflict, crash), or a deregistration "
			  "GitHub did not confirm" },
	{ EX_RS_OUTDATED, "the runner said it is outdated before any job (update or deprecation): "
			  "rebuild the image" },
	{ EX_RS_NOPERM, "credentials rejected (401, 403 that is not a rate limit, bad key)" },
	{ EX_RS_CONFIG, "configuration missing or invalid" },
};

static const char usage[] =
    "Usage: runner-supervisor [run] [OPTIONS]\n"
    "       runner-supervisor exec [--sandbox=MODE] [--workdir=DIR] [OPTIONS] -- CMD [ARG...]\n"
    "       runner-supervisor check [--online] [OPTIONS]\n"
    "       runner-supervisor wipe [OPTIONS] DIR\n"
    "       runner-supervisor report [--fleet] [FILE]\n"
    "       runner-supervisor --help | --version\n"
    "\n"
    "PID 1 of a GitHub Actions runner pod: one ephemeral runner, one job, then teardown,\n"
    "wipe and deregistration.\n"
    "\n"
    "Commands:\n"
    "  run     register an ephemeral runner, run one job in a sandbox, wipe, deregister\n"
    "          (the default)\n"
    "  exec    run CMD with the supervisor's PID-1 duties (reaping, signal forwarding,\n"
    "          teardown of what CMD leaves), DIR (created if missing) as its working\n"
    "          directory; no GitHub. Exit status: CMD's, or 128+signal\n"
    "  check   validate the configuration; --online also proves the credentials work and\n"
    "          prints the rate-limit budget (no registration made)\n"
    "  wipe    empty DIR safely (never follows a symlink, never leaves DIR's filesystem)\n"
    "  report  print a pod's summary (its termination message, or its JSON log) from FILE\n"
    "          or standard input as a paragraph; --fleet: one summary per line, a row per\n"
    "          pod and the totals\n"
    "\n"
    "OPTIONS are the settings below as flags, --flag=VALUE or --flag VALUE; a flag wins over\n"
    "the environment variable. An empty environment variable counts as unset.\n"
    "--sandbox=MODE is short for --supervisor-sandbox=MODE.\n";

void cfg_print_help(FILE *out)
{
	fputs(usage, out);
	fputs("\nSettings (environment variable, flag, default):\n", out);
	for (size_t i = 0; i < N_SETTINGS; i++)
		fprintf(out, "  %s  %s  [default: %s]  %s\n", settings[i].env, settings[i].flag,
			settings[i].shown_default, settings[i].help);
	fputs("  " JITCONFIG_ENV " (environment only, never a flag): a JIT runner config, as ARC\n"
	      "      passes it; the runner registers with it and no API call is made for that\n",
	      out);
	fputs("\nExit codes:\n", out);
	for (size_t i = 0; i < ARRAY_SIZE(exit_codes); i++)
		fprintf(out, "  %2d  %s\n", exit_codes[i].code, exit_codes[i].meaning);
}

bool cfg_is_own_variable(const char *name, size_t len)
{
	for (size_t i = 0; i < ARRAY_SIZE(settings); i++)
		if (strlen(settings[i].env) == len && strncmp(settings[i].env, name, len) == 0)
			return true;
	return false;
}
