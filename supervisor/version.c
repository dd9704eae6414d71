#include "version.h"

#include <curl/curl.h>
#include <jansson.h>
#include <openssl/crypto.h>
#include <seccomp.h>
#include <uv.h>

#ifndef RS_VERSION
#define RS_VERSION "unknown"
#endif
#ifndef RS_LIBCAP_VERSION
#define RS_LIBCAP_VERSION "unknown"
#endif

void version_print(FILE *out)
{
	const struct scmp_version *sv = seccomp_version();
	const curl_version_info_data *cv = curl_version_info(CURLVERSION_NOW);
	fprintf(out, "runner-supervisor %s\n", RS_VERSION);
	fprintf(out, "libuv %s\n", uv_version_string());
	fprintf(out, "libcurl %s (%s)\n", cv->version,
		cv->ssl_version ? cv->ssl_version : "no TLS");
	fprintf(out, "jansson %s\n", jansson_version_str());
	fprintf(out, "libseccomp %u.%u.%u\n", sv->major, sv->minor, sv->micro);
	/* libcap has no run-time version call: this is the version we were built against. */
	fprintf(out, "libcap %s (build)\n", RS_LIBCAP_VERSION);
	fprintf(out, "%s\n", OpenSSL_version(OPENSSL_VERSION));
}
