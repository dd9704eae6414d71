/* The fleet's sweep: which runners a pod may take for ghosts, and which page it looks at. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "sweep.h"

static struct gh_runner_brief ghost(long long id)
{
	return (struct gh_runner_brief){ .id = id, .in_fleet = true };
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
	size_t n = sweep_pick(page, 8, 16, 8, out);
	assert_int_equal(n, 3);
	assert_int_equal(out[0], 10);
	assert_int_equal(out[1], 14);
	assert_int_equal(out[2], 15);
}

static void at_most_max_are_taken_the_oldest_first(void **state)
{
	struct gh_runner_brief page[5] = { ghost(3), ghost(4), ghost(5), ghost(6), ghost(7) };
	long long out[5];
	assert_int_equal(sweep_pick(page, 5, 100, 2, out), 2);
	assert_int_equal(out[0], 3);
	assert_int_equal(out[1], 4);
	assert_int_equal(sweep_pick(page, 5, 100, 0, out), 0);
}

static void nothing_without_an_id_of_our_own(void **state)
{
	struct gh_runner_brief page[2] = { ghost(3), ghost(0) };
	long long out[2];
	assert_int_equal(sweep_pick(page, 2, 0, 2, out), 0);
	assert_int_equal(sweep_pick(page, 2, 3, 2, out), 0); /* not itself, not an id of 0 */
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
		cmocka_unit_test(the_second_page_is_any_other_page_at_random),
		cmocka_unit_test(a_pod_looks_with_a_chance_that_grows_with_its_life),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
