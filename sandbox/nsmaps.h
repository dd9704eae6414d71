/* uid_map and gid_map of a child's new user namespace, written by the parent. */
#ifndef RS_SBX_NSMAPS_H
#define RS_SBX_NSMAPS_H

#include <stddef.h>
#include <sys/types.h>

/* Maps inner_uid to outer_uid and inner_gid to outer_gid, and each of groups (outer gids,
 * other than outer_gid) to itself. A parent without CAP_SETUID in its own namespace may map
 * only its own ids, after denying setgroups: that is done when needed. Returns 0 or errno. */
int sbx_write_id_maps(pid_t pid, uid_t inner_uid, gid_t inner_gid, uid_t outer_uid, gid_t outer_gid,
		      const gid_t *groups, size_t n_groups);

/* The job root's maps (rootplan.h): ids 0..count-1 to themselves, uid and gid. Mapping 0
 * needs CAP_SETFCAP besides CAP_SETUID/CAP_SETGID (Kubernetes' default set has them). */
int sbx_write_identity_maps(pid_t pid, unsigned count);

/* This process into a new user namespace of its own, mapping only its ids (0 inside), and a
 * mount namespace made in it, private: every mount it copies is locked. What the container
 * engine does (engine.c), and what the probe tries first. Returns 0 or errno. */
int sbx_own_userns_and_mounts(void);

/* Whether this process may write maps other than its own ids (root in its namespace). */
int sbx_maps_need_deny_setgroups(void);

#endif
