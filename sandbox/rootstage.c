/* The job root's skeleton staged by the parent (rootplan.h): stdio and malloc are fine here.
 *
 * What the child would otherwise build between clone and execve, after the registration (a
 * directory per rebuilt directory, a copy of each of /etc's files, the runtime's /etc/hosts,
 * links, the mount points), written once into a directory at the top of the pod's root before
 * anything is registered, by a thread while the supervisor registers the runner (the child is
 * cloned only once it is done). The child mounts it as the lower layer of its root: neither
 * the registration nor the runner's start waits for a few hundred copies.
 *
 * The directory is a new top-level name of the pod's root: the plan rebuilds "/" from its own
 * list, so nothing the plan did not list is visible in the job root (rootplan.c skips the
 * name); it is 0700 root's, read by the overlay with the mounter's credentials only. The
 * overlay never writes its lower layer, and nothing else does while the sandbox lives: it is
 * removed once the plan is freed, after the sandbox has ended. */
#include "rootplan.h"

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <ftw.h>
#include <pthread.h>
#include <sys/eventfd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static int owned(const char *path, const struct sbx_root_entry *e)
{
	if (lchown(path, e->uid, e->gid) < 0)
		return errno;
	if (e->kind != SBX_ROOT_LINK && chmod(path, e->mode) < 0)
		return errno;
	return 0;
}

static int stage_entry(const char *root, const struct sbx_root_entry *e)
{
	char dst[4200];
	if ((size_t)snprintf(dst, sizeof(dst), "%s%s", root, e->path) >= sizeof(dst))
		return ENAMETOOLONG;
	switch (e->kind) {
	case SBX_ROOT_DIR:
	case SBX_ROOT_OVERLAY: /* its mount point */
	case SBX_ROOT_BIND:
		if (mkdir(dst, 0700) < 0)
			return errno;
		return owned(dst, e);
	case SBX_ROOT_LINK:
		if (symlink(e->target, dst) < 0)
			return errno;
		return owned(dst, e);
	case SBX_ROOT_COPY:
		return sbx_root_copy(e->path, dst, e);
	}
	return EINVAL;
}

static int remove_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)ftw;
	return (flag == FTW_DP ? rmdir(path) : unlink(path)) < 0 && errno != ENOENT ? -1 : 0;
}

struct sbx_stager {
	pthread_t thread;
	const struct sbx_root_plan *rp;
	bool joined;
	int error;
	uint64_t took_us;
	int ready_fd; /* an eventfd, readable once the thread is done */
	char why[160];
};

static void remove_tree(const char *dir)
{
	nftw(dir, remove_one, 16, FTW_DEPTH | FTW_PHYS);
}

static uint64_t now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

static void *stage_all(void *arg)
{
	struct sbx_stager *s = arg;
	const struct sbx_root_plan *rp = s->rp;
	uint64_t t0 = now_us();
	for (size_t i = 0; i < rp->n && !s->error; i++) {
		s->error = stage_entry(rp->stage, &rp->e[i]);
		if (s->error)
			snprintf(s->why, sizeof(s->why), "staging %.80s: %s", rp->e[i].path,
				 strerror(s->error));
	}
	if (s->error)
		remove_tree(rp->stage); /* the child builds its own */
	s->took_us = now_us() - t0;
	uint64_t one = 1;
	ssize_t w = write(s->ready_fd, &one, sizeof(one));
	(void)w;
	return NULL;
}

int sbx_root_stage_join(const struct sbx_root_plan *rp, char *why, size_t why_size)
{
	struct sbx_stager *s = rp->stager;
	if (!s)
		return rp->stage[0] ? 0 : ENOENT;
	if (!s->joined) {
		pthread_join(s->thread, NULL);
		s->joined = true;
	}
	if (s->error)
		snprintf(why, why_size, "%s", s->why);
	return s->error;
}

int sbx_root_stage_ready_fd(const struct sbx_root_plan *rp)
{
	return rp->stager && !rp->stager->joined ? rp->stager->ready_fd : -1;
}

uint64_t sbx_root_stage_us(const struct sbx_root_plan *rp)
{
	return rp->stager && rp->stager->joined ? rp->stager->took_us : 0;
}

bool sbx_root_staged(const struct sbx_root_plan *rp)
{
	return rp->stage[0] && (!rp->stager || (rp->stager->joined && !rp->stager->error));
}

void sbx_root_unstage(struct sbx_root_plan *rp)
{
	char why[8];
	int e = rp->stager ? sbx_root_stage_join(rp, why, sizeof(why)) : 0;
	if (rp->stager)
		close(rp->stager->ready_fd);
	free(rp->stager);
	rp->stager = NULL;
	if (rp->stage[0] && !e)
		remove_tree(rp->stage);
	rp->stage[0] = '\0';
}

int sbx_root_stage(struct sbx_root_plan *rp, char *why, size_t why_size)
{
	snprintf(rp->stage, sizeof(rp->stage), "%sXXXXXX", SBX_ROOT_STAGE_PREFIX);
	if (!mkdtemp(rp->stage)) {
		int e = errno;
		snprintf(why, why_size, "%s*: %s", SBX_ROOT_STAGE_PREFIX, strerror(e));
		rp->stage[0] = '\0';
		return e;
	}
	struct sbx_stager *s = calloc(1, sizeof(*s));
	int e = s ? 0 : ENOMEM;
	if (s && (s->ready_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) < 0)
		e = errno;
	if (!e) {
		s->rp = rp;
		/* Every signal blocked in the thread (it inherits the mask): a SIGTERM for the
		 * supervisor must reach its loop, never a thread whose default action would end the
		 * process before it deregisters. */
		sigset_t all, old;
		sigfillset(&all);
		pthread_sigmask(SIG_SETMASK, &all, &old);
		e = pthread_create(&s->thread, NULL, stage_all, s);
		pthread_sigmask(SIG_SETMASK, &old, NULL);
	}
	if (e) {
		if (s && s->ready_fd >= 0)
			close(s->ready_fd);
		free(s);
		remove_tree(rp->stage);
		rp->stage[0] = '\0';
		snprintf(why, why_size, "a thread to stage it: %s", strerror(e));
		return e;
	}
	rp->stager = s;
	return 0;
}
