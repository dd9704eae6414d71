/* The sandbox around the runner: a narrow API for `run` and `exec`.
 *
 *   sbx_probe()        what this environment allows, tried in throw-away children
 *   sbx_plan_prepare() which layers to apply (policy + probe), everything built in the parent
 *                      (seccomp BPF, Landlock ruleset, mount list, id maps); the report
 *   sbx_spawn()        (spawn.h) clones the sandbox init or the runner with the plan
 *
 * Between clone and execve only raw system calls run (DESIGN.md, "Process model"). */
#ifndef RS_SANDBOX_H
#define RS_SANDBOX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <sys/types.h>

#include "err.h"

enum sbx_profile {
	SBX_PROFILE_NNP,         /* the runner uid inside, no_new_privs, no capabilities */
	SBX_PROFILE_USERNS_ROOT, /* root inside its own user namespace only */
};

/* Every layer the report names, in the order it lists them. */
enum sbx_layer {
	SBX_L_USERNS,
	SBX_L_PIDNS,
	SBX_L_MNTNS,
	SBX_L_IPCNS,
	SBX_L_UTSNS,
	SBX_L_CGROUPNS,
	SBX_L_PROC,
	SBX_L_TMP,
	SBX_L_RO_INSTALL,
	SBX_L_HIDDEN,
	SBX_L_UID,
	SBX_L_NNP,
	SBX_L_CAPS,
	SBX_L_SECCOMP,
	SBX_L_LANDLOCK,
	SBX_L_RLIMITS,
	SBX_L_DUMPABLE,
	SBX_L_JOB_MEMORY,
	SBX_L_JOB_ROOT,
	SBX_L_CONTAINERS,
	SBX_L_COUNT
};

enum sbx_state { SBX_UNAVAILABLE, SBX_APPLIED, SBX_DISABLED };

struct sbx_layer_report {
	enum sbx_state state;
	char detail[200]; /* how it is applied, or why not (errno and what it means) */
};

struct sbx_report {
	struct sbx_layer_report layer[SBX_L_COUNT];
	long long took_us; /* probing and planning, for the log */
};

const char *sbx_layer_name(enum sbx_layer l);
const char *sbx_state_name(enum sbx_state s);

/* What the probe found: 0 when the step worked, else the errno it failed with. -1: not
 * tried (an earlier step failed). */
struct sbx_probe {
	int userns;        /* clone(CLONE_NEWUSER) */
	int userns_map;    /* writing uid_map/gid_map for it */
	bool ns_in_userns; /* the namespaces below were tried inside a new user namespace */
	int pidns, mntns, ipcns, utsns, cgroupns; /* unshare() of each */
	int hostname;          /* sethostname in the new UTS namespace (RuntimeDefault-like
		       * profiles allow the unshare and refuse this without SYS_ADMIN) */
	int proc_fresh;        /* mounting a new procfs in the new PID namespace */
	int tmpfs;             /* mounting a tmpfs */
	int bind_ro;           /* a read-only bind remount */
	int nnp;               /* PR_SET_NO_NEW_PRIVS */
	int seccomp;           /* loading a filter */
	int capbset;           /* PR_CAPBSET_DROP */
	int setuid;            /* switching to another uid (CAP_SETUID) */
	int landlock_abi;      /* > 0: the ABI version; else -errno */
	int cgroup_version;    /* 1, 2, or 0 when unknown */
	bool cgroup_delegated; /* v2 and our cgroup is writable */
	int cap_last_cap;
};

/* Tries every layer in throw-away children (never in this process). uid/gid: the ids the
 * runner gets, used for the user namespace maps. Returns -1 only when no child could be
 * made at all. */
int sbx_probe(struct sbx_probe *p, uid_t uid, gid_t gid, struct rs_err *err);

/* Whether an overlay in a user namespace mapping ids 0..map_count-1 to themselves works here
 * (a throw-away child): 0 or the errno of the step that failed. */
int sbx_probe_job_root(unsigned map_count);

/* Whether a user namespace nested in another, each mapping one id, can make a mount
 * namespace (the container engine's, engine.h): 0 or the errno that failed. */
int sbx_probe_engine_userns(void);

struct sbx_policy {
	int mode; /* enum sbx_mode (config.h): SBX_AUTO, SBX_STRICT, SBX_OFF */
	enum sbx_profile profile;
	uid_t uid;
	gid_t gid;
	bool switch_ids;             /* run as uid:gid (false: keep the caller's ids) */
	const char *hostname;        /* UTS namespace hostname (the runner name); NULL: keep */
	const char *const *readonly; /* directories made read-only (NULL-terminated) */
	const char *const *keep;     /* directories under /tmp that stay visible (NULL-term.) */
	const char *const *hide;     /* files and directories made unreadable (NULL-term.) */
	long long rlimit_nofile;     /* 0: keep */
	long long rlimit_nproc;      /* 0: keep */
	long long job_memory_max;   /* the job cgroup's limit; 0: the container's minus a reserve */
	bool job_root;              /* SUPERVISOR_JOB_ROOT=overlay (rootplan.h) */
	long long job_root_size;    /* bytes of its tmpfs (the new root's, and the upper layers') */
	bool containers;            /* SUPERVISOR_CONTAINERS=podman (engine.h) */
	const char *containers_dir; /* the engine's directory, under the work folder */
};

struct sbx_plan;

/* Decides the layers from policy and probe, prepares everything the child will apply, and
 * fills report. Under SBX_STRICT a missing layer is an error (EX_RS_SANDBOX) naming the
 * layer and the pod setting that would provide it. */
struct sbx_plan *sbx_plan_prepare(const struct sbx_policy *policy, const struct sbx_probe *probe,
				  struct sbx_report *report, struct rs_err *err);
void sbx_plan_free(struct sbx_plan *plan);

/* After the sandbox is gone: what the kernel killed for memory in the job's own cgroup, the
 * job's peak memory and its CPU time (cgroup v2 only); -1 when the job has no cgroup of its
 * own (report: job_memory). */
long long sbx_job_oom_kills(const struct sbx_plan *plan);
long long sbx_job_memory_peak(const struct sbx_plan *plan);
long long sbx_job_cpu_us(const struct sbx_plan *plan);

/* mkdir -p, mode 0755, components that exist are fine: 0 or an errno value. Raw system
 * calls and string copies only, so the child may call it between clone and execve. */
int sbx_make_dirs(const char *path);

/* Makes this process (the supervisor, which holds the credentials) undumpable: no ptrace, no
 * /proc/PID/mem or environ for processes of other uids or without CAP_SYS_PTRACE. */
int sbx_protect_self(struct sbx_report *report);

/* The report as one log event (sandbox.report), and as a table (check). */
void sbx_report_log(const struct sbx_report *r);
void sbx_report_print(const struct sbx_report *r, FILE *out);

#endif
