#!/bin/sh
# bin/Runner.Listener of a simulated pod (tests/fleet/, fleet.py). A pod of a large fleet cannot
# afford a Listener of its own talking to the broker (a process and a long poll each), so this
# stand-in only says what the real Listener says once its session is open, and leaves the
# session to the fleet's hub: the file $FLEET_HUB/<runner id> ("<pid> <id>") asks the hub to
# keep the runner online while this process lives, as the Listener's long poll would; removed
# when the Listener is stopped (SIGINT, as the supervisor stops it: its session is deleted).
# A pod SIGKILLed leaves the file behind with a dead pid: its runner goes offline by itself.
root=$(cd "$(dirname "$0")/.." && pwd)
id=$(sed -n 's/.*"AgentId": *\([0-9][0-9]*\).*/\1/p' "$root/.runner")
[ -n "$id" ] || { echo "no AgentId in $root/.runner" >&2; exit 1; }
echo "$$ $id" >"$FLEET_HUB/.$id" && mv "$FLEET_HUB/.$id" "$FLEET_HUB/$id"
sleeper=
trap 'rm -f "$FLEET_HUB/$id"; [ -n "$sleeper" ] && kill "$sleeper" 2>/dev/null; exit 0' INT TERM
# Terminal.WriteLine's prefix (src/Runner.Listener/Program.cs), as the supervisor expects it.
echo "$(date -u '+%Y-%m-%d %H:%M:%SZ'): Listening for Jobs"
while :; do
	sleep 3600 &
	sleeper=$!
	wait "$sleeper"
done
