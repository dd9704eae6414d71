#!/bin/bash
# Fake actions/runner config.sh: the real one's checks and hand-off, without the .NET
# dependency checks (there is no .NET here).

user_id=$(id -u)

# the real config.sh refuses root unless RUNNER_ALLOW_RUNASROOT is set (the binaries do not)
if [ "$user_id" -eq 0 ] && [ -z "$RUNNER_ALLOW_RUNASROOT" ]; then
    echo "Must not run with sudo"
    exit 1
fi

# work from the directory this script lives in (symlinks resolved)
SOURCE="${BASH_SOURCE[0]}"
while [ -h "$SOURCE" ]; do
    DIR="$(cd -P "$(dirname "$SOURCE")" && pwd)"
    SOURCE="$(readlink "$SOURCE")"
    [[ $SOURCE != /* ]] && SOURCE="$DIR/$SOURCE"
done
DIR="$(cd -P "$(dirname "$SOURCE")" && pwd)"
cd "$DIR" || exit 1

# snapshot the configuring user's environment into .env and .path
source ./env.sh

shopt -s nocasematch
if [[ "$1" == "remove" ]]; then
    ./bin/Runner.Listener "$@"
else
    ./bin/Runner.Listener configure "$@"
fi
