#include "jit.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base64.h"
#include "util.h"

static const char *const required_files[] = { ".runner", ".credentials", ".credentials_rsaparams" };

/* A dot-file name and nothing else: no '/', no "..", nothing a shell would trip on. */
static bool plain_dot_name(const char *name)
{
	if (name[0] != '.' || name[1] == '\0' || name[1] == '.' || strlen(name) > 64)
		return false;
	for (const char *p = name + 1; *p; p++)
		if (!isalnum((unsigned char)*p) && *p != '_' && *p != '-' && *p != '.')
			return false;
	return true;
}

static int fail_blob(struct rs_err *err, const char *what)
{
	return rs_fail(err, EX_RS_CONFIG, 0, "JIT runner configuration: %s", what);
}

/* .runner is written by .NET with a UTF-8 byte-order mark, and its keys have been seen in
 * both PascalCase and camelCase: look keys up without case. */
static json_t *get_nocase(json_t *obj, const char *key)
{
	const char *k;
	json_t *v;
	json_object_foreach(obj, k, v) if (strcasecmp(k, key) == 0) return v;
	return NULL;
}

/* .runner as JSON, past its byte-order mark; NULL when it is not a JSON object. */
static json_t *load_runner_file(const struct jit_file *runner)
{
	const char *text = (const char *)runner->data;
	size_t len = runner->len;
	if (len >= 3 && memcmp(text, "\xEF\xBB\xBF", 3) == 0) {
		text += 3;
		len -= 3;
	}
	json_t *j = json_loadb(text, len, 0, NULL);
	if (j && !json_is_object(j)) {
		json_decref(j);
		return NULL;
	}
	return j;
}

static void read_identity(struct jit_config *jit, const struct jit_file *runner)
{
	json_t *j = load_runner_file(runner);
	if (!j)
		return;
	json_t *id = get_nocase(j, "AgentId");
	json_t *name = get_nocase(j, "AgentName");
	if (json_is_integer(id))
		jit->runner_id = json_integer_value(id);
	if (json_is_string(name))
		jit->runner_name = strdup(json_string_value(name));
	json_decref(j);
}

static int add_file(struct jit_config *jit, const char *name, json_t *value, struct rs_err *err)
{
	if (!plain_dot_name(name))
		return fail_blob(err, "a file name is not a plain dot-file");
	if (jit->n_files == JIT_MAX_FILES)
		return fail_blob(err, "too many files");
	if (!json_is_string(value))
		return fail_blob(err, "a file's content is not a string");
	struct jit_file *f = &jit->files[jit->n_files];
	f->data = b64_decode(json_string_value(value), json_string_length(value), &f->len);
	f->name = strdup(name);
	if (!f->data || !f->name) {
		free(f->data);
		free(f->name);
		*f = (struct jit_file){ 0 };
		return fail_blob(err, "a file's content is not valid base64");
	}
	jit->n_files++;
	return 0;
}

int jit_decode(const char *blob, struct jit_config *jit, struct rs_err *err)
{
	memset(jit, 0, sizeof(*jit));
	size_t len;
	_cleanup_(freep) unsigned char *json = b64_decode(blob, strlen(blob), &len);
	if (!json)
		return fail_blob(err, "not valid base64");
	json_t *map = json_loadb((const char *)json, len, 0, NULL);
	explicit_bzero(json, len);
	if (!json_is_object(map)) {
		json_decref(map);
		return fail_blob(err, "not a JSON object of files");
	}
	const char *name;
	json_t *value;
	int rc = 0;
	json_object_foreach(map, name, value) if ((rc = add_file(jit, name, value, err)) < 0) break;
	json_decref(map);
	for (size_t i = 0; rc == 0 && i < ARRAY_SIZE(required_files); i++) {
		bool found = false;
		for (size_t k = 0; k < jit->n_files; k++)
			found |= strcmp(jit->files[k].name, required_files[i]) == 0;
		if (!found)
			rc = rs_fail(err, EX_RS_CONFIG, 0, "JIT runner configuration: no %s file",
				     required_files[i]);
	}
	for (size_t k = 0; rc == 0 && k < jit->n_files; k++)
		if (strcmp(jit->files[k].name, ".runner") == 0)
			read_identity(jit, &jit->files[k]);
	if (rc < 0)
		jit_free(jit);
	return rc;
}

static struct jit_file *find_file(struct jit_config *jit, const char *name)
{
	for (size_t k = 0; k < jit->n_files; k++)
		if (strcmp(jit->files[k].name, name) == 0)
			return &jit->files[k];
	return NULL;
}

int jit_disable_update(struct jit_config *jit, struct rs_err *err)
{
	struct jit_file *f = find_file(jit, ".runner");
	json_t *j = f ? load_runner_file(f) : NULL;
	if (!j)
		return fail_blob(err, ".runner is not a JSON object");
	/* Keep the key's spelling when it is there (keys are read without case). */
	char key[32] = "DisableUpdate";
	const char *k;
	json_t *v;
	json_object_foreach(j, k, v) if (strcasecmp(k, key) == 0)
	    snprintf(key, sizeof(key), "%s", k);
	int rc = json_object_set_new(j, key, json_true());
	char *text = rc == 0 ? json_dumps(j, JSON_INDENT(2) | JSON_PRESERVE_ORDER) : NULL;
	json_decref(j);
	if (!text)
		return rs_fail(err, EX_RS_SOFTWARE, ENOMEM, "rewriting .runner");
	explicit_bzero(f->data, f->len);
	free(f->data);
	f->data = (unsigned char *)text;
	f->len = strlen(text);
	return 0;
}

/* Written under a temporary name (O_EXCL: a fresh inode, never one someone planted), then
 * renamed over the final name: a symlink, a hard link to a file elsewhere, or a FIFO that
 * stands there is replaced, never written through. */
static int write_one(int root_fd, const char *root, const struct jit_file *f, uid_t uid, gid_t gid,
		     struct rs_err *err)
{
	char tmp[96];
	snprintf(tmp, sizeof(tmp), "%s.tmp-%d", f->name, (int)getpid());
	unlinkat(root_fd, tmp, 0);
	int fd = openat(root_fd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0)
		return rs_fail(err, EX_RS_SOFTWARE, errno, "writing %s/%s", root, f->name);
	int rc = 0;
	if (fchown(fd, uid, gid) < 0 || fchmod(fd, 0600) < 0)
		rc = rs_fail(err, EX_RS_SOFTWARE, errno, "setting the owner of %s/%s", root,
			     f->name);
	for (size_t off = 0; rc == 0 && off < f->len;) {
		ssize_t n = write(fd, f->data + off, f->len - off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			rc = rs_fail(err, EX_RS_SOFTWARE, errno, "writing %s/%s", root, f->name);
		else
			off += (size_t)n;
	}
	if (close(fd) < 0 && rc == 0)
		rc = rs_fail(err, EX_RS_SOFTWARE, errno, "writing %s/%s", root, f->name);
	if (rc == 0 && renameat(root_fd, tmp, root_fd, f->name) < 0)
		rc = rs_fail(err, EX_RS_SOFTWARE, errno, "renaming into %s/%s", root, f->name);
	if (rc < 0)
		unlinkat(root_fd, tmp, 0);
	return rc;
}

int jit_write(const struct jit_config *jit, const char *root, uid_t uid, gid_t gid,
	      struct rs_err *err)
{
	_cleanup_(closep) int root_fd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (root_fd < 0)
		return rs_fail(err, EX_RS_CONFIG, errno, "RUNNER_ROOT %s: cannot open", root);
	for (size_t i = 0; i < jit->n_files; i++)
		if (write_one(root_fd, root, &jit->files[i], uid, gid, err) < 0)
			return -1;
	return 0;
}

void jit_free(struct jit_config *jit)
{
	for (size_t i = 0; i < jit->n_files; i++) {
		explicit_bzero(jit->files[i].data, jit->files[i].len);
		free(jit->files[i].data);
		free(jit->files[i].name);
	}
	free(jit->runner_name);
	memset(jit, 0, sizeof(*jit));
}

int jit_read_identity(const char *root, long long *id, char **name)
{
	*id = 0;
	*name = NULL;
	char path[4096];
	snprintf(path, sizeof(path), "%s/.runner", root);
	_cleanup_(closep) int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return -1;
	unsigned char buf[65536];
	ssize_t n = read(fd, buf, sizeof(buf));
	if (n <= 0)
		return -1;
	struct jit_config jit = { 0 };
	struct jit_file f = { .name = (char *)".runner", .data = buf, .len = (size_t)n };
	read_identity(&jit, &f);
	*id = jit.runner_id;
	*name = jit.runner_name;
	return *id > 0 ? 0 : -1;
}
