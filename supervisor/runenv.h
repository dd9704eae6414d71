/* The runner's environment: the container's, minus what is ours, plus what the runner
 * contract asks for (DESIGN.md, "The runner contract"). */
#ifndef RS_RUNENV_H
#define RS_RUNENV_H

#include "config.h"

/* A NULL-terminated, malloc'd environment for the runner (free with runenv_free). extra
 * ("NAME=value" strings, NULL-terminated, may be NULL) is appended, and replaces a variable of
 * the container's with the same name: configure's token, the job-started hook (hook.h). */
char **runenv_build(const struct rs_config *cfg, char *const *environ_in, const char *const *extra);
void runenv_free(char **env);

#endif
