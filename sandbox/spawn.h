/* Starting the child: clone with a pidfd, then only async-signal-safe raw syscalls until
 * execve. The sandbox plan (sandbox.h: namespaces, mounts, ids, capabilities, seccomp) is
 * prepared in the parent and applied in the child; `SUPERVISOR_SANDBOX=off` is a plan too,
 * with only the ids. */
#ifndef RS_SBX_SPAWN_H
#define RS_SBX_SPAWN_H

#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "err.h"

struct sbx_spawn_req {
	char *const *argv; /* argv[0] is the command, looked up in PATH when it has no '/' */
	char *const *envp; /* the child's whole environment */
	int cwd_fd;        /* directory the child starts in (fchdir), -1 to stay where we are */
	bool own_pgrp;     /* put the child in its own process group (and the terminal's
			      foreground group when we own the terminal) */
	int stdout_fd;     /* dup2'd onto 1 and 2 when >= 0 */
	int stderr_fd;
	mode_t umask; /* 0: keep ours */
	/* The sandbox (sandbox.h), required: its namespaces, its ids. cwd_path (resolved
	 * inside a new mount namespace) replaces cwd_fd when the plan makes one. */
	const struct sbx_plan *plan;
	const char *cwd_path;
	/* SUPERVISOR_CONTAINERS: no container engine in this sandbox though the plan has one
	 * (token mode's `configure`: the runner's own sandbox comes next, with it). */
	bool without_engine;
};

struct sbx_plan;

struct sbx_child {
	pid_t pid;
	int pidfd;
	int exec_errno;        /* 0 when execve succeeded; else why it failed (child has exited) */
	char failed_path[256]; /* the path whose execve failed, for the message */
	char failed_step[64];  /* the sandbox step that failed, when one did */
	bool sandbox_init;     /* pid is the sandbox init; the command runs below it */
	int teardown_fd;       /* sandbox init: gives the number of processes the command left (and
			  * the init killed) once the init has exited; -1 otherwise */
	uint64_t setup_us;     /* clone to the command's execve (or its failure) */
	uint64_t stage_us;     /* the job root's skeleton: how long its staging thread took */
	char unstaged[160];    /* the job root's skeleton could not be staged, why (the child
				* built it itself); "" otherwise */
	/* Prepared ahead (sbx_prepare): the sandbox init exists and waits for the command on
	 * go_fd; report_fd will tell how its execve went. */
	bool prepared;
	int go_fd;
	int report_fd;
	uint64_t prepared_us; /* clone to the command being asked for (0: not prepared) */
	uint64_t prepared_at; /* CLOCK_MONOTONIC µs of the clone */
};

/* A child with nothing in it: what sbx_prepare and sbx_spawn start from. */
#define SBX_CHILD_NONE                                                                             \
	((struct sbx_child){                                                                       \
	    .pid = -1, .pidfd = -1, .teardown_fd = -1, .go_fd = -1, .report_fd = -1 })

/* Whether sbx_prepare can make this plan's sandbox ahead of its command: when the plan has
 * a sandbox init (a PID namespace), which can wait for the command. */
bool sbx_can_prepare(const struct sbx_plan *plan);

/* Readable once sbx_prepare would not wait (the job root's skeleton is staged); -1 when
 * there is nothing to wait for. The plan owns it. */
int sbx_plan_ready_fd(const struct sbx_plan *plan);

/* Makes the sandbox now, before its command is known: the clone enters the namespaces, makes
 * the mounts and execs the sandbox init, which waits for sbx_spawn. The sandbox's set-up
 * (the job root's overlays above all) then runs while the supervisor registers the runner,
 * not after. child must be SBX_CHILD_NONE; on success child->prepared. Signals are blocked
 * around the clone here. -1 (err) when no child could be made; nothing is left then. */
int sbx_prepare(const struct sbx_plan *plan, struct sbx_child *child, struct rs_err *err);

/* A prepared child that will not be asked for its command (registration failed, a stop):
 * killed and reaped, its descriptors closed. Nothing when child is not prepared. */
void sbx_abandon(struct sbx_child *child);

/* Clones and execs; returns 0 when the child exists (even if its execve failed: then
 * child->exec_errno is set and the child has exited with 126/127 and must be reaped).
 * Returns -1 when no child could be created. Must be called with every signal blocked
 * (the child inherits the mask and clears it right before execve, so a signal sent to the
 * supervisor meanwhile stays pending and is forwarded to the new program, never lost). */
int sbx_spawn(const struct sbx_spawn_req *req, struct sbx_child *child, struct rs_err *err);
/* child: SBX_CHILD_NONE, or prepared by sbx_prepare for req->plan (then the command is sent
 * to its init; on failure the prepared child is reaped). setup_us counts from the clone, or
 * for a prepared child from the moment the command is sent. */

/* The exit status a shell would report for a failed execve: 127 not found, else 126. */
int sbx_exec_failure_status(int exec_errno);

#endif
