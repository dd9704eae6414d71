/* What the job cgroup tells after the job (sandbox/cgroup.c), read from a directory laid out as
 * the kernel lays out a cgroup's files (Documentation/admin-guide/cgroup-v2.rst, cgroup-v1
 * memory.rst): the figures of the job's cost (supervisor/cost.h). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "cgroup.h"

static char dir[] = "/tmp/rs-test-cgroup-XXXXXX";

static void put(const char *file, const char *text)
{
	char path[512];
	snprintf(path, sizeof(path), "%s/%s", dir, file);
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

static int setup(void **state)
{
	(void)state;
	strcpy(dir, "/tmp/rs-test-cgroup-XXXXXX");
	return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state)
{
	(void)state;
	static const char *const files[] = { "cpu.stat", "memory.events", "memory.peak",
					     "memory.oom_control", "memory.max_usage_in_bytes" };
	char path[512];
	for (size_t i = 0; i < sizeof(files) / sizeof(*files); i++) {
		snprintf(path, sizeof(path), "%s/%s", dir, files[i]);
		unlink(path);
	}
	return rmdir(dir);
}

static struct sbx_cgroup job_cgroup(int version)
{
	struct sbx_cgroup cg = { .version = version };
	snprintf(cg.dir, sizeof(cg.dir), "%s", dir);
	return cg;
}

static void test_v2_cpu_peak_and_oom_kills_of_the_job_cgroup(void **state)
{
	(void)state;
	put("cpu.stat", "usage_usec 1234567\nuser_usec 1000000\nsystem_usec 234567\n"
			"nr_periods 0\n");
	put("memory.peak", "31305728\n");
	put("memory.events", "low 0\nhigh 0\nmax 4\noom 1\noom_kill 2\noom_group_kill 1\n");
	struct sbx_cgroup cg = job_cgroup(2);

	assert_int_equal(sbx_cgroup_cpu_us(&cg), 1234567);
	assert_int_equal(sbx_cgroup_peak(&cg), 31305728);
	assert_int_equal(sbx_cgroup_oom_kills(&cg), 2);
}

static void test_v1_has_no_cpu_in_the_memory_hierarchy(void **state)
{
	(void)state;
	put("cpu.stat", "usage_usec 99\n"); /* not what v1 reads: cpuacct is elsewhere */
	put("memory.max_usage_in_bytes", "4096\n");
	put("memory.oom_control", "oom_kill_disable 0\nunder_oom 0\noom_kill 0\n");
	struct sbx_cgroup cg = job_cgroup(1);

	assert_int_equal(sbx_cgroup_cpu_us(&cg), -1);
	assert_int_equal(sbx_cgroup_peak(&cg), 4096);
	assert_int_equal(sbx_cgroup_oom_kills(&cg), 0);
}

static void test_no_job_cgroup_knows_nothing(void **state)
{
	(void)state;
	struct sbx_cgroup cg = { .version = 2 };

	assert_int_equal(sbx_cgroup_cpu_us(&cg), -1);
	assert_int_equal(sbx_cgroup_peak(&cg), -1);
	assert_int_equal(sbx_cgroup_oom_kills(&cg), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_v2_cpu_peak_and_oom_kills_of_the_job_cgroup,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_v1_has_no_cpu_in_the_memory_hierarchy, setup,
						teardown),
		cmocka_unit_test(test_no_job_cgroup_knows_nothing),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
