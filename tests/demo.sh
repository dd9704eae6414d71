#!/bin/sh
# `make demo`: shows the supervisor at work. The whole runner lifecycle against the bundled
# fake GitHub and fake runner arrives with the lifecycle issue; until then this shows
# `exec` as PID 1 of a fresh PID namespace, reaping an orphan and tearing down a daemon that
# the command left behind.
set -eu
BIN=${BIN:-build/runner-supervisor}
echo "== runner-supervisor demo"
echo "   (the full runner lifecycle demo arrives with the lifecycle issue; this is 'exec' as PID 1)"
echo
echo "\$ unshare --pid --fork --mount-proc $BIN exec -- sh -c '...'"
echo "  the command starts an orphan and a setsid daemon that ignores SIGTERM, then exits 3"
echo
set +e
SUPERVISOR_LOG_FORMAT=text SUPERVISOR_STOP_GRACE=2 \
	unshare --pid --fork --mount-proc --kill-child "$BIN" exec -- sh -c '
		(sleep 0.1 &)                                   # an orphan, reparented to PID 1
		setsid sh -c "trap \"\" TERM; sleep 600" &      # a daemon that ignores SIGTERM
		sleep 0.3
		echo "command: my parent is pid $PPID; exiting with 3"
		exit 3'
code=$?
set -e
echo
echo "== the supervisor exited with $code (the command's status), and nothing is left behind"
