#!/bin/bash
# rls serve: sandboxes closed on SIGTERM, after kill -9 and restart, and when idle.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib-run.sh"
. "$(dirname "$0")/lib-serve.sh"
serve_test test_lifecycle.py
