/* What the child of sbx_spawn() runs between clone and execve, shared by spawn.c and the
 * sandbox init (initexec.c, which runs it again in the init exec'd fresh). Internal to
 * sandbox/. */
#ifndef RS_SBX_SPAWN_INTERNAL_H
#define RS_SBX_SPAWN_INTERNAL_H

#include <stdbool.h>
#include <sys/types.h>

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
};

/* The command's own process: cwd, stdio, lockdown, seccomp, execve. Raw syscalls only. */
__attribute__((noreturn)) void sbx_child_exec(const struct exec_plan *plan);

/* Every signal's disposition back to SIG_DFL (raw syscalls). */
void sbx_reset_dispositions(void);

/* "/bin/sh" path args..., for a script without "#!" (ENOEXEC). */
int sbx_plan_sh_argv(struct exec_plan *plan, char *const *argv);

#endif
