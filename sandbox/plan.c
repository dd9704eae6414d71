/* Which layers the runner gets: the policy (SUPERVISOR_SANDBOX, the profile, the paths) meets
 * what the probe found. Everything the child applies is built here, in the parent: the
 * seccomp BPF, the Landlock ruleset, the mount list with the flags each remount must keep,
 * the empty capability set. The report says, for each layer, applied / unavailable (the
 * errno and what it means) / disabled. */
#include "plan.h"

#include <errno.h>
#include <grp.h>
#include <limits.h>
#include <pwd.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <linux/magic.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "config.h"
#include "landlock.h"
#include "nsmaps.h"

#ifndef CLONE_NEWCGROUP
#define CLONE_NEWCGROUP 0x02000000
#endif

static const char *const layer_names[SBX_L_COUNT] = {
	[SBX_L_USERNS] = "user_namespace",
	[SBX_L_PIDNS] = "pid_namespace",
	[SBX_L_MNTNS] = "mount_namespace",
	[SBX_L_IPCNS] = "ipc_namespace",
	[SBX_L_UTSNS] = "uts_namespace",
	[SBX_L_CGROUPNS] = "cgroup_namespace",
	[SBX_L_PROC] = "proc",
	[SBX_L_TMP] = "tmp",
	[SBX_L_RO_INSTALL] = "readonly_install",
	[SBX_L_HIDDEN] = "hidden_paths",
	[SBX_L_UID] = "separate_uid",
	[SBX_L_NNP] = "no_new_privs",
	[SBX_L_CAPS] = "capabilities",
	[SBX_L_SECCOMP] = "seccomp",
	[SBX_L_LANDLOCK] = "landlock",
	[SBX_L_RLIMITS] = "rlimits",
	[SBX_L_DUMPABLE] = "supervisor_undumpable",
	[SBX_L_JOB_MEMORY] = "job_memory",
	[SBX_L_JOB_ROOT] = "job_root",
	[SBX_L_CONTAINERS] = "containers",
};

/* What to change in the pod so that a missing layer becomes possible (strict's message). */
static const char *const layer_hints[SBX_L_COUNT] = {
	[SBX_L_USERNS] = "give the pod hostUsers: false (Kubernetes >= 1.33), or seccompProfile "
			 "Unconfined with user.max_user_namespaces > 0",
	[SBX_L_PIDNS] = "needs CAP_SYS_ADMIN or a user namespace: seccompProfile Unconfined "
			"(RuntimeDefault blocks unshare) or hostUsers: false; and a procfs of its "
			"own: in a user namespace the pod's /proc must not be masked "
			"(securityContext.procMount: Unmasked, with hostUsers: false)",
	[SBX_L_MNTNS] = "needs CAP_SYS_ADMIN or a user namespace (see pid_namespace), and no "
			"AppArmor profile that denies mount (appArmorProfile Unconfined)",
	[SBX_L_IPCNS] = "see pid_namespace",
	[SBX_L_UTSNS] = "see pid_namespace",
	[SBX_L_CGROUPNS] = "see pid_namespace (and a kernel with cgroup namespaces)",
	[SBX_L_PROC] = "the pod's /proc is masked: securityContext.procMount: Unmasked "
		       "(needs hostUsers: false)",
	[SBX_L_TMP] = "needs the mount namespace",
	[SBX_L_RO_INSTALL] = "needs the mount namespace",
	[SBX_L_HIDDEN] = "needs the mount namespace, or Landlock (kernel >= 5.13)",
	[SBX_L_UID] = "the supervisor must start as root (no runAsNonRoot/runAsUser) with "
		      "CAP_SETUID and CAP_SETGID",
	[SBX_L_NNP] = "no_new_privs is refused by this kernel",
	[SBX_L_CAPS] = "needs CAP_SETPCAP to empty the bounding set (in Kubernetes' default "
		       "capability set)",
	[SBX_L_SECCOMP] = "needs a kernel with seccomp filters",
	[SBX_L_LANDLOCK] = "needs a kernel with Landlock enabled (lsm=landlock)",
	[SBX_L_RLIMITS] = "",
	[SBX_L_DUMPABLE] = "",
	[SBX_L_JOB_MEMORY] = "a delegated cgroup: writable by the supervisor (cgroup v2 with the "
			     "memory controller, or v1's memory hierarchy), and a memory limit on "
			     "the container",
	[SBX_L_JOB_ROOT] = "a user-namespaced pod (hostUsers: false, Kubernetes >= 1.33, with "
			   "procMount: Unmasked) whose supervisor runs as the pod's root, on a "
			   "kernel whose tmpfs has user extended attributes (>= 6.6)",
	[SBX_L_CONTAINERS] = "the sandbox's user, mount and PID namespaces (see pid_namespace), "
			     "nested user namespaces (user.max_user_namespaces > 1), podman in "
			     "the image, and /var/run writable by the supervisor",
};

const char *sbx_layer_name(enum sbx_layer l)
{
	return l < SBX_L_COUNT ? layer_names[l] : "?";
}

const char *sbx_state_name(enum sbx_state s)
{
	return s == SBX_APPLIED ? "applied" : s == SBX_DISABLED ? "disabled" : "unavailable";
}

static void set(struct sbx_report *r, enum sbx_layer l, enum sbx_state s, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void set(struct sbx_report *r, enum sbx_layer l, enum sbx_state s, const char *fmt, ...)
{
	r->layer[l].state = s;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(r->layer[l].detail, sizeof(r->layer[l].detail), fmt, ap);
	va_end(ap);
}

/* "EPERM (Operation not permitted)" */
static const char *why(int e, char *buf, size_t n)
{
	if (e < 0)
		snprintf(buf, n, "not tried: an earlier step failed");
	else
		snprintf(buf, n, "%s (%s)", strerrorname_np(e) ? strerrorname_np(e) : "?",
			 strerror(e));
	return buf;
}

static void set_errno(struct sbx_report *r, enum sbx_layer l, int e, const char *what)
{
	char b[96];
	set(r, l, SBX_UNAVAILABLE, "%s: %s", what, why(e, b, sizeof(b)));
}

static int add_path(char **list, size_t *n, const char *path)
{
	if (*n >= SBX_MAX_PATHS)
		return -1;
	if (!(list[*n] = strdup(path)))
		return -1;
	(*n)++;
	return 0;
}

static bool under(const char *path, const char *dir)
{
	size_t n = strlen(dir);
	return strncmp(path, dir, n) == 0 && (path[n] == '/' || path[n] == '\0');
}

/* The user's groups as login(1) would set them; just gid when uid has no passwd entry.
 * Returns the count, or -1 when out of memory; *out is the caller's to free. */
static int user_groups(uid_t uid, gid_t gid, gid_t **out)
{
	struct passwd pw, *found = NULL;
	char buf[4096];
	int n = 32;
	gid_t *groups = malloc((size_t)n * sizeof(gid_t));
	if (!groups)
		return -1;
	*out = groups;
	if (getpwuid_r(uid, &pw, buf, sizeof(buf), &found) != 0 || !found) {
		groups[0] = gid;
		return 1;
	}
	while (getgrouplist(found->pw_name, gid, groups, &n) < 0) {
		gid_t *grown = realloc(groups, (size_t)n * sizeof(gid_t));
		if (!grown)
			return -1;
		*out = groups = grown;
	}
	return n;
}

/* Ids: who the runner is inside, and the groups the maps carry. */
static int plan_ids(struct sbx_plan *p, const struct sbx_policy *pol)
{
	gid_t *groups = NULL;
	int n = user_groups(pol->uid, pol->gid, &groups);
	if (n < 0) {
		free(groups);
		return -1;
	}
	bool root_inside = p->profile == SBX_PROFILE_USERNS_ROOT && p->userns;
	p->inner_uid = root_inside ? 0 : pol->uid;
	p->inner_gid = root_inside ? 0 : pol->gid;
	/* The job root maps ids 0..map_count-1 to themselves: root inside is the pod's root. */
	p->outer_uid = p->job_root ? 0 : pol->uid;
	p->outer_gid = p->job_root ? 0 : pol->gid;
	p->inner_groups = calloc((size_t)n + 1, sizeof(gid_t));
	p->outer_groups = calloc((size_t)n + 1, sizeof(gid_t));
	if (!p->inner_groups || !p->outer_groups) {
		free(groups);
		return -1;
	}
	p->inner_groups[p->n_inner_groups++] = p->inner_gid;
	for (int i = 0; i < n; i++)
		if (groups[i] != pol->gid && !(p->userns && groups[i] == p->inner_gid)) {
			p->inner_groups[p->n_inner_groups++] = groups[i];
			p->outer_groups[p->n_outer_groups++] = groups[i];
		}
	free(groups);
	p->deny_setgroups = p->userns && !p->job_root && sbx_maps_need_deny_setgroups();
	if (p->job_root) /* every group of the range is mapped; none other is needed */
		p->n_inner_groups = 1, p->n_outer_groups = 0;
	return 0;
}

unsigned long sbx_locked_mount_flags(const char *path)
{
	/* statvfs's ST_* bits are not the MS_* bits mount(2) takes (ST_RELATIME is 4096,
	 * which is MS_BIND): translate each one. */
	static const struct {
		unsigned long st, ms;
	} map[] = { { ST_NOSUID, MS_NOSUID },         { ST_NODEV, MS_NODEV },
		    { ST_NOEXEC, MS_NOEXEC },         { ST_NOATIME, MS_NOATIME },
		    { ST_NODIRATIME, MS_NODIRATIME }, { ST_RELATIME, MS_RELATIME } };
	struct statvfs sv;
	unsigned long ms = 0;
	if (statvfs(path, &sv) < 0)
		return 0;
	for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++)
		if (sv.f_flag & map[i].st)
			ms |= map[i].ms;
	return ms;
}

#ifndef MQUEUE_MAGIC
#define MQUEUE_MAGIC 0x19800202 /* ipc/mqueue.c */
#endif

static bool is_fs(const char *path, unsigned long magic)
{
	struct statfs fs;
	return statfs(path, &fs) == 0 && (unsigned long)fs.f_type == magic;
}

/* Shared memory and message queues the job creates must not outlive it: SysV objects and
 * POSIX queues live in the IPC namespace; /dev/shm is a tmpfs of the pod, and /dev/mqueue a
 * view of the pod's queues. */
static void plan_ipc_mounts(struct sbx_plan *p)
{
	struct statvfs v;
	if (is_fs("/dev/shm", TMPFS_MAGIC) && statvfs("/dev/shm", &v) == 0) {
		p->fresh_shm = true;
		snprintf(p->shm_size, sizeof(p->shm_size), "mode=1777,size=%llu",
			 (unsigned long long)v.f_blocks * v.f_frsize);
	}
	/* The pod's queues are visible (and creatable) through /dev/mqueue: with an IPC
	 * namespace, the sandbox's own queues are mounted there instead (Landlock, which also
	 * governs mq_open, then has a path to grant them by: initexec.c); without one, covered. */
	if (is_fs("/dev/mqueue", MQUEUE_MAGIC)) {
		p->fresh_mqueue = (p->clone_flags & CLONE_NEWIPC) || p->unshare_ipc;
		p->cover_mqueue = !p->fresh_mqueue;
	}
}

static int plan_mounts(struct sbx_plan *p, const struct sbx_policy *pol)
{
	plan_ipc_mounts(p);
	for (const char *const *k = pol->keep; k && *k; k++) {
		bool inside_another = false;
		for (const char *const *o = pol->keep; *o; o++)
			inside_another |= o != k && strcmp(*o, *k) != 0 &&
					  strcmp(*o, "/tmp") != 0 && under(*k, *o);
		/* /tmp itself cannot be kept: the job gets a fresh one, whatever else. */
		if (under(*k, "/tmp") && strcmp(*k, "/tmp") != 0 && !inside_another &&
		    add_path(p->keep, &p->n_keep, *k) < 0)
			return -1;
	}
	for (const char *const *h = pol->hide; h && *h; h++) {
		struct stat st;
		if (stat(*h, &st) < 0 || p->n_hide >= SBX_MAX_PATHS)
			continue; /* nothing there to hide */
		if (!(p->hide[p->n_hide].path = strdup(*h)))
			return -1;
		p->hide[p->n_hide++].is_dir = S_ISDIR(st.st_mode);
	}
	for (const char *const *d = pol->readonly; d && *d; d++) {
		struct stat st;
		if (lstat(*d, &st) < 0 || !(S_ISDIR(st.st_mode) || S_ISREG(st.st_mode)) ||
		    p->n_ro >= SBX_MAX_PATHS)
			continue;
		if (!(p->ro[p->n_ro].path = strdup(*d)))
			return -1;
		p->ro[p->n_ro++].flags = sbx_locked_mount_flags(*d);
	}
	return 0;
}

/* Why no procfs of its own: errno of the first step that failed on the way to one, or 0. */
static int no_own_proc(const struct sbx_probe *pr)
{
	return pr->mntns     ? pr->mntns
	       : pr->tmpfs   ? pr->tmpfs
	       : pr->bind_ro ? pr->bind_ro
			     : pr->proc_fresh;
}

static void report_namespaces(struct sbx_plan *p, const struct sbx_probe *pr, struct sbx_report *r)
{
	static const struct {
		enum sbx_layer layer;
		unsigned long flag;
		size_t offset;
	} ns[] = {
		{ SBX_L_PIDNS, CLONE_NEWPID, offsetof(struct sbx_probe, pidns) },
		{ SBX_L_MNTNS, CLONE_NEWNS, offsetof(struct sbx_probe, mntns) },
		{ SBX_L_IPCNS, CLONE_NEWIPC, offsetof(struct sbx_probe, ipcns) },
		{ SBX_L_UTSNS, CLONE_NEWUTS, offsetof(struct sbx_probe, utsns) },
		{ SBX_L_CGROUPNS, CLONE_NEWCGROUP, offsetof(struct sbx_probe, cgroupns) },
	};
	for (size_t i = 0; i < sizeof(ns) / sizeof(ns[0]); i++) {
		int e = *(const int *)(const void *)((const char *)pr + ns[i].offset);
		if (ns[i].layer == SBX_L_PIDNS && e == 0 && !p->pidns)
			/* The runner kills a job's orphans by the pids it reads in /proc and writes
			 * /proc/<pid>/oom_score_adj (actions-runner-contract.md): with the pod's
			 * /proc inside a new PID namespace those pids name other processes. */
			set_errno(r, SBX_L_PIDNS, no_own_proc(pr),
				  "not without a procfs of its own, which the runner's orphan "
				  "cleanup needs (mounting one)");
		else if (e)
			set_errno(r, ns[i].layer, e, "unshare");
		else {
			p->clone_flags |= ns[i].flag;
			set(r, ns[i].layer, SBX_APPLIED, "%s",
			    p->userns ? "owned by the sandbox's user namespace" : "");
		}
	}
	/* What the cgroup namespace sits on: the job gets no cgroupfs of its own either way
	 * (a writable v1 hierarchy is the release_agent escape). */
	if (r->layer[SBX_L_CGROUPNS].state == SBX_APPLIED)
		set(r, SBX_L_CGROUPNS, SBX_APPLIED, "cgroup v%d%s; no cgroupfs mounted for the job",
		    pr->cgroup_version ? pr->cgroup_version : 1,
		    pr->cgroup_version == 2 ? (pr->cgroup_delegated ? ", delegated" : ", read-only")
					    : "");
}

static void plan_namespaces(struct sbx_plan *p, const struct sbx_policy *pol,
			    const struct sbx_probe *pr, struct sbx_report *r)
{
	p->userns = pr->ns_in_userns && pr->userns == 0 && pr->userns_map == 0;
	/* A PID namespace only together with a procfs of its own (which needs the mount
	 * namespace); without one the other namespaces still stand, with no sandbox init: the
	 * supervisor reaps and kills by uid, and the pod's /proc agrees with the pids. */
	p->pidns = pr->pidns == 0 && no_own_proc(pr) == 0;
	if (p->userns) {
		p->clone_flags |= CLONE_NEWUSER;
		set(r, SBX_L_USERNS, SBX_APPLIED, "%s",
		    p->profile == SBX_PROFILE_USERNS_ROOT
			? "userns-root: root inside, the runner uid outside"
			: "nnp: the runner uid inside and outside, nothing else mapped");
	} else if (pr->userns) {
		set_errno(r, SBX_L_USERNS, pr->userns, "clone(CLONE_NEWUSER)");
	} else {
		set_errno(r, SBX_L_USERNS, pr->userns_map, "writing uid_map/gid_map");
	}
	report_namespaces(p, pr, r);
	if (p->userns && (p->clone_flags & CLONE_NEWIPC)) {
		p->clone_flags &= ~(unsigned long)CLONE_NEWIPC;
		p->unshare_ipc = true;
	}
	p->mounts = (p->clone_flags & CLONE_NEWNS) && pr->tmpfs == 0 && pr->bind_ro == 0;
	if (!p->mounts) {
		int e = pr->mntns ? pr->mntns : pr->tmpfs ? pr->tmpfs : pr->bind_ro;
		set_errno(r, SBX_L_TMP, e, "no mount namespace");
		set_errno(r, SBX_L_RO_INSTALL, e, "no mount namespace");
		set_errno(r, SBX_L_PROC, e, "no mount namespace");
		/* Nothing to mount: a new mount namespace alone would only cost. */
		p->clone_flags &= ~(unsigned long)CLONE_NEWNS;
		if (r->layer[SBX_L_MNTNS].state == SBX_APPLIED)
			set_errno(r, SBX_L_MNTNS, e, "tmpfs or read-only bind refused");
		return;
	}
	p->tmp = true;
	set(r, SBX_L_TMP, SBX_APPLIED, "a fresh tmpfs");
	if (pol->readonly && pol->readonly[0])
		set(r, SBX_L_RO_INSTALL, SBX_APPLIED,
		    "the runner's installation bound read-only (bin/, externals/, scripts)");
	else
		set(r, SBX_L_RO_INSTALL, SBX_DISABLED, "no runner installation (exec)");
	p->proc = p->pidns;
	if (p->proc)
		set(r, SBX_L_PROC, SBX_APPLIED, "a fresh procfs: only the sandbox's processes");
	else
		set_errno(r, SBX_L_PROC, pr->proc_fresh,
			  "mounting a fresh procfs (the pod's masked /proc stays, with the pod's "
			  "pids, as there is no PID namespace)");
	/* Some seccomp profiles allow the UTS namespace but not sethostname: keep the name. */
	p->hostname = pr->hostname == 0 ? pol->hostname : NULL;
	if (pol->hostname && pr->hostname != 0 && (p->clone_flags & CLONE_NEWUTS)) {
		char b[96];
		set(r, SBX_L_UTSNS, SBX_APPLIED, "the pod's hostname kept: sethostname: %s",
		    why(pr->hostname, b, sizeof(b)));
	}
}

static int plan_process(struct sbx_plan *p, const struct sbx_policy *pol,
			const struct sbx_probe *pr, struct sbx_report *r, struct rs_err *err)
{
	p->cap_last_cap = pr->cap_last_cap;
	bool root_inside = p->profile == SBX_PROFILE_USERNS_ROOT && p->userns;
	p->switch_ids = pol->switch_ids || p->userns;
	/* runAsNonRoot with the runner's uid: already the right ids, and no CAP_SETGID to call
	 * setgroups with (every pod used to exit 75 on EPERM). */
	if (!p->userns && pol->uid == getuid() && pol->gid == getgid())
		p->switch_ids = false;
	if (!pol->switch_ids)
		set(r, SBX_L_UID, SBX_DISABLED, "the command keeps the caller's uid %u",
		    (unsigned)getuid());
	else if (pol->uid == getuid() && !p->userns)
		set(r, SBX_L_UID, SBX_UNAVAILABLE,
		    "the supervisor already runs as uid %u: the "
		    "job shares it",
		    (unsigned)pol->uid);
	else if (!p->userns && pr->setuid)
		set_errno(r, SBX_L_UID, pr->setuid, "setresuid");
	else if (p->job_root)
		set(r, SBX_L_UID, SBX_APPLIED,
		    "root of the job root (uid 0 inside); the supervisor is out of its reach");
	else
		set(r, SBX_L_UID, SBX_APPLIED, "uid %u gid %u", (unsigned)pol->uid,
		    (unsigned)pol->gid);

	p->nnp = pr->nnp == 0;
	if (p->nnp)
		set(r, SBX_L_NNP, SBX_APPLIED, "setuid binaries gain nothing");
	else
		set_errno(r, SBX_L_NNP, pr->nnp, "prctl(PR_SET_NO_NEW_PRIVS)");

	if (root_inside) {
		set(r, SBX_L_CAPS, SBX_APPLIED,
		    "userns-root: capabilities over the job's own namespaces only, none over the "
		    "pod or the host");
	} else {
		p->drop_caps = true;
		p->drop_bounding = pr->capbset == 0;
		if (!(p->no_caps = cap_init()))
			return rs_fail(err, EX_RS_SANDBOX, errno, "cap_init");
		if (p->drop_bounding)
			set(r, SBX_L_CAPS, SBX_APPLIED,
			    "bounding, ambient, inheritable, permitted and effective sets empty");
		else if (getuid() != 0 && p->nnp)
			set(r, SBX_L_CAPS, SBX_APPLIED,
			    "sets empty; the bounding set is kept (no CAP_SETPCAP), which "
			    "no_new_privs makes moot");
		else
			set_errno(r, SBX_L_CAPS, pr->capbset, "prctl(PR_CAPBSET_DROP)");
	}

	if (p->nnp && pr->seccomp == 0) {
		if (sbx_seccomp_build(&p->filter, root_inside, p->job_root, err) < 0)
			return -1;
		p->seccomp = true;
		size_t n, count = 0;
		const struct sbx_sc_rule *rules = sbx_seccomp_rules(&n);
		for (size_t i = 0; i < n; i++)
			count += (root_inside || !rules[i].root_inside_only) &&
				 !(p->job_root && rules[i].not_job_root);
		set(r, SBX_L_SECCOMP, SBX_APPLIED, "%zu rules, default allow, other ABIs refused",
		    count);
	} else {
		set_errno(r, SBX_L_SECCOMP, p->nnp ? pr->seccomp : pr->nnp, "seccomp filter");
	}

	struct rlimit cur;
	if (pol->rlimit_nofile > 0) {
		p->rlimit_nofile = true;
		p->nofile.rlim_cur = p->nofile.rlim_max = (rlim_t)pol->rlimit_nofile;
		/* Raising the hard limit needs CAP_SYS_RESOURCE: stay within ours. */
		if (getrlimit(RLIMIT_NOFILE, &cur) == 0 && cur.rlim_max < p->nofile.rlim_max)
			p->nofile.rlim_cur = p->nofile.rlim_max = cur.rlim_max;
	}
	if (pol->rlimit_nproc > 0) {
		p->rlimit_nproc = true;
		p->nproc.rlim_cur = p->nproc.rlim_max = (rlim_t)pol->rlimit_nproc;
		if (getrlimit(RLIMIT_NPROC, &cur) == 0 && cur.rlim_max < p->nproc.rlim_max)
			p->nproc.rlim_cur = p->nproc.rlim_max = cur.rlim_max;
	}
	set(r, SBX_L_RLIMITS, SBX_APPLIED, "core 0%s%s", p->rlimit_nofile ? ", nofile set" : "",
	    p->rlimit_nproc ? ", nproc set" : "");
	return 0;
}

static int plan_hiding(struct sbx_plan *p, const struct sbx_policy *pol, const struct sbx_probe *pr,
		       struct sbx_report *r, struct rs_err *err)
{
	if (p->mounts)
		set(r, SBX_L_HIDDEN, SBX_APPLIED, "%zu paths covered in the mount namespace",
		    p->n_hide);
	/* In a mount namespace the covers hide the paths; Landlock adds its scopes (the job's
	 * signals and abstract sockets stay in its domain, and a landlocked job cannot trace
	 * the unconfined sandbox init). Not path rules: made here they would not reach the
	 * sandbox's fresh mounts (Landlock skips a mount point's own rule), and would leave
	 * every directory above a hidden path list-only. */
	if (p->mounts) {
		if (pr->landlock_abi < 6 || !p->nnp) {
			set_errno(r, SBX_L_LANDLOCK,
				  pr->landlock_abi < 0 ? -pr->landlock_abi : ENOSYS,
				  "signal scoping (Landlock ABI 6, kernel 6.12)");
			return 0;
		}
		if ((p->landlock_fd = sbx_landlock_build_scope_only(pr->landlock_abi, err)) < 0)
			return -1;
		set(r, SBX_L_LANDLOCK, SBX_APPLIED,
		    "ABI %d: signals and abstract sockets scoped to the job", pr->landlock_abi);
		return 0;
	}
	if (pr->landlock_abi <= 0 || !p->nnp) {
		set_errno(r, SBX_L_LANDLOCK, pr->landlock_abi < 0 ? -pr->landlock_abi : EPERM,
			  "landlock_create_ruleset");
		set(r, SBX_L_HIDDEN, SBX_UNAVAILABLE,
		    "no mount namespace and no Landlock: only file modes protect them");
		return 0;
	}
	/* Landlock wants real paths: /var/run is a link to /run. */
	const char *resolved[SBX_MAX_PATHS + 1];
	char *owned[SBX_MAX_PATHS];
	size_t n = 0;
	for (const char *const *h = pol->hide; h && *h && n < SBX_MAX_PATHS; h++)
		if ((owned[n] = realpath(*h, NULL)))
			resolved[n] = owned[n], n++;
	resolved[n] = NULL;
	p->landlock_fd = sbx_landlock_build(pr->landlock_abi, resolved, err);
	for (size_t i = 0; i < n; i++)
		free(owned[i]);
	if (p->landlock_fd < 0)
		return -1;
	set(r, SBX_L_LANDLOCK, SBX_APPLIED, "ABI %d: %zu paths denied%s", pr->landlock_abi, n,
	    pr->landlock_abi >= 6 ? "; signals and abstract sockets scoped to the job" : "");
	set(r, SBX_L_HIDDEN, SBX_APPLIED, "%zu paths denied by Landlock (names still listable)", n);
	return 0;
}

/* Why the job root cannot be had here, or NULL. */
static const char *job_root_refused(const struct sbx_plan *p, unsigned map_count)
{
	if (getuid() != 0)
		return "the supervisor does not run as the pod's root (runAsNonRoot): the image's "
		       "owners cannot be mapped";
	if (!p->userns)
		return "no user namespace";
	if (!p->mounts || !p->pidns)
		return "no mount or PID namespace";
	if (map_count == 0)
		return "the pod's root is the node's root (no hostUsers: false): a job root mapped "
		       "onto it would pass every check the kernel makes on uid 0 of the node";
	if (map_count < 65536)
		return "the pod's user namespace maps fewer than 65536 ids";
	return NULL;
}

/* SUPERVISOR_JOB_ROOT=overlay (rootplan.h): decided before the ids, which it changes. */
static int plan_job_root(struct sbx_plan *p, const struct sbx_policy *pol, struct sbx_report *r)
{
	if (!pol->job_root) {
		set(r, SBX_L_JOB_ROOT, SBX_DISABLED, "SUPERVISOR_JOB_ROOT=off");
		return 0;
	}
	unsigned count = sbx_root_map_count();
	const char *refused = job_root_refused(p, count);
	if (refused) {
		set(r, SBX_L_JOB_ROOT, SBX_UNAVAILABLE, "%s", refused);
		return 0;
	}
	int e = sbx_probe_job_root(count);
	if (e) {
		set_errno(r, SBX_L_JOB_ROOT, e,
			  "an overlay with a tmpfs upper layer in a user namespace");
		return 0;
	}
	char why[160] = "";
	if ((e = sbx_root_plan_build(&p->root, pol->job_root_size, why, sizeof(why))) != 0) {
		set(r, SBX_L_JOB_ROOT, SBX_UNAVAILABLE, "%s", why);
		return e == ENOMEM ? -1 : 0;
	}
	/* Carried as they are: the runner's root and work folder, exec's directory; not "/"
	 * (the job's is the new one) nor what the job root makes itself. */
	for (const char *const *k = pol->keep; k && *k; k++)
		if (strcmp(*k, "/") != 0 && !under(*k, "/proc") && !under(*k, "/dev") &&
		    !under(*k, "/sys") && add_path(p->carry, &p->n_carry, *k) < 0)
			return -1;
	/* Before anything is registered: what the child would copy after (rootstage.c). A root
	 * filesystem that is read-only leaves it to the child. */
	char staged[200] = "staged while the runner registers";
	if (sbx_root_stage(&p->root, why, sizeof(why)) != 0)
		snprintf(staged, sizeof(staged), "built by the sandbox: %s", why);
	p->job_root = true;
	p->map_count = count;
	p->profile = SBX_PROFILE_USERNS_ROOT; /* root of it, so that sudo and apt work */
	set(r, SBX_L_USERNS, SBX_APPLIED,
	    "job root: root inside; ids 0-%u are the pod's own (a user-namespaced pod: not the "
	    "node's)",
	    count - 1);
	set(r, SBX_L_JOB_ROOT, SBX_APPLIED,
	    "root of a copy-on-write view of the image (%zu overlays, %lld MiB of tmpfs, skeleton "
	    "%s), ids 0-%u mapped to the pod's",
	    p->root.overlays, pol->job_root_size >> 20, staged, count - 1);
	return 0;
}

/* Why the engine cannot run in this sandbox, or NULL. */
static const char *containers_refused(const struct sbx_plan *p, const struct sbx_policy *pol,
				      char *podman, size_t n)
{
	if (!p->userns)
		return "no user namespace for the sandbox, in which the engine's would nest";
	if (!p->mounts || !p->pidns)
		return "no mount or PID namespace";
	if (!p->tmp)
		return "no fresh /tmp for its run state";
	/* The job root's read-only /proc/sys over its /proc makes every new procfs "too
	 * revealing" for the kernel: runc could not mount a container's /proc (EPERM). */
	if (p->job_root)
		return "not with SUPERVISOR_JOB_ROOT=overlay: its read-only /proc/sys keeps the "
		       "kernel from mounting a container's /proc";
	if (!pol->containers_dir)
		return "no work folder for its storage";
	return sbx_engine_refused(podman, n);
}

/* SUPERVISOR_CONTAINERS=podman (engine.h): after the namespaces, the ids and the job's
 * limits, which bind the engine and its containers too. */
static int plan_containers(struct sbx_plan *p, const struct sbx_policy *pol, struct sbx_report *r,
			   struct rs_err *err)
{
	if (!pol->containers) {
		set(r, SBX_L_CONTAINERS, SBX_DISABLED, "SUPERVISOR_CONTAINERS=off");
		return 0;
	}
	char podman[4096], why[200];
	const char *refused = containers_refused(p, pol, podman, sizeof(podman));
	if (refused) {
		set(r, SBX_L_CONTAINERS, SBX_UNAVAILABLE, "%s", refused);
		return 0;
	}
	int e = sbx_probe_engine_userns();
	if (e) {
		set_errno(r, SBX_L_CONTAINERS, e,
			  "a user and mount namespace nested in the sandbox's");
		return 0;
	}
	/* Owned by the ids the sandbox's inner ones map to: the job's, outside (the pod's root
	 * under SUPERVISOR_JOB_ROOT, where the job is root). */
	e = sbx_engine_plan(&p->engine, podman, pol->containers_dir, p->outer_uid, p->outer_gid,
			    p->rlimit_nofile ? p->nofile.rlim_max : 0, why, sizeof(why));
	if (e) {
		sbx_engine_free(&p->engine);
		set(r, SBX_L_CONTAINERS, SBX_UNAVAILABLE, "%s", why);
		return e == ENOMEM ? rs_fail(err, EX_RS_SOFTWARE, ENOMEM, "sandbox plan") : 0;
	}
	set(r, SBX_L_CONTAINERS, SBX_APPLIED,
	    "%s at %s, in a user namespace nested in the job's (the sandbox's mounts locked), "
	    "%s storage in %s",
	    podman, SBX_ENGINE_SOCKET, p->engine.driver, pol->containers_dir);
	return 0;
}

static void plan_job_memory(struct sbx_plan *p, const struct sbx_policy *pol, struct sbx_report *r)
{
	char why[200];
	int e = sbx_cgroup_prepare(&p->cgroup, pol->job_memory_max, why, sizeof(why));
	if (e == 0)
		set(r, SBX_L_JOB_MEMORY, SBX_APPLIED, "%s: the job's OOM stays the job's", why);
	else
		set(r, SBX_L_JOB_MEMORY, SBX_UNAVAILABLE,
		    "%s: an OOM of the job may take the supervisor with it", why);
}

long long sbx_job_oom_kills(const struct sbx_plan *p)
{
	return p ? sbx_cgroup_oom_kills(&p->cgroup) : -1;
}

long long sbx_job_memory_peak(const struct sbx_plan *p)
{
	return p ? sbx_cgroup_peak(&p->cgroup) : -1;
}

long long sbx_job_cpu_us(const struct sbx_plan *p)
{
	return p ? sbx_cgroup_cpu_us(&p->cgroup) : -1;
}

static void disable_all(struct sbx_report *r)
{
	for (int l = 0; l < SBX_L_COUNT; l++)
		if (l != SBX_L_UID && l != SBX_L_DUMPABLE)
			set(r, (enum sbx_layer)l, SBX_DISABLED, "SUPERVISOR_SANDBOX=off");
}

/* strict: every layer but Landlock (a fallback for pods without namespaces) and the job's
 * memory cgroup (Kubernetes rarely delegates cgroups: the OOM report tells). */
static int check_strict(const struct sbx_report *r, struct rs_err *err)
{
	for (int l = 0; l < SBX_L_COUNT; l++) {
		if (l == SBX_L_LANDLOCK || l == SBX_L_JOB_MEMORY ||
		    r->layer[l].state != SBX_UNAVAILABLE)
			continue;
		return rs_fail(err, EX_RS_SANDBOX, 0,
			       "SUPERVISOR_SANDBOX=strict: layer %s is unavailable (%s); %s",
			       layer_names[l], r->layer[l].detail, layer_hints[l]);
	}
	return 0;
}

struct sbx_plan *sbx_plan_prepare(const struct sbx_policy *pol, const struct sbx_probe *pr,
				  struct sbx_report *r, struct rs_err *err)
{
	struct sbx_plan *p = calloc(1, sizeof(*p));
	if (!p) {
		rs_fail(err, EX_RS_SOFTWARE, ENOMEM, "sandbox plan");
		return NULL;
	}
	p->landlock_fd = -1;
	p->engine.listen_fd = -1;
	p->profile = pol->profile;
	if (pol->mode == SBX_OFF) {
		disable_all(r);
		p->switch_ids = pol->switch_ids;
		set(r, SBX_L_UID, pol->switch_ids ? SBX_APPLIED : SBX_DISABLED, "uid %u",
		    (unsigned)pol->uid);
		if (plan_ids(p, pol) < 0)
			goto oom;
		return p;
	}
	plan_namespaces(p, pol, pr, r);
	if (plan_job_root(p, pol, r) < 0 || plan_ids(p, pol) < 0 ||
	    (p->mounts && plan_mounts(p, pol) < 0))
		goto oom;
	plan_job_memory(p, pol, r);
	if (plan_process(p, pol, pr, r, err) < 0 || plan_hiding(p, pol, pr, r, err) < 0 ||
	    plan_containers(p, pol, r, err) < 0 ||
	    (pol->mode == SBX_STRICT && check_strict(r, err) < 0)) {
		sbx_plan_free(p);
		return NULL;
	}
	if (pol->profile == SBX_PROFILE_USERNS_ROOT && !p->userns && pol->mode == SBX_STRICT) {
		rs_fail(err, EX_RS_SANDBOX, 0,
			"SUPERVISOR_SANDBOX_PROFILE=userns-root needs a user namespace; %s",
			layer_hints[SBX_L_USERNS]);
		sbx_plan_free(p);
		return NULL;
	}
	return p;
oom:
	sbx_plan_free(p);
	rs_fail(err, EX_RS_SOFTWARE, ENOMEM, "sandbox plan");
	return NULL;
}

void sbx_plan_free(struct sbx_plan *p)
{
	if (!p)
		return;
	free(p->inner_groups);
	free(p->outer_groups);
	for (size_t i = 0; i < p->n_keep; i++)
		free(p->keep[i]);
	for (size_t i = 0; i < p->n_hide; i++)
		free(p->hide[i].path);
	for (size_t i = 0; i < p->n_ro; i++)
		free(p->ro[i].path);
	for (size_t i = 0; i < p->n_carry; i++)
		free(p->carry[i]);
	sbx_root_unstage(&p->root);
	sbx_root_plan_free(&p->root);
	if (p->no_caps)
		cap_free(p->no_caps);
	sbx_seccomp_free(&p->filter);
	if (p->landlock_fd >= 0)
		close(p->landlock_fd);
	sbx_cgroup_remove(&p->cgroup);
	sbx_engine_free(&p->engine);
	free(p);
}
