/* The GitHub App JWT (reference §5): loading the App's key, and an RS256 token that GitHub
 * accepts — checked with OpenSSL against the key's public half. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "jwt.h"

/* 2023-11-14T22:13:20Z */
#define NOW 1700000000LL

/* Keys generated once for the whole group: RSA key generation is slow under ASan. */
static struct keys {
	char dir[64];
	EVP_PKEY *rsa;
	char pkcs1[128];    /* -----BEGIN RSA PRIVATE KEY----- */
	char pkcs8[128];    /* -----BEGIN PRIVATE KEY----- */
	char ec_pkcs8[128]; /* an EC key: a PEM private key, but not RSA */
	char ec_sec1[128];  /* -----BEGIN EC PRIVATE KEY----- */
	char pubkey[128];   /* -----BEGIN PUBLIC KEY-----: not a private key */
	char garbage[128];
	char truncated[128]; /* the PKCS#8 file cut in the middle of its base64 */
} k;

#define GARBAGE_MARKER "garbage-7Hq2Lm9Xw"

static void path_in(char *out, size_t size, const char *name)
{
	snprintf(out, size, "%s/%s", k.dir, name);
}

static int write_pem(const char *path, EVP_PKEY *key, int form)
{
	BIO *bio = BIO_new_file(path, "w");
	if (!bio)
		return -1;
	int ok = form == 1
		     ? PEM_write_bio_PrivateKey_traditional(bio, key, NULL, NULL, 0, NULL, NULL)
		 : form == 8 ? PEM_write_bio_PrivateKey(bio, key, NULL, NULL, 0, NULL, NULL)
			     : PEM_write_bio_PUBKEY(bio, key);
	BIO_free(bio);
	return ok == 1 ? 0 : -1;
}

static char *read_all(const char *path)
{
	FILE *f = fopen(path, "re");
	if (!f)
		return NULL;
	char *buf = calloc(1, 16384);
	size_t n = buf ? fread(buf, 1, 16383, f) : 0;
	fclose(f);
	if (buf)
		buf[n] = '\0';
	return buf;
}

static int write_text(const char *path, const char *text, size_t len)
{
	FILE *f = fopen(path, "we");
	if (!f)
		return -1;
	size_t n = fwrite(text, 1, len, f);
	return fclose(f) == 0 && n == len ? 0 : -1;
}

static int make_keys(void **state)
{
	snprintf(k.dir, sizeof(k.dir), "/tmp/test_jwt.XXXXXX");
	if (!mkdtemp(k.dir))
		return -1;
	path_in(k.pkcs1, sizeof(k.pkcs1), "pkcs1.pem");
	path_in(k.pkcs8, sizeof(k.pkcs8), "pkcs8.pem");
	path_in(k.ec_pkcs8, sizeof(k.ec_pkcs8), "ec-pkcs8.pem");
	path_in(k.ec_sec1, sizeof(k.ec_sec1), "ec-sec1.pem");
	path_in(k.pubkey, sizeof(k.pubkey), "public.pem");
	path_in(k.garbage, sizeof(k.garbage), "garbage.pem");
	path_in(k.truncated, sizeof(k.truncated), "truncated.pem");
	k.rsa = EVP_RSA_gen(2048);
	EVP_PKEY *ec = EVP_EC_gen("P-256");
	if (!k.rsa || !ec)
		return -1;
	int rc = write_pem(k.pkcs1, k.rsa, 1) | write_pem(k.pkcs8, k.rsa, 8) |
		 write_pem(k.ec_pkcs8, ec, 8) | write_pem(k.ec_sec1, ec, 1) |
		 write_pem(k.pubkey, k.rsa, 0);
	EVP_PKEY_free(ec);
	static const char garbage[] = "-----BEGIN NOTHING-----\n" GARBAGE_MARKER "\n\x01\x02\xff\n";
	rc |= write_text(k.garbage, garbage, sizeof(garbage) - 1);
	char *pem = read_all(k.pkcs8);
	if (!pem)
		return -1;
	rc |= write_text(k.truncated, pem, strlen(pem) / 2);
	free(pem);
	return rc;
}

static int remove_keys(void **state)
{
	const char *files[] = { k.pkcs1,  k.pkcs8,   k.ec_pkcs8, k.ec_sec1,
				k.pubkey, k.garbage, k.truncated };
	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++)
		unlink(files[i]);
	rmdir(k.dir);
	EVP_PKEY_free(k.rsa);
	return 0;
}

static void assert_file_starts_with(const char *path, const char *first_line)
{
	char *pem = read_all(path);
	assert_non_null(pem);
	assert_memory_equal(pem, first_line, strlen(first_line));
	free(pem);
}

/* No 16-character piece of any base64 line of the key file appears in msg. */
static void assert_no_key_material(const char *msg, const char *path)
{
	assert_null(strstr(msg, "BEGIN"));
	assert_null(strstr(msg, GARBAGE_MARKER));
	char *pem = read_all(path);
	assert_non_null(pem);
	for (char *line = strtok(pem, "\n"); line; line = strtok(NULL, "\n")) {
		if (strncmp(line, "-----", 5) == 0)
			continue;
		for (size_t off = 0; off + 16 <= strlen(line); off += 16) {
			char piece[17];
			memcpy(piece, line + off, 16);
			piece[16] = '\0';
			if (strstr(msg, piece))
				fail_msg("error message quotes key material: %s", piece);
		}
	}
	free(pem);
}

static void assert_key_rejected(const char *path)
{
	struct rs_err err = { 0 };
	assert_null(jwt_load_key(path, &err));
	assert_int_equal(err.exit_code, 78);
	assert_non_null(strstr(err.msg, "GITHUB_APP_PRIVATE_KEY_FILE"));
	assert_non_null(strstr(err.msg, path));
	assert_no_key_material(err.msg, path);
}

/* ---- jwt_load_key -------------------------------------------------------------------- */

static void load_accepts_a_pkcs1_rsa_key(void **state)
{
	assert_file_starts_with(k.pkcs1, "-----BEGIN RSA PRIVATE KEY-----\n");
	struct rs_err err = { 0 };
	EVP_PKEY *key = jwt_load_key(k.pkcs1, &err);
	assert_non_null(key);
	assert_int_equal(EVP_PKEY_base_id(key), EVP_PKEY_RSA);
	assert_int_equal(EVP_PKEY_eq(key, k.rsa), 1);
	EVP_PKEY_free(key);
}

static void load_accepts_a_pkcs8_rsa_key(void **state)
{
	assert_file_starts_with(k.pkcs8, "-----BEGIN PRIVATE KEY-----\n");
	struct rs_err err = { 0 };
	EVP_PKEY *key = jwt_load_key(k.pkcs8, &err);
	assert_non_null(key);
	assert_int_equal(EVP_PKEY_base_id(key), EVP_PKEY_RSA);
	assert_int_equal(EVP_PKEY_eq(key, k.rsa), 1);
	EVP_PKEY_free(key);
}

static void load_rejects_a_missing_file_naming_the_setting_and_path(void **state)
{
	char path[128];
	path_in(path, sizeof(path), "no-such-key.pem");
	struct rs_err err = { 0 };
	assert_null(jwt_load_key(path, &err));
	assert_int_equal(err.exit_code, 78);
	assert_int_equal(err.sys_errno, ENOENT);
	assert_non_null(strstr(err.msg, "GITHUB_APP_PRIVATE_KEY_FILE"));
	assert_non_null(strstr(err.msg, path));
}

static void load_rejects_a_garbage_file_without_quoting_it(void **state)
{
	assert_key_rejected(k.garbage);
}

static void load_rejects_a_truncated_key_without_quoting_it(void **state)
{
	assert_key_rejected(k.truncated);
}

static void load_rejects_an_ec_key(void **state)
{
	assert_file_starts_with(k.ec_pkcs8, "-----BEGIN PRIVATE KEY-----\n");
	assert_key_rejected(k.ec_pkcs8);
	struct rs_err err = { 0 };
	jwt_load_key(k.ec_pkcs8, &err);
	assert_non_null(strstr(err.msg, "RSA"));
}

static void load_rejects_an_ec_key_in_sec1_form(void **state)
{
	assert_file_starts_with(k.ec_sec1, "-----BEGIN EC PRIVATE KEY-----\n");
	assert_key_rejected(k.ec_sec1);
}

static void load_rejects_a_public_key(void **state)
{
	assert_file_starts_with(k.pubkey, "-----BEGIN PUBLIC KEY-----\n");
	assert_key_rejected(k.pubkey);
}

/* ---- jwt_sign_rs256 ------------------------------------------------------------------ */

struct token {
	char *text;
	char *parts[3]; /* base64url header, claims, signature */
};

static void split(struct token *t, char *text)
{
	assert_non_null(text);
	t->text = text;
	char *copy = strdup(text);
	assert_non_null(copy);
	char *dot1 = strchr(copy, '.');
	assert_non_null(dot1);
	char *dot2 = strchr(dot1 + 1, '.');
	assert_non_null(dot2);
	assert_null(strchr(dot2 + 1, '.'));
	*dot1 = *dot2 = '\0';
	t->parts[0] = strdup(copy);
	t->parts[1] = strdup(dot1 + 1);
	t->parts[2] = strdup(dot2 + 1);
	free(copy);
	for (int i = 0; i < 3; i++) {
		assert_non_null(t->parts[i]);
		assert_true(strlen(t->parts[i]) > 0);
	}
}

static void token_free(struct token *t)
{
	free(t->text);
	for (int i = 0; i < 3; i++)
		free(t->parts[i]);
}

static void sign_token(struct token *t, const char *app)
{
	struct rs_err err = { 0 };
	split(t, jwt_sign_rs256(k.rsa, app, (time_t)NOW, &err));
}

/* base64url (no padding) -> bytes, independent of the module under test. */
static unsigned char *b64url_dec(const char *in, size_t *len)
{
	size_t n = strlen(in);
	assert_true(n % 4 != 1);
	char *std = calloc(1, n + 4);
	unsigned char *out = calloc(1, n + 4);
	assert_non_null(std);
	assert_non_null(out);
	for (size_t i = 0; i < n; i++) {
		assert_true(in[i] != '+' && in[i] != '/' && in[i] != '=');
		std[i] = in[i] == '-' ? '+' : in[i] == '_' ? '/' : in[i];
	}
	size_t pad = (4 - n % 4) % 4;
	memset(std + n, '=', pad);
	int got = EVP_DecodeBlock(out, (unsigned char *)std, (int)(n + pad));
	free(std);
	assert_true(got >= 0);
	*len = (size_t)got - pad;
	out[*len] = '\0';
	return out;
}

static json_t *decode_json_part(const char *part)
{
	size_t len;
	unsigned char *text = b64url_dec(part, &len);
	json_error_t e;
	json_t *j = json_loadb((const char *)text, len, JSON_REJECT_DUPLICATES, &e);
	free(text);
	assert_non_null(j);
	assert_true(json_is_object(j));
	return j;
}

static char *b64url_enc(const char *s)
{
	size_t len = strlen(s);
	char *out = calloc(1, (len + 2) / 3 * 4 + 1);
	assert_non_null(out);
	int n = EVP_EncodeBlock((unsigned char *)out, (const unsigned char *)s, (int)len);
	while (n > 0 && out[n - 1] == '=')
		out[--n] = '\0';
	for (char *p = out; *p; p++)
		*p = *p == '+' ? '-' : *p == '/' ? '_' : *p;
	return out;
}

/* The key's public half only: what GitHub holds. */
static EVP_PKEY *public_half(EVP_PKEY *key)
{
	unsigned char *der = NULL;
	int len = i2d_PUBKEY(key, &der);
	assert_true(len > 0);
	const unsigned char *p = der;
	EVP_PKEY *pub = d2i_PUBKEY(NULL, &p, len);
	OPENSSL_free(der);
	assert_non_null(pub);
	return pub;
}

/* RS256: RSASSA-PKCS1-v1_5 with SHA-256 over "header.claims" (RFC 7518 §3.3). */
static int verify_rs256(const char *header, const char *claims, const char *sig_b64url)
{
	char *input = NULL;
	assert_true(asprintf(&input, "%s.%s", header, claims) > 0);
	size_t sig_len;
	unsigned char *sig = b64url_dec(sig_b64url, &sig_len);
	EVP_PKEY *pub = public_half(k.rsa);
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	EVP_PKEY_CTX *pctx = NULL;
	assert_non_null(ctx);
	assert_int_equal(EVP_DigestVerifyInit(ctx, &pctx, EVP_sha256(), NULL, pub), 1);
	assert_int_equal(EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PADDING), 1);
	int rc = EVP_DigestVerify(ctx, sig, sig_len, (const unsigned char *)input, strlen(input));
	EVP_MD_CTX_free(ctx);
	EVP_PKEY_free(pub);
	free(sig);
	free(input);
	return rc;
}

static void token_is_three_base64url_parts(void **state)
{
	struct token t;
	sign_token(&t, "12345");
	assert_null(strpbrk(t.text, "+/= \n"));
	size_t sig_len;
	unsigned char *sig = b64url_dec(t.parts[2], &sig_len);
	assert_int_equal(sig_len, 256); /* one RSA-2048 block */
	free(sig);
	token_free(&t);
}

static void header_says_rs256_jwt(void **state)
{
	struct token t;
	sign_token(&t, "12345");
	json_t *h = decode_json_part(t.parts[0]);
	assert_int_equal(json_object_size(h), 2);
	assert_string_equal(json_string_value(json_object_get(h, "alg")), "RS256");
	assert_string_equal(json_string_value(json_object_get(h, "typ")), "JWT");
	json_decref(h);
	token_free(&t);
}

static void claims_are_issued_a_minute_ago_and_expire_within_ten_minutes(void **state)
{
	struct token t;
	sign_token(&t, "12345");
	json_t *c = decode_json_part(t.parts[1]);
	json_t *iat = json_object_get(c, "iat"), *exp = json_object_get(c, "exp");
	assert_true(json_is_integer(iat));
	assert_true(json_is_integer(exp));
	assert_int_equal(json_integer_value(iat), NOW - 60);
	assert_int_equal(json_integer_value(exp), NOW + 540);
	/* GitHub: exp no more than 10 minutes into the future. */
	assert_true(json_integer_value(exp) - NOW <= 600);
	assert_true(json_integer_value(exp) > NOW);
	json_decref(c);
	token_free(&t);
}

static void numeric_app_id_is_a_json_integer_issuer(void **state)
{
	struct token t;
	sign_token(&t, "12345");
	json_t *c = decode_json_part(t.parts[1]);
	json_t *iss = json_object_get(c, "iss");
	assert_true(json_is_integer(iss));
	assert_int_equal(json_integer_value(iss), 12345);
	json_decref(c);
	token_free(&t);
}

static void client_id_is_a_json_string_issuer(void **state)
{
	struct token t;
	sign_token(&t, "Iv23liAbc");
	json_t *c = decode_json_part(t.parts[1]);
	json_t *iss = json_object_get(c, "iss");
	assert_true(json_is_string(iss));
	assert_string_equal(json_string_value(iss), "Iv23liAbc");
	json_decref(c);
	token_free(&t);
}

static void signature_verifies_with_the_public_key(void **state)
{
	struct token t;
	sign_token(&t, "Iv23liAbc");
	assert_int_equal(verify_rs256(t.parts[0], t.parts[1], t.parts[2]), 1);
	token_free(&t);
}

static void signature_from_a_pkcs1_loaded_key_verifies(void **state)
{
	struct rs_err err = { 0 };
	EVP_PKEY *key = jwt_load_key(k.pkcs1, &err);
	assert_non_null(key);
	struct token t;
	split(&t, jwt_sign_rs256(key, "12345", (time_t)NOW, &err));
	assert_int_equal(verify_rs256(t.parts[0], t.parts[1], t.parts[2]), 1);
	token_free(&t);
	EVP_PKEY_free(key);
}

static void tampered_claims_fail_verification(void **state)
{
	struct token t;
	sign_token(&t, "12345");
	char forged_json[128];
	snprintf(forged_json, sizeof(forged_json), "{\"iat\":%lld,\"exp\":%lld,\"iss\":12346}",
		 NOW - 60, NOW + 540);
	char *forged = b64url_enc(forged_json);
	assert_string_not_equal(forged, t.parts[1]);
	assert_int_not_equal(verify_rs256(t.parts[0], forged, t.parts[2]), 1);
	free(forged);
	/* One flipped character of the payload is enough. */
	t.parts[1][3] = t.parts[1][3] == 'A' ? 'B' : 'A';
	assert_int_not_equal(verify_rs256(t.parts[0], t.parts[1], t.parts[2]), 1);
	token_free(&t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(load_accepts_a_pkcs1_rsa_key),
		cmocka_unit_test(load_accepts_a_pkcs8_rsa_key),
		cmocka_unit_test(load_rejects_a_missing_file_naming_the_setting_and_path),
		cmocka_unit_test(load_rejects_a_garbage_file_without_quoting_it),
		cmocka_unit_test(load_rejects_a_truncated_key_without_quoting_it),
		cmocka_unit_test(load_rejects_an_ec_key),
		cmocka_unit_test(load_rejects_an_ec_key_in_sec1_form),
		cmocka_unit_test(load_rejects_a_public_key),
		cmocka_unit_test(token_is_three_base64url_parts),
		cmocka_unit_test(header_says_rs256_jwt),
		cmocka_unit_test(claims_are_issued_a_minute_ago_and_expire_within_ten_minutes),
		cmocka_unit_test(numeric_app_id_is_a_json_integer_issuer),
		cmocka_unit_test(client_id_is_a_json_string_issuer),
		cmocka_unit_test(signature_verifies_with_the_public_key),
		cmocka_unit_test(signature_from_a_pkcs1_loaded_key_verifies),
		cmocka_unit_test(tampered_claims_fail_verification),
	};
	return cmocka_run_group_tests(tests, make_keys, remove_keys);
}
