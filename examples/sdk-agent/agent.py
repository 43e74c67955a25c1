#!/usr/bin/env python3
"""A small agent on the rls Python SDK: it works on a copy-on-write view of a
folder through `rls serve`, keeps a shell session, reads and writes files,
runs the project's check, and commits only when the check passes.

    rls serve &                                   # as the same user
    PYTHONPATH=sdk/python python3 examples/sdk-agent/agent.py examples/agent-demo

(or `pip install ./sdk/python` first).  Nothing reaches the folder unless
the agent commits; the policy (agent-safe by default) decides what it may
see and write: .env does not exist for it, src/ is read-only, output/ is
writable.
"""
import argparse
import sys

from rls import RlsError, Sandbox


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("folder", help="the project to work on")
    ap.add_argument("--preset", default="agent-safe")
    ap.add_argument("--backend", default="bwrap")
    ap.add_argument("--socket", help="rls serve's socket (default: where rls serve listens)")
    args = ap.parse_args()

    from rls import Client
    client = Client(args.socket) if args.socket else None
    with Sandbox.from_local(args.folder, preset=args.preset, backend=args.backend, client=client) as sb:
        # Look around, as an agent's file tools would: no shell needed.
        names = [e["name"] + ("/" if e["type"] == "directory" else "") for e in sb.list_files("")]
        print("agent: the tree shows", " ".join(sorted(names)))
        try:
            sb.read_file(".env")
            print("agent: read .env (the policy let it)")
        except RlsError as e:
            print("agent: .env:", e.message)

        # A session: the working directory and exported variables stay.
        sh = sb.session()
        sh.exec("cd src && export LINES_SEEN=$(cat *.py | wc -l)")
        r = sh.exec('echo "$(pwd): $LINES_SEEN lines of Python"')
        print("agent:", r.stdout.strip())

        # Try to change code it may only read: the policy refuses.
        try:
            sb.write_file("src/app.py", "print('rewritten')\n")
        except RlsError as e:
            print("agent: rewriting src/app.py:", e.message)

        # Do the work where it may write, then check it.
        sb.write_file("output/summary.md", "# Summary\n\n%s\n" % r.stdout.strip())
        check = sb.run(["sh", "-c", "test -s output/summary.md && grep -q Summary output/summary.md"])
        print("agent: check", "passed" if check.ok else "failed (%d)" % check.exit_status)

        for change in sb.diff()["changes"]:
            print("agent: %-8s %s" % (change["change"], change["path"]))
        if check.ok:
            res = sb.commit()
            print("agent: committed %d added, %d modified" % (res["added"], res["modified"]))
        else:
            sb.discard()
            print("agent: discarded")
        denials = [e["audit"]["path"] for e in sb.events() if e["type"] == "denial"]
        print("agent: the policy denied:", ", ".join(sorted(set(denials))) or "nothing")
    return 0


if __name__ == "__main__":
    sys.exit(main())
