/* What the child applies, prepared by the parent (sandbox/plan.c). Internal to sandbox/. */
#ifndef RS_SBX_PLAN_H
#define RS_SBX_PLAN_H

#include <stdbool.h>
#include <sys/capability.h>
#include <sys/resource.h>
#include <sys/types.h>

#include "cgroup.h"
#include "engine.h"
#include "rootplan.h"
#include "sandbox.h"
#include "sbx_seccomp.h"

#define SBX_MAX_PATHS 64

struct sbx_ro_mount {
	char *path;
	unsigned long flags; /* the source mount's flags to keep (nosuid, nodev, noexec, atime) */
};

struct sbx_hide {
	char *path;
	bool is_dir;
};

struct sbx_plan {
	unsigned long clone_flags; /* CLONE_NEW* for the sandbox child */
	bool userns;
	bool pidns; /* the child is the sandbox init and forks the runner */
	/* The IPC namespace is made after the user namespace's ids are taken: the namespace's
	 * POSIX queue filesystem belongs to who creates it, and one created by the pod's root is
	 * unusable inside a user namespace that does not map root (mq_open: EACCES). */
	bool unshare_ipc;
	enum sbx_profile profile;
	uid_t outer_uid; /* what the inner ids map to, outside */
	gid_t outer_gid;
	gid_t *outer_groups; /* supplementary groups mapped to themselves */
	size_t n_outer_groups;
	bool deny_setgroups; /* an unprivileged parent may map only with setgroups denied */
	uid_t inner_uid;     /* the runner's ids as seen inside */
	gid_t inner_gid;
	gid_t *inner_groups;
	size_t n_inner_groups;
	bool switch_ids;

	const char *hostname; /* NULL: keep */

	/* Mounts, in the order the child makes them (mount namespace only). */
	bool mounts;
	bool proc;
	bool tmp;
	char *keep[SBX_MAX_PATHS]; /* under /tmp: bound back after the tmpfs covers /tmp */
	size_t n_keep;
	struct sbx_hide hide[SBX_MAX_PATHS];
	size_t n_hide;
	struct sbx_ro_mount ro[SBX_MAX_PATHS];
	size_t n_ro;
	/* The pod's /dev/shm and /dev/mqueue outlive the job (and a Deployment's next container
	 * sees them): fresh ones. shm_size is the pod's /dev/shm size, as a tmpfs option. */
	bool fresh_shm;
	char shm_size[40];
	bool fresh_mqueue; /* with an IPC namespace: that namespace's queues at /dev/mqueue */
	bool cover_mqueue; /* without one: the pod's queues covered */

	/* The runner process itself. */
	bool drop_caps;     /* inheritable, permitted, effective and ambient emptied */
	bool drop_bounding; /* the bounding set too (needs CAP_SETPCAP) */
	int cap_last_cap;
	cap_t no_caps;
	bool nnp;
	bool seccomp;
	struct sbx_filter filter;
	int landlock_fd; /* -1: none */
	bool rlimit_nofile, rlimit_nproc;
	struct rlimit nofile, nproc;

	struct sbx_cgroup cgroup; /* the job's own memory cgroup (cgroup.dir "" when none) */

	/* SUPERVISOR_JOB_ROOT=overlay: a new root (rootplan.h), the user namespace mapping ids
	 * 0..map_count-1 to themselves, and these directories bound into it. */
	bool job_root;
	struct sbx_root_plan root;
	unsigned map_count;
	char *carry[SBX_MAX_PATHS];
	size_t n_carry;

	/* SUPERVISOR_CONTAINERS=podman: the engine beside the job (engine.h). */
	struct sbx_engine engine;
};

/* The flags a read-only bind remount of path must repeat (a user namespace locks them). */
unsigned long sbx_locked_mount_flags(const char *path);

/* Child side (raw system calls only; each returns 0 or an errno value). */

/* In a new user namespace, once the parent wrote the maps: become the inner ids. */
int sbx_child_enter_userns(const struct sbx_plan *p);
/* The mount namespace's layout: private propagation, /proc, /tmp, hidden and read-only
 * paths. On failure *step names what failed (a static string). */
int sbx_child_mounts(const struct sbx_plan *p, const char **step);
/* SUPERVISOR_JOB_ROOT=overlay: builds the job root and pivots into it (rootfs.c). */
int sbx_child_job_root(const struct sbx_plan *p, const char **step);
/* Empties the bounding set (when the plan says so) and the ambient set (needs CAP_SETPCAP). */
int sbx_child_drop_bounding(const struct sbx_plan *p);
/* Last steps before execve: rlimits, capabilities, ids, no_new_privs, Landlock. (seccomp
 * comes after the caller closed its descriptors.) */
int sbx_child_lockdown(const struct sbx_plan *p, const char **step);
/* core 0, and the plan's nofile and nproc when set (raw system calls): the runner's and the
 * container engine's. 0 or an errno value. */
int sbx_child_rlimits(const struct sbx_plan *p);
/* The sandbox init's loop: relays the supervisor's signals to runner, reaps, and returns
 * the status to exit with once runner is gone. */
int sbx_init_loop(pid_t runner);
/* After the runner: kills what is left in the namespace, reaps it, returns how many. */
int sbx_init_kill_rest(void);

#endif
