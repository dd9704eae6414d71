/* Logging: JSON and text lines, and the redaction guard. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"

static int teardown(void **state)
{
	log_forget_secrets();
	log_set_format(LOG_FORMAT_JSON);
	log_set_min_level(LOG_INFO);
	log_set_fd(2);
	return 0;
}

static json_t *parse(const char *line)
{
	json_error_t e;
	json_t *j = json_loads(line, 0, &e);
	assert_non_null(j);
	return j;
}

static void json_line_has_required_keys(void **state)
{
	char *line = log_format_line(
	    LOG_INFO, "child.started",
	    LOG_FIELDS(LOG_INT("pid", 42), LOG_STR("command", "make"), LOG_BOOL("pid1", 1)),
	    "started make");
	json_t *j = parse(line);
	assert_string_equal(json_string_value(json_object_get(j, "level")), "info");
	assert_string_equal(json_string_value(json_object_get(j, "event")), "child.started");
	assert_string_equal(json_string_value(json_object_get(j, "msg")), "started make");
	assert_int_equal(json_integer_value(json_object_get(j, "pid")), 42);
	assert_string_equal(json_string_value(json_object_get(j, "command")), "make");
	assert_true(json_is_true(json_object_get(j, "pid1")));
	const char *ts = json_string_value(json_object_get(j, "ts"));
	assert_non_null(ts);
	/* 2026-11-30T15:27:55.123Z */
	assert_int_equal(strlen(ts), 24);
	assert_int_equal(ts[10], 'T');
	assert_int_equal(ts[23], 'Z');
	assert_null(strchr(line, '\n'));
	json_decref(j);
	free(line);
}

static void json_line_survives_invalid_utf8_and_quotes(void **state)
{
	char *line = log_format_line(LOG_WARN, "runner.output",
				     LOG_FIELDS(LOG_STR("line", "bad \xff\xfe byte \"quoted\"\n")),
				     "a \"msg\"");
	json_t *j = parse(line);
	const char *v = json_string_value(json_object_get(j, "line"));
	assert_non_null(strstr(v, "\xEF\xBF\xBD"));
	assert_non_null(strstr(v, "\"quoted\""));
	json_decref(j);
	free(line);
}

static void raw_json_field_is_embedded_as_an_object(void **state)
{
	char *line =
	    log_format_line(LOG_INFO, "supervisor.exit",
			    LOG_FIELDS(LOG_JSON("summary", "{\"exit\":{\"code\":0}}")), "bye");
	json_t *j = parse(line);
	json_t *code =
	    json_object_get(json_object_get(json_object_get(j, "summary"), "exit"), "code");
	assert_int_equal(json_integer_value(code), 0);
	json_decref(j);
	free(line);
}

static void text_line_is_one_line_with_fields(void **state)
{
	log_set_format(LOG_FORMAT_TEXT);
	char *line = log_format_line(LOG_ERROR, "child.exec_failed",
				     LOG_FIELDS(LOG_STR("path", "/x"), LOG_INT("errno", 2)),
				     "cannot run\n/x");
	assert_non_null(
	    strstr(line, " error child.exec_failed: cannot run\\x0a/x path=/x errno=2"));
	assert_null(strchr(line, '\n'));
	free(line);
}

static void text_line_escapes_what_a_terminal_would_act_on(void **state)
{
	/* A job's output: an escape sequence that clears the screen, a carriage return and a
	 * backspace that would rewrite the line a person reads in kubectl logs. */
	log_set_format(LOG_FORMAT_TEXT);
	char *line = log_format_line(LOG_INFO, "runner.output", LOG_FIELDS(LOG_STR("s", "a\bb")),
				     "\x1b[2Jok\rforged\ttab\x7f");
	assert_non_null(strstr(line, "\\x1b[2Jok\\x0dforged\ttab\\x7f s=a\\x08b"));
	for (const char *p = line; *p; p++)
		assert_true((unsigned char)*p >= 0x20 || *p == '\t');
	free(line);
}

static void a_long_message_is_logged_whole(void **state)
{
	int fds[2];
	assert_int_equal(pipe(fds), 0);
	log_set_fd(fds[1]);
	char big[5000];
	memset(big, 'x', sizeof(big) - 2);
	big[sizeof(big) - 2] = 'E';
	big[sizeof(big) - 1] = '\0';
	log_event(LOG_INFO, "runner.output", NULL, "%s", big);
	close(fds[1]);
	char buf[8192] = { 0 };
	ssize_t n = 0, r;
	while ((r = read(fds[0], buf + n, sizeof(buf) - 1 - (size_t)n)) > 0)
		n += r;
	close(fds[0]);
	assert_non_null(strstr(buf, "xxE\""));
}

static void secret_inside_a_longer_message_is_redacted(void **state)
{
	const char *secret = "ghp_ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
	assert_int_equal(log_add_secret(secret), 0);
	char msg[256];
	snprintf(msg, sizeof(msg), "Authorization: token %s(end)", secret);
	char *line = log_format_line(LOG_INFO, "gh.debug", NULL, msg);
	assert_null(strstr(line, secret));
	assert_null(strstr(line, "ABCDEFGHIJKLMNOP"));
	assert_non_null(strstr(line, "Authorization: token ***(end)"));
	free(line);
}

static void secret_in_a_field_and_in_text_mode_is_redacted(void **state)
{
	const char *secret = "s3cr3t-value";
	log_add_secret(secret);
	char *line = log_format_line(LOG_INFO, "x",
				     LOG_FIELDS(LOG_STR("url", "https://u:s3cr3t-value@h/")), "m");
	assert_null(strstr(line, secret));
	assert_non_null(strstr(line, "https://u:***@h/"));
	free(line);
	log_set_format(LOG_FORMAT_TEXT);
	line =
	    log_format_line(LOG_INFO, "x", LOG_FIELDS(LOG_STR("k", "pre-s3cr3t-value-post")), "m");
	assert_null(strstr(line, secret));
	assert_non_null(strstr(line, "k=pre-***-post"));
	free(line);
}

static void secret_with_newlines_is_redacted_in_its_json_escaped_form(void **state)
{
	const char *pem = "-----BEGIN KEY-----\nMIIabc\"def\n-----END KEY-----";
	log_add_secret(pem);
	char msg[256];
	snprintf(msg, sizeof(msg), "key=[%s]", pem);
	char *line = log_format_line(LOG_INFO, "x", NULL, msg);
	assert_null(strstr(line, "MIIabc"));
	assert_non_null(strstr(line, "key=[***]"));
	free(line);
	log_set_format(LOG_FORMAT_TEXT);
	line = log_format_line(LOG_INFO, "x", LOG_FIELDS(LOG_STR("k", pem)), msg);
	assert_null(strstr(line, "MIIabc"));
	assert_non_null(strstr(line, "key=[***] k=***"));
	free(line);
}

static void every_occurrence_of_every_secret_is_redacted(void **state)
{
	log_add_secret("alpha-secret");
	log_add_secret("beta-secret");
	char *s = log_redact("alpha-secret/beta-secret/alpha-secret");
	assert_string_equal(s, "***/***/***");
	free(s);
}

static void log_event_writes_one_redacted_line_to_the_fd(void **state)
{
	int fds[2];
	assert_int_equal(pipe(fds), 0);
	log_set_fd(fds[1]);
	log_add_secret("tok-123456");
	log_event(LOG_INFO, "e", NULL, "value %s here", "tok-123456");
	log_event(LOG_DEBUG, "hidden", NULL, "below the level");
	close(fds[1]);
	char buf[1024] = { 0 };
	ssize_t n = read(fds[0], buf, sizeof(buf) - 1);
	close(fds[0]);
	assert_true(n > 0);
	assert_null(strstr(buf, "tok-123456"));
	assert_non_null(strstr(buf, "value *** here"));
	assert_null(strstr(buf, "hidden"));
	assert_int_equal(buf[n - 1], '\n');
	assert_ptr_equal(strchr(buf, '\n'), buf + n - 1);
}

static void text_value_with_a_blank_is_quoted_so_it_reads_as_one_field(void **state)
{
	log_set_format(LOG_FORMAT_TEXT);
	char *line = log_format_line(LOG_INFO, "runner.registered",
				     LOG_FIELDS(LOG_STR("with", "JIT configuration"),
						LOG_STR("q", "say \"hi\""), LOG_STR("empty", ""),
						LOG_INT("took_ms", 5)),
				     "registered");
	assert_non_null(strstr(line, " with=\"JIT configuration\" q=\"say \\\"hi\\\"\" empty=\"\" "
				     "took_ms=5"));
	free(line);
}

static void a_secret_inside_a_quoted_text_value_is_still_redacted(void **state)
{
	/* The quoted form of a value is not the form registered: redaction comes first. */
	log_add_secret("pa\"ss word");
	log_set_format(LOG_FORMAT_TEXT);
	char *line =
	    log_format_line(LOG_INFO, "x", LOG_FIELDS(LOG_STR("k", "a pa\"ss word b")), "m");
	assert_null(strstr(line, "ss word"));
	assert_non_null(strstr(line, "k=\"a *** b\""));
	free(line);
}

static int renders;

static void test_renderer(const char *event, const struct log_field *fields,
			  struct log_text_view *view)
{
	renders++;
	if (strcmp(event, "table") == 0) {
		view->hide_fields = true;
		view->block = strdup("HEAD  COL\nrow1  s3cr3t\nrow2  \x1b[2J\n");
	} else if (strcmp(event, "bare") == 0) {
		view->hide_fields = true;
	}
}

static void a_rendered_block_is_indented_below_its_line_redacted_and_escaped(void **state)
{
	log_add_secret("s3cr3t");
	log_set_text_renderer(test_renderer);
	log_set_format(LOG_FORMAT_TEXT);
	char *line = log_format_line(LOG_INFO, "table", LOG_FIELDS(LOG_STR("layers", "{...}")),
				     "isolation: 2 of 2");
	log_set_text_renderer(NULL);
	const char *nl = strchr(line, '\n');
	assert_non_null(nl);
	/* The event's line says the message only; every line of the block is indented, so none
	 * can pass for an event; the secret and the escape sequence do not get through. */
	assert_true(strncmp(nl - strlen("isolation: 2 of 2"), "isolation: 2 of 2", 17) == 0);
	assert_null(strstr(line, "layers="));
	assert_string_equal(nl, "\n  HEAD  COL\n  row1  ***\n  row2  \\x1b[2J");
	free(line);
}

static void a_renderer_may_hide_the_fields_of_a_line(void **state)
{
	log_set_text_renderer(test_renderer);
	log_set_format(LOG_FORMAT_TEXT);
	char *line = log_format_line(LOG_INFO, "bare", LOG_FIELDS(LOG_STR("stream", "stdout")),
				     "2026-11-30 15:27:55Z: Listening for Jobs");
	char *other =
	    log_format_line(LOG_INFO, "other", LOG_FIELDS(LOG_STR("stream", "stdout")), "m");
	log_set_text_renderer(NULL);
	size_t len = strlen(line);
	assert_string_equal(line + len - strlen(" bare: 2026-11-30 15:27:55Z: Listening for Jobs"),
			    " bare: 2026-11-30 15:27:55Z: Listening for Jobs");
	assert_non_null(strstr(other, " other: m stream=stdout"));
	free(line);
	free(other);
}

static void json_lines_keep_every_field_whatever_the_renderer(void **state)
{
	renders = 0;
	log_set_text_renderer(test_renderer);
	char *line = log_format_line(LOG_INFO, "table", LOG_FIELDS(LOG_STR("layers", "x")), "m");
	log_set_text_renderer(NULL);
	json_t *j = parse(line);
	assert_string_equal(json_string_value(json_object_get(j, "layers")), "x");
	assert_null(strchr(line, '\n'));
	assert_int_equal(renders, 0);
	json_decref(j);
	free(line);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(json_line_has_required_keys, teardown),
		cmocka_unit_test_teardown(json_line_survives_invalid_utf8_and_quotes, teardown),
		cmocka_unit_test_teardown(raw_json_field_is_embedded_as_an_object, teardown),
		cmocka_unit_test_teardown(text_line_is_one_line_with_fields, teardown),
		cmocka_unit_test_teardown(text_line_escapes_what_a_terminal_would_act_on, teardown),
		cmocka_unit_test_teardown(a_long_message_is_logged_whole, teardown),
		cmocka_unit_test_teardown(secret_inside_a_longer_message_is_redacted, teardown),
		cmocka_unit_test_teardown(secret_in_a_field_and_in_text_mode_is_redacted, teardown),
		cmocka_unit_test_teardown(secret_with_newlines_is_redacted_in_its_json_escaped_form,
					  teardown),
		cmocka_unit_test_teardown(every_occurrence_of_every_secret_is_redacted, teardown),
		cmocka_unit_test_teardown(log_event_writes_one_redacted_line_to_the_fd, teardown),
		cmocka_unit_test_teardown(
		    text_value_with_a_blank_is_quoted_so_it_reads_as_one_field, teardown),
		cmocka_unit_test_teardown(a_secret_inside_a_quoted_text_value_is_still_redacted,
					  teardown),
		cmocka_unit_test_teardown(
		    a_rendered_block_is_indented_below_its_line_redacted_and_escaped, teardown),
		cmocka_unit_test_teardown(a_renderer_may_hide_the_fields_of_a_line, teardown),
		cmocka_unit_test_teardown(json_lines_keep_every_field_whatever_the_renderer,
					  teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
