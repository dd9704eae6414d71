/* Runner names and labels: what GitHub receives must fit its 64-character limit. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <ctype.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <string.h>
#include <sys/utsname.h>

#include "names.h"

/* A name of len characters, 'a'..'z' repeating, with tail written over its end. */
static void make_name(char *buf, size_t len, const char *tail)
{
	for (size_t i = 0; i < len; i++)
		buf[i] = (char)('a' + i % 26);
	buf[len] = '\0';
	if (tail)
		memcpy(buf + len - strlen(tail), tail, strlen(tail));
}

static void assert_lower_hex(const char *s, size_t n)
{
	assert_int_equal(strlen(s), n);
	for (size_t i = 0; i < n; i++)
		assert_true(isdigit((unsigned char)s[i]) || (s[i] >= 'a' && s[i] <= 'f'));
}

static void fit_keeps_a_short_name_unchanged(void **state)
{
	char out[RUNNER_NAME_MAX + 1];
	runner_name_fit("arc-runner-7d9f8-x2kq", out);
	assert_string_equal(out, "arc-runner-7d9f8-x2kq");
}

static void fit_keeps_a_name_of_exactly_64_characters_unchanged(void **state)
{
	char name[65], out[RUNNER_NAME_MAX + 1];
	make_name(name, 64, NULL);
	runner_name_fit(name, out);
	assert_string_equal(out, name);
}

static void fit_shortens_a_long_name_to_prefix_dash_and_8_hex_digits(void **state)
{
	char name[101], out[RUNNER_NAME_MAX + 1];
	make_name(name, 100, NULL);
	runner_name_fit(name, out);
	assert_int_equal(strlen(out), 64);
	assert_memory_equal(out, name, 55);
	assert_int_equal(out[55], '-');
	assert_lower_hex(out + 56, 8);
}

static void fit_shortens_a_65_character_name(void **state)
{
	char name[66], out[RUNNER_NAME_MAX + 1];
	make_name(name, 65, NULL);
	runner_name_fit(name, out);
	assert_int_equal(strlen(out), 64);
	assert_memory_equal(out, name, 55);
	assert_int_equal(out[55], '-');
}

static void fit_suffix_is_the_start_of_the_names_sha256(void **state)
{
	char name[101], out[RUNNER_NAME_MAX + 1], hex[9];
	make_name(name, 100, NULL);
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int md_len = 0;
	assert_int_equal(EVP_Digest(name, strlen(name), md, &md_len, EVP_sha256(), NULL), 1);
	snprintf(hex, sizeof(hex), "%02x%02x%02x%02x", md[0], md[1], md[2], md[3]);
	runner_name_fit(name, out);
	assert_string_equal(out + 56, hex);
}

static void fit_is_deterministic(void **state)
{
	char name[101], a[RUNNER_NAME_MAX + 1], b[RUNNER_NAME_MAX + 1];
	make_name(name, 100, NULL);
	runner_name_fit(name, a);
	runner_name_fit(name, b);
	assert_string_equal(a, b);
}

static void fit_keeps_names_that_differ_after_the_prefix_distinct(void **state)
{
	char n1[101], n2[101], a[RUNNER_NAME_MAX + 1], b[RUNNER_NAME_MAX + 1];
	make_name(n1, 100, "-pod-1");
	make_name(n2, 100, "-pod-2");
	assert_memory_equal(n1, n2, 55);
	runner_name_fit(n1, a);
	runner_name_fit(n2, b);
	assert_memory_equal(a, b, 56);
	assert_string_not_equal(a, b);
}

static void suffixed_appends_dash_and_6_hex_digits_of_rnd(void **state)
{
	char out[RUNNER_NAME_MAX + 1];
	runner_name_suffixed("pod-abc", 0xabcdef, out);
	assert_string_equal(out, "pod-abc-abcdef");
}

static void suffixed_ends_with_dash_and_6_lowercase_hex_digits(void **state)
{
	char out[RUNNER_NAME_MAX + 1];
	runner_name_suffixed("pod", 0x12345678u, out);
	size_t len = strlen(out);
	assert_true(len <= RUNNER_NAME_MAX);
	assert_true(len >= 7);
	assert_int_equal(out[len - 7], '-');
	assert_lower_hex(out + len - 6, 6);
}

static void suffixed_with_different_rnd_gives_different_names(void **state)
{
	char a[RUNNER_NAME_MAX + 1], b[RUNNER_NAME_MAX + 1];
	runner_name_suffixed("pod", 1, a);
	runner_name_suffixed("pod", 2, b);
	assert_string_not_equal(a, b);
}

static void suffixed_shortens_a_64_character_base_to_fit(void **state)
{
	char name[65], out[RUNNER_NAME_MAX + 1];
	make_name(name, 64, NULL);
	runner_name_suffixed(name, 0x00beef, out);
	assert_int_equal(strlen(out), 64);
	assert_memory_equal(out, name, 57);
	assert_string_equal(out + 57, "-00beef");
}

/* Found by fuzz/github.c: a 64-byte name of two-byte characters was cut inside one, and the
 * generate-jitconfig body could not be built from a name that is not UTF-8. */
static void shortening_never_cuts_a_utf8_character(void **state)
{
	char name[200] = "", out[RUNNER_NAME_MAX + 1];
	for (int i = 0; i < 32; i++)
		strcat(name, "\xc3\xbc"); /* u with diaeresis: 64 bytes */
	runner_name_suffixed(name, 0x00beef, out);
	assert_string_equal(out + 56, "-00beef"); /* 28 characters, not 28.5 */
	assert_memory_equal(out, name, 56);
	strcat(name, "\xe2\x82\xac\xe2\x82\xac"); /* two euro signs: 70 bytes, too long */
	runner_name_fit(name, out);
	assert_int_equal(out[54], '-'); /* 27 characters, then the hash */
	assert_memory_equal(out, name, 54);
}

static void arch_label_matches_this_machine(void **state)
{
	struct utsname u;
	assert_int_equal(uname(&u), 0);
	if (strcmp(u.machine, "x86_64") == 0)
		assert_string_equal(runner_arch_label(), "X64");
	else if (strcmp(u.machine, "aarch64") == 0)
		assert_string_equal(runner_arch_label(), "ARM64");
	else
		skip();
}

static void fleet_labels_add_the_fleet_then_the_born_label(void **state)
{
	(void)state;
	char *labels[] = { "gpu", NULL };
	char born[BORN_LABEL_SIZE];
	const char *out[2];
	assert_int_equal(runner_fleet_labels("rs-fleet-a", labels, 1, 600, born, out), 2);
	assert_string_equal(out[0], "rs-fleet-a");
	assert_string_equal(out[1], "rs-born-10");
}

static void fleet_labels_do_not_repeat_a_listed_fleet_label_in_any_case(void **state)
{
	(void)state;
	char *labels[] = { "gpu", "RS-Fleet-A", NULL };
	char born[BORN_LABEL_SIZE];
	const char *out[2];
	assert_int_equal(runner_fleet_labels("rs-fleet-a", labels, 2, 600, born, out), 1);
	assert_string_equal(out[0], "rs-born-10");
}

static void fleet_labels_are_none_without_a_fleet(void **state)
{
	(void)state;
	char born[BORN_LABEL_SIZE];
	const char *out[2];
	assert_int_equal(runner_fleet_labels(NULL, NULL, 0, 600, born, out), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(fit_keeps_a_short_name_unchanged),
		cmocka_unit_test(fit_keeps_a_name_of_exactly_64_characters_unchanged),
		cmocka_unit_test(fit_shortens_a_long_name_to_prefix_dash_and_8_hex_digits),
		cmocka_unit_test(fit_shortens_a_65_character_name),
		cmocka_unit_test(fit_suffix_is_the_start_of_the_names_sha256),
		cmocka_unit_test(fit_is_deterministic),
		cmocka_unit_test(fit_keeps_names_that_differ_after_the_prefix_distinct),
		cmocka_unit_test(suffixed_appends_dash_and_6_hex_digits_of_rnd),
		cmocka_unit_test(suffixed_ends_with_dash_and_6_lowercase_hex_digits),
		cmocka_unit_test(suffixed_with_different_rnd_gives_different_names),
		cmocka_unit_test(suffixed_shortens_a_64_character_base_to_fit),
		cmocka_unit_test(shortening_never_cuts_a_utf8_character),
		cmocka_unit_test(arch_label_matches_this_machine),
		cmocka_unit_test(fleet_labels_add_the_fleet_then_the_born_label),
		cmocka_unit_test(fleet_labels_do_not_repeat_a_listed_fleet_label_in_any_case),
		cmocka_unit_test(fleet_labels_are_none_without_a_fleet),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
