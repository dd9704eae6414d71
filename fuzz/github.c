/* GitHub's answers: the status, headers and JSON bodies of the REST API (or of a proxy or a
 * GitHub Enterprise Server in front of it) that github.c reads while it authenticates,
 * registers, resolves the runner group, confirms the deregistration and checks the
 * credentials. The HTTP layer is fuzz/stub_http.c: every request gets the next response of
 * the input, parsed by http.c's own header callbacks; waits return at once.
 *
 * Input: a settings part, STUB_HTTP_SEP ("\n~~~\n"), then the responses separated by it.
 * The settings part is lines: "op=NAME" (auth, register, group, token, gone, gone-likely,
 * check, forget, uncertain, and the fleet sweep's page and delete-idle; in order, on one
 * client; none: register then gone, as `run` does), "auth=app" (a GitHub App instead of a
 * PAT), "deadline=past", "id=N" (for gone and delete-idle), "page=N", and NAME=value
 * environment entries that cfg_load() reads (GITHUB_URL, RUNNER_GROUP, RUNNER_NAME, ...). The
 * credential files are the harness's own: a PAT, and a throw-away RSA key for the App. */
#include <fcntl.h>
#include <jansson.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <stdbool.h>
#include <sys/mman.h>
#include <unistd.h>

#include "config.h"
#include "fuzz.h"
#include "github.h"
#include "log.h"
#include "names.h"
#include "stub_http.h"

#define PAT "ghp_fuzzHarnessToken0123456789abcdefABCD"

static char token_path[] = "/tmp/rs-fuzz-pat-XXXXXX";
/* FUZZ_KNOWN_BUGS=fail: the known bugs below crash too (to reproduce them, or to check a fix). */
static bool strict;
static char key_path[] = "/tmp/rs-fuzz-app-key-XXXXXX";
static int log_fd = -1;

enum op {
	OP_AUTH,
	OP_REGISTER,
	OP_GROUP,
	OP_TOKEN,
	OP_GONE,
	OP_GONE_LIKELY,
	OP_CHECK,
	OP_FORGET,
	OP_UNCERTAIN,
	OP_PAGE,
	OP_DELETE_IDLE
};
static const char *const op_names[] = { "auth",      "register",    "group",      "token",
					"gone",      "gone-likely", "check",      "forget",
					"uncertain", "page",        "delete-idle" };
#define MAX_OPS 8
#define MAX_ENV 48

/* Every UBSan report ends the run, with its stack. */
const char *__ubsan_default_options(void);
const char *__ubsan_default_options(void)
{
	return "halt_on_error=1:print_stacktrace=1";
}

static void remove_files(void)
{
	unlink(token_path);
	unlink(key_path);
}

static void write_file(char *path, const char *text)
{
	int fd = mkstemp(path);
	FUZZ_CHECK(fd >= 0);
	FUZZ_CHECK(write(fd, text, strlen(text)) == (ssize_t)strlen(text));
	close(fd);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	write_file(token_path, PAT "\n");
	/* 1024 bits: the harness signs a JWT for every App call, and only the code around the
	 * signature is under test. */
	EVP_PKEY *key = EVP_RSA_gen(1024);
	FUZZ_CHECK(key != NULL);
	int fd = mkstemp(key_path);
	FUZZ_CHECK(fd >= 0);
	FILE *f = fdopen(fd, "w");
	FUZZ_CHECK(f && PEM_write_PrivateKey(f, key, NULL, NULL, 0, NULL, NULL) == 1);
	fclose(f);
	EVP_PKEY_free(key);
	atexit(remove_files);
	strict = fuzz_known_bugs_fail();
	/* Every line the supervisor would log, kept to look for the token in it. */
	log_fd = memfd_create("log", MFD_CLOEXEC);
	FUZZ_CHECK(log_fd >= 0);
	log_set_fd(log_fd);
	log_set_min_level(LOG_DEBUG);
	return 0;
}

static bool log_holds(const char *needle)
{
	off_t len = lseek(log_fd, 0, SEEK_END);
	if (len <= 0)
		return false;
	void *map = mmap(NULL, (size_t)len, PROT_READ, MAP_PRIVATE, log_fd, 0);
	FUZZ_CHECK(map != MAP_FAILED);
	bool found = memmem(map, (size_t)len, needle, strlen(needle)) != NULL;
	munmap(map, (size_t)len);
	return found;
}

/* Known bugs, tolerated so that fuzzing goes on past them (reproducers: fuzz/corpus/github/
 * bug-*; fuzz/README.md). Remove each once fixed. */
static bool known_bug(const struct rs_config *cfg, const struct rs_err *err)
{
	/* None left: config.c refuses names, labels and work folders that are not UTF-8 (once a
	 * known bug; reproducer: fuzz/corpus/github/bug-runner-name-not-utf8). */
	(void)cfg;
	(void)err;
	return false;
}

/* A failure is an error a person can act on: a stable exit code and a message, never the
 * token. EX_RS_SOFTWARE (internal error) is never an answer to what GitHub said. */
static void check_result(const struct rs_config *cfg, int rc, const struct rs_err *err)
{
	FUZZ_CHECK(rc == 0 || rc == -1);
	if (rc == 0)
		return;
	FUZZ_CHECK(err->msg[0] != '\0');
	if (known_bug(cfg, err))
		return;
	if (err->exit_code == EX_RS_SOFTWARE)
		fprintf(stderr, "internal error: %s\n", err->msg);
	FUZZ_CHECK(err->exit_code == EX_RS_OK || err->exit_code == EX_RS_USAGE ||
		   err->exit_code == EX_RS_UNAVAILABLE || err->exit_code == EX_RS_TEMPFAIL ||
		   err->exit_code == EX_RS_NOPERM || err->exit_code == EX_RS_CONFIG);
	FUZZ_CHECK(!strstr(err->msg, PAT));
}

static bool is_harness_setting(const char *entry)
{
	/* Files the harness owns: the input must not make it read /dev/stdin. */
	static const char *const own[] = { "GITHUB_TOKEN_FILE=", "GITHUB_APP_PRIVATE_KEY_FILE=",
					   "GITHUB_CA_FILE=", "ACTIONS_RUNNER_INPUT_JITCONFIG=" };
	for (size_t i = 0; i < sizeof(own) / sizeof(*own); i++)
		if (strncmp(entry, own[i], strlen(own[i])) == 0)
			return true;
	return false;
}

struct plan {
	enum op ops[MAX_OPS];
	size_t n_ops;
	bool app, past;
	long long runner_id;
	unsigned page;
	char *env[MAX_ENV + 8];
	size_t n_env;
	bool has_url, has_app_id;
	char key_setting[64], token_setting[64];
};

static void read_settings(char *text, struct plan *p)
{
	for (char *line; (line = fuzz_next(&text, "\n"));) {
		if (strncmp(line, "op=", 3) == 0) {
			for (size_t i = 0; i < sizeof(op_names) / sizeof(*op_names); i++)
				if (strcmp(line + 3, op_names[i]) == 0 && p->n_ops < MAX_OPS)
					p->ops[p->n_ops++] = (enum op)i;
		} else if (strcmp(line, "auth=app") == 0) {
			p->app = true;
		} else if (strcmp(line, "deadline=past") == 0) {
			p->past = true;
		} else if (strncmp(line, "id=", 3) == 0) {
			p->runner_id = strtoll(line + 3, NULL, 10);
		} else if (strncmp(line, "page=", 5) == 0) {
			p->page = (unsigned)strtoul(line + 5, NULL, 10);
		} else if (strchr(line, '=') && !is_harness_setting(line) && p->n_env < MAX_ENV) {
			p->env[p->n_env++] = line;
			p->has_url |= strncmp(line, "GITHUB_URL=", 11) == 0;
			p->has_app_id |= strncmp(line, "GITHUB_APP_ID=", 14) == 0;
		}
	}
	if (p->n_ops == 0) {
		p->ops[p->n_ops++] = OP_REGISTER;
		p->ops[p->n_ops++] = OP_GONE;
	}
	if (!p->has_url)
		p->env[p->n_env++] = (char *)"GITHUB_URL=https://github.com/acme";
	if (p->app) {
		if (!p->has_app_id)
			p->env[p->n_env++] = (char *)"GITHUB_APP_ID=123456";
		snprintf(p->key_setting, sizeof(p->key_setting), "GITHUB_APP_PRIVATE_KEY_FILE=%s",
			 key_path);
		p->env[p->n_env++] = p->key_setting;
	} else {
		snprintf(p->token_setting, sizeof(p->token_setting), "GITHUB_TOKEN_FILE=%s",
			 token_path);
		p->env[p->n_env++] = p->token_setting;
	}
	p->env[p->n_env++] = (char *)"HOSTNAME=runner-pod-7c9d4-x2x7q";
	p->env[p->n_env] = NULL;
}

static void run_op(struct github *gh, const struct rs_config *cfg, const struct plan *p, enum op op,
		   uint64_t deadline)
{
	struct rs_err err = { 0 };
	char name[65];
	gh_runner_name(cfg, name);
	FUZZ_CHECK(strlen(name) <= 64);
	int rc = 0;
	switch (op) {
	case OP_AUTH:
		rc = gh_authenticate(gh, deadline, &err);
		break;
	case OP_REGISTER: {
		struct gh_registration reg;
		rc = gh_register_jit(gh, name, deadline, &reg, &err);
		if (rc == 0) {
			FUZZ_CHECK(reg.jit_blob != NULL);
			FUZZ_CHECK(strlen(reg.name) <= 64 && reg.name[0] != '\0');
		}
		gh_registration_free(&reg);
		break;
	}
	case OP_GROUP: {
		char group[256];
		rc = gh_runner_group_name(gh, deadline, group, sizeof(group), &err);
		FUZZ_CHECK(strnlen(group, sizeof(group)) < sizeof(group));
		break;
	}
	case OP_TOKEN: {
		char *token = NULL;
		rc = gh_registration_token(gh, deadline, &token, &err);
		FUZZ_CHECK((rc == 0) == (token != NULL));
		free(token);
		break;
	}
	case OP_GONE:
	case OP_GONE_LIKELY:
		rc = gh_confirm_gone(gh, p->runner_id ? p->runner_id : 42, op == OP_GONE_LIKELY,
				     deadline, &err);
		break;
	case OP_CHECK: {
		struct gh_check check;
		rc = gh_check_online(gh, deadline, &check, &err);
		/* A count GitHub sent is a whole number, or the answer is refused as malformed
		 * (bug-total-count-out-of-range: converted unchecked, once). */
		FUZZ_CHECK(rc != 0 || check.runners_seen >= 0);
		break;
	}
	case OP_FORGET:
		rc = gh_forget_name(gh, name, deadline, &err);
		break;
	case OP_UNCERTAIN:
		(void)gh_registration_uncertain(gh);
		break;
	case OP_PAGE: {
		/* The fleet's sweep (sweep.c): a page of the scope's runners. */
		struct gh_runner_page page;
		rc = gh_runners_page(gh, p->page ? p->page : 1, "fleet-a", deadline, &page, &err);
		FUZZ_CHECK(rc == 0 || (page.n == 0 && page.runners == NULL));
		/* bug-page-total-count-out-of-range: 1e300 and -1 are refused, not converted. */
		FUZZ_CHECK(rc != 0 || page.total >= 0);
		for (size_t i = 0; i < page.n; i++) {
			FUZZ_CHECK(page.runners[i].id > 0);
			FUZZ_CHECK(strnlen(page.runners[i].name, sizeof(page.runners[i].name)) <=
				   RUNNER_NAME_MAX);
		}
		gh_runner_page_free(&page);
		break;
	}
	case OP_DELETE_IDLE:
		rc = gh_delete_idle_runner(gh, p->runner_id ? p->runner_id : 42, deadline, &err);
		FUZZ_CHECK(rc >= -1 && rc <= 1);
		if (rc == 1)
			rc = 0; /* busy: not an error */
		break;
	}
	check_result(cfg, rc, &err);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text = fuzz_cstr(data, size);
	char *responses = text;
	char *settings = fuzz_next(&responses, STUB_HTTP_SEP);
	struct plan p = { 0 };
	read_settings(settings, &p);
	stub_http_script(responses);
	FUZZ_CHECK(ftruncate(log_fd, 0) == 0);
	FUZZ_CHECK(lseek(log_fd, 0, SEEK_SET) == 0);

	struct rs_config cfg = { 0 };
	struct rs_err err = { 0 };
	char *argv[] = { NULL };
	static volatile bool cancel;
	if (cfg_load(&cfg, 0, argv, p.env, &err) == 0) {
		struct github *gh = gh_new(&cfg, NULL, &cancel, &err);
		if (gh) {
			uint64_t deadline = p.past ? gh_now_ms() : gh_now_ms() + 3600 * 1000ULL;
			for (size_t i = 0; i < p.n_ops; i++)
				run_op(gh, &cfg, &p, p.ops[i], deadline);
			FUZZ_CHECK(gh_get_stats(gh).calls >= 0);
			gh_free(gh);
		}
	}
	cfg_free(&cfg);
	/* Secrets are registered with the logger and never printed, whatever GitHub says. */
	FUZZ_CHECK(!log_holds(PAT));
	log_forget_secrets();
	free(text);
	return 0;
}
