/* Configuration: every setting is an environment variable and the same-named flag
 * (GITHUB_URL <-> --github-url); flags win. One typed struct, one table of settings
 * (config.c), validated per command. */
#ifndef RS_CONFIG_H
#define RS_CONFIG_H

#include <stdbool.h>
#include <stdio.h>
#include <sys/types.h>

#include "err.h"

enum rs_command { CMD_RUN, CMD_EXEC, CMD_CHECK, CMD_WIPE, CMD_REPORT, CMD_HELP, CMD_VERSION };

enum gh_scope { GH_SCOPE_NONE, GH_SCOPE_ORG, GH_SCOPE_REPO, GH_SCOPE_ENTERPRISE };
enum sbx_mode { SBX_AUTO, SBX_STRICT, SBX_OFF };
enum reg_mode { REG_JIT, REG_TOKEN };

/* GITHUB_URL, parsed. */
struct gh_target {
	enum gh_scope scope;
	bool ghes;      /* a GHES host (not github.com, not SUB.ghe.com): API at HOST/api/v3 */
	char *web_base; /* "https://github.com" or "https://HOST[:PORT]" */
	char *owner;    /* org, repo owner or enterprise slug */
	char *repo;     /* repo scope only */
	char *api_base; /* derived REST base, no trailing slash */
};

struct rs_config {
	enum rs_command command;

	/* GitHub */
	char *github_url;
	struct gh_target target;
	char *github_api_url; /* explicit GITHUB_API_URL or derived from the target; NULL when
			       * neither is given (JIT blob only: its own server URL rules) */
	char *token_file;
	char *app_id;
	char *app_key_file;
	long long app_installation_id; /* 0 = look it up */
	char *ca_file;
	bool has_jitconfig; /* ACTIONS_RUNNER_INPUT_JITCONFIG was set (value is never kept here) */

	/* Runner */
	char *runner_name;
	char **labels; /* NULL-terminated, RUNNER_LABELS split on ',' and trimmed */
	size_t n_labels;
	char *runner_group;        /* name, or NULL for the default group */
	long long runner_group_id; /* when RUNNER_GROUP is all digits; 1 = default; 0 = by name */
	char *runner_root;
	char *runner_workdir;
	char *runner_user;
	uid_t runner_uid;
	gid_t runner_gid;
	bool runner_user_resolved;
	bool runner_user_given; /* set explicitly (exec switches users only then) */

	/* Supervisor */
	enum sbx_mode sandbox;
	int sandbox_profile;      /* enum sbx_profile (sandbox.h) */
	long long rlimit_nofile;  /* 0: keep */
	long long job_memory_max; /* bytes; 0: the container's limit minus the supervisor's */
	long long rlimit_nproc;   /* 0: keep */
	bool job_root;            /* SUPERVISOR_JOB_ROOT=overlay */
	long long job_root_size;  /* bytes */
	bool containers;          /* SUPERVISOR_CONTAINERS=podman */
	char **hide_paths;        /* NULL-terminated */
	size_t n_hide_paths;
	enum reg_mode registration;
	long long idle_timeout_s;
	long long job_timeout_s;
	long long stop_grace_s;
	long long drain_timeout_s;
	long long register_deadline_s;
	long long deregister_deadline_s; /* after a SIGTERM */
	long long deregister_patience_s; /* otherwise */
	char *fleet;                     /* SUPERVISOR_FLEET, NULL: no fleet, no sweep */
	char *fleet_label;               /* "rs-fleet-<fleet>", added to the runner's labels */
	long long sweep_max;             /* ghosts of the fleet one pod deletes at most */
	long long sweep_after_s;         /* own registration's age before this pod judges others */
	bool log_json;
	char *termination_log; /* NULL: none writable */

	/* exec / wipe / check */
	char *exec_workdir; /* exec --workdir=DIR, NULL when not given */
	char **exec_argv;   /* exec -- CMD [ARG...]; points into argv */
	char *wipe_dir;     /* wipe DIR */
	bool check_online;  /* check --online */
	char *report_file;  /* report FILE; NULL: standard input */
	bool report_fleet;  /* report --fleet */
};

/* Parses argv (after the program name) and the environment into cfg, which the caller has
 * zeroed. Does not validate files or users. Returns -1 with err->exit_code 64 (bad command
 * line) or 78 (bad value). Call cfg_free() whatever it returns. */
int cfg_load(struct rs_config *cfg, int argc, char **argv, char **envp, struct rs_err *err);

/* Checks what the command needs: required settings, files readable, user resolvable. */
int cfg_validate(struct rs_config *cfg, struct rs_err *err);

void cfg_free(struct rs_config *cfg);

/* True when name[0..len) is one of the settings' environment variables: the supervisor's
 * own, never passed on to the runner. */
bool cfg_is_own_variable(const char *name, size_t len);

/* --help: usage, commands, and every setting with its flag and default. */
void cfg_print_help(FILE *out);

/* Parses GITHUB_URL into target (zeroed; left zeroed on error); exposed for unit tests. */
int gh_target_parse(const char *url, struct gh_target *target, struct rs_err *err);
void gh_target_free(struct gh_target *target);

/* Checks GITHUB_API_URL (https, a host, no userinfo/query) and returns the base without a
 * trailing slash in *base (the caller frees it). */
int gh_api_url_parse(const char *url, char **base, struct rs_err *err);

/* A setting's value as it may appear in a one-line message: in double quotes, control
 * characters escaped, cut short, and not shown at all when it looks like a secret (a GitHub
 * token, a PEM key pasted where its file name belongs). Use as cfg_quote(v).s inside the
 * rs_fail() call: the array lives until the end of that full expression. */
struct cfg_quoted {
	char s[160];
};
struct cfg_quoted cfg_quote(const char *value);
/* The same for len bytes of a longer string (a part of a value). */
struct cfg_quoted cfg_quote_span(const char *v, size_t len);

#endif
