#!/bin/bash
# Fake actions/runner run.sh: copies run-helper.sh.template to run-helper.sh and restarts it
# while it exits 2; any other code ends the loop (0, or 7 with
# ACTIONS_RUNNER_RETURN_VERSION_DEPRECATED_EXIT_CODE=1). With RUNNER_MANUALLY_TRAP_SIG set it
# runs the helper as a job and forwards SIGINT/SIGTERM to it as SIGINT.

SOURCE="${BASH_SOURCE[0]}"
while [ -h "$SOURCE" ]; do
    DIR="$(cd -P "$(dirname "$SOURCE")" && pwd)"
    SOURCE="$(readlink "$SOURCE")"
    [[ $SOURCE != /* ]] && SOURCE="$DIR/$SOURCE"
done
DIR="$(cd -P "$(dirname "$SOURCE")" && pwd)"

run() {
    while :; do
        cp -f "$DIR"/run-helper.sh.template "$DIR"/run-helper.sh
        "$DIR"/run-helper.sh "$@"
        returnCode=$?
        if [[ $returnCode -eq 2 ]]; then
            echo "Restarting runner..."
        elif [[ "$ACTIONS_RUNNER_RETURN_VERSION_DEPRECATED_EXIT_CODE" == "1" && $returnCode -eq 7 ]]; then
            echo "Exiting runner..."
            exit "$returnCode"
        else
            echo "Exiting runner..."
            exit 0
        fi
    done
}

runWithManualTrap() {
    set -m
    trap 'kill -INT -$PID' INT TERM
    while :; do
        cp -f "$DIR"/run-helper.sh.template "$DIR"/run-helper.sh
        "$DIR"/run-helper.sh "$@" &
        PID=$!
        wait $PID
        returnCode=$?
        if [[ $returnCode -eq 2 ]]; then
            echo "Restarting runner..."
        elif [[ "$ACTIONS_RUNNER_RETURN_VERSION_DEPRECATED_EXIT_CODE" == "1" && $returnCode -eq 7 ]]; then
            echo "Exiting runner..."
            exit "$returnCode"
        else
            echo "Exiting runner..."
            trap - INT TERM
            wait $PID
            exit $returnCode
        fi
    done
}

if [[ -z "$RUNNER_MANUALLY_TRAP_SIG" ]]; then
    run "$@"
else
    runWithManualTrap "$@"
fi
