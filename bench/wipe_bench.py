"""Wipe benchmarks: `runner-supervisor wipe DIR` against `rm -rf DIR`, same run, same disk.

For every measurement two identical trees are created fresh (a small C helper, built here,
writes them with mkdirat/openat/write), `sync` makes both clean on disk (nothing is dropped
from the page cache), and then one copy is wiped and the other removed with `rm -rf`; the
order alternates from run to run so that neither tool always goes first. Figures are
medians. Trees:

- node_modules-like: 100,000 files of 100 bytes in 1,000 directories;
- deep: a chain of 2,000 nested directories with 5 files at each level;
- scaling: 10,000, 100,000 and 1,000,000 files (100 per directory). The 1M tree takes
  minutes to create on a slow disk: its number of runs is cut to fit TIME_BUDGET_S, or the
  size is left out, and the table says which.

Run alone with `python3 bench/wipe_bench.py` (prints the section), or through bench/run.py.
"""
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

RUNS = 3
FILE_SIZE = 100
# For the 1M tree: creation of 2 copies per run, plus the removals; RS_WIPE_BENCH_BUDGET_S
# overrides it (the 1M tree is left out, with a note, when it does not fit).
TIME_BUDGET_S = int(os.environ.get("RS_WIPE_BENCH_BUDGET_S", 20 * 60))
SCALING = [10_000, 100_000, 1_000_000]
FILES_PER_DIR = 100

MKTREE_C = r"""
/* wipe_mktree wide ROOT NDIRS NFILES SIZE | wipe_mktree deep ROOT DEPTH NFILES SIZE */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char data[65536];

static void die(const char *what)
{
	perror(what);
	exit(1);
}

static void files(int dfd, int n, int size)
{
	char name[32];
	for (int i = 0; i < n; i++) {
		snprintf(name, sizeof(name), "file%05d.js", i);
		int fd = openat(dfd, name, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
		if (fd < 0 || write(fd, data, size) != size)
			die(name);
		close(fd);
	}
}

static int subdir(int dfd, const char *name)
{
	if (mkdirat(dfd, name, 0755) < 0)
		die(name);
	int fd = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		die(name);
	return fd;
}

int main(int argc, char **argv)
{
	if (argc != 6 || atoi(argv[5]) > (int)sizeof(data))
		return 2;
	memset(data, 'x', sizeof(data));
	int count = atoi(argv[3]), n = atoi(argv[4]), size = atoi(argv[5]);
	int top = subdir(AT_FDCWD, argv[2]);
	char name[32];
	if (strcmp(argv[1], "wide") == 0) {
		for (int i = 0; i < count; i++) {
			snprintf(name, sizeof(name), "pkg%05d", i);
			int d = subdir(top, name);
			files(d, n, size);
			close(d);
		}
		return 0;
	}
	int d = top;
	for (int i = 0; i < count; i++) {
		files(d, n, size);
		int next = subdir(d, "level");
		if (d != top)
			close(d);
		d = next;
	}
	return 0;
}
"""


def build_helper(root):
    out = os.path.join(root, "build", "bench")
    os.makedirs(out, exist_ok=True)
    src = os.path.join(out, "wipe_mktree.c")
    with open(src, "w") as f:
        f.write(MKTREE_C)
    exe = os.path.join(out, "wipe_mktree")
    subprocess.run(["cc", "-O2", "-o", exe, src], check=True)
    return exe


class Bench:
    def __init__(self, root):
        self.rs = os.path.join(root, "build", "runner-supervisor")
        self.mktree = build_helper(root)
        # On the disk the build (and a workspace) lives on, not on a tmpfs /tmp.
        self.scratch = tempfile.mkdtemp(prefix="wipe-bench-", dir=os.path.join(root, "build"))

    def close(self):
        subprocess.run(["rm", "-rf", self.scratch], check=False)

    def create(self, name, shape):
        path = os.path.join(self.scratch, name)
        t0 = time.perf_counter()
        subprocess.run([self.mktree, shape[0], path, *map(str, shape[1:]), str(FILE_SIZE)],
                       check=True)
        return path, time.perf_counter() - t0

    def wipe(self, path, files):
        t0 = time.perf_counter()
        r = subprocess.run([self.rs, "wipe", path], capture_output=True, text=True,
                           env=dict(os.environ, SUPERVISOR_LOG_FORMAT="json"))
        took = time.perf_counter() - t0
        expect = f"removed {files} files,"
        if r.returncode != 0 or not r.stdout.startswith(expect) or os.listdir(path):
            raise RuntimeError(f"wipe {path}: exit {r.returncode}: {r.stdout}{r.stderr[-2000:]}")
        os.rmdir(path)
        return took

    @staticmethod
    def rm(path):
        t0 = time.perf_counter()
        subprocess.run(["rm", "-rf", path], check=True)
        took = time.perf_counter() - t0
        if os.path.exists(path):
            raise RuntimeError(f"rm -rf {path} left it")
        return took

    def measure(self, label, shape, files, runs):
        """Median wipe and rm -rf times over runs, each on a fresh pair of trees."""
        wipes, rms, creates = [], [], []
        for i in range(runs):
            a, ta = self.create("a", shape)
            b, tb = self.create("b", shape)
            creates.append((ta + tb) / 2)
            os.sync()
            if i % 2 == 0:
                wipes.append(self.wipe(a, files))
                rms.append(self.rm(b))
            else:
                rms.append(self.rm(b))
                wipes.append(self.wipe(a, files))
            print(f"  {label} run {i + 1}/{runs}: create {creates[-1]:.1f} s, "
                  f"wipe {wipes[-1]:.2f} s, rm -rf {rms[-1]:.2f} s", file=sys.stderr, flush=True)
        return {"label": label, "files": files, "runs": runs,
                "wipe": statistics.median(wipes), "rm": statistics.median(rms),
                "create": statistics.median(creates)}


def row(m):
    us = 1e6 / m["files"]
    return (f"| {m['label']} | {m['files']:,} | {m['runs']} | {m['wipe']:.2f} | {m['rm']:.2f} | "
            f"{m['rm'] / m['wipe']:.2f}× | {m['wipe'] * us:.1f} | {m['rm'] * us:.1f} |")


def scaling_runs(per_file_create_s, files):
    """How many runs of the tree of this size fit the time budget (0: none)."""
    per_run = 2 * per_file_create_s * files * 1.5  # two copies, plus the two removals
    return min(RUNS, int(TIME_BUDGET_S // per_run))


def run(root):
    bench = Bench(root)
    try:
        wide = bench.measure("node_modules-like: 1,000 dirs × 100 files", ("wide", 1000, 100),
                             100_000, RUNS)
        deep = bench.measure("deep: 2,000 levels × 5 files", ("deep", 2000, 5), 10_000, RUNS)
        scaling, notes = [], []
        per_file = wide["create"] / wide["files"]
        for files in SCALING:
            if files == wide["files"]:
                scaling.append(dict(wide, label="100,000 files"))
                continue
            runs = scaling_runs(per_file, files)
            if runs == 0:
                notes.append(f"{files:,} files left out: creating two copies would take about "
                             f"{2 * per_file * files / 60:.0f} min on this disk.")
                continue
            if runs < RUNS:
                notes.append(f"{files:,} files: {runs} run(s) instead of {RUNS}, to stay within "
                             f"{TIME_BUDGET_S // 60} min (creating one copy was estimated at "
                             f"{per_file * files:.0f} s from the 100,000-file tree; this disk's "
                             f"speed varies with what else runs on it).")
            scaling.append(bench.measure(f"{files:,} files", ("wide", files // FILES_PER_DIR,
                                                               FILES_PER_DIR), files, runs))
    finally:
        bench.close()

    lines = [
        "## Wipe (`runner-supervisor wipe DIR` against `rm -rf DIR`)", "",
        "Method: for every run two identical trees of 100-byte files are created fresh "
        "(bench/wipe_bench.py builds a small C creator), `sync` makes both clean on disk "
        "(nothing is dropped from the page cache), then one copy is wiped and the other "
        "removed with GNU `rm -rf`, in alternating order; wall time of each command, median "
        f"of the runs. The trees are under build/ (the disk a workspace is on). The wipe "
        "includes its verification pass; it keeps DIR itself, rm removes it (one rmdir).",
        "",
        "| tree | files | runs | wipe (s) | rm -rf (s) | rm/wipe | wipe µs/file | rm µs/file |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
        row(wide), row(deep), "",
        "Scaling (100 files per directory):", "",
        "| tree | files | runs | wipe (s) | rm -rf (s) | rm/wipe | wipe µs/file | rm µs/file |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ] + [row(m) for m in scaling] + [""] + notes + ([""] if notes else [])
    return "\n".join(lines)


if __name__ == "__main__":
    print(run(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
