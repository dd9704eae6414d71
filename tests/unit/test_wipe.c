/* The wipe: everything inside goes, nothing outside is touched, and what stays is counted.
 *
 * Trees are built in mkdtemp directories under /tmp. The tests run as root; where "owner"
 * matters, a forked child drops to uid 65534 and reports its result through a pipe (a cmocka
 * assert in a child would unwind into the child's copy of the test runner). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <jansson.h>
#include <linux/fs.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "log.h"
#include "wipe.h"

#define NOBODY 65534

/* Every test gets a fresh top (and a sibling "outside" directory, for what must survive). */
struct fixture {
	char top[64];
	char outside[64];
	int fd;     /* the top */
	int log_fd; /* a memfd that collects the log lines of the test */
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	assert_non_null(f);
	strcpy(f->top, "/tmp/wipe-test-XXXXXX");
	strcpy(f->outside, "/tmp/wipe-outside-XXXXXX");
	assert_non_null(mkdtemp(f->top));
	assert_non_null(mkdtemp(f->outside));
	f->fd = open(f->top, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	assert_true(f->fd >= 0);
	f->log_fd = memfd_create("wipe-test-log", MFD_CLOEXEC);
	assert_true(f->log_fd >= 0);
	log_set_format(LOG_FORMAT_JSON);
	log_set_fd(f->log_fd);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	char cmd[512];
	/* An immutable leftover would stop rm; chattr is there on the test image (e2fsprogs). */
	snprintf(cmd, sizeof(cmd), "chattr -R -i -a %s %s >/dev/null 2>&1; rm -rf %s %s", f->top,
		 f->outside, f->top, f->outside);
	assert_int_equal(system(cmd), 0);
	wipe_test_hook_before_open = NULL;
	log_set_fd(2);
	close(f->fd);
	close(f->log_fd);
	free(f);
	return 0;
}

/* ---- building trees ----------------------------------------------------------------------- */

static void put_file(int dfd, const char *name, size_t size)
{
	int fd = openat(dfd, name, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	assert_true(fd >= 0);
	char buf[4096];
	memset(buf, 'x', sizeof(buf));
	for (size_t done = 0; done < size;) {
		size_t n = size - done < sizeof(buf) ? size - done : sizeof(buf);
		assert_int_equal(write(fd, buf, n), (ssize_t)n);
		done += n;
	}
	close(fd);
}

/* mkdir name in dfd and returns it open. */
static int put_dir(int dfd, const char *name)
{
	assert_int_equal(mkdirat(dfd, name, 0755), 0);
	int fd = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	assert_true(fd >= 0);
	return fd;
}

static void put_dir_with_file(int dfd, const char *dir, const char *file)
{
	int fd = put_dir(dfd, dir);
	put_file(fd, file, 10);
	close(fd);
}

static int entries_in(int dfd)
{
	int fd = openat(dfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	assert_true(fd >= 0);
	DIR *d = fdopendir(fd);
	assert_non_null(d);
	int n = 0;
	struct dirent *e;
	while ((e = readdir(d)))
		n += strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0;
	closedir(d);
	return n;
}

static bool exists_in(int dfd, const char *name)
{
	struct stat sb;
	return fstatat(dfd, name, &sb, AT_SYMLINK_NOFOLLOW) == 0;
}

static bool exists(const char *path)
{
	struct stat sb;
	return lstat(path, &sb) == 0;
}

static void path_join(char *out, size_t size, const char *a, const char *b)
{
	assert_true((size_t)snprintf(out, size, "%s/%s", a, b) < size);
}

static struct wipe_stats wipe_ok(const struct fixture *f)
{
	struct wipe_stats st;
	struct rs_err err = { 0 };
	assert_int_equal(wipe_dir(f->top, &st, &err), 0);
	assert_true(exists(f->top));
	return st;
}

/* The log lines written during the test, as one string (caller frees). */
static char *log_text(const struct fixture *f)
{
	off_t len = lseek(f->log_fd, 0, SEEK_END);
	char *buf = calloc(1, (size_t)len + 1);
	assert_non_null(buf);
	assert_int_equal(pread(f->log_fd, buf, (size_t)len, 0), len);
	return buf;
}

/* How many log lines have this event; the first one's field key in *value (caller frees). */
static int events_named(const struct fixture *f, const char *event, const char *key, char **value)
{
	char *text = log_text(f);
	int n = 0;
	for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) {
		json_t *j = json_loads(line, 0, NULL);
		assert_non_null(j);
		if (strcmp(json_string_value(json_object_get(j, "event")), event) == 0) {
			if (n++ == 0 && key && value) {
				const char *v = json_string_value(json_object_get(j, key));
				*value = strdup(v ? v : "");
			}
		}
		json_decref(j);
	}
	free(text);
	return n;
}

/* ---- running a wipe in a child ------------------------------------------------------------ */

struct child_result {
	int rc;
	struct wipe_stats st;
	char note[600]; /* what went wrong in the child */
};

typedef void (*child_fn)(const struct fixture *f, struct child_result *r);

/* Runs fn in a forked child (its own uid or mount namespace dies with it) and returns what it
 * reported. */
static struct child_result in_child(const struct fixture *f, child_fn fn)
{
	int p[2];
	assert_int_equal(pipe2(p, O_CLOEXEC), 0);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct child_result r = { .rc = -100 };
		fn(f, &r);
		ssize_t unused = write(p[1], &r, sizeof(r));
		(void)unused;
		_exit(0);
	}
	close(p[1]);
	struct child_result r = { .rc = -200 };
	assert_int_equal(read(p[0], &r, sizeof(r)), sizeof(r));
	close(p[0]);
	int status;
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	return r;
}

static bool become_nobody(struct child_result *r)
{
	if (setgroups(0, NULL) < 0 || setresgid(NOBODY, NOBODY, NOBODY) < 0 ||
	    setresuid(NOBODY, NOBODY, NOBODY) < 0) {
		snprintf(r->note, sizeof(r->note), "cannot become %d: %s", NOBODY, strerror(errno));
		return false;
	}
	return true;
}

static void child_wipe(const struct fixture *f, struct child_result *r)
{
	struct rs_err err = { 0 };
	r->rc = wipe_dir(f->top, &r->st, &err);
	if (r->rc < 0)
		snprintf(r->note, sizeof(r->note), "%s", err.msg);
}

static void assert_child_ok(const struct child_result *r)
{
	if (r->rc != 0)
		fail_msg("child: rc %d: %s", r->rc, r->note);
}

/* ---- what goes -------------------------------------------------------------------------- */

static void empties_files_nested_hidden_and_empty_dirs_and_keeps_the_top(void **state)
{
	struct fixture *f = *state;
	put_file(f->fd, "a.txt", 5);
	put_file(f->fd, ".hidden", 7);
	int d = put_dir(f->fd, "nested");
	int dd = put_dir(d, "deeper");
	put_file(dd, ".env", 3);
	close(put_dir(dd, "empty"));
	close(put_dir(f->fd, ".git"));
	close(put_dir(f->fd, "empty"));
	close(dd);
	close(d);

	struct wipe_stats st = wipe_ok(f);
	assert_int_equal(entries_in(f->fd), 0);
	assert_int_equal(st.files, 3);
	assert_int_equal(st.dirs, 5);
	assert_int_equal(st.bytes, 15);
	assert_int_equal(st.left, 0);
	assert_int_equal(st.mounts_skipped, 0);
}

static void an_empty_top_is_fine(void **state)
{
	struct fixture *f = *state;
	struct wipe_stats st = wipe_ok(f);
	assert_int_equal(st.files + st.dirs + st.bytes + st.left, 0);
}

static void symlink_to_a_directory_outside_goes_and_its_target_stays(void **state)
{
	struct fixture *f = *state;
	char sentinel[128];
	path_join(sentinel, sizeof(sentinel), f->outside, "sentinel");
	int out = open(f->outside, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	put_file(out, "sentinel", 1);
	close(out);
	assert_int_equal(symlinkat(f->outside, f->fd, "link"), 0);
	int d = put_dir(f->fd, "sub");
	assert_int_equal(symlinkat(f->outside, d, "link2"), 0);
	close(d);

	struct wipe_stats st = wipe_ok(f);
	assert_int_equal(entries_in(f->fd), 0);
	assert_true(exists(sentinel));
	assert_int_equal(st.files, 2); /* the two links */
	assert_int_equal(st.left, 0);
}

static void symlink_to_a_file_goes_and_the_file_stays(void **state)
{
	struct fixture *f = *state;
	char target[128];
	path_join(target, sizeof(target), f->outside, "target");
	int out = open(f->outside, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	put_file(out, "target", 100);
	close(out);
	assert_int_equal(symlinkat(target, f->fd, "flink"), 0);
	assert_int_equal(symlinkat("/nonexistent", f->fd, "dangling"), 0);

	struct wipe_stats st = wipe_ok(f);
	assert_int_equal(entries_in(f->fd), 0);
	assert_true(exists(target));
	assert_int_equal(st.files, 2);
	assert_int_equal(st.bytes, 0); /* a link's target is not ours */
}

static void names_of_any_bytes_go(void **state)
{
	struct fixture *f = *state;
	static const char *const names[] = {
		"new\nline", "\xff\xfe", "with space", "-rf", "--", " ", "\t", "*", "a\\b", "\x01",
	};
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		put_file(f->fd, names[i], 1);
	put_dir_with_file(f->fd, "-dir\n\xff", "-f\n");

	struct wipe_stats st = wipe_ok(f);
	assert_int_equal(entries_in(f->fd), 0);
	assert_int_equal(st.files, 11);
	assert_int_equal(st.dirs, 1);
}

static void a_tree_deeper_than_path_max_goes(void **state)
{
	struct fixture *f = *state;
	enum { DEPTH = 6000 };
	int fd = dup(f->fd);
	for (int i = 0; i < DEPTH; i++) {
		if (i % 100 == 0)
			put_file(fd, "f", 1);
		int next = put_dir(fd, "dd");
		close(fd);
		fd = next;
	}
	close(fd);

	struct wipe_stats st = wipe_ok(f);
	assert_int_equal(entries_in(f->fd), 0);
	assert_int_equal(st.dirs, DEPTH);
	assert_int_equal(st.files, DEPTH / 100);
	assert_int_equal(st.left, 0);
}

static void a_wide_tree_goes_with_exact_counts(void **state)
{
	struct fixture *f = *state;
	char name[32];
	for (int i = 0; i < 60; i++) {
		snprintf(name, sizeof(name), "pkg%d", i);
		int d = put_dir(f->fd, name);
		for (int j = 0; j < 3; j++) {
			snprintf(name, sizeof(name), "lib%d", j);
			int dd = put_dir(d, name);
			for (int k = 0; k < 40; k++) {
				snprintf(name, sizeof(name), "f%d.js", k);
				put_file(dd, name, (size_t)k);
			}
			close(dd);
		}
		close(d);
	}

	struct wipe_stats st = wipe_ok(f);
	assert_int_equal(entries_in(f->fd), 0);
	assert_int_equal(st.dirs, 60 * 4);
	assert_int_equal(st.files, 60 * 3 * 40);
	assert_int_equal(st.bytes, 60 * 3 * (39 * 40 / 2));
}

static void a_flat_directory_of_many_files_goes(void **state)
{
	struct fixture *f = *state;
	char name[32];
	int d = put_dir(f->fd, "flat");
	for (int i = 0; i < 3000; i++) {
		snprintf(name, sizeof(name), "%d", i);
		put_file(d, name, 2);
	}
	close(d);

	struct wipe_stats st = wipe_ok(f);
	assert_int_equal(entries_in(f->fd), 0);
	assert_int_equal(st.files, 3000);
	assert_int_equal(st.bytes, 6000);
	assert_int_equal(st.dirs, 1);
}

static void unreadable_directories_and_files_go_as_root(void **state)
{
	struct fixture *f = *state;
	put_dir_with_file(f->fd, "closed", "inside");
	put_dir_with_file(f->fd, "readonly", "inside");
	put_file(f->fd, "nomode", 4);
	assert_int_equal(fchmodat(f->fd, "closed", 0, 0), 0);
	assert_int_equal(fchmodat(f->fd, "readonly", 0500, 0), 0);
	assert_int_equal(fchmodat(f->fd, "nomode", 0, 0), 0);

	struct wipe_stats st = wipe_ok(f);
	assert_int_equal(entries_in(f->fd), 0);
	assert_int_equal(st.files, 3);
	assert_int_equal(st.dirs, 2);
}

static void fifo_socket_and_device_nodes_are_unlinked_not_opened(void **state)
{
	struct fixture *f = *state;
	assert_int_equal(mkfifoat(f->fd, "fifo", 0600), 0); /* opening it would block */
	int s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	path_join(sa.sun_path, sizeof(sa.sun_path), f->top, "sock");
	assert_int_equal(bind(s, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(mknodat(f->fd, "null", S_IFCHR | 0600, makedev(1, 3)), 0);
	assert_int_equal(mknodat(f->fd, "loop", S_IFBLK | 0600, makedev(7, 0)), 0);

	struct wipe_stats st = wipe_ok(f);
	close(s);
	assert_int_equal(entries_in(f->fd), 0);
	assert_int_equal(st.files, 4);
	assert_int_equal(st.bytes, 0);
	assert_int_equal(st.left, 0);
}

static void hard_links_are_unlinked_and_their_bytes_counted_once(void **state)
{
	struct fixture *f = *state;
	int d = put_dir(f->fd, "d");
	put_file(d, "one", 1000);
	assert_int_equal(linkat(d, "one", d, "two", 0), 0);
	assert_int_equal(linkat(d, "one", d, "three", 0), 0);
	close(d);
	/* A link to a file outside: its data stays, so its bytes are not counted. */
	char outer[128];
	path_join(outer, sizeof(outer), f->outside, "outer");
	int out = open(f->outside, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	put_file(out, "outer", 500);
	assert_int_equal(linkat(out, "outer", f->fd, "inner", 0), 0);
	close(out);

	struct wipe_stats st = wipe_ok(f);
	assert_int_equal(entries_in(f->fd), 0);
	assert_int_equal(st.files, 4);
	assert_int_equal(st.bytes, 1000);
	assert_true(exists(outer));
}

static void counts_are_exact_for_every_kind_of_entry(void **state)
{
	struct fixture *f = *state;
	put_file(f->fd, "zero", 0);
	put_file(f->fd, "one", 1);
	put_file(f->fd, "page", 4096);
	put_file(f->fd, "mib", 1 << 20);
	int d = put_dir(f->fd, "d");
	put_file(d, "x", 123);
	assert_int_equal(symlinkat("x", d, "link"), 0);
	assert_int_equal(mkfifoat(d, "fifo", 0600), 0);
	close(put_dir(d, "empty"));
	close(d);

	struct wipe_stats st = wipe_ok(f);
	assert_int_equal(st.files, 7);
	assert_int_equal(st.dirs, 2);
	assert_int_equal(st.bytes, 0 + 1 + 4096 + (1 << 20) + 123);
	assert_int_equal(st.left, 0);
	assert_int_equal(st.mounts_skipped, 0);
}

static void wipe_dirfd_ignores_the_callers_offset_and_keeps_the_fd(void **state)
{
	struct fixture *f = *state;
	for (int i = 0; i < 50; i++) {
		char name[16];
		snprintf(name, sizeof(name), "f%d", i);
		put_file(f->fd, name, 1);
	}
	DIR *dir = fdopendir(dup(f->fd)); /* shares the file description: moves its offset */
	assert_non_null(dir);
	for (int i = 0; i < 10; i++)
		assert_non_null(readdir(dir));

	struct wipe_stats st;
	struct rs_err err = { 0 };
	assert_int_equal(wipe_dirfd(dirfd(dir), "the workdir", &st, &err), 0);
	assert_int_equal(st.files, 50);
	assert_int_equal(st.left, 0);
	assert_true(fcntl(dirfd(dir), F_GETFD) >= 0);
	closedir(dir);
}

/* ---- what is refused -------------------------------------------------------------------- */

static void refuses_a_top_that_is_missing_relative_a_symlink_or_a_file(void **state)
{
	struct fixture *f = *state;
	struct wipe_stats st;
	struct rs_err err = { 0 };
	char path[128];

	path_join(path, sizeof(path), f->top, "missing");
	assert_int_equal(wipe_dir(path, &st, &err), -1);
	assert_int_equal(err.exit_code, 74);
	assert_non_null(strstr(err.msg, path));

	assert_int_equal(wipe_dir("relative/dir", &st, &err), -1);
	assert_int_equal(err.exit_code, 78);
	assert_non_null(strstr(err.msg, "relative/dir"));

	int out = open(f->outside, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	put_file(out, "sentinel", 1);
	close(out);
	assert_int_equal(symlinkat(f->outside, f->fd, "link"), 0);
	path_join(path, sizeof(path), f->top, "link");
	assert_int_equal(wipe_dir(path, &st, &err), -1);
	assert_int_equal(err.exit_code, 78);
	assert_non_null(strstr(err.msg, "symlink"));
	out = open(f->outside, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	assert_int_equal(entries_in(out), 1);
	close(out);

	put_file(f->fd, "file", 1);
	path_join(path, sizeof(path), f->top, "file");
	assert_int_equal(wipe_dir(path, &st, &err), -1);
	assert_int_equal(err.exit_code, 78);
	assert_non_null(strstr(err.msg, "not a directory"));

	assert_int_equal(wipe_dir("/", &st, &err), -1);
	assert_int_equal(err.exit_code, 78);
}

/* ---- races ------------------------------------------------------------------------------ */

static char swap_target[64]; /* where the swapped-in symlink points */
static atomic_int swapped;

/* Between listing and opening: "victim" is moved out of the tree and a symlink (or another
 * directory) takes its place, as a process racing the wipe would do. */
static void swap_victim(int parent_fd, const char *name, bool for_symlink)
{
	if (strcmp(name, "victim") != 0 || atomic_exchange(&swapped, 1))
		return;
	char moved[128];
	path_join(moved, sizeof(moved), swap_target, "moved");
	if (renameat(parent_fd, "victim", AT_FDCWD, moved) < 0)
		abort();
	if (for_symlink ? symlinkat(swap_target, parent_fd, "victim")
			: mkdirat(parent_fd, "victim", 0755))
		abort();
	if (!for_symlink) {
		int fd = openat(parent_fd, "victim", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		put_file(fd, "new", 1);
		close(fd);
	}
}

static void swap_for_symlink(int parent_fd, const char *name)
{
	swap_victim(parent_fd, name, true);
}

static void swap_for_directory(int parent_fd, const char *name)
{
	swap_victim(parent_fd, name, false);
}

static void a_directory_swapped_for_a_symlink_before_open_is_not_followed(void **state)
{
	struct fixture *f = *state;
	int out = open(f->outside, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	put_file(out, "sentinel", 1);
	close(out);
	put_dir_with_file(f->fd, "victim", "inner");
	put_dir_with_file(f->fd, "other", "file");
	strcpy(swap_target, f->outside);
	atomic_store(&swapped, 0);
	wipe_test_hook_before_open = swap_for_symlink;

	struct wipe_stats st = wipe_ok(f);
	wipe_test_hook_before_open = NULL;
	assert_int_equal(atomic_load(&swapped), 1);
	out = open(f->outside, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	assert_true(exists_in(out, "sentinel"));
	assert_true(exists_in(out, "moved/inner"));
	close(out);
	assert_int_equal(st.left, 1); /* the symlink, left where it was found */
	assert_true(exists_in(f->fd, "victim"));
	assert_false(exists_in(f->fd, "other"));
	char *path = NULL;
	assert_int_equal(events_named(f, "wipe.left", "path", &path), 1);
	assert_string_equal(path, "victim");
	free(path);
}

static void a_directory_swapped_for_another_directory_is_not_entered(void **state)
{
	struct fixture *f = *state;
	put_dir_with_file(f->fd, "victim", "inner");
	strcpy(swap_target, f->outside);
	atomic_store(&swapped, 0);
	wipe_test_hook_before_open = swap_for_directory;

	struct wipe_stats st = wipe_ok(f);
	wipe_test_hook_before_open = NULL;
	assert_int_equal(atomic_load(&swapped), 1);
	assert_int_equal(st.left, 2); /* the new directory and its file */
	assert_true(exists_in(f->fd, "victim/new"));
}

/* ---- what stays --------------------------------------------------------------------------- */

static int set_flag(int dfd, const char *name, int flag)
{
	int fd = openat(dfd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	assert_true(fd >= 0);
	int flags = 0;
	int r = ioctl(fd, FS_IOC_GETFLAGS, &flags);
	if (r == 0) {
		flags |= flag;
		r = ioctl(fd, FS_IOC_SETFLAGS, &flags);
	}
	close(fd);
	return r;
}

static void an_immutable_file_is_left_and_counted(void **state)
{
	struct fixture *f = *state;
	int d = put_dir(f->fd, "d");
	put_file(d, "immutable", 10);
	put_file(d, "plain", 10);
	if (set_flag(d, "immutable", FS_IMMUTABLE_FL) < 0) {
		close(d);
		skip(); /* the filesystem has no such flag (tmpfs before 6.0, overlayfs) */
	}
	close(d);
	put_file(f->fd, "other", 10);

	struct wipe_stats st = wipe_ok(f);
	assert_int_equal(st.left, 2); /* d and d/immutable */
	assert_int_equal(st.files, 2);
	assert_int_equal(st.bytes, 20);
	assert_true(exists_in(f->fd, "d/immutable"));
	char *path = NULL;
	assert_int_equal(events_named(f, "wipe.left", "path", &path), 1);
	assert_string_equal(path, "d/immutable");
	free(path);
}

static void an_append_only_directory_keeps_its_files(void **state)
{
	struct fixture *f = *state;
	put_dir_with_file(f->fd, "log", "a");
	if (set_flag(f->fd, "log", FS_APPEND_FL) < 0)
		skip();

	struct wipe_stats st = wipe_ok(f);
	assert_int_equal(st.left, 2);
	assert_true(exists_in(f->fd, "log/a"));
}

/* ---- as an unprivileged owner ------------------------------------------------------------- */

/* As nobody: a tree of its own with directories it cannot enter or change. */
static void nobody_builds_locked_tree_and_wipes(const struct fixture *f, struct child_result *r)
{
	if (!become_nobody(r))
		return;
	int top = open(f->top, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (top < 0 || mkdirat(top, "closed", 0700) < 0 || mkdirat(top, "closed/sub", 0700) < 0 ||
	    mkdirat(top, "readonly", 0700) < 0 || mknodat(top, "closed/sub/f", S_IFREG | 0600, 0) ||
	    mknodat(top, "readonly/f", S_IFREG | 0, 0) || fchmodat(top, "closed/sub", 0, 0) ||
	    fchmodat(top, "closed", 0, 0) || fchmodat(top, "readonly", 0500, 0)) {
		snprintf(r->note, sizeof(r->note), "building: %s", strerror(errno));
		return;
	}
	close(top);
	child_wipe(f, r);
}

static void an_owner_fixes_its_own_locked_directories(void **state)
{
	struct fixture *f = *state;
	assert_int_equal(fchown(f->fd, NOBODY, NOBODY), 0);

	struct child_result r = in_child(f, nobody_builds_locked_tree_and_wipes);
	assert_child_ok(&r);
	assert_int_equal(r.st.left, 0);
	assert_int_equal(r.st.files, 2);
	assert_int_equal(r.st.dirs, 3);
	assert_int_equal(entries_in(f->fd), 0);
}

static void nobody_wipes(const struct fixture *f, struct child_result *r)
{
	if (become_nobody(r))
		child_wipe(f, r);
}

/* 25 files nobody may not remove, in a directory of root's: more than the 20 lines logged. */
static void root_owned_entries_are_left_by_someone_else_and_logged_up_to_a_cap(void **state)
{
	struct fixture *f = *state;
	assert_int_equal(fchown(f->fd, NOBODY, NOBODY), 0);
	int d = put_dir(f->fd, "roots");
	for (int i = 0; i < 25; i++) {
		char name[16];
		snprintf(name, sizeof(name), "f%02d", i);
		put_file(d, name, 1);
	}
	close(d);
	close(put_dir(f->fd, "locked")); /* root's, mode 000: nobody may not chmod it */
	assert_int_equal(fchmodat(f->fd, "locked", 0, 0), 0);
	put_file(f->fd, "mine", 1);
	assert_int_equal(fchownat(f->fd, "mine", NOBODY, NOBODY, 0), 0);

	struct child_result r = in_child(f, nobody_wipes);
	assert_child_ok(&r);
	assert_int_equal(r.st.files, 1);
	assert_int_equal(r.st.left, 25 + 1 + 1); /* the files, roots/, locked/ */
	struct stat sb;
	assert_int_equal(fstatat(f->fd, "locked", &sb, 0), 0);
	assert_int_equal(sb.st_mode & 07777, 0); /* not someone else's to change */

	assert_int_equal(events_named(f, "wipe.left", NULL, NULL), 20 + 1);
	char *more = log_text(f);
	assert_non_null(strstr(more, "\"not_logged\":6")); /* 25 files + locked/, 20 logged */
	free(more);
}

static void a_left_entry_is_logged_with_its_path_escaped(void **state)
{
	struct fixture *f = *state;
	assert_int_equal(fchown(f->fd, NOBODY, NOBODY), 0);
	put_dir_with_file(f->fd, "sub dir", "odd\nname\xff\\");

	struct child_result r = in_child(f, nobody_wipes);
	assert_child_ok(&r);
	assert_int_equal(r.st.left, 2);
	char *path = NULL;
	assert_int_equal(events_named(f, "wipe.left", "path", &path), 1);
	assert_string_equal(path, "sub dir/odd\\x0aname\\xff\\x5c");
	free(path);
}

/* ---- mounts ------------------------------------------------------------------------------- */

/* In a private mount namespace: a tmpfs and a bind mount of a same-filesystem directory, both
 * inside the tree, each holding a sentinel. Reports the wipe; the sentinels are checked here,
 * while the mounts still exist. */
static void mount_inside_and_wipe(const struct fixture *f, struct child_result *r)
{
	char path[128];
	if (unshare(CLONE_NEWNS) < 0 || mount(NULL, "/", NULL, MS_PRIVATE | MS_REC, NULL) < 0) {
		snprintf(r->note, sizeof(r->note), "skip: no mount namespace: %s", strerror(errno));
		r->rc = -2;
		return;
	}
	path_join(path, sizeof(path), f->top, "tmpfs");
	if (mkdir(path, 0755) < 0 || mount("tmpfs", path, "tmpfs", 0, "size=1m") < 0)
		goto fail;
	path_join(path, sizeof(path), f->top, "tmpfs/sentinel");
	if (mknod(path, S_IFREG | 0600, 0) < 0)
		goto fail;
	path_join(path, sizeof(path), f->outside, "sentinel");
	if (mknod(path, S_IFREG | 0600, 0) < 0)
		goto fail;
	path_join(path, sizeof(path), f->top, "a");
	if (mkdir(path, 0755) < 0)
		goto fail;
	path_join(path, sizeof(path), f->top, "a/bind");
	if (mkdir(path, 0755) < 0 || mount(f->outside, path, NULL, MS_BIND, NULL) < 0)
		goto fail;

	child_wipe(f, r);
	path_join(path, sizeof(path), f->top, "tmpfs/sentinel");
	if (!exists(path))
		snprintf(r->note, sizeof(r->note), "the tmpfs sentinel is gone");
	path_join(path, sizeof(path), f->top, "a/bind/sentinel");
	if (!exists(path))
		snprintf(r->note, sizeof(r->note), "the bind-mounted sentinel is gone");
	return;
fail:
	snprintf(r->note, sizeof(r->note), "setting up mounts: %s", strerror(errno));
}

static void mount_points_inside_are_reported_and_left(void **state)
{
	struct fixture *f = *state;
	put_dir_with_file(f->fd, "plain", "file");

	struct child_result r = in_child(f, mount_inside_and_wipe);
	if (r.rc == -2)
		skip();
	assert_child_ok(&r);
	assert_string_equal(r.note, "");
	assert_int_equal(r.st.mounts_skipped, 2);
	assert_int_equal(r.st.left, 3); /* tmpfs/, a/, a/bind/ */
	assert_int_equal(r.st.files, 1);
	assert_int_equal(r.st.dirs, 1);
	char sentinel[128];
	path_join(sentinel, sizeof(sentinel), f->outside, "sentinel");
	assert_true(exists(sentinel));
	assert_int_equal(events_named(f, "wipe.left", NULL, NULL), 2);
}

int main(void)
{
#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
	const struct CMUnitTest tests[] = {
		T(empties_files_nested_hidden_and_empty_dirs_and_keeps_the_top),
		T(an_empty_top_is_fine),
		T(symlink_to_a_directory_outside_goes_and_its_target_stays),
		T(symlink_to_a_file_goes_and_the_file_stays),
		T(names_of_any_bytes_go),
		T(a_tree_deeper_than_path_max_goes),
		T(a_wide_tree_goes_with_exact_counts),
		T(a_flat_directory_of_many_files_goes),
		T(unreadable_directories_and_files_go_as_root),
		T(fifo_socket_and_device_nodes_are_unlinked_not_opened),
		T(hard_links_are_unlinked_and_their_bytes_counted_once),
		T(counts_are_exact_for_every_kind_of_entry),
		T(wipe_dirfd_ignores_the_callers_offset_and_keeps_the_fd),
		T(refuses_a_top_that_is_missing_relative_a_symlink_or_a_file),
		T(a_directory_swapped_for_a_symlink_before_open_is_not_followed),
		T(a_directory_swapped_for_another_directory_is_not_entered),
		T(an_immutable_file_is_left_and_counted),
		T(an_append_only_directory_keeps_its_files),
		T(an_owner_fixes_its_own_locked_directories),
		T(root_owned_entries_are_left_by_someone_else_and_logged_up_to_a_cap),
		T(a_left_entry_is_logged_with_its_path_escaped),
		T(mount_points_inside_are_reported_and_left),
	};
#undef T
	return cmocka_run_group_tests(tests, NULL, NULL);
}
