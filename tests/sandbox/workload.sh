#!/usr/bin/env bash
# workload.sh - an ordinary CI job, run inside the sandbox in its working
# directory, to show the sandbox does not break real work.
#
# Usage: workload.sh URL [--expect BODY] [--root]
#   URL            a loopback URL the test serves (e.g. http://127.0.0.1:PORT/hello)
#   --expect BODY  the body that URL returns (default: any non-empty body)
#   --root         we are root in a user namespace: also check chown 0:0 / chmod
#
# Prints "STEP <name> ok" (or "STEP node skipped" when node is missing) after
# each step and "WORKLOAD OK" at the end; exits non-zero on the first failure.
# Everything is created in a fresh directory under the cwd and left there (the
# supervisor wipes the workspace).  Helper sources live next to this script:
# threads.c, workers.js, py_work.py.  Needs gcc, make, git, python3, curl, tar
# (and node, optional).  Takes a few seconds on 2 cores.
set -euo pipefail

usage() {
    echo "usage: $0 URL [--expect BODY] [--root]" >&2
    exit 2
}

URL=""
EXPECT=""
ROOT=0
while [ $# -gt 0 ]; do
    case "$1" in
        --root) ROOT=1 ;;
        --expect) [ $# -ge 2 ] || usage; EXPECT="$2"; shift ;;
        -*) usage ;;
        *) [ -z "$URL" ] || usage; URL="$1" ;;
    esac
    shift
done
[ -n "$URL" ] || usage

SRC_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
WORK="$(mktemp -d "$PWD/workload.XXXXXX")"
cd "$WORK"
# A HOME that is writable whatever the sandbox gives us (git, node, python).
export HOME="$WORK/home"
mkdir -p "$HOME"

T0=$(date +%s.%N)
step() {
    local now
    now=$(date +%s.%N)
    echo "STEP $1 ok"
    echo "# $1 took $(awk -v a="$T0" -v b="$now" 'BEGIN { printf "%.2f", b - a }')s" >&2
    T0=$now
}

fail() {
    echo "FAIL: $*" >&2
    exit 1
}

# --- threads: 8 pthreads (glibc: clone3, falling back to clone on ENOSYS) ---
gcc -std=gnu11 -Wall -Wextra -Werror -O2 -pthread "$SRC_DIR/threads.c" -o threads
out=$(./threads)
[ "$out" = "threads=8 sum=31999996000000" ] || fail "threads printed: $out"
step threads

# --- make + gcc on a small 3-file project, make -j2 ---
mkdir proj
cat > proj/mathx.h <<'EOF'
#ifndef MATHX_H
#define MATHX_H
long triangle(long n);
long square(long n);
#endif
EOF
cat > proj/mathx.c <<'EOF'
#include "mathx.h"
long triangle(long n) { return n * (n + 1) / 2; }
long square(long n) { return n * n; }
EOF
cat > proj/main.c <<'EOF'
#include <stdio.h>
#include "mathx.h"
int main(void)
{
	printf("triangle=%ld square=%ld\n", triangle(100), square(12));
	return 0;
}
EOF
# shellcheck disable=SC2016 # make variables, not shell ones
printf '%s\n' \
    'CC ?= gcc' \
    'CFLAGS ?= -std=gnu11 -Wall -Wextra -Werror -O2' \
    'app: main.o mathx.o' \
    '	$(CC) $(CFLAGS) -o $@ main.o mathx.o' \
    '%.o: %.c mathx.h' \
    '	$(CC) $(CFLAGS) -c -o $@ $<' \
    'clean:' \
    '	rm -f app *.o' > proj/Makefile
make -s -j2 -C proj
out=$(./proj/app)
[ "$out" = "triangle=5050 square=144" ] || fail "proj/app printed: $out"
make -s -q -C proj app || fail "make thinks app is out of date right after building it"
step make

# --- git: init, add, commit, clone over file://, verify ---
GIT=(git -c user.name=workload -c user.email=workload@example.invalid
     -c init.defaultBranch=main -c advice.detachedHead=false)
"${GIT[@]}" init -q repo
echo "hello from the sandbox" > repo/README
mkdir repo/src
cp "$SRC_DIR/threads.c" repo/src/
"${GIT[@]}" -C repo add README src
"${GIT[@]}" -C repo commit -q -m "first commit"
want=$("${GIT[@]}" -C repo rev-parse HEAD)
"${GIT[@]}" clone -q "file://$WORK/repo" clone
got=$("${GIT[@]}" -C clone rev-parse HEAD)
[ "$want" = "$got" ] || fail "clone HEAD $got != $want"
[ "$("${GIT[@]}" -C clone log -1 --format=%s)" = "first commit" ] || fail "clone has wrong message"
cmp -s repo/README clone/README || fail "clone README differs"
"${GIT[@]}" -C clone fsck --no-progress >&2 || fail "git fsck on the clone"
step git

# --- python3: threading, multiprocessing.Pool(2), subprocess ---
python3 "$SRC_DIR/py_work.py" basic
step python

# --- node worker_threads (optional) ---
if command -v node >/dev/null 2>&1; then
    out=$(node "$SRC_DIR/workers.js")
    [ "$out" = "node workers=4 sum=7999998000000" ] || fail "node printed: $out"
    step node
else
    echo "STEP node skipped"
fi

# --- tar czf / tar xzf round trip ---
mkdir -p tarsrc/sub/deeper
for i in $(seq 1 50); do echo "file $i" > "tarsrc/sub/f$i.txt"; done
head -c 200000 /dev/urandom > tarsrc/sub/deeper/random.bin
ln -s ../README tarsrc/link
chmod 0750 tarsrc/sub/deeper
tar czf archive.tgz -C tarsrc .
mkdir tarout
tar xzf archive.tgz -C tarout
diff -r --no-dereference tarsrc tarout || fail "tar round trip differs"
[ "$(stat -c %a tarout/sub/deeper)" = "750" ] || fail "tar lost a mode"
step tar

# --- curl the loopback URL ---
body=$(curl -fsS --max-time 10 "$URL")
if [ -n "$EXPECT" ]; then
    [ "$body" = "$EXPECT" ] || fail "curl body '$body' != '$EXPECT'"
else
    [ -n "$body" ] || fail "curl body is empty"
fi
step curl

# --- memfd_create + membarrier(MEMBARRIER_CMD_QUERY) ---
python3 "$SRC_DIR/py_work.py" memfd
step memfd

# --- write 100 MB ---
dd if=/dev/zero of=big.bin bs=1M count=100 status=none
[ "$(stat -c %s big.bin)" = "104857600" ] || fail "big.bin has the wrong size"
step dd

# --- 10k small files ---
mkdir many
(cd many && seq -f 'f%05.0f' 1 10000 | xargs touch)
n=$(find many -type f | wc -l)
[ "$n" -eq 10000 ] || fail "made $n files, not 10000"
step files

# --- root in a user namespace: ownership and mode changes in the workdir ---
if [ "$ROOT" = 1 ]; then
    [ "$(id -u)" = 0 ] || fail "--root given but uid is $(id -u)"
    echo data > rootfile
    chown 0:0 rootfile
    chmod 0640 rootfile
    [ "$(stat -c '%u:%g:%a' rootfile)" = "0:0:640" ] || fail "rootfile is $(stat -c '%u:%g:%a' rootfile)"
    mkdir rootdir
    chown 0:0 rootdir
    chmod 0700 rootdir
    chmod u+s,g+s rootfile
    [ "$(stat -c '%a' rootfile)" = "6640" ] || fail "setuid/setgid bits not set: $(stat -c %a rootfile)"
    chmod 0644 rootfile
    touch -d '2001-02-03 04:05:06' rootfile
    [ "$(stat -c %Y rootfile)" = "$(date -d '2001-02-03 04:05:06' +%s)" ] || fail "touch -d"
    step root
fi

echo "WORKLOAD OK"
