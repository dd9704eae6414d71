/* The runner installation, recorded before the runner starts and checked after it: a job
 * must neither leave files in the runner user's home (often the installation's root) nor
 * change the installation for the next job (DESIGN.md, "What the wipe covers").
 *
 * Two kinds of entries. The runner's code (bin/, externals/) must come out unchanged: any
 * change is counted and the pod must not be reused. Everything else in the root is the home
 * of the runner user in the official image (HOME=/home/runner: .bashrc, .profile, the
 * scripts): a job may append to ~/.bashrc, so what it changed there is put back as it was
 * recorded, and what it added is removed. */
#ifndef RS_MANIFEST_H
#define RS_MANIFEST_H

#include "err.h"

struct manifest;

struct manifest_result {
	long long removed; /* entries the job added, removed */
	long long removed_bytes;
	long long restored; /* home entries the job changed or removed, put back as recorded */
	long long changed;  /* code entries changed or gone, or entries that could not be put
			     * back: the installation is not intact */
	long long left;     /* added entries that could not be removed */
};

/* Records every entry under root, except the top-level names in skip (NULL-terminated):
 * the work folder, _diag and the credential files, which the wipe empties anyway. */
struct manifest *manifest_record(const char *root, const char *const *skip, struct rs_err *err);

/* Removes what was added since the record and puts back the home entries that changed
 * (never following a symlink), and counts what changed in the code. Returns -1 only when root
 * cannot be opened. */
int manifest_restore(struct manifest *m, struct manifest_result *res, struct rs_err *err);

void manifest_free(struct manifest *m);

#endif
