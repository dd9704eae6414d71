#!/bin/bash
# Fake bin/runsvc.sh: the service entry point of the real runner; runs the listener.
cd "$(dirname "$0")/.." || exit 1
exec ./bin/Runner.Listener run --startuptype service "$@"
