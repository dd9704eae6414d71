#include "names.h"

#include <stdbool.h>

#include <openssl/evp.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/utsname.h>

#define HASH_HEX 8

/* How much of name fits in max bytes without cutting a UTF-8 character in two: a name cut
 * mid-character is not UTF-8, and GitHub's JSON (json_pack) refuses it. */
static int utf8_prefix(const char *name, size_t max)
{
	size_t n = strnlen(name, max);
	if (n == max)
		while (n > 0 && ((unsigned char)name[n] & 0xC0) == 0x80)
			n--;
	return (int)n;
}

void runner_name_fit(const char *name, char *out)
{
	size_t len = strlen(name);
	if (len <= RUNNER_NAME_MAX) {
		memcpy(out, name, len + 1);
		return;
	}
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int md_len = 0;
	EVP_Digest(name, len, md, &md_len, EVP_sha256(), NULL);
	int keep = utf8_prefix(name, RUNNER_NAME_MAX - 1 - HASH_HEX);
	snprintf(out, RUNNER_NAME_MAX + 1, "%.*s-%02x%02x%02x%02x", keep, name, md[0], md[1], md[2],
		 md[3]);
}

void runner_name_suffixed(const char *name, uint32_t rnd, char *out)
{
	/* "-" and 6 hex digits */
	int keep = utf8_prefix(name, RUNNER_NAME_MAX - 7);
	snprintf(out, RUNNER_NAME_MAX + 1, "%.*s-%06x", keep, name, (unsigned)(rnd & 0xffffff));
}

const char *runner_arch_label(void)
{
	/* As the runner names them (actions/runner, src/Runner.Common/Constants.cs). */
	struct utsname u;
	if (uname(&u) == 0) {
		if (strcmp(u.machine, "aarch64") == 0 || strcmp(u.machine, "arm64") == 0)
			return "ARM64";
		if (strncmp(u.machine, "arm", 3) == 0)
			return "ARM";
	}
	return "X64";
}

void runner_born_label(time_t now, char out[BORN_LABEL_SIZE])
{
	/* Floored: the request came up to 59 s after the minute the label says (sweep.c). */
	long long minute = now > 0 ? (long long)now / 60 : 0;
	snprintf(out, BORN_LABEL_SIZE, BORN_LABEL_PREFIX "%lld", minute);
}

size_t runner_fleet_labels(const char *fleet_label, char *const *labels, size_t n, time_t now,
			   char born[BORN_LABEL_SIZE], const char *out[2])
{
	if (!fleet_label)
		return 0;
	bool listed = false;
	for (size_t i = 0; i < n; i++)
		listed |= strcasecmp(labels[i], fleet_label) == 0;
	size_t k = 0;
	if (!listed)
		out[k++] = fleet_label;
	runner_born_label(now, born);
	out[k++] = born;
	return k;
}

long long runner_born_minute(const char *label)
{
	size_t prefix = strlen(BORN_LABEL_PREFIX);
	if (!label || strncasecmp(label, BORN_LABEL_PREFIX, prefix) != 0 || !label[prefix])
		return -1;
	long long v = 0;
	for (const char *p = label + prefix; *p; p++) {
		/* Not isdigit(): it follows the locale, and a sign or a space is not ours either. */
		if (*p < '0' || *p > '9')
			return -1;
		int d = *p - '0';
		if (v > (BORN_MINUTE_MAX - d) / 10)
			return -1;
		v = v * 10 + d;
	}
	return v;
}
