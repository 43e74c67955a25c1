#!/bin/bash
# pip install ./sdk/python works offline, and gives the rls package.
. "$(dirname "$0")/lib.sh"
# Debian's python3 first: make deps gives it pip, setuptools and wheel,
# which a python3 of another origin earlier in PATH may lack.
PY=$(command -v /usr/bin/python3 python3 | head -1)
[ -n "$PY" ] || skip_all "python3 is not installed"
"$PY" -m pip --version >/dev/null 2>&1 || skip_all "pip is not installed (python3-pip)"
"$PY" -c 'import setuptools, wheel' 2>/dev/null || skip_all "setuptools or wheel missing (python3-setuptools, python3-wheel)"
plan 3
export T
# A copy: the build leaves its files beside the sources.
cp -r "$RLS_SRC/sdk/python" "$T/sdk"
ok "pip installs the SDK without the network" \
	env PIP_NO_INDEX=1 PIP_DISABLE_PIP_VERSION_CHECK=1 "$PY" -m pip install -q --no-build-isolation \
	--no-index --target "$T/site" "$T/sdk"
out=$(cd "$T" && PYTHONPATH=$T/site "$PY" -c 'import rls, os; print(rls.__file__.startswith(os.environ["T"] + "/site/"), rls.Sandbox.from_local.__name__)' 2>&1)
is "$out" "True from_local" "the installed package is rls, with Sandbox.from_local"
ok "it carries its type information (py.typed)" test -f "$T/site/rls/py.typed"
