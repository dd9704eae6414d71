/* base64 (RFC 4648) and the JIT runner configuration built on it: decoding the blob GitHub
 * returns, rejecting malformed ones without quoting them, and writing the runner's files. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <fcntl.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base64.h"
#include "jit.h"

/* ---- helpers ------------------------------------------------------------------------- */

/* Standard base64 with padding, independent of the module under test. */
static char *b64(const void *data, size_t len)
{
	char *out = malloc((len + 2) / 3 * 4 + 1);
	assert_non_null(out);
	EVP_EncodeBlock((unsigned char *)out, data, (int)len);
	return out;
}

static char *b64_str(const char *s)
{
	return b64(s, strlen(s));
}

static void assert_decodes_to(const char *in, const void *expected, size_t expected_len)
{
	size_t len = 12345;
	unsigned char *out = b64_decode(in, strlen(in), &len);
	assert_non_null(out);
	assert_int_equal(len, expected_len);
	assert_memory_equal(out, expected, expected_len);
	assert_int_equal(out[len], '\0');
	free(out);
}

static void assert_not_decoded(const char *in)
{
	size_t len = 0;
	unsigned char *out = b64_decode(in, strlen(in), &len);
	if (out)
		fail_msg("b64_decode accepted \"%s\"", in);
}

/* ---- b64_decode ---------------------------------------------------------------------- */

static void decode_reads_padded_input(void **state)
{
	assert_decodes_to("aGVsbG8gd29ybGQ=", "hello world", 11);
	assert_decodes_to("QQ==", "A", 1);
	assert_decodes_to("QUI=", "AB", 2);
	assert_decodes_to("QUJD", "ABC", 3);
}

static void decode_reads_input_without_padding(void **state)
{
	assert_decodes_to("aGVsbG8gd29ybGQ", "hello world", 11);
	assert_decodes_to("QQ", "A", 1);
	assert_decodes_to("QUI", "AB", 2);
	assert_decodes_to("QUJDRA", "ABCD", 4);
}

static void decode_keeps_binary_content_with_nul_bytes(void **state)
{
	unsigned char all[256];
	for (size_t i = 0; i < sizeof(all); i++)
		all[i] = (unsigned char)(255 - i);
	for (size_t len = 0; len <= sizeof(all); len += 1 + len / 8) {
		char *enc = b64(all, len);
		assert_decodes_to(enc, all, len);
		free(enc);
	}
	/* "AAAA" is three NUL bytes: the length, not strlen, tells where the data ends. */
	assert_decodes_to("AAAA", "\0\0\0", 3);
	assert_decodes_to("AP8A", "\0\xff\0", 3);
}

static void decode_of_empty_input_is_empty_not_an_error(void **state)
{
	size_t len = 99;
	unsigned char *out = b64_decode("", 0, &len);
	assert_non_null(out);
	assert_int_equal(len, 0);
	assert_int_equal(out[0], '\0');
	free(out);
}

static void decode_skips_whitespace_anywhere_as_the_runner_does(void **state)
{
	/* .NET's Convert.FromBase64String: a JIT blob from a Secret made from a file ends in a
	 * newline, and the runner takes it (actions-runner-contract.md). */
	assert_decodes_to("aGVs bG8=", "hello", 5);
	assert_decodes_to(" aGVsbG8=", "hello", 5);
	assert_decodes_to("aGVsbG8=\n", "hello", 5);
	assert_decodes_to("aGVs\r\nbG8=\t", "hello", 5);
	assert_decodes_to("aGVsb\nG8", "hello", 5);
	assert_not_decoded("Q\n");
}

static void decode_rejects_characters_outside_the_alphabet(void **state)
{
	assert_not_decoded("aGVs*G8=");
	assert_not_decoded("aGVs\vbG8=");
	assert_not_decoded("a-b_"); /* base64url, not standard base64 */
	assert_not_decoded("aGV\xc3\xa9"
			   "bG8=");
}

static void decode_rejects_a_misplaced_padding_character(void **state)
{
	assert_not_decoded("=QQQ");
	assert_not_decoded("Q=QQ");
	assert_not_decoded("QQ=Q");
	assert_not_decoded("Q===");
	assert_not_decoded("====");
	assert_not_decoded("QQ==QUJD");
	assert_not_decoded("QUI=QUI=");
}

static void decode_rejects_an_impossible_length(void **state)
{
	/* 4n+1 characters cannot be base64, padded or not. */
	assert_not_decoded("Q");
	assert_not_decoded("QUJDR");
	assert_not_decoded("QUJD=");
	assert_not_decoded("QQ===");
}

/* ---- b64url_encode ------------------------------------------------------------------- */

static void url_encode_uses_dash_and_underscore_and_no_padding(void **state)
{
	/* Standard base64 of these bytes is "+/+/" and "+/8=". */
	char *s = b64url_encode((const unsigned char *)"\xfb\xff\xbf", 3);
	assert_string_equal(s, "-_-_");
	free(s);
	s = b64url_encode((const unsigned char *)"\xfb\xff", 2);
	assert_string_equal(s, "-_8");
	free(s);
	s = b64url_encode((const unsigned char *)"A", 1);
	assert_string_equal(s, "QQ");
	free(s);
	s = b64url_encode((const unsigned char *)"", 0);
	assert_string_equal(s, "");
	free(s);
}

static void url_encode_round_trips_every_length(void **state)
{
	unsigned char data[200];
	for (size_t i = 0; i < sizeof(data); i++)
		data[i] = (unsigned char)(i * 37 + 250);
	for (size_t len = 0; len <= sizeof(data); len++) {
		char *enc = b64url_encode(data, len);
		assert_non_null(enc);
		assert_null(strpbrk(enc, "+/="));
		for (char *p = enc; *p; p++)
			*p = *p == '-' ? '+' : *p == '_' ? '/' : *p;
		size_t out_len = 0;
		unsigned char *out = b64_decode(enc, strlen(enc), &out_len);
		assert_non_null(out);
		assert_int_equal(out_len, len);
		assert_memory_equal(out, data, len);
		free(out);
		free(enc);
	}
}

/* ---- jit_decode ---------------------------------------------------------------------- */

#define SECRET_TOKEN "jit-s3cr3t-Zq9XwV7"

static const char runner_json[] =
    "{\"AgentId\":4242,\"AgentName\":\"arc-pod-7x9\",\"PoolId\":1,\"PoolName\":\"Default\","
    "\"ServerUrl\":\"https://pipelinesghubeus1.actions.githubusercontent.com/abc/\","
    "\"GitHubUrl\":\"https://github.com/acme\",\"WorkFolder\":\"_work\"}";
static const char credentials_json[] =
    "{\"Scheme\":\"OAuthAccessToken\",\"Data\":{\"token\":\"" SECRET_TOKEN "\"}}";
static const char rsaparams_json[] = "{\"d\":\"AQAB" SECRET_TOKEN "\",\"exponent\":\"AQAB\"}";

/* The map GitHub returns: file name -> base64 of the file. */
static json_t *files_map(const char *runner)
{
	json_t *map = json_object();
	char *r = b64_str(runner), *c = b64_str(credentials_json), *p = b64_str(rsaparams_json);
	json_object_set_new(map, ".runner", json_string(r));
	json_object_set_new(map, ".credentials", json_string(c));
	json_object_set_new(map, ".credentials_rsaparams", json_string(p));
	free(r);
	free(c);
	free(p);
	return map;
}

/* base64 of the JSON text of map; takes the reference. */
static char *blob_of(json_t *map)
{
	char *text = json_dumps(map, JSON_COMPACT);
	assert_non_null(text);
	json_decref(map);
	char *blob = b64_str(text);
	free(text);
	return blob;
}

static const struct jit_file *find_file(const struct jit_config *jit, const char *name)
{
	for (size_t i = 0; i < jit->n_files; i++)
		if (strcmp(jit->files[i].name, name) == 0)
			return &jit->files[i];
	fail_msg("no %s in the decoded configuration", name);
	return NULL;
}

static void assert_file(const struct jit_config *jit, const char *name, const char *content)
{
	const struct jit_file *f = find_file(jit, name);
	assert_int_equal(f->len, strlen(content));
	assert_memory_equal(f->data, content, f->len);
}

static void decode_gives_the_three_files_with_their_exact_contents(void **state)
{
	char *blob = blob_of(files_map(runner_json));
	struct jit_config jit;
	struct rs_err err = { 0 };
	assert_int_equal(jit_decode(blob, &jit, &err), 0);
	assert_int_equal(jit.n_files, 3);
	assert_file(&jit, ".runner", runner_json);
	assert_file(&jit, ".credentials", credentials_json);
	assert_file(&jit, ".credentials_rsaparams", rsaparams_json);
	jit_free(&jit);
	free(blob);
}

static void decode_reads_runner_id_and_name_from_dot_runner(void **state)
{
	char *blob = blob_of(files_map(runner_json));
	struct jit_config jit;
	struct rs_err err = { 0 };
	assert_int_equal(jit_decode(blob, &jit, &err), 0);
	assert_int_equal(jit.runner_id, 4242);
	assert_non_null(jit.runner_name);
	assert_string_equal(jit.runner_name, "arc-pod-7x9");
	jit_free(&jit);
	free(blob);
}

static void decode_reads_camel_case_runner_keys(void **state)
{
	char *blob = blob_of(files_map("{\"agentId\":17,\"agentName\":\"camel-pod\"}"));
	struct jit_config jit;
	struct rs_err err = { 0 };
	assert_int_equal(jit_decode(blob, &jit, &err), 0);
	assert_int_equal(jit.runner_id, 17);
	assert_non_null(jit.runner_name);
	assert_string_equal(jit.runner_name, "camel-pod");
	jit_free(&jit);
	free(blob);
}

static void decode_reads_a_dot_runner_written_with_a_utf8_bom(void **state)
{
	/* .NET writes .runner with a byte-order mark; the file itself keeps it. */
	char runner[sizeof(runner_json) + 3];
	snprintf(runner, sizeof(runner), "\xEF\xBB\xBF%s", runner_json);
	char *blob = blob_of(files_map(runner));
	struct jit_config jit;
	struct rs_err err = { 0 };
	assert_int_equal(jit_decode(blob, &jit, &err), 0);
	assert_int_equal(jit.runner_id, 4242);
	assert_non_null(jit.runner_name);
	assert_string_equal(jit.runner_name, "arc-pod-7x9");
	assert_file(&jit, ".runner", runner);
	jit_free(&jit);
	free(blob);
}

static json_t *dot_runner_after_disable_update(const char *runner)
{
	char *blob = blob_of(files_map(runner));
	struct jit_config jit;
	struct rs_err err = { 0 };
	assert_int_equal(jit_decode(blob, &jit, &err), 0);
	assert_int_equal(jit_disable_update(&jit, &err), 0);
	const struct jit_file *f = find_file(&jit, ".runner");
	json_t *j = json_loadb((const char *)f->data, f->len, 0, NULL);
	assert_non_null(j);
	jit_free(&jit);
	free(blob);
	return j;
}

static void disable_update_sets_it_and_keeps_every_other_key(void **state)
{
	json_t *j = dot_runner_after_disable_update(runner_json);
	assert_true(json_is_true(json_object_get(j, "DisableUpdate")));
	assert_int_equal(json_integer_value(json_object_get(j, "AgentId")), 4242);
	assert_string_equal(json_string_value(json_object_get(j, "ServerUrl")),
			    "https://pipelinesghubeus1.actions.githubusercontent.com/abc/");
	assert_int_equal(json_object_size(j), 8);
	json_decref(j);
}

static void disable_update_overrides_false_in_the_keys_own_spelling(void **state)
{
	json_t *j =
	    dot_runner_after_disable_update("\xEF\xBB\xBF{\"agentId\":1,\"disableUpdate\":false}");
	assert_true(json_is_true(json_object_get(j, "disableUpdate")));
	assert_null(json_object_get(j, "DisableUpdate"));
	assert_int_equal(json_object_size(j), 2);
	json_decref(j);
}

static void disable_update_refuses_a_dot_runner_that_is_not_an_object(void **state)
{
	char *blob = blob_of(files_map("[1]"));
	struct jit_config jit;
	struct rs_err err = { 0 };
	assert_int_equal(jit_decode(blob, &jit, &err), 0);
	assert_int_equal(jit_disable_update(&jit, &err), -1);
	assert_int_equal(err.exit_code, 78);
	assert_non_null(strstr(err.msg, ".runner"));
	jit_free(&jit);
	free(blob);
}

static void decode_keeps_an_extra_dot_file(void **state)
{
	json_t *map = files_map(runner_json);
	char *v = b64_str("extra");
	json_object_set_new(map, ".setup_info", json_string(v));
	free(v);
	char *blob = blob_of(map);
	struct jit_config jit;
	struct rs_err err = { 0 };
	assert_int_equal(jit_decode(blob, &jit, &err), 0);
	assert_int_equal(jit.n_files, 4);
	assert_file(&jit, ".setup_info", "extra");
	jit_free(&jit);
	free(blob);
}

/* Rejected with 78, nothing left allocated, and neither the blob nor a secret quoted. */
static void assert_blob_rejected(const char *blob)
{
	struct jit_config jit;
	struct rs_err err = { 0 };
	assert_int_equal(jit_decode(blob, &jit, &err), -1);
	assert_int_equal(err.exit_code, 78);
	assert_true(strlen(err.msg) > 0);
	assert_int_equal(jit.n_files, 0);
	assert_null(jit.runner_name);
	if (strlen(blob) >= 8) {
		char head[9];
		snprintf(head, sizeof(head), "%s", blob);
		assert_null(strstr(err.msg, head));
	}
	assert_null(strstr(err.msg, SECRET_TOKEN));
	assert_null(strstr(err.msg, "Zq9XwV7"));
}

static void assert_map_rejected(json_t *map)
{
	char *blob = blob_of(map);
	assert_blob_rejected(blob);
	free(blob);
}

static void decode_rejects_a_blob_that_is_not_base64(void **state)
{
	assert_blob_rejected("this is not base64 " SECRET_TOKEN);
	assert_blob_rejected("eyJ.runner");
	assert_blob_rejected("");
}

static void decode_rejects_base64_of_something_that_is_not_json(void **state)
{
	char *blob = b64_str("hello " SECRET_TOKEN);
	assert_blob_rejected(blob);
	free(blob);
}

static void decode_rejects_a_json_array(void **state)
{
	char *blob = b64_str("[\".runner\",\".credentials\",\".credentials_rsaparams\"]");
	assert_blob_rejected(blob);
	free(blob);
	blob = b64_str("\"" SECRET_TOKEN "\"");
	assert_blob_rejected(blob);
	free(blob);
}

static void decode_rejects_a_file_content_that_is_not_a_string(void **state)
{
	json_t *map = files_map(runner_json);
	json_object_set_new(map, ".credentials", json_integer(5));
	assert_map_rejected(map);
	map = files_map(runner_json);
	json_object_set_new(map, ".credentials", json_pack("{s:s}", "token", SECRET_TOKEN));
	assert_map_rejected(map);
}

static void decode_rejects_a_file_content_that_is_not_base64(void **state)
{
	json_t *map = files_map(runner_json);
	json_object_set_new(map, ".credentials", json_string("{\"token\":\"" SECRET_TOKEN "\"}"));
	assert_map_rejected(map);
}

static void decode_rejects_a_configuration_missing_a_required_file(void **state)
{
	static const char *const required[] = { ".runner", ".credentials",
						".credentials_rsaparams" };
	for (size_t i = 0; i < 3; i++) {
		json_t *map = files_map(runner_json);
		json_object_del(map, required[i]);
		char *blob = blob_of(map);
		struct jit_config jit;
		struct rs_err err = { 0 };
		assert_int_equal(jit_decode(blob, &jit, &err), -1);
		assert_int_equal(err.exit_code, 78);
		assert_non_null(strstr(err.msg, required[i]));
		assert_int_equal(jit.n_files, 0);
		free(blob);
	}
}

static void decode_rejects_a_file_name_that_is_not_a_plain_dot_file(void **state)
{
	static const char *const names[] = {
		"../.runner", ".a/b",        "./.runner", "..",       "..runner",  ".",
		"runner",     "/etc/passwd", "",          ".run ner", ".run\nner",
	};
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		json_t *map = files_map(runner_json);
		char *v = b64_str("x");
		json_object_set_new(map, names[i], json_string(v));
		free(v);
		assert_map_rejected(map);
	}
}

static void decode_rejects_too_many_files(void **state)
{
	json_t *map = files_map(runner_json);
	for (int i = 0; i < JIT_MAX_FILES; i++) {
		char name[32];
		snprintf(name, sizeof(name), ".extra%d", i);
		json_object_set_new(map, name, json_string("eA=="));
	}
	assert_map_rejected(map);
}

/* ---- jit_write ----------------------------------------------------------------------- */

struct dirs {
	char root[64];    /* where the runner's files go */
	char outside[64]; /* where an attacker's symlink points */
};

static int make_dirs(void **state)
{
	struct dirs *d = calloc(1, sizeof(*d));
	if (!d)
		return -1;
	snprintf(d->root, sizeof(d->root), "/tmp/test_jit_root.XXXXXX");
	snprintf(d->outside, sizeof(d->outside), "/tmp/test_jit_outside.XXXXXX");
	if (!mkdtemp(d->root) || !mkdtemp(d->outside)) {
		free(d);
		return -1;
	}
	*state = d;
	return 0;
}

static void remove_dir(const char *path)
{
	DIR *dir = opendir(path);
	if (!dir)
		return;
	struct dirent *e;
	while ((e = readdir(dir)))
		if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0)
			unlinkat(dirfd(dir), e->d_name, 0);
	closedir(dir);
	rmdir(path);
}

static int remove_dirs(void **state)
{
	struct dirs *d = *state;
	remove_dir(d->root);
	remove_dir(d->outside);
	free(d);
	return 0;
}

static void decode_good(struct jit_config *jit)
{
	char *blob = blob_of(files_map(runner_json));
	struct rs_err err = { 0 };
	assert_int_equal(jit_decode(blob, jit, &err), 0);
	free(blob);
}

static void write_text(int dfd, const char *name, const char *text, mode_t mode)
{
	int fd = openat(dfd, name, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	assert_int_equal(fchmod(fd, mode), 0);
	close(fd);
}

static void assert_file_on_disk(const char *dir, const char *name, const char *content, uid_t uid,
				gid_t gid, mode_t mode)
{
	char path[256];
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	struct stat st;
	assert_int_equal(lstat(path, &st), 0);
	assert_true(S_ISREG(st.st_mode));
	assert_int_equal(st.st_mode & 07777, mode);
	assert_int_equal(st.st_uid, uid);
	assert_int_equal(st.st_gid, gid);
	assert_int_equal(st.st_size, (off_t)strlen(content));
	char buf[1024] = { 0 };
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	assert_true(fd >= 0);
	ssize_t n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	assert_int_equal(n, (ssize_t)strlen(content));
	assert_memory_equal(buf, content, (size_t)n);
}

static void write_creates_files_0600_owned_by_the_runner_with_their_contents(void **state)
{
	struct dirs *d = *state;
	if (geteuid() != 0)
		skip();
	struct jit_config jit;
	decode_good(&jit);
	struct rs_err err = { 0 };
	assert_int_equal(jit_write(&jit, d->root, 65534, 65534, &err), 0);
	assert_file_on_disk(d->root, ".runner", runner_json, 65534, 65534, 0600);
	assert_file_on_disk(d->root, ".credentials", credentials_json, 65534, 65534, 0600);
	assert_file_on_disk(d->root, ".credentials_rsaparams", rsaparams_json, 65534, 65534, 0600);
	jit_free(&jit);
}

/* Plants `kind` at root/.credentials pointing at a sentinel outside the root, writes, and
 * checks that the entry was replaced by the credentials and the sentinel is untouched. */
enum planted { PLANT_SYMLINK, PLANT_HARDLINK, PLANT_FIFO };

static void write_replaces_a_planted_entry(void **state, enum planted kind)
{
	struct dirs *d = *state;
	int out_fd = open(d->outside, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	assert_true(out_fd >= 0);
	write_text(out_fd, "sentinel", "do not touch", 0644);
	close(out_fd);
	char target[128], entry[128];
	snprintf(target, sizeof(target), "%s/sentinel", d->outside);
	snprintf(entry, sizeof(entry), "%s/.credentials", d->root);
	if (kind == PLANT_SYMLINK)
		assert_int_equal(symlink(target, entry), 0);
	else if (kind == PLANT_HARDLINK)
		assert_int_equal(link(target, entry), 0);
	else
		assert_int_equal(mkfifo(entry, 0666), 0);

	struct jit_config jit;
	decode_good(&jit);
	struct rs_err err = { 0 };
	assert_int_equal(jit_write(&jit, d->root, 65534, 65534, &err), 0);
	assert_file_on_disk(d->outside, "sentinel", "do not touch", geteuid(), getegid(), 0644);
	struct stat st;
	assert_int_equal(lstat(entry, &st), 0);
	assert_true(S_ISREG(st.st_mode));
	assert_int_equal(st.st_nlink, 1);
	assert_int_equal(st.st_mode & 07777, 0600);
	jit_free(&jit);
}

static void write_replaces_a_planted_symlink_without_following_it(void **state)
{
	write_replaces_a_planted_entry(state, PLANT_SYMLINK);
}

static void write_replaces_a_planted_hard_link_without_writing_through_it(void **state)
{
	write_replaces_a_planted_entry(state, PLANT_HARDLINK);
}

static void write_replaces_a_planted_fifo_without_blocking(void **state)
{
	write_replaces_a_planted_entry(state, PLANT_FIFO);
}

static void write_truncates_and_rewrites_an_existing_file(void **state)
{
	struct dirs *d = *state;
	if (geteuid() != 0)
		skip();
	int root_fd = open(d->root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	assert_true(root_fd >= 0);
	char old[2048];
	memset(old, 'o', sizeof(old) - 1);
	old[sizeof(old) - 1] = '\0';
	write_text(root_fd, ".credentials", old, 0644);
	close(root_fd);

	struct jit_config jit;
	decode_good(&jit);
	struct rs_err err = { 0 };
	assert_int_equal(jit_write(&jit, d->root, 65534, 65534, &err), 0);
	assert_file_on_disk(d->root, ".credentials", credentials_json, 65534, 65534, 0600);
	jit_free(&jit);
}

static void write_into_a_missing_root_names_it(void **state)
{
	struct jit_config jit;
	decode_good(&jit);
	struct rs_err err = { 0 };
	assert_int_equal(jit_write(&jit, "/nonexistent/runner-root", 0, 0, &err), -1);
	assert_int_equal(err.exit_code, 78);
	assert_non_null(strstr(err.msg, "/nonexistent/runner-root"));
	jit_free(&jit);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(decode_reads_padded_input),
		cmocka_unit_test(decode_reads_input_without_padding),
		cmocka_unit_test(decode_keeps_binary_content_with_nul_bytes),
		cmocka_unit_test(decode_of_empty_input_is_empty_not_an_error),
		cmocka_unit_test(decode_skips_whitespace_anywhere_as_the_runner_does),
		cmocka_unit_test(decode_rejects_characters_outside_the_alphabet),
		cmocka_unit_test(decode_rejects_a_misplaced_padding_character),
		cmocka_unit_test(decode_rejects_an_impossible_length),
		cmocka_unit_test(url_encode_uses_dash_and_underscore_and_no_padding),
		cmocka_unit_test(url_encode_round_trips_every_length),
		cmocka_unit_test(decode_gives_the_three_files_with_their_exact_contents),
		cmocka_unit_test(decode_reads_runner_id_and_name_from_dot_runner),
		cmocka_unit_test(decode_reads_camel_case_runner_keys),
		cmocka_unit_test(decode_reads_a_dot_runner_written_with_a_utf8_bom),
		cmocka_unit_test(decode_keeps_an_extra_dot_file),
		cmocka_unit_test(disable_update_sets_it_and_keeps_every_other_key),
		cmocka_unit_test(disable_update_overrides_false_in_the_keys_own_spelling),
		cmocka_unit_test(disable_update_refuses_a_dot_runner_that_is_not_an_object),
		cmocka_unit_test(decode_rejects_a_blob_that_is_not_base64),
		cmocka_unit_test(decode_rejects_base64_of_something_that_is_not_json),
		cmocka_unit_test(decode_rejects_a_json_array),
		cmocka_unit_test(decode_rejects_a_file_content_that_is_not_a_string),
		cmocka_unit_test(decode_rejects_a_file_content_that_is_not_base64),
		cmocka_unit_test(decode_rejects_a_configuration_missing_a_required_file),
		cmocka_unit_test(decode_rejects_a_file_name_that_is_not_a_plain_dot_file),
		cmocka_unit_test(decode_rejects_too_many_files),
		cmocka_unit_test_setup_teardown(
		    write_creates_files_0600_owned_by_the_runner_with_their_contents, make_dirs,
		    remove_dirs),
		cmocka_unit_test_setup_teardown(
		    write_replaces_a_planted_symlink_without_following_it, make_dirs, remove_dirs),
		cmocka_unit_test_setup_teardown(
		    write_replaces_a_planted_hard_link_without_writing_through_it, make_dirs,
		    remove_dirs),
		cmocka_unit_test_setup_teardown(write_replaces_a_planted_fifo_without_blocking,
						make_dirs, remove_dirs),
		cmocka_unit_test_setup_teardown(write_truncates_and_rewrites_an_existing_file,
						make_dirs, remove_dirs),
		cmocka_unit_test(write_into_a_missing_root_names_it),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
