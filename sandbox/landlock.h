/* Landlock, for pods where no mount namespace can be made: every path readable and writable
 * as the file modes allow, except the hidden ones; and (ABI 6) no signal or abstract unix
 * socket reaches outside the runner's domain, so the job cannot signal the supervisor even
 * under the same uid. The ruleset is built by the parent; the child only restricts itself. */
#ifndef RS_SBX_LANDLOCK_H
#define RS_SBX_LANDLOCK_H

#include "err.h"

/* The kernel's Landlock ABI version, or -errno (ENOSYS, EOPNOTSUPP: not built or disabled). */
int sbx_landlock_abi(void);

/* A ruleset fd that allows everything but hide (absolute, resolved paths, NULL-terminated):
 * a hidden path and everything below it get no access; the directories above it may only be
 * listed. Returns the fd, or -1 (err filled). */
int sbx_landlock_build(int abi, const char *const *hide, struct rs_err *err);

/* A ruleset that only scopes signals and abstract unix sockets to the job's domain (ABI >= 6),
 * for a sandbox whose mount namespace already hides the paths: path rules made outside it
 * would not reach its fresh mounts (Landlock skips a mount point's own rule). */
int sbx_landlock_build_scope_only(int abi, struct rs_err *err);

/* Async-signal-safe: landlock_restrict_self(fd). Needs no_new_privs. 0 or -1 with errno. */
int sbx_landlock_restrict(int fd);

#endif
