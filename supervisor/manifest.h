/* The runner installation, recorded before the runner starts and checked after it: a job
 * must neither leave files in the runner user's home (often the installation's root) nor
 * change the installation for the next job (DESIGN.md, "What the wipe covers"). */
#ifndef RS_MANIFEST_H
#define RS_MANIFEST_H

#include "err.h"

struct manifest;

struct manifest_result {
	long long removed; /* entries the job added, removed */
	long long removed_bytes;
	long long changed; /* recorded entries changed or gone: the installation is not intact */
	long long left;    /* added entries that could not be removed */
};

/* Records every entry under root, except the top-level names in skip (NULL-terminated):
 * the work folder, _diag and the credential files, which the wipe empties anyway. */
struct manifest *manifest_record(const char *root, const char *const *skip, struct rs_err *err);

/* Removes what was added since the record (never following a symlink) and counts what
 * changed. Returns -1 only when root cannot be opened. */
int manifest_restore(struct manifest *m, struct manifest_result *res, struct rs_err *err);

void manifest_free(struct manifest *m);

#endif
