/* The termination summary with the strings outside input puts in it (found by fuzz/report.c):
 * it is always written, and always fits Kubernetes' 4096 bytes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "report.h"
#include "sandbox.h"

static json_t *summary_of(const struct report *r)
{
	char *s = report_json(r);
	assert_non_null(s);
	assert_true(strlen(s) <= REPORT_MAX);
	json_t *j = json_loads(s, 0, NULL);
	assert_non_null(j);
	free(s);
	return j;
}

static const char *reason_in(json_t *j)
{
	const char *reason =
	    json_string_value(json_object_get(json_object_get(j, "exit"), "reason"));
	assert_non_null(reason);
	return reason;
}

static void a_reason_cut_inside_a_character_is_kept(void **state)
{
	/* github.c quotes GitHub's message with "%.200s", which may cut a character in two. */
	struct report r = { .reason =
				"POST /orgs/acme/actions/runners/generate-jitconfig: HTTP 422: "
				"Nom d\xc3\xa9j\xc3",
			    .listener_code = -1 };
	json_t *j = summary_of(&r);
	assert_string_equal(reason_in(j), "POST /orgs/acme/actions/runners/generate-jitconfig: "
					  "HTTP 422: Nom d\xc3\xa9j\xef\xbf\xbd");
	json_decref(j);
}

static void bytes_that_are_not_utf8_are_replaced_not_the_whole_summary(void **state)
{
	/* A proxy's error page in Latin-1, quoted in the error that ended the pod. */
	struct report r = { .reason = "HTTP 502: <h1>Passerelle d\xe9\x66\x61illante</h1>",
			    .listener_code = -1 };
	snprintf(r.job_name, sizeof(r.job_name), "build \xff\xfe");
	json_t *j = summary_of(&r);
	assert_string_equal(reason_in(j), "HTTP 502: <h1>Passerelle d\xef\xbf\xbd"
					  "faillante</h1>");
	assert_string_equal(json_string_value(json_object_get(json_object_get(j, "job"), "name")),
			    "build \xef\xbf\xbd\xef\xbf\xbd");
	json_decref(j);
}

static void control_characters_everywhere_still_fit(void **state)
{
	/* Each control character is six bytes of JSON (\u0001): the reason is shortened too. */
	char reason[512];
	memset(reason, '\x01', sizeof(reason) - 1);
	reason[sizeof(reason) - 1] = '\0';
	struct report r = { .reason = reason, .listener_code = 1, .runner_id = 1LL << 53 };
	memset(r.runner_name, '\x02', sizeof(r.runner_name) - 1);
	memset(r.job_name, '\x03', sizeof(r.job_name) - 1);
	for (int p = 0; p < PH_COUNT; p++)
		r.phase_ms[p] = 1ULL << 40;
	/* Every layer the sandbox reports, by the names it reports them under. */
	for (; r.n_layers < SBX_L_COUNT; r.n_layers++)
		r.layers[r.n_layers] =
		    (struct report_layer){ sbx_layer_name((enum sbx_layer)r.n_layers),
					   "unavailable" };
	json_t *j = summary_of(&r);
	assert_true(strlen(reason_in(j)) > 0);
	json_decref(j);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(a_reason_cut_inside_a_character_is_kept),
		cmocka_unit_test(bytes_that_are_not_utf8_are_replaced_not_the_whole_summary),
		cmocka_unit_test(control_characters_everywhere_still_fit),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
