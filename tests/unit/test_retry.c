/* The retry policy: full-jitter backoff, and GitHub's documented rate-limit procedure
 * (reference §6). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "retry.h"

#define NOW 1700000000LL

static const char secondary_body[] =
    "{\"message\":\"You have exceeded a secondary rate limit. Please wait a few minutes before "
    "you try again.\",\"documentation_url\":\"https://docs.github.com/rest/overview/"
    "rate-limits-for-the-rest-api#about-secondary-rate-limits\"}";

/* A response as http_perform leaves it: headers that were absent are -1. */
static struct http_response response(long status, const char *body)
{
	return (struct http_response){
		.status = status,
		.body = (char *)body,
		.body_len = strlen(body),
		.retry_after_s = -1,
		.ratelimit_remaining = -1,
		.ratelimit_limit = -1,
		.ratelimit_reset = -1,
	};
}

/* ---- retry_backoff_ms ---------------------------------------------------------------- */

static void backoff_with_zero_random_is_zero(void **state)
{
	for (unsigned attempt = 0; attempt < 40; attempt++)
		assert_int_equal(retry_backoff_ms(attempt, RETRY_BASE_MS, RETRY_CAP_MS, 0), 0);
}

static void backoff_with_max_random_is_just_under_base_times_two_to_the_attempt(void **state)
{
	assert_int_equal(retry_backoff_ms(0, 500, 30000, UINT32_MAX), 499);
	assert_int_equal(retry_backoff_ms(1, 500, 30000, UINT32_MAX), 999);
	assert_int_equal(retry_backoff_ms(3, 500, 30000, UINT32_MAX), 3999);
	assert_int_equal(retry_backoff_ms(5, 500, 30000, UINT32_MAX), 15999);
}

static void backoff_with_half_random_is_half_the_ceiling(void **state)
{
	assert_int_equal(retry_backoff_ms(2, 500, 30000, 1u << 31), 1000);
}

static void backoff_ceiling_grows_with_the_attempt(void **state)
{
	uint64_t prev = retry_backoff_ms(0, RETRY_BASE_MS, RETRY_CAP_MS, UINT32_MAX);
	for (unsigned attempt = 1; attempt <= 5; attempt++) {
		uint64_t cur = retry_backoff_ms(attempt, RETRY_BASE_MS, RETRY_CAP_MS, UINT32_MAX);
		assert_true(cur > prev);
		assert_true(cur >= 2 * prev);
		prev = cur;
	}
}

static void backoff_is_capped_once_the_doubling_passes_the_cap(void **state)
{
	/* 500 * 2^6 = 32000 > 30000: from attempt 6 on, the cap is the ceiling. */
	assert_int_equal(retry_backoff_ms(6, 500, 30000, UINT32_MAX), 29999);
	assert_int_equal(retry_backoff_ms(10, 500, 30000, UINT32_MAX), 29999);
}

static void backoff_respects_the_cap_for_large_attempts_without_overflow(void **state)
{
	static const unsigned attempts[] = { 31, 32, 33, 40, 63, 64, 1000, UINT32_MAX };
	for (size_t i = 0; i < sizeof(attempts) / sizeof(attempts[0]); i++) {
		uint64_t w = retry_backoff_ms(attempts[i], RETRY_BASE_MS, RETRY_CAP_MS, UINT32_MAX);
		assert_int_equal(w, RETRY_CAP_MS - 1);
		w = retry_backoff_ms(attempts[i], RETRY_BASE_MS, RETRY_CAP_MS, 1u << 31);
		assert_int_equal(w, RETRY_CAP_MS / 2);
	}
}

/* ---- retry_classify ------------------------------------------------------------------ */

static void transport_error_is_retried_with_backoff(void **state)
{
	struct http_response r = response(0, "");
	r.transport_error = true;
	struct retry_decision d = retry_classify(&r, 0, 0, NOW, UINT32_MAX);
	assert_int_equal(d.verdict, RETRY_AGAIN);
	assert_int_equal(d.wait_ms, 499);
	assert_non_null(d.why);
}

static void server_errors_are_retried_with_backoff(void **state)
{
	static const long statuses[] = { 500, 502, 503 };
	for (size_t i = 0; i < 3; i++) {
		struct http_response r = response(statuses[i], "{\"message\":\"Server Error\"}");
		struct retry_decision d = retry_classify(&r, 3, 0, NOW, UINT32_MAX);
		assert_int_equal(d.verdict, RETRY_AGAIN);
		assert_int_equal(d.wait_ms, 3999);
	}
}

static void success_and_client_errors_are_done(void **state)
{
	static const long statuses[] = { 200, 201, 204, 404, 409, 422 };
	for (size_t i = 0; i < sizeof(statuses) / sizeof(statuses[0]); i++) {
		struct http_response r = response(statuses[i], "{}");
		struct retry_decision d = retry_classify(&r, 0, 0, NOW, UINT32_MAX);
		assert_int_equal(d.verdict, RETRY_DONE);
		assert_int_equal(d.wait_ms, 0);
	}
}

static void unauthorized_fails_authentication(void **state)
{
	struct http_response r = response(401, "{\"message\":\"Bad credentials\"}");
	assert_int_equal(retry_classify(&r, 0, 0, NOW, 0).verdict, RETRY_AUTH_FAILED);
}

static void forbidden_without_rate_limit_signs_fails_authentication(void **state)
{
	struct http_response r =
	    response(403, "{\"message\":\"Resource not accessible by integration\"}");
	r.ratelimit_remaining = 4999;
	r.ratelimit_limit = 5000;
	r.ratelimit_reset = NOW + 120;
	assert_int_equal(retry_classify(&r, 0, 0, NOW, 0).verdict, RETRY_AUTH_FAILED);
}

static void forbidden_with_no_remaining_waits_until_one_second_past_the_reset(void **state)
{
	struct http_response r = response(403, "{\"message\":\"API rate limit exceeded\"}");
	r.ratelimit_remaining = 0;
	r.ratelimit_limit = 5000;
	r.ratelimit_reset = NOW + 120;
	struct retry_decision d = retry_classify(&r, 0, 0, NOW, UINT32_MAX);
	assert_int_equal(d.verdict, RETRY_RATE_LIMITED);
	assert_int_equal(d.wait_ms, 121000);
}

static void too_many_requests_with_retry_after_waits_that_long(void **state)
{
	struct http_response r = response(429, "");
	r.retry_after_s = 7;
	struct retry_decision d = retry_classify(&r, 0, 0, NOW, UINT32_MAX);
	assert_int_equal(d.verdict, RETRY_RATE_LIMITED);
	assert_int_equal(d.wait_ms, 7000);
}

static void secondary_limit_without_headers_waits_at_least_a_minute(void **state)
{
	struct http_response r = response(403, secondary_body);
	struct retry_decision d = retry_classify(&r, 0, 0, NOW, 0);
	assert_int_equal(d.verdict, RETRY_RATE_LIMITED);
	assert_true(d.wait_ms >= 60000);
	d = retry_classify(&r, 4, 0, NOW, UINT32_MAX);
	assert_int_equal(d.verdict, RETRY_RATE_LIMITED);
	assert_true(d.wait_ms >= 60000);
}

static void secondary_limit_with_remaining_requests_still_waits_a_minute(void **state)
{
	/* GitHub sends x-ratelimit-* on every response: a secondary limit hit with primary
	 * budget left is still a rate limit, not a credentials problem. */
	struct http_response r = response(403, secondary_body);
	r.ratelimit_remaining = 4000;
	r.ratelimit_limit = 5000;
	r.ratelimit_reset = NOW + 1800;
	struct retry_decision d = retry_classify(&r, 0, 0, NOW, 0);
	assert_int_equal(d.verdict, RETRY_RATE_LIMITED);
	assert_true(d.wait_ms >= 60000);
}

static void too_many_requests_without_headers_waits_at_least_a_minute(void **state)
{
	struct http_response r = response(429, "");
	struct retry_decision d = retry_classify(&r, 0, 0, NOW, 0);
	assert_int_equal(d.verdict, RETRY_RATE_LIMITED);
	assert_true(d.wait_ms >= 60000);
}

static void retry_after_wins_over_ratelimit_reset(void **state)
{
	struct http_response r = response(403, secondary_body);
	r.retry_after_s = 7;
	r.ratelimit_remaining = 0;
	r.ratelimit_reset = NOW + 120;
	struct retry_decision d = retry_classify(&r, 0, 0, NOW, UINT32_MAX);
	assert_int_equal(d.verdict, RETRY_RATE_LIMITED);
	assert_int_equal(d.wait_ms, 7000);
}

static void a_fleets_queue_waits_a_minute_each_time_then_exponentially_longer(void **state)
{
	/* "If your request continues to fail due to a secondary rate limit, wait for an
	 * exponentially increasing amount of time between retries" (reference §6, §7.16): past
	 * RETRY_QUEUE_STREAK in a row. Before that the pods refused in turn by a shared limit
	 * are a queue (retry.h). */
	struct http_response r = response(403, secondary_body);
	for (unsigned before = 0; before < RETRY_QUEUE_STREAK; before++) {
		struct retry_decision d = retry_classify(&r, before, before, NOW, 0);
		assert_int_equal(d.verdict, RETRY_RATE_LIMITED);
		assert_true(d.secondary);
		assert_int_equal(d.wait_ms, 60000);
		assert_int_equal(retry_classify(&r, before, before, NOW, UINT32_MAX).wait_ms,
				 60000);
	}
	uint64_t floor_ms = 120000;
	for (unsigned before = RETRY_QUEUE_STREAK; before < RETRY_QUEUE_STREAK + 5;
	     before++, floor_ms *= 2) {
		struct retry_decision d = retry_classify(&r, before, before, NOW, UINT32_MAX);
		assert_true(d.secondary);
		assert_int_equal(d.wait_ms, floor_ms);
	}
}

static void a_retry_after_is_honoured_as_given_then_doubled_past_the_queue_streak(void **state)
{
	struct http_response r = response(429, secondary_body);
	r.retry_after_s = 7;
	for (unsigned before = 0; before < RETRY_QUEUE_STREAK; before++)
		assert_int_equal(retry_classify(&r, before, before, NOW, UINT32_MAX).wait_ms, 7000);
	assert_int_equal(retry_classify(&r, 0, RETRY_QUEUE_STREAK, NOW, UINT32_MAX).wait_ms, 14000);
	assert_int_equal(retry_classify(&r, 0, RETRY_QUEUE_STREAK + 1, NOW, UINT32_MAX).wait_ms,
			 28000);
	assert_true(retry_classify(&r, 2, 2, NOW, UINT32_MAX).secondary);
}

static void exponential_secondary_waits_stop_at_an_hour(void **state)
{
	struct http_response r = response(403, secondary_body);
	for (unsigned before = RETRY_QUEUE_STREAK + 6; before < 90; before += 7)
		assert_true(retry_classify(&r, 0, before, NOW, 0).wait_ms ==
			    (uint64_t)RETRY_MAX_WAIT_S * 1000);
	r.retry_after_s = 3000;
	assert_int_equal(retry_classify(&r, 0, 1, NOW, 0).wait_ms, 3000000);
	assert_int_equal(retry_classify(&r, 0, RETRY_QUEUE_STREAK, NOW, 0).wait_ms,
			 (uint64_t)RETRY_MAX_WAIT_S * 1000);
}

static void primary_limit_is_not_secondary_and_never_doubled(void **state)
{
	struct http_response r = response(403, "{\"message\":\"API rate limit exceeded\"}");
	r.ratelimit_remaining = 0;
	r.ratelimit_reset = NOW + 120;
	struct retry_decision d = retry_classify(&r, 3, 3, NOW, UINT32_MAX);
	assert_false(d.secondary);
	assert_int_equal(d.wait_ms, 121000);
}

static void hints_get_a_jitter_that_grows_with_them_up_to_4_s(void **state)
{
	/* Pods told the same retry-after at the same moment must not return together, nor
	 * leave the endpoint's next minute unused for long (retry.h). */
	assert_int_equal(retry_hint_jitter_ms(10000, 0), 0);
	assert_int_equal(retry_hint_jitter_ms(10000, UINT32_MAX), 1499);
	assert_int_equal(retry_hint_jitter_ms(0, UINT32_MAX), 999);
	assert_int_equal(retry_hint_jitter_ms(60000, UINT32_MAX), 3999);
	assert_int_equal(retry_hint_jitter_ms(3600000, UINT32_MAX), 3999);
	assert_int_equal(retry_hint_jitter_ms(10000, 1u << 31), 750);
}

static void other_answers_are_not_secondary_limits(void **state)
{
	static const long statuses[] = { 200, 201, 401, 404, 422, 500, 502 };
	for (size_t i = 0; i < sizeof(statuses) / sizeof(statuses[0]); i++) {
		struct http_response r = response(statuses[i], "{}");
		assert_false(retry_classify(&r, 0, 3, NOW, UINT32_MAX).secondary);
	}
}

static void the_last_fifth_of_an_hours_budget_is_reserved(void **state)
{
	/* Deregistrations get the credential's last fifth (retry.h): a PAT's 999 of 5,000, an
	 * installation's 2,499 of 12,500. */
	assert_true(retry_budget_reserved(999, 5000));
	assert_false(retry_budget_reserved(1000, 5000));
	assert_true(retry_budget_reserved(0, 5000));
	assert_true(retry_budget_reserved(2499, 12500));
	assert_false(retry_budget_reserved(2500, 12500));
	/* Unknown (no x-ratelimit headers, e.g. a proxy's answer) is not low. */
	assert_false(retry_budget_reserved(-1, 5000));
	assert_false(retry_budget_reserved(10, -1));
	assert_false(retry_budget_reserved(0, 0));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(backoff_with_zero_random_is_zero),
		cmocka_unit_test(
		    backoff_with_max_random_is_just_under_base_times_two_to_the_attempt),
		cmocka_unit_test(backoff_with_half_random_is_half_the_ceiling),
		cmocka_unit_test(backoff_ceiling_grows_with_the_attempt),
		cmocka_unit_test(backoff_is_capped_once_the_doubling_passes_the_cap),
		cmocka_unit_test(backoff_respects_the_cap_for_large_attempts_without_overflow),
		cmocka_unit_test(transport_error_is_retried_with_backoff),
		cmocka_unit_test(server_errors_are_retried_with_backoff),
		cmocka_unit_test(success_and_client_errors_are_done),
		cmocka_unit_test(unauthorized_fails_authentication),
		cmocka_unit_test(forbidden_without_rate_limit_signs_fails_authentication),
		cmocka_unit_test(forbidden_with_no_remaining_waits_until_one_second_past_the_reset),
		cmocka_unit_test(too_many_requests_with_retry_after_waits_that_long),
		cmocka_unit_test(secondary_limit_without_headers_waits_at_least_a_minute),
		cmocka_unit_test(secondary_limit_with_remaining_requests_still_waits_a_minute),
		cmocka_unit_test(too_many_requests_without_headers_waits_at_least_a_minute),
		cmocka_unit_test(retry_after_wins_over_ratelimit_reset),
		cmocka_unit_test(a_fleets_queue_waits_a_minute_each_time_then_exponentially_longer),
		cmocka_unit_test(
		    a_retry_after_is_honoured_as_given_then_doubled_past_the_queue_streak),
		cmocka_unit_test(exponential_secondary_waits_stop_at_an_hour),
		cmocka_unit_test(primary_limit_is_not_secondary_and_never_doubled),
		cmocka_unit_test(hints_get_a_jitter_that_grows_with_them_up_to_4_s),
		cmocka_unit_test(other_answers_are_not_secondary_limits),
		cmocka_unit_test(the_last_fifth_of_an_hours_budget_is_reserved),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
