/* The sandbox init, exec'd fresh.
 *
 * The clone that enters the namespaces and makes the mounts is a copy of the supervisor: its
 * memory holds the organisation's credentials (the PAT, the App key, tokens, TLS buffers).
 * The init lives on as PID 1 beside the job for the whole job; a changed id resets its
 * dumpable flag to fs.suid_dumpable, and under userns-root the job holds CAP_SYS_PTRACE over
 * it. So the clone does not become the init: it execs the supervisor's binary afresh in
 * "__sandbox-init" mode, which reads the sandbox's plan (no secret in it: ids, seccomp
 * program) from a sealed memfd, makes itself undumpable, waits for the runner's command
 * (argv, environment: a second sealed memfd, sent over a socket with the runner's output
 * pipes, once the supervisor has registered the runner), and runs the init (init.c). Nothing of the supervisor's memory survives the execve. */
#ifndef RS_SBX_INITEXEC_H
#define RS_SBX_INITEXEC_H

#include "err.h"

struct exec_plan;

#define SBX_INIT_VERB "__sandbox-init"

/* Parent side: the supervisor's binary (an fd for execveat), and the plan as a sealed
 * memfd. Both are CLOEXEC; -1 with err on failure. */
int sbx_self_exe_open(struct rs_err *err);
int sbx_handoff_create(const struct exec_plan *plan, struct rs_err *err);
/* The command's part of the plan (argv, environment, directory...), sent to the waiting
 * init over the plan's go_fd (spawn.c) once the command is known. */
int sbx_job_create(const struct exec_plan *plan, struct rs_err *err);

/* Child side (raw syscalls only): execveat(self_fd) in init mode; returns errno on failure. */
int sbx_exec_init(int self_fd, int handoff_fd);

/* The init's main(): `runner-supervisor __sandbox-init FD`. Never returns. */
__attribute__((noreturn)) void sbx_init_main(const char *handoff_fd);

#endif
