/* The job's root (SUPERVISOR_JOB_ROOT=overlay): what the sandbox's new "/" is made of,
 * decided by the parent from the pod's mount table and root directory (rootplan.c), and built
 * by the child between clone and execve (rootfs.c). Internal to sandbox/.
 *
 * In a user namespace, overlayfs refuses a lower layer with a locked mount below it ("failed
 * to clone lowerpath"): every mount the pod's runtime made (/etc/hosts, /etc/resolv.conf, the
 * service-account token, volumes) is locked there. So "/" is rebuilt: a directory with no
 * mount below it becomes one overlay (copy-on-write, its upper layer in the sandbox's tmpfs);
 * one with a mount below it becomes a plain directory whose files are copied and whose
 * subdirectories get the same treatment; a file that is a mount (the runtime's /etc/hosts) is
 * copied (the job may change its copy, not the pod's file); a directory that is a mount (a
 * volume: a CA bundle, a cache) is bound as it is, as the sandbox without a job root sees it;
 * the covers over hidden paths are made afterwards, in the new root. */
#ifndef RS_SBX_ROOTPLAN_H
#define RS_SBX_ROOTPLAN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

enum sbx_root_kind {
	SBX_ROOT_DIR,     /* an empty directory with the source's owner and mode */
	SBX_ROOT_OVERLAY, /* a directory made an overlay of the source */
	SBX_ROOT_COPY,    /* a regular file copied (the runtime's /etc/hosts, say) */
	SBX_ROOT_LINK,    /* a symbolic link recreated */
	SBX_ROOT_BIND,    /* a directory that is a mount (a volume): bound, with what is below */
};

struct sbx_root_entry {
	enum sbx_root_kind kind;
	char *path;   /* absolute, in the pod's root */
	char *target; /* SBX_ROOT_LINK */
	mode_t mode;
	uid_t uid;
	gid_t gid;
};

#define SBX_ROOT_MAX_ENTRIES 2048

struct sbx_root_plan {
	struct sbx_root_entry *e;
	size_t n;
	size_t overlays;
	char tmpfs_opts[64];       /* "size=N" for the skeleton and the upper layers' tmpfs */
	char stage[64];            /* the staged skeleton (sbx_root_stage), or "" */
	struct sbx_stager *stager; /* the thread writing it (rootstage.c), or NULL */
};

/* Walks "/" along the mount table (/proc/self/mountinfo). Returns 0, or an errno value with
 * why filled in. */
int sbx_root_plan_build(struct sbx_root_plan *rp, long long size, char *why, size_t why_size);
void sbx_root_plan_free(struct sbx_root_plan *rp);

/* Copies the regular file src to dst (new) with e's owner and mode; one that cannot be read
 * is left out (0). Raw system calls only: the child (rootfs.c) and the parent's staging
 * (rootstage.c) copy alike. Returns 0 or an errno value. */
int sbx_root_copy(const char *src, const char *dst, const struct sbx_root_entry *e);

/* The skeleton staged (rootstage.c): a directory at the top of the pod's root whose name
 * starts with this; the plan leaves such directories out. */
#define SBX_ROOT_STAGE_PREFIX "/.runner-supervisor-job-root."

/* Starts writing the plan's skeleton (its directories, links and copies, and the mount points
 * of its overlays and volumes) into a new directory at the top of the pod's root, which the
 * child then mounts as the lower layer of the job's "/" instead of building it. The directory
 * is made at once; the rest in a thread, while the caller registers the runner (GitHub's
 * round trips are longer). Returns 0, or an errno value with why filled in (a read-only root
 * filesystem: EROFS): the child then builds the skeleton itself. Parent only. */
int sbx_root_stage(struct sbx_root_plan *rp, char *why, size_t why_size);

/* Waits for the thread (once; later calls return the same). Returns 0 when the skeleton is
 * staged, else an errno value with why filled in: the child builds it itself. */
int sbx_root_stage_join(const struct sbx_root_plan *rp, char *why, size_t why_size);

/* An eventfd readable once the staging thread is done (so that joining it will not wait);
 * -1 when there is no thread to wait for. */
int sbx_root_stage_ready_fd(const struct sbx_root_plan *rp);

/* How long the thread took to write it (after sbx_root_stage_join; 0 without one). */
uint64_t sbx_root_stage_us(const struct sbx_root_plan *rp);

/* Whether the child mounts a staged skeleton (after sbx_root_stage_join). */
bool sbx_root_staged(const struct sbx_root_plan *rp);

/* Joins the thread and removes the staged skeleton, if any: once no sandbox uses it (an
 * overlay's lower layer must not change under it). */
void sbx_root_unstage(struct sbx_root_plan *rp);

/* The ids of this process's user namespace that map its uid and gid 0 to something other
 * than the node's root: how many (at most 65536) from 0 are mapped, or 0 when uid 0 here is
 * uid 0 of the node (a pod without hostUsers: false) or is not mapped. Parent only. */
unsigned sbx_root_map_count(void);

#endif
