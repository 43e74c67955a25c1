#!/usr/bin/env python3
"""t/perf/bench-serve.py - rls serve under load (make perf; not a test).

50 concurrent execs over 10 sandboxes, then 1,000 mixed requests (exec,
session exec, file write / read / list / stat, diff, get, list, events)
from 16 threads; then the latency of a trivial exec (`true`) through the
server against `rls run -- true`, sequentially.  Checks that nothing
failed and nothing leaked (rlsfs mounts and processes, the server's open
descriptors and threads) and prints p50 / p95 / p99.  Exits 1 when
something failed or leaked; the figures are only reported.

    RLS_BUILD=build RLS_SRC=. python3 t/perf/bench-serve.py
"""
import concurrent.futures as cf
import os
import random
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time

SRC = os.environ.get("RLS_SRC") or os.path.join(os.path.dirname(__file__), "..", "..")
BUILD = os.environ.get("RLS_BUILD") or os.path.join(SRC, "build")
sys.path.insert(0, os.path.join(SRC, "sdk", "python"))
import rls  # noqa: E402

RLS = os.path.abspath(os.path.join(BUILD, "rls"))
N_TRIVIAL = int(os.environ.get("N_TRIVIAL", "40"))


def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(p / 100 * (len(xs) - 1))))]


def fmt(xs):
    return "p50 %6.1f ms  p95 %6.1f ms  p99 %6.1f ms  (n=%d)" % (
        pct(xs, 50) * 1e3, pct(xs, 95) * 1e3, pct(xs, 99) * 1e3, len(xs))


def leftovers(tmp, server_pid=None):
    found = []
    with open("/proc/self/mountinfo") as f:
        found += ["mount " + l.split()[4] for l in f if " fuse.rlsfs " in l and tmp in l]
    for pid in os.listdir("/proc"):
        if pid.isdigit() and int(pid) != server_pid:
            try:
                with open("/proc/%s/cmdline" % pid, "rb") as f:
                    cmd = f.read().replace(b"\0", b" ").decode("utf-8", "replace")
            except OSError:
                continue
            if tmp in cmd and ("rlsfs" in cmd or " run " in cmd):
                found.append("process " + cmd[:120])
    return found


def main():
    tmp = tempfile.mkdtemp(prefix="rls-bench-serve.")
    os.chmod(tmp, 0o755)
    src = os.path.join(tmp, "src")
    os.makedirs(os.path.join(src, "output"))
    os.makedirs(os.path.join(src, "src"))
    for i in range(20):
        with open(os.path.join(src, "src", "f%d.txt" % i), "w") as f:
            f.write("line %d\n" % i)
    env = dict(os.environ, XDG_STATE_HOME=os.path.join(tmp, "state"), TMPDIR=os.path.join(tmp, "tmp"))
    os.makedirs(env["TMPDIR"])
    sock = os.path.join(tmp, "serve.sock")
    log = open(os.path.join(tmp, "serve.log"), "wb")
    p = subprocess.Popen([RLS, "serve", "--socket", sock, "--idle-timeout", "0"], env=env, stderr=log)
    c = rls.Client(sock)
    for _ in range(300):
        try:
            c.health()
            break
        except OSError:
            time.sleep(0.05)
    errors = []
    fds = lambda: len(os.listdir("/proc/%d/fd" % p.pid))  # noqa: E731
    threads = lambda: len(os.listdir("/proc/%d/task" % p.pid))  # noqa: E731
    fd0, th0 = fds(), threads()

    boxes = [rls.Sandbox.from_local(src, client=c) for _ in range(10)]

    # 50 concurrent execs over 10 sandboxes.
    def one(i):
        sb = boxes[i % 10]
        t = time.monotonic()
        r = sb.run("echo %d > output/run-%d && cat src/f%d.txt" % (i, i, i % 20))
        if r.exit_status != 0 or r.stdout != "line %d\n" % (i % 20):
            errors.append("exec %d: %r" % (i, r))
        return time.monotonic() - t

    t0 = time.monotonic()
    with cf.ThreadPoolExecutor(50) as ex:
        lat50 = list(ex.map(one, range(50)))
    wall50 = time.monotonic() - t0

    # 1,000 mixed requests from 16 threads.
    sessions = [sb.session() for sb in boxes]
    kinds = ["exec", "session", "write", "read", "list", "stat", "diff", "get", "list-sandboxes", "events"]
    lat = {k: [] for k in kinds}

    def mixed(i):
        k = kinds[i % len(kinds)]
        j = random.randrange(10)
        sb = boxes[j]
        t = time.monotonic()
        try:
            if k == "exec":
                ok = sb.run(["true"]).ok
            elif k == "session":
                ok = sessions[j].exec("cd src; export N=%d; echo $N" % i).stdout == "%d\n" % i
            elif k == "write":
                sb.write_file("output/w-%d" % i, b"x" * 1024)
                ok = True
            elif k == "read":
                ok = sb.read_file("src/f%d.txt" % (i % 20)) == b"line %d\n" % (i % 20)
            elif k == "list":
                ok = len(sb.list_files("src")) == 20
            elif k == "stat":
                ok = sb.stat("src/f1.txt")["size"] == 7
            elif k == "diff":
                ok = isinstance(sb.diff()["changes"], list)
            elif k == "get":
                ok = c.request("GET", "/v1/sandboxes/" + sb.id)["id"] == sb.id
            elif k == "list-sandboxes":
                ok = len(c.sandboxes()) == 10
            else:
                ok = len(list(sb.events())) > 0
        except Exception as e:  # noqa: BLE001
            ok = False
            errors.append("%s %d: %s" % (k, i, e))
        if not ok:
            errors.append("%s %d: wrong answer" % (k, i))
        lat[k].append(time.monotonic() - t)

    t0 = time.monotonic()
    with cf.ThreadPoolExecutor(16) as ex:
        list(ex.map(mixed, range(1000)))
    wall1000 = time.monotonic() - t0

    for s in sessions:
        s.close()
    for sb in boxes:
        sb.close(keep_delta=False)
    time.sleep(1)
    fd1, th1 = fds(), threads()

    # A trivial exec: through the server, and as rls run.
    with rls.Sandbox.from_local(src, client=c) as sb:
        serve_lat = []
        for _ in range(N_TRIVIAL):
            t = time.monotonic()
            sb.run(["true"])
            serve_lat.append(time.monotonic() - t)
    run_lat = []
    for _ in range(N_TRIVIAL):
        t = time.monotonic()
        subprocess.run([RLS, "run", "--quiet", "--source", src, "--", "true"], env=env, check=True)
        run_lat.append(time.monotonic() - t)

    p.send_signal(signal.SIGTERM)
    rc = p.wait(60)
    left = leftovers(tmp)
    state_left = os.listdir(os.path.join(tmp, "state", "rls", "serve", "sandboxes"))
    deltas_left = os.listdir(os.path.join(tmp, "state", "rls", "deltas")) if os.path.isdir(
        os.path.join(tmp, "state", "rls", "deltas")) else []

    print("bench-serve: 50 concurrent execs over 10 sandboxes: %.2f s wall; %s" % (wall50, fmt(lat50)))
    print("bench-serve: 1,000 mixed requests, 16 threads: %.2f s wall (%.0f req/s)" % (wall1000, 1000 / wall1000))
    for k in kinds:
        print("bench-serve:   %-15s %s" % (k, fmt(lat[k])))
    print("bench-serve: trivial exec through rls serve: %s" % fmt(serve_lat))
    print("bench-serve: rls run -- true:                %s" % fmt(run_lat))
    print("bench-serve: ratio of medians serve/run: %.2f" % (pct(serve_lat, 50) / pct(run_lat, 50)))
    print("bench-serve: server fds %d -> %d, threads %d -> %d; exit status %d" % (fd0, fd1, th0, th1, rc))
    bad = errors[:10] + left + ["state file " + s for s in state_left] + ["delta " + d for d in deltas_left]
    if fd1 > fd0 or th1 > th0:
        bad.append("the server holds more descriptors or threads than before")
    if rc != 0:
        bad.append("the server exited with %d" % rc)
    for b in bad:
        print("bench-serve: FAIL: " + b)
    print("bench-serve: %d errors, %d leftovers" % (len(errors), len(bad) - len(errors[:10])))
    if not bad:
        shutil.rmtree(tmp, ignore_errors=True)
    else:
        print("bench-serve: kept " + tmp)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
