/* The JIT runner configuration: `encoded_jit_config` of GitHub's generate-jitconfig answer,
 * or ACTIONS_RUNNER_INPUT_JITCONFIG as ARC passes it in the pod's environment. It is
 * base64 of a JSON object mapping file names to base64 file contents (actions/runner,
 * Runner.cs); jit_decode() takes it apart (base64.c twice, jansson, the .runner identity) and
 * jit_disable_update() rewrites .runner.
 *
 * Input: one mode byte, then the rest.
 *   '0' (and anything not below): the rest is the blob, as GitHub or ARC sends it;
 *   '1': the rest is the JSON object of files, base64-encoded here: the fuzzer edits the JSON;
 *   '2': the rest is a JSON object of plain file contents: each string value and then the whole
 *        is base64-encoded here, so that the fuzzer edits .runner itself.
 * b64_decode() also gets the rest directly, with its own checks. */
#include <jansson.h>
#include <openssl/evp.h>
#include <stdbool.h>
#include <strings.h>

#include "base64.h"
#include "fuzz.h"
#include "jit.h"

static char *b64(const void *data, size_t len)
{
	char *out = malloc((len + 2) / 3 * 4 + 1);
	FUZZ_CHECK(out != NULL);
	EVP_EncodeBlock((unsigned char *)out, data, (int)len);
	return out;
}

/* Mode '2': {"name": "content"} -> base64 of {"name": "base64(content)"}; NULL when the
 * input is not a JSON object. */
static char *encode_files(const char *text)
{
	json_t *files = json_loads(text, JSON_ALLOW_NUL, NULL);
	if (!json_is_object(files)) {
		json_decref(files);
		return NULL;
	}
	const char *name;
	json_t *value;
	json_object_foreach(files, name, value)
	{
		if (!json_is_string(value))
			continue;
		char *enc = b64(json_string_value(value), json_string_length(value));
		json_string_set(value, enc);
		free(enc);
	}
	char *dump = json_dumps(files, JSON_COMPACT | JSON_PRESERVE_ORDER);
	json_decref(files);
	if (!dump)
		return NULL;
	char *blob = b64(dump, strlen(dump));
	free(dump);
	return blob;
}

static bool plain_dot_name(const char *name)
{
	if (name[0] != '.' || name[1] == '\0' || name[1] == '.' || strlen(name) > 64)
		return false;
	return strspn(name + 1,
		      "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-.") ==
	       strlen(name + 1);
}

static void check_b64(const char *in, size_t in_len)
{
	size_t len = 0;
	unsigned char *out = b64_decode(in, in_len, &len);
	if (!out)
		return;
	FUZZ_CHECK(len <= in_len / 4 * 3 + 2);
	FUZZ_CHECK(out[len] == '\0');
	free(out);
}

static void check_decoded(struct jit_config *jit)
{
	static const char *const required[] = { ".runner", ".credentials",
						".credentials_rsaparams" };
	FUZZ_CHECK(jit->n_files >= 3 && jit->n_files <= JIT_MAX_FILES);
	for (size_t i = 0; i < jit->n_files; i++) {
		/* Only names that cannot leave RUNNER_ROOT are ever written. */
		FUZZ_CHECK(plain_dot_name(jit->files[i].name));
		FUZZ_CHECK(jit->files[i].data != NULL);
		FUZZ_CHECK(jit->files[i].data[jit->files[i].len] == '\0');
	}
	for (size_t r = 0; r < 3; r++) {
		bool found = false;
		for (size_t i = 0; i < jit->n_files; i++)
			found |= strcmp(jit->files[i].name, required[r]) == 0;
		FUZZ_CHECK(found);
	}
	struct rs_err err = { 0 };
	if (jit_disable_update(jit, &err) == 0) {
		/* The rewritten .runner is JSON with DisableUpdate true, in some spelling. */
		for (size_t i = 0; i < jit->n_files; i++) {
			if (strcmp(jit->files[i].name, ".runner") != 0)
				continue;
			json_t *j = json_loadb((const char *)jit->files[i].data, jit->files[i].len,
					       0, NULL);
			FUZZ_CHECK(json_is_object(j));
			bool disabled = false;
			const char *k;
			json_t *v;
			json_object_foreach(j, k, v)
			{
				disabled |= strcasecmp(k, "DisableUpdate") == 0 && json_is_true(v);
			}
			FUZZ_CHECK(disabled);
			json_decref(j);
		}
	} else {
		FUZZ_CHECK(err.msg[0] != '\0');
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	char *rest = fuzz_cstr(data + 1, size - 1);
	check_b64(rest, size - 1);

	char *blob = NULL;
	if (data[0] == '1')
		blob = b64(rest, strlen(rest));
	else if (data[0] == '2')
		blob = encode_files(rest);
	const char *in = blob ? blob : rest;

	struct jit_config jit;
	struct rs_err err = { 0 };
	if (jit_decode(in, &jit, &err) == 0) {
		check_decoded(&jit);
		jit_free(&jit);
	} else {
		FUZZ_CHECK(err.exit_code == EX_RS_CONFIG);
		FUZZ_CHECK(jit.n_files == 0 && jit.runner_name == NULL);
		/* Errors never quote the blob: it holds the runner's private key. */
		FUZZ_CHECK(strlen(in) < 16 || !strstr(err.msg, in));
	}
	free(blob);
	free(rest);
	return 0;
}
