#include "names.h"

#include <openssl/evp.h>
#include <stdio.h>
#include <string.h>
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
