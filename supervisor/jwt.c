#include "jwt.h"

#include <errno.h>
#include <jansson.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base64.h"

EVP_PKEY *jwt_load_key(const char *path, struct rs_err *err)
{
	FILE *f = fopen(path, "re");
	if (!f) {
		rs_fail(err, EX_RS_CONFIG, errno, "GITHUB_APP_PRIVATE_KEY_FILE %s: cannot open",
			path);
		return NULL;
	}
	/* PEM_read_PrivateKey reads both the traditional (PKCS#1) and the PKCS#8 forms. */
	EVP_PKEY *key = PEM_read_PrivateKey(f, NULL, NULL, (void *)"");
	fclose(f);
	ERR_clear_error();
	if (!key) {
		rs_fail(
		    err, EX_RS_CONFIG, 0,
		    "GITHUB_APP_PRIVATE_KEY_FILE %s: not a PEM private key (expected the .pem file "
		    "GitHub generated for the App)",
		    path);
		return NULL;
	}
	if (EVP_PKEY_base_id(key) != EVP_PKEY_RSA) {
		EVP_PKEY_free(key);
		rs_fail(
		    err, EX_RS_CONFIG, 0,
		    "GITHUB_APP_PRIVATE_KEY_FILE %s: not an RSA key (GitHub Apps sign with RS256)",
		    path);
		return NULL;
	}
	return key;
}

static bool all_digits(const char *s)
{
	if (!*s)
		return false;
	for (; *s; s++)
		if (*s < '0' || *s > '9')
			return false;
	return true;
}

static char *encode_json(json_t *j)
{
	char *s = json_dumps(j, JSON_COMPACT);
	json_decref(j);
	if (!s)
		return NULL;
	char *enc = b64url_encode((const unsigned char *)s, strlen(s));
	free(s);
	return enc;
}

static char *sign(EVP_PKEY *key, const char *input)
{
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	unsigned char *sig = NULL;
	size_t sig_len = 0;
	char *out = NULL;
	if (ctx && EVP_DigestSignInit(ctx, NULL, EVP_sha256(), NULL, key) == 1 &&
	    EVP_DigestSign(ctx, NULL, &sig_len, (const unsigned char *)input, strlen(input)) == 1 &&
	    (sig = malloc(sig_len)) &&
	    EVP_DigestSign(ctx, sig, &sig_len, (const unsigned char *)input, strlen(input)) == 1)
		out = b64url_encode(sig, sig_len);
	EVP_MD_CTX_free(ctx);
	free(sig);
	ERR_clear_error();
	return out;
}

char *jwt_sign_rs256(EVP_PKEY *key, const char *app, time_t now, struct rs_err *err)
{
	json_t *iss = all_digits(app) ? json_integer(strtoll(app, NULL, 10)) : json_string(app);
	char *header = encode_json(json_pack("{s:s,s:s}", "alg", "RS256", "typ", "JWT"));
	char *claims =
	    encode_json(json_pack("{s:I,s:I,s:o}", "iat", (json_int_t)(now - JWT_IAT_BACKDATE_S),
				  "exp", (json_int_t)(now + JWT_LIFETIME_S), "iss", iss));
	char *input = NULL, *sig = NULL, *token = NULL;
	if (header && claims && asprintf(&input, "%s.%s", header, claims) >= 0 &&
	    (sig = sign(key, input)) && asprintf(&token, "%s.%s", input, sig) < 0)
		token = NULL;
	if (!token)
		rs_fail(err, EX_RS_SOFTWARE, 0, "signing the GitHub App JWT failed");
	free(header);
	free(claims);
	free(input);
	free(sig);
	return token;
}
