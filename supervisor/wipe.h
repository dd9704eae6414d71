/* wipe_*: empty a directory after a job, so that nothing is left for the next one.
 *
 * The job owned the tree and may have left traps in it: symlinks to the rest of the system,
 * mounts, directories without permissions, names of any bytes, trees deeper than PATH_MAX,
 * immutable files, and (in theory) processes still renaming things. The walker therefore
 * works only with file descriptors and one name at a time, never follows a symlink, never
 * leaves the filesystem (mount) of the top directory, and ends with a verification pass whose
 * count, not the walker's bookkeeping, says what is left. */
#ifndef RS_WIPE_H
#define RS_WIPE_H

#include "err.h"

struct wipe_stats {
	long long files; /* non-directories unlinked: files, symlinks, FIFOs, sockets, nodes */
	long long dirs;  /* directories removed (the top one is never removed) */
	long long bytes; /* st_size of the regular files whose last link was removed */
	long long left;  /* entries still under the top after the wipe (verification pass) */
	long long mounts_skipped; /* mount points found inside and left alone */
};

/* Empties the directory at path; the directory itself stays. path must be absolute, and is
 * refused when its last component is a symlink or not a directory.
 *
 * Returns 0 when the walk ran, whatever it could or could not remove: st->left > 0 then says
 * that the wipe is incomplete (the caller exits EX_RS_IOERR), and every entry that could not
 * be removed has been logged (event "wipe.left", capped). Returns -1 with err set (naming
 * path) only when the wipe could not start: EX_RS_CONFIG for a path that is relative, a
 * symlink, not a directory or "/", EX_RS_IOERR when it is missing or cannot be opened. */
int wipe_dir(const char *path, struct wipe_stats *st, struct rs_err *err);

/* The same for a directory already open (O_RDONLY | O_DIRECTORY, not O_PATH); what names it
 * in messages. dfd stays open and its file offset is not used. */
int wipe_dirfd(int dfd, const char *what, struct wipe_stats *st, struct rs_err *err);

/* For tests only: when set, called right before the walker opens a subdirectory, with the
 * parent's fd and the name about to be opened, so that a test can swap the directory for a
 * symlink in the window between listing and opening. NULL in production. */
extern void (*wipe_test_hook_before_open)(int parent_fd, const char *name);

#endif
