#!/bin/bash
# rls serve driven through the Python SDK (sdk/python), end to end.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib-run.sh"
. "$(dirname "$0")/lib-serve.sh"
serve_test test_sdk.py
