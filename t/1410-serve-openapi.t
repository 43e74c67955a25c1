#!/bin/bash
# rls serve: serve/openapi.yaml and the server agree on the routes.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib-run.sh"
. "$(dirname "$0")/lib-serve.sh"
serve_test test_openapi.py
