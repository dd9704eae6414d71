/* The log line: log.c's formatting of text that comes from outside (a job's output lines, a
 * message GitHub sent, a file name met while wiping) into one JSON object or one text line,
 * with every registered secret redacted, invalid UTF-8 replaced, and (text format) control
 * characters escaped so that a line cannot forge another or drive the terminal.
 *
 * Input: parts separated by NUL bytes: a token (registered as a secret "ghs_" + its letters
 * and digits, as GitHub's tokens look), a PEM-like secret's body (registered with its
 * newlines), the event name, the message, and a string field's value. The level, the format
 * and an integer field come from a hash of the input. */
#include <ctype.h>
#include <jansson.h>

#include "fuzz.h"
#include "log.h"

static char *part(const uint8_t **p, const uint8_t *end)
{
	const uint8_t *start = *p;
	while (*p < end && **p)
		(*p)++;
	char *s = fuzz_cstr(start, (size_t)(*p - start));
	if (*p < end)
		(*p)++;
	return s;
}

/* "ghs_" and the letters and digits of s: a token the logger must never print. */
static char *token_from(const char *s)
{
	char *t = malloc(strlen(s) + 5);
	FUZZ_CHECK(t != NULL);
	char *o = t + sprintf(t, "ghs_");
	for (; *s; s++)
		if (isalnum((unsigned char)*s))
			*o++ = *s;
	*o = '\0';
	return t;
}

static void check_json_value(json_t *v, const char *const *secrets, size_t n)
{
	if (!json_is_string(v))
		return;
	for (size_t i = 0; i < n; i++)
		FUZZ_CHECK(!strstr(json_string_value(v), secrets[i]));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *p = data, *end = data + size;
	char *raw_token = part(&p, end), *pem_body = part(&p, end), *event = part(&p, end),
	     *msg = part(&p, end), *value = part(&p, end);
	uint64_t h = fuzz_hash(data, size);

	char *token = token_from(raw_token);
	char *pem = NULL;
	FUZZ_CHECK(asprintf(&pem,
			    "-----BEGIN RSA PRIVATE KEY-----\n%s\n-----END RSA PRIVATE KEY-----",
			    pem_body) > 0);
	const char *secrets[2];
	size_t n_secrets = 0;
	/* Long enough not to occur by chance in what the logger adds itself. */
	if (strlen(token) >= 12) {
		FUZZ_CHECK(log_add_secret(token) == 0);
		secrets[n_secrets++] = token;
	}
	FUZZ_CHECK(log_add_secret(pem) == 0);
	secrets[n_secrets++] = pem;

	bool text = h & 1;
	log_set_format(text ? LOG_FORMAT_TEXT : LOG_FORMAT_JSON);
	enum log_level level = (enum log_level)((h >> 1) % 4);
	char *line =
	    log_format_line(level, event,
			    LOG_FIELDS(LOG_STR("value", value), LOG_INT("n", (long long)(h >> 3)),
				       LOG_BOOL("flag", h & 4), LOG_STR("none", NULL)),
			    msg);
	FUZZ_CHECK(line != NULL);
	for (size_t i = 0; i < n_secrets; i++)
		FUZZ_CHECK(!strstr(line, secrets[i]));
	if (text) {
		/* One line that a terminal shows as it is. */
		for (const unsigned char *c = (const unsigned char *)line; *c; c++)
			FUZZ_CHECK((*c >= 0x20 || *c == '\t') && *c != 0x7f);
	} else {
		json_error_t jerr;
		json_t *j = json_loads(line, 0, &jerr);
		FUZZ_CHECK(json_is_object(j));
		FUZZ_CHECK(json_is_string(json_object_get(j, "msg")));
		FUZZ_CHECK(json_is_string(json_object_get(j, "event")));
		FUZZ_CHECK(json_is_string(json_object_get(j, "value")));
		/* Decoded, the values hold no secret either (a PEM key's newlines included). */
		const char *k;
		json_t *v;
		json_object_foreach(j, k, v)
		{
			check_json_value(v, secrets, n_secrets);
		}
		json_decref(j);
	}
	char *redacted = log_redact(msg);
	FUZZ_CHECK(redacted != NULL);
	for (size_t i = 0; i < n_secrets; i++)
		FUZZ_CHECK(!strstr(redacted, secrets[i]));

	free(redacted);
	free(line);
	log_forget_secrets();
	free(pem);
	free(token);
	free(raw_token);
	free(pem_body);
	free(event);
	free(msg);
	free(value);
	return 0;
}
