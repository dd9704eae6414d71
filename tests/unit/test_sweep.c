/* The fleet's sweep: which runners a pod may take for ghosts, and which page it looks at. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <cmocka.h>

#include "names.h"
#include "sweep.h"

/* 2026-12-07 19:00:00 UTC, a whole minute; SUPERVISOR_SWEEP_AFTER at its default. */
#define NOW_S   1796670000LL
#define AFTER_S 120LL

static struct gh_runner_brief ghost(long long id)
{
	return (struct gh_runner_brief){ .id = id, .in_fleet = true, .born_minute = -1 };
}

/* A ghost whose labels include label, read as the page's parser reads it. */
static struct gh_runner_brief labelled(long long id, const char *label)
{
	struct gh_runner_brief b = ghost(id);
	b.born_minute = runner_born_minute(label);
	return b;
}

static struct gh_runner_brief born_ago(long long id, long long seconds)
{
	char label[BORN_LABEL_SIZE];
	runner_born_label((time_t)(NOW_S - seconds), label);
	return labelled(id, label);
}

static size_t pick(const struct gh_runner_brief *page, size_t n, long long own_id, size_t max,
		   long long *out)
{
	struct sweep_judge by = { .own_id = own_id, .now_s = NOW_S, .after_s = AFTER_S };
	return sweep_pick(page, n, &by, max, out);
}

static void only_offline_idle_older_runners_of_the_fleet_are_ghosts(void **state)
{
	struct gh_runner_brief page[8];
	for (int i = 0; i < 8; i++)
		page[i] = ghost(10 + i);
	page[1].online = true;    /* a live pod's */
	page[2].busy = true;      /* running a job, maybe with a dead Listener */
	page[3].in_fleet = false; /* another fleet's, or a hand-made runner */
	/* 16: our own (own_id), 17: registered after ours, maybe still starting */
	long long out[8];
	size_t n = pick(page, 8, 16, 8, out);
	assert_int_equal(n, 3);
	assert_int_equal(out[0], 10);
	assert_int_equal(out[1], 14);
	assert_int_equal(out[2], 15);
}

static void at_most_max_are_taken_the_oldest_first(void **state)
{
	struct gh_runner_brief page[5] = { ghost(3), ghost(4), ghost(5), ghost(6), ghost(7) };
	long long out[5];
	assert_int_equal(pick(page, 5, 100, 2, out), 2);
	assert_int_equal(out[0], 3);
	assert_int_equal(out[1], 4);
	assert_int_equal(pick(page, 5, 100, 0, out), 0);
}

static void nothing_without_an_id_of_our_own(void **state)
{
	struct gh_runner_brief page[2] = { ghost(3), ghost(0) };
	long long out[2];
	assert_int_equal(pick(page, 2, 0, 2, out), 0);
	assert_int_equal(pick(page, 2, 3, 2, out), 0); /* not itself, not an id of 0 */
}

static void an_old_born_label_makes_a_ghost_whatever_its_id(void **state)
{
	/* Registered after ours (a higher id), by a pod SIGKILLed late in a wave: its label says
	 * more than SUPERVISOR_SWEEP_AFTER and the margin ago. */
	struct gh_runner_brief page[3] = { born_ago(20, AFTER_S + SWEEP_BORN_MARGIN_S + 1),
					   born_ago(21, 3600), born_ago(22, 86400) };
	long long out[3];
	assert_int_equal(pick(page, 3, 16, 3, out), 3);
	assert_int_equal(out[0], 20);
	assert_int_equal(out[2], 22);
	/* Still only the offline, idle runners of the fleet. */
	page[0].online = true;
	page[1].busy = true;
	page[2].in_fleet = false;
	assert_int_equal(pick(page, 3, 16, 3, out), 0);
}

static void the_margin_is_counted_from_the_labelled_minute(void **state)
{
	/* The label floors: at exactly after + margin since the minute's start, the request may
	 * have come 59 s later, so not yet; a minute earlier, and it surely came long enough
	 * ago. */
	long long edge = (NOW_S - AFTER_S - SWEEP_BORN_MARGIN_S) / 60;
	char label[BORN_LABEL_SIZE];
	snprintf(label, sizeof(label), BORN_LABEL_PREFIX "%lld", edge);
	struct gh_runner_brief page[1] = { labelled(20, label) };
	long long out[1];
	assert_int_equal(pick(page, 1, 16, 1, out), 0);
	snprintf(label, sizeof(label), BORN_LABEL_PREFIX "%lld", edge - 1);
	page[0] = labelled(20, label);
	assert_int_equal(pick(page, 1, 16, 1, out), 1);
}

static void a_young_born_label_keeps_a_runner_registered_after_ours(void **state)
{
	/* Maybe a pod still starting: its label says within SUPERVISOR_SWEEP_AFTER and the
	 * margin, this very minute, or a minute still to come (a clock ahead of ours). */
	struct gh_runner_brief page[4] = { born_ago(20, AFTER_S), born_ago(21, 0),
					   born_ago(22, -60), born_ago(23, -86400) };
	long long out[4];
	assert_int_equal(pick(page, 4, 16, 4, out), 0);
}

static void a_lower_id_is_proof_enough_whatever_the_label(void **state)
{
	/* Registered before ours, which is older than SUPERVISOR_SWEEP_AFTER: the id needs no
	 * clock, so a label that cannot prove as much does not keep it. */
	struct gh_runner_brief page[2] = { born_ago(10, 0), born_ago(11, -600) };
	long long out[2];
	assert_int_equal(pick(page, 2, 16, 2, out), 2);
}

static void a_malformed_born_label_counts_as_none(void **state)
{
	const char *bad[] = { "rs-born-",
			      "rs-born-12x",
			      "rs-born-99999999999999999999",
			      "rs-born--5",
			      "rs-born-+5",
			      "rs-born- 5",
			      "rs-born-5 ",
			      "rs-born-0x10",
			      "rs-bor-5",
			      "rs-born",
			      "" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		/* Whatever a lenient reader would make of them, the id alone judges. */
		struct gh_runner_brief page[2] = { labelled(10, bad[i]), labelled(20, bad[i]) };
		long long out[2];
		assert_int_equal(page[0].born_minute, -1);
		assert_int_equal(pick(page, 2, 16, 2, out), 1);
		assert_int_equal(out[0], 10);
	}
	assert_int_equal(runner_born_minute(NULL), -1);
}

static void born_labels_are_read_as_written(void **state)
{
	char label[BORN_LABEL_SIZE];
	runner_born_label((time_t)NOW_S + 59, label);
	assert_string_equal(label, "rs-born-29944500");
	assert_int_equal(runner_born_minute(label), NOW_S / 60);
	assert_int_equal(runner_born_minute("RS-Born-7"), 7); /* GitHub ignores labels' case */
	assert_int_equal(runner_born_minute("rs-born-0"), 0);
	char max[BORN_LABEL_SIZE];
	snprintf(max, sizeof(max), BORN_LABEL_PREFIX "%lld", (long long)BORN_MINUTE_MAX);
	assert_int_equal(runner_born_minute(max), BORN_MINUTE_MAX);
	snprintf(max, sizeof(max), BORN_LABEL_PREFIX "%lld", (long long)BORN_MINUTE_MAX + 1);
	assert_int_equal(runner_born_minute(max), -1);
}

static void the_pods_own_runner_is_never_taken(void **state)
{
	struct gh_runner_brief page[1] = { born_ago(16, 86400) };
	long long out[1];
	assert_int_equal(pick(page, 1, 16, 1, out), 0);
}

static void the_second_page_is_any_other_page_at_random(void **state)
{
	assert_int_equal(sweep_second_page(0, 0), 0);
	assert_int_equal(sweep_second_page(100, UINT32_MAX), 0); /* one page: none other */
	assert_int_equal(sweep_second_page(101, 0), 2);
	assert_int_equal(sweep_second_page(101, UINT32_MAX), 2);
	assert_int_equal(sweep_second_page(1000, 0), 2);
	assert_int_equal(sweep_second_page(1000, UINT32_MAX), 10);
	assert_int_equal(sweep_second_page(1000, 1u << 31), 6);
	assert_int_equal(sweep_second_page(10000000, UINT32_MAX), 1000); /* bounded */
}

static void a_pod_looks_with_a_chance_that_grows_with_its_life(void **state)
{
	/* SUPERVISOR_SWEEP_AFTER 120 s: never before 2 minutes, always from 16 on. */
	assert_false(sweep_chosen(119999, 120, 0));
	assert_true(sweep_chosen(120000, 120, 0));
	assert_false(sweep_chosen(120000, 120, UINT32_MAX));
	/* 4 minutes of 16: a quarter of the random range. */
	assert_true(sweep_chosen(240000, 120, (1u << 30) - 1));
	assert_false(sweep_chosen(240000, 120, 1u << 30));
	assert_true(sweep_chosen(960000, 120, UINT32_MAX));
	assert_true(sweep_chosen(86400000, 120, UINT32_MAX));
	/* A second: from 8 s of life, every pod (the tests' setting). */
	assert_true(sweep_chosen(8000, 1, UINT32_MAX));
	assert_false(sweep_chosen(7999, 1, UINT32_MAX));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(only_offline_idle_older_runners_of_the_fleet_are_ghosts),
		cmocka_unit_test(at_most_max_are_taken_the_oldest_first),
		cmocka_unit_test(nothing_without_an_id_of_our_own),
		cmocka_unit_test(an_old_born_label_makes_a_ghost_whatever_its_id),
		cmocka_unit_test(the_margin_is_counted_from_the_labelled_minute),
		cmocka_unit_test(a_young_born_label_keeps_a_runner_registered_after_ours),
		cmocka_unit_test(a_lower_id_is_proof_enough_whatever_the_label),
		cmocka_unit_test(a_malformed_born_label_counts_as_none),
		cmocka_unit_test(born_labels_are_read_as_written),
		cmocka_unit_test(the_pods_own_runner_is_never_taken),
		cmocka_unit_test(the_second_page_is_any_other_page_at_random),
		cmocka_unit_test(a_pod_looks_with_a_chance_that_grows_with_its_life),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
