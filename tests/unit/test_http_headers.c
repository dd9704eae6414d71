/* The response headers a GitHub client reads: Link (pagination), Retry-After, and
 * X-GitHub-Enterprise-Version. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "http.h"

/* 2023-11-14T22:13:20Z: a fixed clock, so that the date tests do not depend on today. */
#define NOW 1700000000LL

static void assert_link_next(const char *value, const char *expected)
{
	char *next = http_link_next(value);
	if (!expected) {
		assert_null(next);
		return;
	}
	assert_non_null(next);
	assert_string_equal(next, expected);
	free(next);
}

static void link_next_is_found_in_a_github_header(void **state)
{
	assert_link_next("<https://api.github.com/x?page=2>; rel=\"next\", "
			 "<https://api.github.com/x?page=5>; rel=\"last\"",
			 "https://api.github.com/x?page=2");
}

static void link_next_is_found_when_it_is_not_the_first_entry(void **state)
{
	assert_link_next("<https://api.github.com/x?page=1>; rel=\"prev\", "
			 "<https://api.github.com/x?page=3>; rel=\"next\", "
			 "<https://api.github.com/x?page=5>; rel=\"last\", "
			 "<https://api.github.com/x?page=1>; rel=\"first\"",
			 "https://api.github.com/x?page=3");
}

static void link_next_keeps_every_query_parameter(void **state)
{
	assert_link_next("<https://api.github.com/orgs/o/actions/runners?per_page=100&page=2>; "
			 "rel=\"next\"",
			 "https://api.github.com/orgs/o/actions/runners?per_page=100&page=2");
}

static void link_without_next_gives_null(void **state)
{
	assert_link_next("<https://api.github.com/x?page=1>; rel=\"prev\", "
			 "<https://api.github.com/x?page=1>; rel=\"first\"",
			 NULL);
}

static void malformed_link_gives_null(void **state)
{
	assert_link_next("", NULL);
	assert_link_next("garbage", NULL);
	assert_link_next("rel=\"next\"", NULL);
	assert_link_next("<https://api.github.com/x?page=2; rel=\"next\"", NULL);
}

static void retry_after_in_seconds_is_read(void **state)
{
	assert_int_equal(http_retry_after("120", NOW), 120);
	assert_int_equal(http_retry_after("0", NOW), 0);
}

static void retry_after_with_leading_space_is_read(void **state)
{
	assert_int_equal(http_retry_after(" 5", NOW), 5);
}

static void retry_after_that_is_not_a_number_or_date_is_rejected(void **state)
{
	assert_int_equal(http_retry_after("abc", NOW), -1);
	assert_int_equal(http_retry_after("12abc", NOW), -1);
	assert_int_equal(http_retry_after("", NOW), -1);
}

static void format_http_date(char *buf, size_t size, long long when)
{
	time_t t = (time_t)when;
	struct tm tm;
	assert_non_null(gmtime_r(&t, &tm));
	assert_true(strftime(buf, size, "%a, %d %b %Y %H:%M:%S GMT", &tm) > 0);
}

static void retry_after_http_date_in_the_future_gives_the_seconds_until_it(void **state)
{
	char date[64];
	format_http_date(date, sizeof(date), NOW + 30);
	assert_string_equal(date, "Tue, 14 Nov 2023 22:13:50 GMT");
	assert_int_equal(http_retry_after(date, NOW), 30);
}

static void retry_after_http_date_in_the_past_gives_zero(void **state)
{
	char date[64];
	format_http_date(date, sizeof(date), NOW - 3600);
	assert_int_equal(http_retry_after(date, NOW), 0);
}

static void ghes_version_is_read_in_the_documented_form(void **state)
{
	/* "X-GitHub-Enterprise-Version: enterprise-server@3.7.0" (GHES docs, "REST API
	 * endpoints for GitHub Enterprise administration", Version information). */
	assert_int_equal(http_ghes_version("enterprise-server@3.7.0"), 3007);
	assert_int_equal(http_ghes_version("enterprise-server@3.10.2"), 3010);
	assert_int_equal(http_ghes_version("enterprise-server@3.19.0"), 3019);
	assert_int_equal(http_ghes_version("3.11.4"), 3011);
	assert_int_equal(http_ghes_version("3.9"), 3009);
}

static void ghes_version_that_is_not_one_gives_zero(void **state)
{
	assert_int_equal(http_ghes_version(""), 0);
	assert_int_equal(http_ghes_version("enterprise-server@"), 0);
	assert_int_equal(http_ghes_version("enterprise-server@latest"), 0);
	assert_int_equal(http_ghes_version("3"), 0);
	assert_int_equal(http_ghes_version("3."), 0);
	assert_int_equal(http_ghes_version("0.9.1"), 0);
	assert_int_equal(http_ghes_version("3.1000.0"), 0);
	assert_int_equal(http_ghes_version("99999999999999999999.1"), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(link_next_is_found_in_a_github_header),
		cmocka_unit_test(link_next_is_found_when_it_is_not_the_first_entry),
		cmocka_unit_test(link_next_keeps_every_query_parameter),
		cmocka_unit_test(link_without_next_gives_null),
		cmocka_unit_test(malformed_link_gives_null),
		cmocka_unit_test(retry_after_in_seconds_is_read),
		cmocka_unit_test(retry_after_with_leading_space_is_read),
		cmocka_unit_test(retry_after_that_is_not_a_number_or_date_is_rejected),
		cmocka_unit_test(retry_after_http_date_in_the_future_gives_the_seconds_until_it),
		cmocka_unit_test(retry_after_http_date_in_the_past_gives_zero),
		cmocka_unit_test(ghes_version_is_read_in_the_documented_form),
		cmocka_unit_test(ghes_version_that_is_not_one_gives_zero),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
