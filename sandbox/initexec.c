/* The sandbox init, exec'd fresh (initexec.h). The plan travels as JSON in a sealed memfd:
 * written by the supervisor before clone, read by the init after its execve. */
#include "initexec.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "plan.h"
#include "spawn_internal.h"
#include "util.h"

#ifndef MFD_NOEXEC_SEAL
#define MFD_NOEXEC_SEAL 0x0008U
#endif

/* ---- the supervisor's side ------------------------------------------------------------ */

int sbx_self_exe_open(struct rs_err *err)
{
	int fd = open("/proc/self/exe", O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return rs_fail(err, EX_RS_SANDBOX, errno, "opening /proc/self/exe for the init");
	return fd;
}

static json_t *strings(char *const *v)
{
	json_t *a = json_array();
	for (; a && v && *v; v++)
		json_array_append_new(a, json_string(*v));
	return a;
}

static json_t *ids_json(const struct sbx_plan *s)
{
	json_t *groups = json_array();
	for (size_t i = 0; groups && i < s->n_inner_groups; i++)
		json_array_append_new(groups, json_integer(s->inner_groups[i]));
	return json_pack("{s:b,s:I,s:I,s:o,s:b}", "switch", s->switch_ids, "uid",
			 (json_int_t)s->inner_uid, "gid", (json_int_t)s->inner_gid, "groups",
			 groups, "deny_setgroups", s->deny_setgroups);
}

static json_t *rlimit_json(bool set, const struct rlimit *r)
{
	return set ? json_pack("[I,I]", (json_int_t)r->rlim_cur, (json_int_t)r->rlim_max)
		   : json_null();
}

static json_t *filter_json(const struct sbx_filter *filter)
{
	json_t *insns = json_array();
	for (unsigned i = 0; insns && i < filter->len; i++) {
		const struct sock_filter *f = &filter->insns[i];
		json_array_append_new(
		    insns, json_pack("[i,i,i,I]", f->code, f->jt, f->jf, (json_int_t)f->k));
	}
	return json_pack("{s:o,s:I}", "insns", insns, "badarch",
			 (json_int_t)filter->badarch_action);
}

/* SUPERVISOR_CONTAINERS (engine.h): what the init needs to start the engine. */
static json_t *engine_json(const struct sbx_engine *e)
{
	if (!e->on)
		return json_null();
	return json_pack("{s:s,s:s,s:s,s:i,s:o}", "podman", e->podman, "dir", e->dir, "driver",
			 e->driver, "listen_fd", e->listen_fd, "seccomp", filter_json(&e->filter));
}

static int write_all(int fd, const char *buf, size_t len)
{
	for (size_t off = 0; off < len;) {
		ssize_t n = write(fd, buf + off, len - off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		off += (size_t)n;
	}
	return 0;
}

struct json_field {
	const char *key;
	json_t *value;
};

/* j with fields set (each value's reference taken, j's too), as a sealed memfd: what the
 * init reads is what the supervisor wrote, and nothing can be executed from it. */
static int sealed_json(json_t *j, const struct json_field *fields, size_t n, const char *what,
		       struct rs_err *err)
{
	bool complete = j != NULL;
	for (size_t i = 0; i < n; i++) {
		if (!fields[i].value || !j ||
		    json_object_set_new(j, fields[i].key, fields[i].value))
			complete = false;
	}
	if (!complete) {
		json_decref(j);
		j = NULL;
	}
	char *text = j ? json_dumps(j, JSON_COMPACT) : NULL;
	json_decref(j);
	if (!text)
		return rs_fail(err, EX_RS_SOFTWARE, ENOMEM, "%s", what);
	int fd = (int)syscall(SYS_memfd_create, "runner-supervisor-init-plan",
			      MFD_CLOEXEC | MFD_ALLOW_SEALING | MFD_NOEXEC_SEAL);
	if (fd < 0 && errno == EINVAL)
		fd = (int)syscall(SYS_memfd_create, "runner-supervisor-init-plan",
				  MFD_CLOEXEC | MFD_ALLOW_SEALING);
	int rc = fd < 0 ? -1 : write_all(fd, text, strlen(text));
	free(text);
	if (rc == 0 &&
	    fcntl(fd, F_ADD_SEALS, F_SEAL_SEAL | F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE) < 0)
		rc = -1;
	if (rc < 0) {
		int e = errno;
		if (fd >= 0)
			close(fd);
		return rs_fail(err, EX_RS_SANDBOX, e, "%s (memfd)", what);
	}
	return fd;
}

int sbx_handoff_create(const struct exec_plan *plan, struct rs_err *err)
{
	const struct sbx_plan *s = plan->sbx;
	/* One key at a time: a long pack format and its arguments drift apart unseen. */
	json_t *j = json_object();
	const struct json_field fields[] = {
		{ "go_fd", json_integer(plan->go_fd) },
		{ "report_fd", json_integer(plan->report_fd) },
		{ "teardown_fd", json_integer(plan->teardown_fd) },
		{ "ids", ids_json(s) },
		{ "nofile", rlimit_json(s->rlimit_nofile, &s->nofile) },
		{ "nproc", rlimit_json(s->rlimit_nproc, &s->nproc) },
		{ "drop_caps", json_boolean(s->drop_caps) },
		{ "drop_bounding", json_boolean(s->drop_bounding) },
		{ "cap_last_cap", json_integer(s->cap_last_cap) },
		{ "nnp", json_boolean(s->nnp) },
		{ "landlock_fd", json_integer(s->landlock_fd) },
		{ "seccomp", s->seccomp ? filter_json(&s->filter) : json_null() },
		{ "engine", plan->without_engine ? json_null() : engine_json(&s->engine) },
		{ "prestaged", json_boolean(s->userns) },
	};
	return sealed_json(j, fields, ARRAY_SIZE(fields), "the sandbox init's plan", err);
}

int sbx_job_create(const struct exec_plan *plan, struct rs_err *err)
{
	json_t *j = json_object();
	const struct json_field fields[] = {
		{ "paths", strings(plan->paths) },
		{ "argv", strings(plan->argv) },
		{ "envp", strings(plan->envp) },
		{ "cwd", json_string(plan->cwd_path ? plan->cwd_path : "/") },
		{ "umask", json_integer(plan->umask) },
		{ "own_pgrp", json_boolean(plan->own_pgrp) },
		{ "tty_fd", json_integer(plan->tty_fd) },
		{ "max_fd", json_integer(plan->max_fd) },
		{ "stdout", json_boolean(plan->stdout_fd >= 0) },
		{ "stderr", json_boolean(plan->stderr_fd >= 0) },
	};
	return sealed_json(j, fields, ARRAY_SIZE(fields), "the runner's command for the init", err);
}

/* ---- the clone's side: raw syscalls only ---------------------------------------------- */

int sbx_exec_init(int self_fd, int handoff_fd)
{
	/* The fd number as text, without stdio. */
	char num[16], *p = num + sizeof(num) - 1;
	*p = '\0';
	unsigned v = (unsigned)handoff_fd;
	do
		*--p = (char)('0' + v % 10);
	while ((v /= 10) && p > num);
	char *const argv[] = { (char *)"runner-supervisor", (char *)SBX_INIT_VERB, p, NULL };
	char *const envp[] = { NULL };
	syscall(SYS_execveat, self_fd, "", argv, envp, AT_EMPTY_PATH);
	return errno;
}

/* ---- the init's side: a fresh process ---------------------------------------------------- */

static char **string_array(json_t *a)
{
	size_t n = json_array_size(a);
	char **v = calloc(n + 1, sizeof(char *));
	for (size_t i = 0; v && i < n; i++) {
		v[i] = strdup(json_string_value(json_array_get(a, i)) ?: "");
		if (!v[i]) {
			for (size_t k = 0; k < i; k++)
				free(v[k]);
			free(v);
			return NULL;
		}
	}
	return v;
}

static void rlimit_from(json_t *j, bool *set, struct rlimit *r)
{
	*set = json_is_array(j);
	if (*set) {
		r->rlim_cur = (rlim_t)json_integer_value(json_array_get(j, 0));
		r->rlim_max = (rlim_t)json_integer_value(json_array_get(j, 1));
	}
}

static int fd_field(json_t *j, const char *key)
{
	json_t *v = json_object_get(j, key);
	return json_is_integer(v) ? (int)json_integer_value(v) : -1;
}

static int filter_from(json_t *j, struct sbx_filter *filter)
{
	json_t *insns = json_object_get(j, "insns");
	size_t n = json_array_size(insns);
	if (n == 0 || n > 0xffff || !(filter->insns = calloc(n, sizeof(struct sock_filter))))
		return -1;
	for (size_t i = 0; i < n; i++) {
		json_t *f = json_array_get(insns, i);
		filter->insns[i] = (struct sock_filter){
			.code = (uint16_t)json_integer_value(json_array_get(f, 0)),
			.jt = (uint8_t)json_integer_value(json_array_get(f, 1)),
			.jf = (uint8_t)json_integer_value(json_array_get(f, 2)),
			.k = (uint32_t)json_integer_value(json_array_get(f, 3)),
		};
	}
	filter->len = (unsigned short)n;
	filter->badarch_action = (uint32_t)json_integer_value(json_object_get(j, "badarch"));
	return 0;
}

static char *string_of(json_t *j, const char *key)
{
	const char *v = json_string_value(json_object_get(j, key));
	return v ? strdup(v) : NULL;
}

static int engine_from(json_t *j, struct sbx_engine *e)
{
	*e = (struct sbx_engine){ .listen_fd = -1 };
	if (!json_is_object(j))
		return 0;
	e->podman = string_of(j, "podman");
	e->dir = string_of(j, "dir");
	e->driver = string_of(j, "driver");
	e->listen_fd = fd_field(j, "listen_fd");
	e->on = e->podman && e->dir && e->driver && e->listen_fd >= 0;
	return e->on ? filter_from(json_object_get(j, "seccomp"), &e->filter) : -1;
}

static int ids_from(json_t *j, struct sbx_plan *s)
{
	s->switch_ids = json_is_true(json_object_get(j, "switch"));
	s->inner_uid = (uid_t)json_integer_value(json_object_get(j, "uid"));
	s->inner_gid = (gid_t)json_integer_value(json_object_get(j, "gid"));
	s->deny_setgroups = json_is_true(json_object_get(j, "deny_setgroups"));
	json_t *groups = json_object_get(j, "groups");
	s->n_inner_groups = json_array_size(groups);
	s->inner_groups = calloc(s->n_inner_groups + 1, sizeof(gid_t));
	if (!s->inner_groups)
		return -1;
	for (size_t i = 0; i < s->n_inner_groups; i++)
		s->inner_groups[i] = (gid_t)json_integer_value(json_array_get(groups, i));
	return 0;
}

static json_t *load_memfd(int fd)
{
	json_error_t jerr;
	/* The supervisor's write left the shared offset at the end. */
	if (lseek(fd, 0, SEEK_SET) < 0)
		return NULL;
	json_t *j = json_loadfd(fd, 0, &jerr);
	if (json_is_object(j))
		return j;
	json_decref(j);
	return NULL;
}

/* The sandbox's part of the plan the supervisor wrote, as the structures spawn.c's child
 * code takes. */
static int read_plan(int fd, struct exec_plan *plan, struct sbx_plan *s)
{
	json_t *j = load_memfd(fd);
	if (!j)
		return -1;
	*s = (struct sbx_plan){ .pidns = true, .mounts = true };
	*plan = (struct exec_plan){ .sbx = s,
				    .cwd_fd = -1,
				    .stdout_fd = -1,
				    .stderr_fd = -1,
				    .sync_fd = -1,
				    .sync_write_fd = -1,
				    .self_fd = -1,
				    .handoff_fd = -1 };
	plan->go_fd = fd_field(j, "go_fd");
	plan->report_fd = fd_field(j, "report_fd");
	plan->teardown_fd = fd_field(j, "teardown_fd");
	rlimit_from(json_object_get(j, "nofile"), &s->rlimit_nofile, &s->nofile);
	rlimit_from(json_object_get(j, "nproc"), &s->rlimit_nproc, &s->nproc);
	s->drop_caps = json_is_true(json_object_get(j, "drop_caps"));
	s->drop_bounding = json_is_true(json_object_get(j, "drop_bounding"));
	s->cap_last_cap = (int)json_integer_value(json_object_get(j, "cap_last_cap"));
	s->nnp = json_is_true(json_object_get(j, "nnp"));
	s->landlock_fd = fd_field(j, "landlock_fd");
	s->no_caps = cap_init();
	json_t *seccomp = json_object_get(j, "seccomp");
	s->seccomp = json_is_object(seccomp);
	int rc = ids_from(json_object_get(j, "ids"), s) < 0 ||
			 (s->seccomp && filter_from(seccomp, &s->filter) < 0) ||
			 engine_from(json_object_get(j, "engine"), &s->engine) < 0 || !s->no_caps ||
			 plan->go_fd < 0 || plan->report_fd < 0 || plan->teardown_fd < 0
		     ? -1
		     : 0;
	/* In a user namespace the clone already took the runner's ids and emptied the bounding
	 * and ambient sets before its execve, which left us without the capabilities to do it
	 * again (spawn.c, child_main). */
	if (json_is_true(json_object_get(j, "prestaged"))) {
		s->switch_ids = false;
		s->drop_bounding = false;
	}
	json_decref(j);
	return rc;
}

/* The command's part (sbx_job_create), once the supervisor asks for it. */
static int read_job(int fd, struct exec_plan *plan, const int *stdio, size_t n_stdio)
{
	json_t *j = load_memfd(fd);
	if (!j)
		return -1;
	plan->paths = string_array(json_object_get(j, "paths"));
	plan->argv = string_array(json_object_get(j, "argv"));
	plan->envp = string_array(json_object_get(j, "envp"));
	plan->cwd_path = strdup(json_string_value(json_object_get(j, "cwd")) ?: "/");
	plan->umask = (mode_t)json_integer_value(json_object_get(j, "umask"));
	plan->own_pgrp = json_is_true(json_object_get(j, "own_pgrp"));
	plan->tty_fd = fd_field(j, "tty_fd");
	plan->max_fd = fd_field(j, "max_fd");
	/* The runner's output pipes came with the message, in this order, when it has them. */
	size_t k = 0;
	if (json_is_true(json_object_get(j, "stdout")))
		plan->stdout_fd = k < n_stdio ? stdio[k++] : -2;
	if (json_is_true(json_object_get(j, "stderr")))
		plan->stderr_fd = k < n_stdio ? stdio[k++] : -2;
	int rc = !plan->paths || !plan->argv || !plan->envp || !plan->cwd_path || !plan->argv[0] ||
			 plan->stdout_fd == -2 || plan->stderr_fd == -2 ||
			 sbx_plan_sh_argv(plan, plan->argv) < 0
		     ? -1
		     : 0;
	json_decref(j);
	return rc;
}

/* Waits for the supervisor to ask for the command: one message on go_fd carrying the
 * command's memfd and its output pipes. EOF: the supervisor gave the sandbox up. */
static int wait_for_job(struct exec_plan *plan)
{
	char byte;
	struct iovec iov = { .iov_base = &byte, .iov_len = 1 };
	union {
		struct cmsghdr h;
		char buf[CMSG_SPACE(3 * sizeof(int))];
	} control;
	struct msghdr msg = { .msg_iov = &iov,
			      .msg_iovlen = 1,
			      .msg_control = control.buf,
			      .msg_controllen = sizeof(control.buf) };
	ssize_t n;
	do
		n = recvmsg(plan->go_fd, &msg, MSG_CMSG_CLOEXEC);
	while (n < 0 && errno == EINTR);
	struct cmsghdr *c = n == 1 ? CMSG_FIRSTHDR(&msg) : NULL;
	if (!c || c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS ||
	    (msg.msg_flags & MSG_CTRUNC))
		return -1;
	int fds[3];
	size_t nfds = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
	if (nfds < 1 || nfds > 3)
		return -1;
	memcpy(fds, CMSG_DATA(c), nfds * sizeof(int));
	close(plan->go_fd);
	plan->go_fd = -1;
	int rc = read_job(fds[0], plan, fds + 1, nfds - 1);
	close(fds[0]);
	return rc;
}

/* What the job cost (the supervisor's summary): a new PID namespace hands out pids from 1 in
 * order, one per process or thread, so the last one is how many it started; ours is pid 1.
 * ns_last_pid is the namespace of the process that reads it: this one's. -1: unknown. */
static int pids_handed_out(void)
{
	char buf[16] = { 0 };
	int fd = open("/proc/sys/kernel/ns_last_pid", O_RDONLY | O_CLOEXEC);
	ssize_t n = fd >= 0 ? read(fd, buf, sizeof(buf) - 1) : -1;
	if (fd >= 0)
		close(fd);
	long last = n > 0 ? strtol(buf, NULL, 10) : 0;
	return last > 0 && last <= 0x7fffffffL ? (int)(last - 1) : -1;
}

void sbx_init_main(const char *handoff_fd)
{
	/* First: the job must never read or trace its PID 1. No job process exists yet. */
	prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
	/* Every signal is still blocked (inherited through the execve): the loop takes them
	 * synchronously. */
	sigset_t all;
	sigfillset(&all);
	sigprocmask(SIG_SETMASK, &all, NULL);
	char *end;
	long fd = strtol(handoff_fd ? handoff_fd : "", &end, 10);
	struct exec_plan plan;
	static struct sbx_plan sbx;
	if (*end || fd < 0 || fd > 65535 || read_plan((int)fd, &plan, &sbx) < 0)
		_exit(125);
	close((int)fd);
	/* The job's engine starts now, while the runner registers, outside the job's filter and
	 * Landlock domain (which then keeps the job from tracing it). */
	pid_t engine = -1;
	if (sbx.engine.on) {
		engine = sbx_engine_start(&sbx.engine, &sbx);
		close(sbx.engine.listen_fd);
		if (engine < 0)
			_exit(125);
	}
	/* The sandbox is ready; the command comes when the supervisor has registered it. */
	if (wait_for_job(&plan) < 0)
		_exit(125);
	/* The runner's execve must close these, as the supervisor's pipe tells it succeeded. */
	fcntl(plan.report_fd, F_SETFD, FD_CLOEXEC);
	if (sbx.landlock_fd >= 0)
		fcntl(sbx.landlock_fd, F_SETFD, FD_CLOEXEC);
	sbx_reset_dispositions();
	pid_t runner = (pid_t)syscall(SYS_clone, SIGCHLD, NULL, NULL, NULL, NULL);
	if (runner == 0)
		sbx_child_exec(&plan);
	if (runner < 0) {
		struct exec_failure f = { .err = errno, .candidate = CANDIDATE_SETUP };
		snprintf(f.step, sizeof(f.step), "forking the runner");
		ssize_t w = write(plan.report_fd, &f, sizeof(f));
		(void)w;
		_exit(126);
	}
	/* Under userns-root the job is root in our user namespace, and this process was exec'd
	 * in it: the job may ptrace us. What it could make us do must be no more than what it
	 * may do itself: the job's seccomp table binds us too (loaded after the fork, so the
	 * runner carries its own filter only once). */
	if (sbx.seccomp &&
	    (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0 || sbx_seccomp_load(&sbx.filter) != 0)) {
		kill(runner, SIGKILL);
		_exit(126);
	}
	/* Nothing but the teardown pipe stays open here: not the exec report's pipe (its EOF
	 * tells the supervisor that the runner's execve succeeded), not the runner's output. */
	int keep = plan.teardown_fd;
	if (keep > 0)
		syscall(SYS_close_range, 0U, (unsigned)keep - 1, 0U);
	syscall(SYS_close_range, (unsigned)keep + 1, ~0U, 0U);
	int status = sbx_init_loop(runner);
	/* The engine is ours, not something the job left: not counted. Its containers are. */
	if (engine > 0 && kill(engine, SIGKILL) == 0)
		waitpid(engine, NULL, 0);
	int killed = sbx_init_kill_rest();
	int tasks = pids_handed_out();
	ssize_t w = write(keep, &killed, sizeof(killed));
	if (w == (ssize_t)sizeof(killed))
		w = write(keep, &tasks, sizeof(tasks));
	(void)w;
	_exit(status);
}
