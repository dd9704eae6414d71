/* Shared memory, semaphores and message queues a job left in the pod (ipcclean.h). */
#include "ipcclean.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ipc.h>
#include <sys/msg.h>
#include <sys/sem.h>
#include <sys/shm.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"
#include "util.h"
#include "wipe.h"

/* One of /proc/sysvipc/{shm,sem,msg}: the column of the id and of the owner's uid, read from
 * the header (the kernel's layout differs per file, ipc/util.c). */
struct sysv_kind {
	const char *file;
	const char *id_column;
	int (*remove)(int id);
};

static int rm_shm(int id)
{
	return shmctl(id, IPC_RMID, NULL);
}

static int rm_sem(int id)
{
	return semctl(id, 0, IPC_RMID);
}

static int rm_msg(int id)
{
	return msgctl(id, IPC_RMID, NULL);
}

static const struct sysv_kind kinds[] = {
	{ "/proc/sysvipc/shm", "shmid", rm_shm },
	{ "/proc/sysvipc/sem", "semid", rm_sem },
	{ "/proc/sysvipc/msg", "msqid", rm_msg },
};

static int column_of(char *header, const char *name)
{
	int col = 0;
	char *save = NULL;
	for (char *t = strtok_r(header, " \t\n", &save); t;
	     t = strtok_r(NULL, " \t\n", &save), col++)
		if (strcmp(t, name) == 0)
			return col;
	return -1;
}

/* The ids of the objects that uid owns; -1 when the file cannot be read. */
static int sysv_ids_of(const struct sysv_kind *k, uid_t uid, int *ids, int max)
{
	FILE *f = fopen(k->file, "re");
	if (!f)
		return -1;
	char line[512];
	int n = 0, id_col = -1, uid_col = -1;
	if (fgets(line, sizeof(line), f)) {
		char copy[512];
		snprintf(copy, sizeof(copy), "%s", line);
		id_col = column_of(line, k->id_column);
		uid_col = column_of(copy, "uid");
	}
	while (id_col >= 0 && uid_col >= 0 && n < max && fgets(line, sizeof(line), f)) {
		long long id = -1, owner = -1;
		int col = 0;
		char *save = NULL;
		for (char *t = strtok_r(line, " \t\n", &save); t;
		     t = strtok_r(NULL, " \t\n", &save), col++) {
			if (col == id_col)
				id = strtoll(t, NULL, 10);
			if (col == uid_col)
				owner = strtoll(t, NULL, 10);
		}
		if (owner == (long long)uid && id >= 0)
			ids[n++] = (int)id;
	}
	fclose(f);
	return n;
}

/* Entries of a shm or mqueue directory that uid owns: removed (a directory with what it
 * holds). */
static void remove_entries_of(const char *dir, uid_t uid, struct ipc_cleanup *out)
{
	_cleanup_(closep) int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	DIR *d = dfd >= 0 ? fdopendir(dup(dfd)) : NULL;
	if (!d)
		return;
	for (struct dirent *e; (e = readdir(d));) {
		struct stat st;
		if (e->d_name[0] == '.' &&
		    (!e->d_name[1] || (e->d_name[1] == '.' && !e->d_name[2])))
			continue;
		if (fstatat(dfd, e->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0 || st.st_uid != uid)
			continue;
		if (S_ISDIR(st.st_mode)) {
			_cleanup_(closep) int sub =
			    openat(dfd, e->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
			struct wipe_stats ws = { 0 };
			struct rs_err err = { 0 };
			if (sub >= 0)
				wipe_dirfd(sub, e->d_name, &ws, &err);
		}
		if (unlinkat(dfd, e->d_name, S_ISDIR(st.st_mode) ? AT_REMOVEDIR : 0) == 0)
			out->removed++;
		else
			out->left++;
	}
	closedir(d);
}

void ipc_remove_of_uid(uid_t uid, struct ipc_cleanup *out)
{
	*out = (struct ipc_cleanup){ 0 };
	int ids[256];
	for (size_t k = 0; k < ARRAY_SIZE(kinds); k++) {
		int n = sysv_ids_of(&kinds[k], uid, ids, (int)ARRAY_SIZE(ids));
		for (int i = 0; i < n; i++) {
			if (kinds[k].remove(ids[i]) == 0 || errno == EINVAL || errno == EIDRM)
				out->removed++;
		}
		/* The verification: what is still there was not ours to remove. */
		n = sysv_ids_of(&kinds[k], uid, ids, (int)ARRAY_SIZE(ids));
		out->left += n > 0 ? n : 0;
	}
	remove_entries_of("/dev/shm", uid, out);
	remove_entries_of("/dev/mqueue", uid, out);
	if (out->removed || out->left)
		log_event(out->left ? LOG_ERROR : LOG_INFO, "ipc.removed",
			  LOG_FIELDS(LOG_INT("removed", out->removed), LOG_INT("left", out->left)),
			  "IPC objects the job left in the pod: %lld removed, %lld left",
			  out->removed, out->left);
}
