/* A user-namespaced pod (hostUsers: false) on this machine, for the job root's tests: run as
 * root, it runs CMD as root of a new user namespace that maps ids 0-65535 to BASE-BASE+65535
 * of the machine, in a mount namespace laid out as a runtime lays out a pod:
 *
 *   /                an overlayfs (as every pod's root is), its lower layer the machine's "/"
 *                    idmapped (0 -> BASE: the image's files are the pod root's, as runtimes
 *                    make them with idmapped layers), its upper layer a tmpfs
 *   /proc /dev /sys  the machine's, bound (procMount: Unmasked)
 *   /tmp             a tmpfs
 *   /etc/hosts, /etc/resolv.conf, /etc/hostname   files bound over the image's (the kubelet's)
 *   /var/run/secrets/kubernetes.io/serviceaccount a tmpfs holding a token (a volume)
 *   DIR (--bind DIR) bound at the same path, idmapped too (so the pod's root may write it)
 *
 * The mounts are locked in the new user namespace, as a pod's are.
 *
 * usage: userns_pod [--base N] [--bind DIR]... -- CMD [ARG...]   (exit status: CMD's) */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/mount.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#define die(...) (fprintf(stderr, "userns_pod: " __VA_ARGS__), fprintf(stderr, ": %s\n", \
	strerror(errno)), exit(125))

static unsigned base = 200000;

static void write_file(const char *path, const char *text)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0 || write(fd, text, strlen(text)) != (ssize_t)strlen(text))
		die("%s", path);
	close(fd);
}

static void write_maps(pid_t pid)
{
	char path[64], map[64];
	snprintf(map, sizeof(map), "0 %u 65536\n", base);
	snprintf(path, sizeof(path), "/proc/%d/uid_map", (int)pid);
	write_file(path, map);
	snprintf(path, sizeof(path), "/proc/%d/gid_map", (int)pid);
	write_file(path, map);
}

/* A user namespace with the pod's mapping, for idmapped mounts: its fd. */
static int mapping_userns(void)
{
	int go[2], ready[2];
	if (pipe(go) < 0 || pipe(ready) < 0)
		die("pipe");
	pid_t pid = fork();
	if (pid == 0) {
		char c;
		close(go[1]);
		close(ready[0]);
		if (unshare(CLONE_NEWUSER) < 0 || write(ready[1], "x", 1) != 1)
			_exit(1);
		ssize_t n = read(go[0], &c, 1); /* parked until the parent has what it needs */
		_exit(n < 0);
	}
	char c;
	close(go[0]);
	close(ready[1]);
	if (read(ready[0], &c, 1) != 1)
		die("the mapping's user namespace");
	write_maps(pid);
	char path[64];
	snprintf(path, sizeof(path), "/proc/%d/ns/user", (int)pid);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		die("%s", path);
	close(go[1]);
	waitpid(pid, NULL, 0);
	return fd;
}

/* path (a directory of the machine), idmapped, mounted at target; recursive when rec. */
static void idmapped(const char *path, const char *target, int userns)
{
	int fd = (int)syscall(SYS_open_tree, AT_FDCWD, path, OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC);
	if (fd < 0)
		die("open_tree %s", path);
	struct mount_attr attr = { .attr_set = MOUNT_ATTR_IDMAP, .userns_fd = (unsigned)userns };
	if (syscall(SYS_mount_setattr, fd, "", AT_EMPTY_PATH, &attr, sizeof(attr)) < 0)
		die("idmapping %s", path);
	if (syscall(SYS_move_mount, fd, "", AT_FDCWD, target, MOVE_MOUNT_F_EMPTY_PATH) < 0)
		die("move_mount %s", target);
	close(fd);
}

static void mkdirs(const char *path)
{
	char buf[4096];
	snprintf(buf, sizeof(buf), "%s", path);
	for (char *p = buf + 1; *p; p++)
		if (*p == '/') {
			*p = '\0';
			mkdir(buf, 0755);
			*p = '/';
		}
	mkdir(buf, 0755);
}

static void bind_file(const char *dir, const char *name, const char *content, const char *at)
{
	char src[4096];
	snprintf(src, sizeof(src), "%s/%s", dir, name);
	FILE *f = fopen(src, "w");
	if (!f || fputs(content, f) < 0 || fclose(f) != 0)
		die("%s", src);
	chown(src, base, base);
	if (mount(src, at, NULL, MS_BIND, NULL) < 0)
		die("binding %s", at);
}

static void make_pod_root(const char *dir, char **binds, int n_binds)
{
	if (unshare(CLONE_NEWNS) < 0 || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
		die("mount namespace");
	if (mount("tmpfs", dir, "tmpfs", 0, "mode=755") < 0)
		die("%s", dir);
	int userns = mapping_userns();
	char lower[4200], upper[4200], work[4200], root[4200], files[4200], opts[13000];
	snprintf(lower, sizeof(lower), "%s/lower", dir);
	snprintf(upper, sizeof(upper), "%s/upper", dir);
	snprintf(work, sizeof(work), "%s/work", dir);
	snprintf(root, sizeof(root), "%s/root", dir);
	snprintf(files, sizeof(files), "%s/files", dir);
	mkdir(lower, 0755), mkdir(upper, 0755), mkdir(work, 0700), mkdir(root, 0755);
	mkdir(files, 0755);
	chown(upper, base, base);
	idmapped("/", lower, userns);
	snprintf(opts, sizeof(opts), "lowerdir=%s,upperdir=%s,workdir=%s", lower, upper, work);
	if (mount("overlay", root, "overlay", 0, opts) < 0)
		die("the pod's overlay root");
	const char *rbinds[] = { "/proc", "/dev", "/sys" };
	char at[4300];
	for (size_t i = 0; i < sizeof(rbinds) / sizeof(rbinds[0]); i++) {
		snprintf(at, sizeof(at), "%s%s", root, rbinds[i]);
		if (mount(rbinds[i], at, NULL, MS_BIND | MS_REC, NULL) < 0)
			die("binding %s", rbinds[i]);
	}
	snprintf(at, sizeof(at), "%s/tmp", root);
	if (mount("tmpfs", at, "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777") < 0)
		die("/tmp");
	for (int i = 0; i < n_binds; i++) {
		snprintf(at, sizeof(at), "%s%s", root, binds[i]);
		mkdirs(at);
		idmapped(binds[i], at, userns);
	}
	snprintf(at, sizeof(at), "%s/etc/hosts", root);
	bind_file(files, "hosts", "127.0.0.1 localhost\n10.0.0.7 userns-pod\n", at);
	snprintf(at, sizeof(at), "%s/etc/resolv.conf", root);
	bind_file(files, "resolv.conf", "nameserver 10.0.0.10\n", at);
	snprintf(at, sizeof(at), "%s/etc/hostname", root);
	bind_file(files, "hostname", "userns-pod\n", at);
	/* /var/run/secrets/...: /var/run is a link to /run in the image */
	snprintf(at, sizeof(at), "%s/run/secrets/kubernetes.io/serviceaccount", root);
	mkdirs(at);
	if (mount("tmpfs", at, "tmpfs", 0, "mode=755") < 0)
		die("the service-account volume");
	char token[4400];
	snprintf(token, sizeof(token), "%s/token", at);
	FILE *f = fopen(token, "w");
	if (!f || fputs("sa-token-of-the-pod\n", f) < 0 || fclose(f) != 0)
		die("%s", token);
	chown(token, base, base);
	snprintf(at, sizeof(at), "%s/.old", root);
	mkdir(at, 0700);
	if (syscall(SYS_pivot_root, root, at) < 0 || chdir("/") < 0)
		die("pivot_root");
	if (umount2("/.old", MNT_DETACH) < 0)
		die("detaching the machine's root");
	rmdir("/.old");
}

int main(int argc, char **argv)
{
	char *binds[16];
	int n_binds = 0, i = 1;
	for (; i < argc && strcmp(argv[i], "--") != 0; i++) {
		if (strcmp(argv[i], "--base") == 0 && i + 1 < argc)
			base = (unsigned)strtoul(argv[++i], NULL, 10);
		else if (strcmp(argv[i], "--bind") == 0 && i + 1 < argc && n_binds < 16)
			binds[n_binds++] = argv[++i];
		else
			return fprintf(stderr, "usage: userns_pod [--base N] [--bind DIR]... -- CMD\n"),
			       125;
	}
	if (i + 1 >= argc)
		return fprintf(stderr, "usage: userns_pod [--base N] [--bind DIR]... -- CMD\n"), 125;
	/* The pod's scratch directory is emptied by its own mount namespace's end; the
	 * directory itself by this process, which stays outside. */
	char dir[] = "/run/rs-userns-pod-XXXXXX";
	if (!mkdtemp(dir))
		die("%s", dir);
	pid_t pod = fork();
	if (pod < 0)
		die("fork");
	if (pod > 0) {
		signal(SIGINT, SIG_IGN);
		int st = 0;
		while (waitpid(pod, &st, 0) < 0 && errno == EINTR)
			;
		rmdir(dir);
		return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
	}
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	make_pod_root(dir, binds, n_binds);
	int sync[2];
	if (pipe(sync) < 0)
		die("pipe");
	pid_t pid = (pid_t)syscall(SYS_clone, CLONE_NEWUSER | CLONE_NEWNS | SIGCHLD, NULL, NULL,
				   NULL, NULL);
	if (pid < 0)
		die("clone");
	if (pid == 0) {
		char c;
		close(sync[1]);
		if (read(sync[0], &c, 1) != 1)
			_exit(125);
		if (setresgid(0, 0, 0) < 0 || setresuid(0, 0, 0) < 0)
			die("becoming the pod's root");
		execvp(argv[i + 1], argv + i + 1);
		die("exec %s", argv[i + 1]);
	}
	close(sync[0]);
	write_maps(pid);
	if (write(sync[1], "x", 1) != 1)
		die("sync");
	close(sync[1]);
	signal(SIGINT, SIG_IGN);
	signal(SIGTERM, SIG_IGN);
	int st;
	if (waitpid(pid, &st, 0) < 0)
		die("waitpid");
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}
