/* The id maps of the sandbox's user namespace. Written by the parent (a process cannot map
 * ids for itself beyond its own), between the child's clone and its first step. */
#include "nsmaps.h"

#include <errno.h>
#include <stdbool.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <unistd.h>

#include "util.h"

static int write_file(pid_t pid, const char *name, const char *text)
{
	char path[64];
	snprintf(path, sizeof(path), "/proc/%d/%s", (int)pid, name);
	_cleanup_(closep) int fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return errno;
	size_t n = strlen(text);
	ssize_t w = write(fd, text, n);
	if (w < 0)
		return errno;
	return (size_t)w == n ? 0 : EIO;
}

int sbx_own_userns_and_mounts(void)
{
	uid_t uid = geteuid();
	gid_t gid = getegid();
	if (unshare(CLONE_NEWUSER) < 0)
		return errno;
	/* Our ids are unmapped now: sbx_write_id_maps denies setgroups first, as it must. */
	int e = sbx_write_id_maps(getpid(), 0, 0, uid, gid, NULL, 0);
	if (e)
		return e;
	if (unshare(CLONE_NEWNS) < 0 || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
		return errno;
	return 0;
}

int sbx_maps_need_deny_setgroups(void)
{
	return geteuid() != 0;
}

int sbx_write_identity_maps(pid_t pid, unsigned count)
{
	char map[64];
	snprintf(map, sizeof(map), "0 0 %u\n", count);
	int e = write_file(pid, "uid_map", map);
	return e ? e : write_file(pid, "gid_map", map);
}

int sbx_write_id_maps(pid_t pid, uid_t inner_uid, gid_t inner_gid, uid_t outer_uid, gid_t outer_gid,
		      const gid_t *groups, size_t n_groups)
{
	char uid_map[64], gid_map[1024];
	snprintf(uid_map, sizeof(uid_map), "%u %u 1\n", (unsigned)inner_uid, (unsigned)outer_uid);
	int len = snprintf(gid_map, sizeof(gid_map), "%u %u 1\n", (unsigned)inner_gid,
			   (unsigned)outer_gid);
	bool deny = sbx_maps_need_deny_setgroups();
	for (size_t i = 0; !deny && i < n_groups && len < (int)sizeof(gid_map) - 32; i++)
		if (groups[i] != outer_gid && groups[i] != inner_gid)
			len += snprintf(gid_map + len, sizeof(gid_map) - (size_t)len, "%u %u 1\n",
					(unsigned)groups[i], (unsigned)groups[i]);
	int e = 0;
	if (deny && (e = write_file(pid, "setgroups", "deny")) != 0)
		return e;
	if ((e = write_file(pid, "uid_map", uid_map)) != 0)
		return e;
	return write_file(pid, "gid_map", gid_map);
}
