#!/bin/bash
# rls serve over HTTP: peers, tokens, bad requests, bounded bodies, paths.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib-run.sh"
. "$(dirname "$0")/lib-serve.sh"
serve_test test_api.py
