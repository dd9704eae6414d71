/* `runner-supervisor exec -- CMD`: the PID-1 duties around one command. */
#ifndef RS_PID1_H
#define RS_PID1_H

#include "config.h"
#include "err.h"

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <uv.h>

struct pid1;
struct sbx_plan;
struct sbx_child;

/* What a caller (the lifecycle) may do at the PID-1 events; every member may be NULL. */
struct pid1_hooks {
	void *ud;
	/* The main child exists (its execve succeeded or failed). */
	void (*started)(struct pid1 *p, pid_t pid, void *ud);
	/* A signal for the supervisor; return true when the hook handled it (not forwarded). */
	bool (*signal)(struct pid1 *p, int sig, void *ud);
	/* The main child exited with this status (128+signal when killed); its leftovers are
	 * torn down after this returns. */
	void (*exited)(struct pid1 *p, int status, void *ud);
};

/* What the main child and everything below it used, from the kernel's accounting of every
 * process reaped (wait4: each one's usage includes what it reaped itself). */
struct pid1_usage {
	long long cpu_us;    /* user + system time */
	long long maxrss_kb; /* the peak resident set of the largest of those processes */
	long long tasks;     /* pids the sandbox's PID namespace handed out below its init
			      * (processes and threads); -1: no sandbox init to count them */
};

struct pid1_opts {
	char *const *argv;
	char *const *envp;
	const char *workdir; /* the child's directory; NULL: where we were started */
	bool create_workdir; /* mkdir -p workdir first (exec --workdir) */
	bool set_ids;        /* run as uid:gid with its supplementary groups */
	uid_t uid;
	gid_t gid;
	uint64_t grace_ms; /* SIGTERM -> SIGKILL for what the child leaves behind */
	const char *what;  /* "command", "runner": for the log */
	int stdout_fd;     /* the child's stdout/stderr; 0 = inherit ours */
	int stderr_fd;
	mode_t umask;                /* the child's umask; 0 = inherit ours */
	const struct sbx_plan *plan; /* the sandbox (sandbox.h); NULL: none */
	bool without_engine;         /* the plan's container engine left out (spawn.h) */
	/* The sandbox made ahead for plan (sbx_prepare), or NULL. Taken over (and left
	 * SBX_CHILD_NONE) once the child is started; else the caller abandons it. */
	struct sbx_child *prepared;
	const struct pid1_hooks *hooks;
	int *left_behind;         /* out: processes left when the main child exited */
	struct pid1_usage *usage; /* out, may be NULL */
};

/* For hooks, on the loop: */
int pid1_signal_child(struct pid1 *p, int sig);    /* -1 once the child has exited */
void pid1_kill_after(struct pid1 *p, uint64_t ms); /* SIGKILL everything in ms (or sooner) */
void pid1_kill_now(struct pid1 *p);
bool pid1_child_exited(const struct pid1 *p);

/* Runs opts->argv as the main child on loop (also serving the loop's other handles) until
 * it and everything it left behind are gone. Returns the status to report: the child's
 * exit code, or 128+signal. Returns -1 (err filled) only when no child could be started.
 * Signals must be blocked (sig_block_all) when called; they are unblocked while the child
 * runs and blocked again before returning. */
int pid1_run(uv_loop_t *loop, const struct pid1_opts *opts, struct rs_err *err);

/* `exec -- CMD`: pid1_run() on a loop of its own, with cfg's command, workdir and grace. */
int pid1_exec(const struct rs_config *cfg, struct rs_err *err);

#endif
