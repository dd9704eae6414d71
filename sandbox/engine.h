/* The job's container engine (SUPERVISOR_CONTAINERS=podman). Internal to sandbox/.
 *
 * Podman's Docker-compatible API, served beside the job in the job's sandbox:
 *
 *   supervisor (plan)  makes the engine's directory under the work folder, binds and listens
 *                      on its socket there, and compiles the engine's seccomp table;
 *   sandbox mounts     bind that socket over /var/run/docker.sock, the path actions/runner
 *                      hard-codes (docs/container-facts.md, section 5);
 *   sandbox init       forks the engine before the runner and before the job's filter: the
 *                      engine makes a user namespace of its own, nested in the sandbox's and
 *                      mapping only the runner's ids (0 inside), and a mount namespace in it,
 *                      where every mount of the sandbox is locked (its covers stay over the
 *                      hidden paths, its read-only mounts stay read-only), loads its table
 *                      and execs `podman system service`, which takes the socket by systemd's
 *                      socket activation (LISTEN_FDS);
 *   teardown           the init kills it with the rest of the sandbox; its storage lives in
 *                      its directory, which the wipe empties.
 *
 * A container sees at most what the job sees: the engine is the runner's uid outside its
 * namespace, in the sandbox's mount view. */
#ifndef RS_SBX_ENGINE_H
#define RS_SBX_ENGINE_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "sbx_seccomp.h"

/* Where the job finds the engine: the path actions/runner binds into every container. */
#define SBX_ENGINE_SOCKET "/var/run/docker.sock"
/* The engine's run state, in the sandbox's own /tmp. */
#define SBX_ENGINE_RUNROOT "/tmp/.runner-supervisor-engine"

struct sbx_engine {
	bool on;
	char *podman;    /* the engine's binary */
	char *dir;       /* its directory: storage, run state, socket, log */
	char *sock_path; /* dir/docker.sock, bound over SBX_ENGINE_SOCKET in the sandbox */
	char *driver;    /* storage driver: overlay, or vfs where dir is on an overlay itself */
	int listen_fd;   /* the socket, listening; -1 */
	bool made_mount_point; /* SBX_ENGINE_SOCKET was made for it: removed by sbx_engine_free */
	struct sbx_filter filter;
};

/* Parent side. Why the engine cannot run here, or NULL; podman is looked up on PATH. */
const char *sbx_engine_refused(char *podman, size_t n);
/* Makes dir (which must not exist), owned by uid:gid, the socket in it, the mount point at
 * SBX_ENGINE_SOCKET, the settings and the table. nofile: the job's open-files limit, which
 * the containers get too (0: the pod's). 0, or an errno value with why filled. */
int sbx_engine_plan(struct sbx_engine *e, const char *podman, const char *dir, uid_t uid, gid_t gid,
		    unsigned long long nofile, char *why, size_t n);
void sbx_engine_free(struct sbx_engine *e);

/* Init side, before the runner is forked and the job's filter loaded: forks the engine under
 * the job's limits (plan: core 0, and its nofile and nproc when set). Returns its pid, or -1
 * (errno). */
struct sbx_plan;
pid_t sbx_engine_start(const struct sbx_engine *e, const struct sbx_plan *plan);

#endif
