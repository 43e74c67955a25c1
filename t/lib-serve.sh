# t/lib-serve.sh - the rls serve tests (t/14*), after lib.sh and lib-run.sh:
# each is a Python script in t/serve/ that starts a real `rls serve`
# (t/serve/harness.py) and speaks TAP.
#
#   serve_test SCRIPT     run t/serve/SCRIPT, or skip all saying why not

serve_test() {
	need_fuse
	need_bwrap
	command -v python3 >/dev/null || skip_all "python3 is not installed"
	export T TMPDIR=$T/tmp
	mkdir -p "$TMPDIR"
	PYTHONPATH=$RLS_SRC/t/serve timeout 600 python3 -B "$RLS_SRC/t/serve/$1"
}
