#!/bin/bash
# Fake actions/runner safe_sleep.sh: sleep $1 seconds with whatever the system has.

if [ -x "$(command -v sleep)" ]; then
    sleep "$1"
    exit 0
fi

SECONDS=0
while [[ $SECONDS -lt $1 ]]; do
    read -t 1 -u 0 || :
done
