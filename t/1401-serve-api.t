#!/bin/bash
# rls serve driven over HTTP: peers, tokens, bad requests, bounded bodies, paths.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib-run.sh"
need_fuse
need_bwrap
command -v python3 >/dev/null || skip_all "python3 is not installed"
export T TMPDIR=$T/tmp
mkdir -p "$TMPDIR"
PYTHONPATH=$RLS_SRC/t/serve timeout 600 python3 -B "$RLS_SRC/t/serve/test_api.py"
