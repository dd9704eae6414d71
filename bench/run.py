#!/usr/bin/env python3
"""`make bench`: runs every benchmark and rewrites docs/benchmarks.md.

Benchmarks are not tests: nothing here asserts a timing. Each section measures
runner-supervisor and its comparison in the same run and reports medians.

`python3 bench/run.py SECTION...` (names: pid1, github, lifecycle, wipe, sandbox, jobroot,
containers, fleet) runs only those benchmarks and replaces only their "## ..." blocks in the existing
docs/benchmarks.md, keeping the others; the header then notes which sections were re-run
alone, when.
"""
import os
import re
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import containers_bench  # noqa: E402
import fleet_bench  # noqa: E402
import github_bench  # noqa: E402
import jobroot_bench  # noqa: E402
import lifecycle_bench  # noqa: E402
from machine import describe as describe_machine  # noqa: E402
import pid1_bench  # noqa: E402
import sandbox_bench  # noqa: E402
import wipe_bench  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DOC = os.path.join(ROOT, "docs", "benchmarks.md")

# Name on the command line, module, and how its "## " heading starts (to find its block in
# an existing docs/benchmarks.md); in the order of the document.
SECTIONS = [
    ("pid1", pid1_bench, "## PID 1"),
    ("github", github_bench, "## Registration"),
    ("lifecycle", lifecycle_bench, "## From the runner's exit"),
    ("wipe", wipe_bench, "## Wipe"),
    ("sandbox", sandbox_bench, "## Sandbox"),
    ("jobroot", jobroot_bench, "## Job root"),
    ("containers", containers_bench, "## Containers"),
    ("fleet", fleet_bench, "## A fleet against GitHub's limits"),
]
RERUN_PREFIX = "- Re-run alone: "
# A section another tool writes (`make fuzz-long`, fuzz/long.py): kept as it is.
KEEP_MARK = "<!-- fuzz:begin"


def machine():
    rev = subprocess.run(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"],
                         capture_output=True, text=True).stdout.strip() or "uncommitted"
    return (f"- Date: {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}\n"
            f"- Machine: {describe_machine()}\n"
            f"- Commit: {rev}; runner-supervisor built with `make` (release flags)\n")


def split_blocks(text):
    """The text before the first "## " heading, and the "## " blocks (heading line to the
    line before the next "## " heading). Headings inside fenced code do not count."""
    head, blocks, cur, fenced = [], [], None, False
    for line in text.splitlines(keepends=True):
        if line.startswith("```"):
            fenced = not fenced
        if not fenced and line.startswith("## "):
            cur = [line]
            blocks.append(cur)
        elif cur is None:
            head.append(line)
        else:
            cur.append(line)
    return "".join(head), ["".join(b) for b in blocks]


def owner(block):
    for name, _, prefix in SECTIONS:
        if block.startswith(prefix):
            return name
    return None


def block_text(section):
    return section.rstrip("\n") + "\n\n"


def rerun_note(head, names):
    """The header's "Re-run alone" line, with these sections' date and commit updated."""
    rev = subprocess.run(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"],
                         capture_output=True, text=True).stdout.strip() or "uncommitted"
    when = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    entries = {}
    lines = head.splitlines(keepends=True)
    for line in lines:
        if line.startswith(RERUN_PREFIX):
            for part in line[len(RERUN_PREFIX):].rstrip().rstrip(".").split("; "):
                m = re.match(r"`(\w+)` (.*)", part)
                if m:
                    entries[m.group(1)] = m.group(2)
    for n in names:
        entries[n] = f"{when}, commit {rev}"
    order = [n for n, _, _ in SECTIONS if n in entries]
    note = RERUN_PREFIX + "; ".join(f"`{n}` {entries[n]}" for n in order) + "\n"
    lines = [ln for ln in lines if not ln.startswith(RERUN_PREFIX)]
    # After the machine description (the last "- " line of the header).
    last = max((i for i, ln in enumerate(lines) if ln.startswith("- ")), default=len(lines) - 1)
    lines.insert(last + 1, note)
    return "".join(lines)


def kept_blocks():
    if not os.path.exists(DOC):
        return []
    with open(DOC) as f:
        _, blocks = split_blocks(f.read())
    return [block_text(b) for b in blocks if KEEP_MARK in b]


def run_some(names):
    if not os.path.exists(DOC):
        sys.exit(f"{DOC} does not exist: run all sections first (make bench)")
    with open(DOC) as f:
        head, blocks = split_blocks(f.read())
    new = {name: mod.run(ROOT) for name, mod, _ in SECTIONS if name in names}
    out, done = [], set()
    known = [n for n, _, _ in SECTIONS]
    for b in blocks:
        o = owner(b)
        if o in new:
            if o not in done:  # a section's old blocks all go; its new text once, in place
                out.append(block_text(new[o]))
                done.add(o)
        else:
            out.append(b)
    for name in names:  # a section not yet in the document: after its predecessors
        if name in done:
            continue
        idx = known.index(name)
        pos = len(out)
        for i, b in enumerate(out):
            o = owner(b)
            if o is not None and known.index(o) > idx:
                pos = i
                break
        if pos == len(out) and out and not out[-1].endswith("\n\n"):
            out[-1] = out[-1].rstrip("\n") + "\n\n"
        out.insert(pos, block_text(new[name]))
        done.add(name)
    text = rerun_note(head, names) + "".join(out)
    with open(DOC, "w") as f:
        f.write(text.rstrip("\n") + "\n")
    print(f"wrote {DOC} (sections: {', '.join(names)})")


def main():
    names = sys.argv[1:]
    known = [n for n, _, _ in SECTIONS]
    unknown = [n for n in names if n not in known]
    if unknown or any(n in ("-h", "--help") for n in names):
        sys.exit(f"usage: {sys.argv[0]} [SECTION...]; sections: {', '.join(known)}")
    if names:
        run_some([n for n in known if n in names])
        return
    sections = [mod.run(ROOT) for _, mod, _ in SECTIONS]
    out = ["# Benchmarks", "",
           "Generated by `make bench` (bench/run.py); every comparison is measured in the same "
           "run, on the same machine, and each figure is the median of several runs.", "",
           machine()]
    out += sections + kept_blocks()
    with open(DOC, "w") as f:
        f.write("\n".join(out))
    print(f"wrote {DOC}")


if __name__ == "__main__":
    main()
