/* The JIT runner configuration: decoded by the supervisor and written as the runner's files,
 * so that the blob never enters an argv or an environment (DESIGN.md, "GitHub"). */
#ifndef RS_JIT_H
#define RS_JIT_H

#include <stddef.h>
#include <sys/types.h>

#include "err.h"

#define JIT_MAX_FILES 8

struct jit_file {
	char *name; /* ".runner", ".credentials", ".credentials_rsaparams", ... */
	unsigned char *data;
	size_t len;
};

struct jit_config {
	struct jit_file files[JIT_MAX_FILES];
	size_t n_files;
	long long runner_id; /* AgentId from .runner; 0 when absent */
	char *runner_name;   /* AgentName from .runner, or NULL */
};

/* base64 of a JSON object mapping file name -> base64 content (actions/runner,
 * src/Runner.Listener/Runner.cs). File names must be plain dot-files; the three the runner
 * needs must be there. Errors never quote the blob. */
int jit_decode(const char *blob, struct jit_config *jit, struct rs_err *err);

/* Sets "DisableUpdate": true in .runner, as `configure --disableupdate` does
 * (ConfigurationManager.cs): a JIT .runner has it false, the Listener sends that on every poll
 * (BrokerMessageListener.cs) and GitHub then pushes each release, after which the Listener
 * exits 3/4. The image pins the runner's version instead. */
int jit_disable_update(struct jit_config *jit, struct rs_err *err);

/* Writes every file into root (mode 0600, owned by uid:gid), never following a symlink. */
int jit_write(const struct jit_config *jit, const char *root, uid_t uid, gid_t gid,
	      struct rs_err *err);

/* Reads AgentId and AgentName from ROOT/.runner (after token-mode configure); *name is
 * malloc'd. Returns -1 when there is no usable id. */
int jit_read_identity(const char *root, long long *id, char **name);

/* Wipes the decoded contents from memory and frees them. */
void jit_free(struct jit_config *jit);

#endif
