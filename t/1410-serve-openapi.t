#!/bin/bash
# rls serve driven : serve/openapi.yaml and the server agree on the routes.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib-run.sh"
need_fuse
need_bwrap
command -v python3 >/dev/null || skip_all "python3 is not installed"
export T TMPDIR=$T/tmp
mkdir -p "$TMPDIR"
PYTHONPATH=$RLS_SRC/t/serve timeout 600 python3 -B "$RLS_SRC/t/serve/test_openapi.py"
