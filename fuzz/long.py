#!/usr/bin/python3
"""`make fuzz-long`: fuzzes each target for a while and writes the figures into
docs/benchmarks.md, in the "## Fuzzing" section between the fuzz:begin/fuzz:end markers
(bench/run.py keeps that section as it is when it rewrites the rest).

    fuzz/long.py [--time SECONDS] [--report-only] TARGET...

Each target starts from its committed corpus (fuzz/corpus/TARGET, read only) and writes what
it finds to build/fuzz/long/TARGET; crashes go to build/fuzz/crashes/. A crash stops that
target, is reported in the table, and makes the script exit 1.
"""
import argparse
import os
import platform
import re
import shutil
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DOC = os.path.join(ROOT, "docs", "benchmarks.md")
BEGIN = "<!-- fuzz:begin (written by `make fuzz-long`, fuzz/long.py; bench/run.py keeps it) -->"
END = "<!-- fuzz:end -->"
HEADING = "## Fuzzing (libFuzzer, `make fuzz-long`)"

# What each harness feeds (fuzz/TARGET.c says more).
WHAT = {
    "runner_lines": "the runner's stdout/stderr bytes: relay.c lines, runner_lines.c, the log line",
    "jit": "the JIT blob (jit.c, base64.c)",
    "config": "environment and command line (config.c, ghurl.c)",
    "http": "response headers and the retry decision (http.c, retry.c)",
    "github": "GitHub's answers to every call (github.c over a scripted HTTP layer)",
    "report": "the termination summary from hostile names and reasons (report.c)",
    "log": "log lines: redaction, UTF-8, control characters (log.c)",
}


def run_target(target, seconds):
    work = os.path.join(ROOT, "build", "fuzz", "long", target)
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(work)
    crashes = os.path.join(ROOT, "build", "fuzz", "crashes")
    os.makedirs(crashes, exist_ok=True)
    cmd = [os.path.join(ROOT, "build", "fuzz", target), "-seed=1", "-timeout=10",
           "-rss_limit_mb=2048", "-print_final_stats=1", f"-max_total_time={seconds}",
           f"-artifact_prefix={crashes}/{target}-"]
    dictionary = os.path.join(ROOT, "fuzz", f"{target}.dict")
    if os.path.exists(dictionary):
        cmd.append(f"-dict={dictionary}")
    cmd += [work, os.path.join(ROOT, "fuzz", "corpus", target)]
    print(f"== fuzz {target} ({seconds} s)", flush=True)
    proc = subprocess.run(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          text=True, errors="replace")
    with open(log_path(target), "w") as f:
        f.write(proc.stdout)
        f.write(f"\nexit status: {proc.returncode}\n")
        f.write(f"load average (15 min): {os.getloadavg()[2]:.2f}\n")
        f.write(f"commit: {head_commit()}\n")
    if proc.returncode != 0:
        print(proc.stdout[-4000:], file=sys.stderr)
    return parse(target)


def log_path(target):
    return os.path.join(ROOT, "build", "fuzz", "long", f"{target}.log")


def parse(target):
    """The figures of a run, from libFuzzer's output (kept in build/fuzz/long/TARGET.log)."""
    with open(log_path(target)) as f:
        out = f.read()
    stats = dict(re.findall(r"^stat::(\w+):\s+(\d+)", out, re.M))
    progress = re.findall(r"^#(\d+)\s+\w+\s+cov: (\d+) ft: (\d+) corp: (\d+)/(\d+)(\w*)", out,
                          re.M)
    last = progress[-1] if progress else ("0", "0", "0", "0", "0", "b")
    seeds = re.search(r"seed corpus: files: (\d+)", out)
    took = re.search(r"^Done \d+ runs in (\d+) second", out, re.M)
    status = re.search(r"^exit status: (-?\d+)", out, re.M)
    load = re.search(r"^load average \(15 min\): ([\d.]+)", out, re.M)
    commit = re.search(r"^commit: (\S+)", out, re.M)
    return {
        "target": target, "seconds": int(took.group(1)) if took else 0,
        "execs": int(stats.get("number_of_executed_units", last[0])),
        "exec_s": int(stats.get("average_exec_per_sec", 0)),
        "cov": int(last[1]), "ft": int(last[2]), "corp": int(last[3]),
        "corp_size": f"{last[4]} {dict(b='B', Kb='KiB', Mb='MiB').get(last[5], last[5])}",
        "seeds": int(seeds.group(1)) if seeds else 0,
        "rss": int(stats.get("peak_rss_mb", 0)),
        "crashes": 0 if status and status.group(1) == "0" else 1,
        "load": float(load.group(1)) if load else None,
        "commit": commit.group(1) if commit else None,
    }


def head_commit():
    return subprocess.run(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"],
                          capture_output=True, text=True).stdout.strip() or "uncommitted"


def section(results, seconds):
    # The commit the run was built from (with the work tree's changes), as its logs say.
    rev = next((r["commit"] for r in results if r["commit"]), None) or head_commit()
    ended = max(os.path.getmtime(log_path(r["target"])) for r in results)
    lines = [
        HEADING, BEGIN, "",
        f"Method: each harness (fuzz/TARGET.c; built by `make fuzz` with clang "
        f"{clang_version()}, `-fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all`) "
        f"runs {seconds} s from its committed corpus (fuzz/corpus/TARGET) with `-seed=1`, one "
        "process on one core. Coverage is libFuzzer's: edges (`cov`) and features (`ft`) of the "
        "supervisor's code under test (the libraries it calls are not instrumented). Any ASan, UBSan or "
        "LeakSanitizer report, and any broken invariant the harness checks, is a crash. Known "
        "bugs in files this work did not change are tolerated and listed in fuzz/README.md.",
        "",
        f"- Date: {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime(ended))}; commit {rev}; "
        f"{os.cpu_count()} cores, kernel {platform.release()}",
    ]
    loads = [r["load"] for r in results if r["load"] is not None]
    if loads:
        lines.append(f"- Machine load: 15-minute load average {min(loads):.1f} to "
                     f"{max(loads):.1f} as the targets ended (other work shared the cores; "
                     "exec/s drop on a busy machine)")
    lines += [
        "",
        "| target | input | time (s) | executions | exec/s | edges | features | corpus files (seeds → end) | peak RSS (MB) | crashes |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for r in results:
        lines.append(
            f"| {r['target']} | {WHAT.get(r['target'], '')} | {r['seconds']} | "
            f"{r['execs']:,} | {r['exec_s']:,} | {r['cov']} | {r['ft']} | "
            f"{r['seeds']} → {r['corp']} ({r['corp_size']}) | {r['rss']} | {r['crashes']} |")
    lines += ["", END, ""]
    return "\n".join(lines)


def clang_version():
    out = subprocess.run(["clang", "--version"], capture_output=True, text=True).stdout
    m = re.search(r"clang version (\S+)", out)
    return m.group(1) if m else "?"


def write_doc(text):
    doc = open(DOC).read() if os.path.exists(DOC) else "# Benchmarks\n"
    b, e = doc.find(BEGIN), doc.find(END)
    if 0 <= b < e:
        start = doc.rfind("\n## ", 0, b) + 1  # the section's heading line
        doc = doc[:start] + text + doc[e + len(END):].lstrip("\n")
    else:
        doc = doc.rstrip("\n") + "\n\n" + text
    with open(DOC, "w") as f:
        f.write(doc.rstrip("\n") + "\n")
    print(f"wrote the fuzzing section of {DOC}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--time", type=int, default=180, help="seconds per target")
    ap.add_argument("--report-only", action="store_true",
                    help="rewrite the section from the last run's logs, without fuzzing")
    ap.add_argument("targets", nargs="+")
    args = ap.parse_args()
    results = [parse(t) if args.report_only else run_target(t, args.time)
               for t in args.targets]
    write_doc(section(results, args.time))
    sys.exit(1 if any(r["crashes"] for r in results) else 0)


if __name__ == "__main__":
    main()
