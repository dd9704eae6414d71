/* What this environment allows, found by trying it in throw-away children, never by
 * guessing from versions (a pod's seccomp profile, AppArmor, masked /proc and missing
 * capabilities all answer only when asked).
 *
 *   child (clone CLONE_NEWUSER when it works, the parent writes the id maps)
 *     unshare each of PID, mount, IPC, UTS, cgroup; tmpfs; read-only bind; no_new_privs;
 *     seccomp; bounding-set drop; a uid switch
 *     grandchild (PID 1 of the new PID namespace): a fresh procfs
 *
 * Like spawn.c, the children make raw system calls only: the parent may have threads. */
#include "sandbox.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/filter.h>
#include <linux/magic.h>
#include <linux/seccomp.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/capability.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "landlock.h"
#include "nsmaps.h"
#include "plan.h"
#include "util.h"

#ifndef CLONE_NEWCGROUP
#define CLONE_NEWCGROUP 0x02000000
#endif

/* What the child sends back: its struct sbx_probe fields, in one write. */
static int errno_of(long rc)
{
	return rc < 0 ? errno : 0;
}

static int probe_proc(void)
{
	/* Only a child enters the PID namespace that unshare made. */
	pid_t pid = (pid_t)syscall(SYS_clone, SIGCHLD, NULL, NULL, NULL, NULL);
	if (pid < 0)
		return errno;
	if (pid == 0)
		_exit(mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) < 0
			  ? (errno & 0xff)
			  : 0);
	int st;
	if (syscall(SYS_wait4, pid, &st, 0, NULL) < 0 || !WIFEXITED(st))
		return ECHILD;
	return WEXITSTATUS(st);
}

/* Set by the parent before the children are cloned: they read their copy. */
static unsigned long usr_flags;

static int probe_bind_ro(unsigned long keep)
{
	/* /usr onto itself, read-only, keeping the flags a user namespace locks (found by the
	 * parent: statvfs is not for a child of a threaded process). */
	if (mount("/usr", "/usr", NULL, MS_BIND | MS_REC, NULL) < 0)
		return errno;
	return errno_of(mount(NULL, "/usr", NULL, MS_BIND | MS_REMOUNT | MS_RDONLY | keep, NULL));
}

static int probe_seccomp(void)
{
	struct sock_filter allow = BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW);
	struct sock_fprog prog = { .len = 1, .filter = &allow };
	return errno_of(syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog));
}

static __attribute__((noreturn)) void probe_child(int out, int sync, uid_t uid, gid_t gid,
						  struct sbx_probe p)
{
	if (sync >= 0) {
		char c;
		if (read(sync, &c, 1) != 1)
			_exit(1);
		/* As the sandbox init does: become the mapped ids, keeping the capabilities. */
		p.setuid = errno_of(syscall(SYS_setresgid, gid, gid, gid));
		if (p.setuid == 0)
			p.setuid = errno_of(syscall(SYS_setresuid, uid, uid, uid));
	}
	p.pidns = errno_of(unshare(CLONE_NEWPID));
	p.mntns = errno_of(unshare(CLONE_NEWNS));
	p.ipcns = errno_of(unshare(CLONE_NEWIPC));
	p.utsns = errno_of(unshare(CLONE_NEWUTS));
	p.cgroupns = errno_of(unshare(CLONE_NEWCGROUP));
	p.hostname = p.utsns == 0 ? errno_of(sethostname("sandbox-probe", 13)) : -1;
	if (p.mntns == 0) {
		mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL);
		p.tmpfs = errno_of(mount("tmpfs", "/tmp", "tmpfs", MS_NOSUID | MS_NODEV, NULL));
		p.bind_ro = probe_bind_ro(usr_flags);
		p.proc_fresh = p.pidns == 0 ? probe_proc() : -1;
	}
	p.capbset = errno_of(prctl(PR_CAPBSET_DROP, 0, 0, 0, 0)); /* CAP_CHOWN */
	p.nnp = errno_of(prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0));
	p.seccomp = p.nnp == 0 ? probe_seccomp() : -1;
	if (sync < 0)
		p.setuid = errno_of(syscall(SYS_setresuid, uid, uid, uid));
	ssize_t n = write(out, &p, sizeof(p));
	_exit(n == (ssize_t)sizeof(p) ? 0 : 1);
}

static void probe_cgroup(struct sbx_probe *p)
{
	struct statfs sf;
	if (statfs("/sys/fs/cgroup", &sf) < 0)
		return;
	if ((unsigned long)sf.f_type == CGROUP2_SUPER_MAGIC) {
		p->cgroup_version = 2;
		char line[512], path[600];
		FILE *f = fopen("/proc/self/cgroup", "re");
		if (f && fgets(line, sizeof(line), f) && strncmp(line, "0::", 3) == 0) {
			line[strcspn(line, "\n")] = '\0';
			snprintf(path, sizeof(path), "/sys/fs/cgroup%s/cgroup.procs", line + 3);
			p->cgroup_delegated = access(path, W_OK) == 0;
		}
		if (f)
			fclose(f);
	} else {
		p->cgroup_version = 1;
	}
}

/* One probe child, in a new user namespace or not; 0 when it reported. */
static int run_child(struct sbx_probe *p, bool userns, uid_t uid, gid_t gid)
{
	int out[2], sync[2] = { -1, -1 };
	if (pipe2(out, O_CLOEXEC) < 0 || (userns && pipe2(sync, O_CLOEXEC) < 0))
		return -1;
	struct sbx_probe seed = *p;
	seed.ns_in_userns = userns;
	pid_t pid = (pid_t)syscall(SYS_clone, (userns ? CLONE_NEWUSER : 0) | SIGCHLD, NULL, NULL,
				   NULL, NULL);
	if (pid == 0) {
		close(out[0]);
		if (userns)
			close(sync[1]);
		probe_child(out[1], userns ? sync[0] : -1, uid, gid, seed);
	}
	int clone_errno = errno;
	close(out[1]);
	if (userns)
		close(sync[0]);
	if (pid < 0) {
		close(out[0]);
		if (userns)
			close(sync[1]);
		if (userns)
			p->userns = clone_errno;
		return -1;
	}
	if (userns) {
		p->userns = 0;
		p->userns_map = sbx_write_id_maps(pid, uid, gid, uid, gid, NULL, 0);
		ssize_t w = write(sync[1], "x", 1);
		(void)w;
		close(sync[1]);
	}
	struct sbx_probe got;
	ssize_t n = read(out[0], &got, sizeof(got));
	close(out[0]);
	int st;
	waitpid(pid, &st, 0);
	if (n != (ssize_t)sizeof(got))
		return -1;
	int map = p->userns_map;
	*p = got;
	if (userns) {
		p->userns = 0;
		p->userns_map = map;
	}
	return 0;
}

static __attribute__((noreturn)) void job_root_child(int sync)
{
	char c;
	if (read(sync, &c, 1) != 1)
		_exit(ECHILD);
	if (syscall(SYS_setresgid, 0, 0, 0) < 0 || syscall(SYS_setresuid, 0, 0, 0) < 0 ||
	    unshare(CLONE_NEWNS) < 0 || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0 ||
	    mount("tmpfs", "/tmp", "tmpfs", MS_NODEV, "size=1m") < 0 || mkdir("/tmp/u", 0755) < 0 ||
	    mkdir("/tmp/w", 0700) < 0 || mkdir("/tmp/m", 0755) < 0 ||
	    mount("overlay", "/tmp/m", "overlay", MS_NODEV,
		  "lowerdir=/usr,upperdir=/tmp/u,workdir=/tmp/w,userxattr") < 0)
		_exit(errno & 0xff);
	/* A copy-up, as a job's first write under /usr would make. */
	int fd = open("/tmp/m/lib/.rs-probe", O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	_exit(fd < 0 ? errno & 0xff : 0);
}

int sbx_probe_job_root(unsigned map_count)
{
	int sync[2];
	if (pipe2(sync, O_CLOEXEC) < 0)
		return errno;
	pid_t pid = (pid_t)syscall(SYS_clone, CLONE_NEWUSER | SIGCHLD, NULL, NULL, NULL, NULL);
	if (pid == 0) {
		close(sync[1]);
		job_root_child(sync[0]);
	}
	int e = pid < 0 ? errno : 0;
	close(sync[0]);
	if (pid > 0) {
		e = sbx_write_identity_maps(pid, map_count);
		if (e == 0 && write(sync[1], "x", 1) != 1)
			e = errno;
	}
	close(sync[1]);
	int st;
	if (pid > 0 && waitpid(pid, &st, 0) == pid && e == 0)
		e = WIFEXITED(st) ? WEXITSTATUS(st) : ECHILD;
	return e;
}

int sbx_probe_engine_userns(void)
{
	pid_t pid = (pid_t)syscall(SYS_clone, SIGCHLD, NULL, NULL, NULL, NULL);
	if (pid == 0) {
		/* The sandbox's user namespace, then the engine's in it (engine.c). */
		int e = sbx_own_userns_and_mounts();
		_exit(e ? e & 0xff : sbx_own_userns_and_mounts() & 0xff);
	}
	int st;
	if (pid < 0)
		return errno;
	if (waitpid(pid, &st, 0) != pid)
		return ECHILD;
	return WIFEXITED(st) ? WEXITSTATUS(st) : ECHILD;
}

int sbx_probe(struct sbx_probe *p, uid_t uid, gid_t gid, struct rs_err *err)
{
	*p = (struct sbx_probe){ .userns = -1,
				 .userns_map = -1,
				 .pidns = -1,
				 .mntns = -1,
				 .ipcns = -1,
				 .utsns = -1,
				 .cgroupns = -1,
				 .proc_fresh = -1,
				 .tmpfs = -1,
				 .bind_ro = -1,
				 .nnp = -1,
				 .seccomp = -1,
				 .capbset = -1,
				 .hostname = -1,
				 .setuid = -1 };
	/* libcap reads the running kernel's /proc/sys/kernel/cap_last_cap. */
	p->cap_last_cap = (int)cap_max_bits() - 1;
	usr_flags = sbx_locked_mount_flags("/usr");
	p->landlock_abi = sbx_landlock_abi();
	probe_cgroup(p);
	/* Inside a user namespace first: it is what the sandbox uses when it can. */
	struct sbx_probe in_userns = *p;
	if (run_child(&in_userns, true, uid, gid) == 0 && in_userns.userns_map == 0 &&
	    in_userns.pidns == 0) {
		*p = in_userns;
		return 0;
	}
	int userns = in_userns.userns, map = in_userns.userns_map;
	if (run_child(p, false, uid, gid) < 0)
		return rs_fail(err, EX_RS_SANDBOX, errno, "probing the sandbox: no child");
	p->userns = userns;
	p->userns_map = map;
	return 0;
}
