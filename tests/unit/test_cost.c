/* What a job cost (cost.h): the bytes left under the work folder, and the figures in words. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cost.h"

static void write_file(const char *dir, const char *name, size_t size)
{
	char path[512];
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, (off_t)size), 0);
	close(fd);
}

static int rm_rf(const char *path)
{
	char cmd[600];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", path);
	return system(cmd);
}

static void the_work_folder_counts_its_files_at_every_depth_never_through_a_symlink(void **s)
{
	char dir[] = "/var/tmp/rs-cost-XXXXXX", outside[] = "/var/tmp/rs-cost-out-XXXXXX";
	assert_non_null(mkdtemp(dir));
	assert_non_null(mkdtemp(outside));
	char a[600], b[600], sub[600];
	snprintf(a, sizeof(a), "%s/a", dir);
	snprintf(b, sizeof(b), "%s/a/b", dir);
	snprintf(sub, sizeof(sub), "%s/a/b/c", dir);
	assert_int_equal(mkdir(a, 0755), 0);
	assert_int_equal(mkdir(b, 0755), 0);
	assert_int_equal(mkdir(sub, 0755), 0);
	write_file(dir, "top", 1000);
	write_file(a, "mid", 20000);
	write_file(sub, "deep", 3);
	/* What a symlink points to is not the job's work folder. */
	write_file(outside, "big", 1 << 20);
	char link[600];
	snprintf(link, sizeof(link), "%s/out", dir);
	assert_int_equal(symlink(outside, link), 0);

	assert_int_equal(cost_dir_bytes(dir), 1000 + 20000 + 3);
	assert_int_equal(cost_dir_bytes("/nonexistent/rs-cost"), -1);
	rm_rf(dir);
	rm_rf(outside);
}

static void sizes_read_as_a_person_says_them(void **s)
{
	char b[16];
	cost_format_bytes(0, b);
	assert_string_equal(b, "0 B");
	cost_format_bytes(1023, b);
	assert_string_equal(b, "1023 B");
	cost_format_bytes(1536, b);
	assert_string_equal(b, "1.5 KiB");
	cost_format_bytes(100LL << 20, b);
	assert_string_equal(b, "100 MiB");
	cost_format_bytes(5LL << 60, b);
	assert_string_equal(b, "5120 PiB");
}

static void only_what_was_measured_is_said(void **s)
{
	char out[256];
	struct job_cost c = JOB_COST_UNKNOWN;
	cost_describe(&c, out, sizeof(out));
	assert_string_equal(out, "not measured");
	c.cpu_ms = 2504;
	c.memory_peak = 3LL << 20;
	cost_describe(&c, out, sizeof(out));
	assert_string_equal(out, "2.50 s CPU, peak memory 3.0 MiB (its largest process)");
	c.memory_from_cgroup = true;
	c.workdir_bytes = 10;
	c.tasks = 12;
	c.oom_kills = 0;
	cost_describe(&c, out, sizeof(out));
	assert_string_equal(out, "2.50 s CPU, peak memory 3.0 MiB (all its processes), 10 B left "
				 "in the work folder, 12 processes and threads, no OOM kill");
	c.oom_kills = 2;
	cost_describe(&c, out, sizeof(out));
	assert_non_null(strstr(out, ", 2 killed for memory (OOM)"));
	/* A short buffer is cut, never overrun. */
	char tiny[12];
	cost_describe(&c, tiny, sizeof(tiny));
	assert_int_equal(strlen(tiny), sizeof(tiny) - 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(
		    the_work_folder_counts_its_files_at_every_depth_never_through_a_symlink),
		cmocka_unit_test(sizes_read_as_a_person_says_them),
		cmocka_unit_test(only_what_was_measured_is_said),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
