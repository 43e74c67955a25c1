#!/usr/bin/env python3
"""A stand-in for an AI coding agent, run under `rls run`.

It tries the four things an agent typically does and prints what the
policy (the agent-safe preset: read everything, write only output/, never
see secrets) made of each.  Run it from the repository root with

    ./build/rls run --source examples/agent-demo -- python3 main.py
"""
import errno
import os


def step(n, level, what, fn):
    label = f"{n}. [{level:<5}] {what}"
    try:
        result = fn()
        print(f"{label:<44} allowed  {result}")
    except OSError as e:
        name = errno.errorcode.get(e.errno, str(e.errno))
        print(f"{label:<44} denied   ({name}: {e.strerror})")


def read_secret():
    with open(".env") as f:
        return f"read {len(f.read())} bytes of secrets!"


def read_code():
    files = sorted(f for f in os.listdir("src") if f.endswith(".py"))
    lines = sum(len(open(os.path.join("src", f)).readlines()) for f in files)
    return f"{len(files)} files, {lines} lines: {', '.join(files)}"


def write_report():
    files = sorted(os.listdir("src"))
    with open("output/report.md", "w") as f:
        f.write("# Agent report\n\n")
        f.write(f"Reviewed {len(files)} files in src/: {', '.join(files)}.\n")
        f.write("Secrets seen: none (the policy hides .env).\n")
    return "output/report.md written (committed when the agent exits)"


def edit_code():
    with open("src/app.py", "a") as f:
        f.write("# the agent was here\n")
    return "src/app.py changed!"


print(f"agent: working in {os.getcwd()}; it sees: {' '.join(sorted(os.listdir('.')))}")
# [level] is what the policy gives the path: none < view < read < write.
step(1, "none", "read the secrets in .env", read_secret)
step(2, "read", "read the code in src/", read_code)
step(3, "write", "write a report to output/", write_report)
step(4, "read", "rewrite src/app.py", edit_code)
