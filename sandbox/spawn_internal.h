/* What the child of sbx_spawn() runs between clone and execve, shared by spawn.c and the
 * sandbox init (initexec.c, which runs it again in the init exec'd fresh). Internal to
 * sandbox/. */
#ifndef RS_SBX_SPAWN_INTERNAL_H
#define RS_SBX_SPAWN_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "err.h"
#include "spawn.h"

struct sbx_plan;

/* What the child reports through the CLOEXEC pipe when it cannot exec. */
struct exec_failure {
	int err;
	int candidate; /* index into plan.paths, or one of the two below */
	char step[64]; /* the sandbox step that failed, for CANDIDATE_SETUP */
};
#define CANDIDATE_SETUP (-1) /* a step before execve (the working directory) */
#define CANDIDATE_NONE  (-2) /* no candidate existed: the command itself is reported */

/* Everything the child needs, prepared by the parent. */
struct exec_plan {
	char **paths;   /* candidates for execve, NULL-terminated */
	char **sh_argv; /* "/bin/sh" path args..., for ENOEXEC; slot 1 is set by the child */
	char *const *argv;
	char *const *envp;
	int cwd_fd;
	int report_fd; /* write end of the exec-failure pipe */
	int tty_fd;    /* our controlling terminal when we are its foreground group, else -1 */
	bool own_pgrp;
	int max_fd; /* for closing fds when close_range is unavailable */
	int stdout_fd;
	int stderr_fd;
	mode_t umask;
	const struct sbx_plan *sbx; /* the sandbox */
	const char *cwd_path;       /* inside a new mount namespace, instead of cwd_fd */
	int sync_fd;                /* new user namespace: readable once the maps are written */
	int sync_write_fd;          /* the parent's end, closed in the child (else no EOF) */
	int teardown_fd;            /* the sandbox init writes how many it killed */
	int self_fd;                /* the supervisor's binary, for the init's execve */
	int handoff_fd;             /* this plan for the init (initexec.c), a sealed memfd */
	int go_fd;                  /* the init's end of the socket the command comes on */
	bool without_engine;        /* the plan's container engine left out (spawn.h) */
};

/* The command's own process: cwd, stdio, lockdown, seccomp, execve. Raw syscalls only. */
__attribute__((noreturn)) void sbx_child_exec(const struct exec_plan *plan);

/* Every signal's disposition back to SIG_DFL (raw syscalls). */
void sbx_reset_dispositions(void);

/* "/bin/sh" path args..., for a script without "#!" (ENOEXEC). */
int sbx_plan_sh_argv(struct exec_plan *plan, char *const *argv);

/* ---- shared by spawn.c and prepare.c (the sandbox made ahead of its command) ---------- */

/* The pipes between the supervisor and the clone; [0] is the supervisor's end. */
struct spawn_fds {
	int report[2];   /* the exec report: EOF when the command's execve succeeded */
	int sync[2];     /* new user namespace: the maps are written */
	int teardown[2]; /* sandbox init: how many it killed */
	int go[2];       /* sandbox init: the command (a socket, for descriptors) */
};

#define SPAWN_FDS_NONE ((struct spawn_fds){ { -1, -1 }, { -1, -1 }, { -1, -1 }, { -1, -1 } })

int sbx_spawn_fds_open(const struct sbx_plan *sbx, struct spawn_fds *f, struct rs_err *err);
void sbx_spawn_fds_close(struct spawn_fds *f);

/* Clones with plan and f (whose child ends are closed here, whatever happens) and, in a new
 * user namespace, writes the child's maps. 0 with child->pid and pidfd; -1 with no child. */
int sbx_clone_sandbox(struct exec_plan *plan, struct spawn_fds *f, struct sbx_child *child,
		      struct rs_err *err);

/* Reads the exec report into child (exec_errno, failed_step, failed_path) and closes it. */
void sbx_take_report(struct sbx_child *child, char *const *paths, const char *command);

/* Reaps the child, closes its descriptors; keeps what the staging said. */
void sbx_child_forget(struct sbx_child *child);

/* The plan of req's command (no paths yet: sbx_plan_command), every descriptor of the
 * sandbox's own still -1. */
struct exec_plan sbx_exec_plan_for(const struct sbx_spawn_req *req);

/* Waits for the job root's staging thread, if the plan has one, and notes in child what it
 * took or why it failed. */
void sbx_child_join_stage(const struct sbx_plan *sbx, struct sbx_child *child);

/* plan->paths: the execvp(3) search for cmd, done ahead of time. -1: out of memory. */
int sbx_plan_command(struct exec_plan *plan, const char *cmd, char *const *envp);
void sbx_exec_plan_free(struct exec_plan *plan);

/* Our terminal when we are its foreground group, else -1. */
int sbx_foreground_tty(void);
/* The highest descriptor to close without close_range. */
int sbx_max_fd(void);
uint64_t sbx_now_us(void);

/* prepare.c: the command sent to child's prepared init (sbx_prepare); asked_at counts the
 * setup. On failure the child is abandoned. */
int sbx_start_prepared(const struct sbx_spawn_req *req, struct sbx_child *child, uint64_t asked_at,
		       struct rs_err *err);

/* sbx_prepare, with or without the plan's container engine (spawn.h, without_engine). */
int sbx_prepare_sandbox(const struct sbx_plan *sbx, bool with_engine, struct sbx_child *child,
			struct rs_err *err);

#endif
