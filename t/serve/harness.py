"""t/serve/harness.py - TAP for the rls serve tests, and a real server.

    from harness import *
    srv = Server()              # rls serve on a socket in $T, state in $T
    ok(cond, "sentence")        # one TAP case; raises(...) for errors
    done()

The server is the build's rls ($RLS), with XDG_STATE_HOME and TMPDIR in
the test's scratch directory $T so that no_leftovers (t/lib-run.sh) sees
everything it made.
"""
import atexit
import json
import os
import signal
import socket
import subprocess
import sys
import time
import traceback

sys.path.insert(0, os.path.join(os.environ["RLS_SRC"], "sdk", "python"))

import rls  # noqa: E402

T = os.environ["T"]
RLS = os.environ["RLS"]
_n = 0
_failed = 0


def ok(cond, desc, detail=None):
    global _n, _failed
    _n += 1
    print(("ok %d - %s" if cond else "not ok %d - %s") % (_n, desc), flush=True)
    if not cond:
        _failed += 1
        if detail is not None:
            for line in str(detail).splitlines()[:20]:
                print("#   " + line, flush=True)
    return cond


def is_(got, want, desc):
    return ok(got == want, desc, "got:  %r\nwant: %r" % (got, want))


def raises(fn, status, field, desc):
    """fn() must raise RlsError with this HTTP status and field."""
    try:
        r = fn()
    except rls.RlsError as e:
        return ok(e.status == status and e.field == field, desc,
                  "got %d field %r: %s" % (e.status, e.field, e.message))
    except Exception:
        return ok(False, desc, traceback.format_exc())
    return ok(False, desc, "no error; got %r" % (r,))


def done():
    print("1..%d" % _n, flush=True)
    sys.exit(1 if _failed else 0)


def mk_src(d):
    """The tree of t/lib-run.sh's mk_src: .env (secret), src/, output/."""
    os.makedirs(os.path.join(d, "src", "pkg"), exist_ok=True)
    os.makedirs(os.path.join(d, "output"), exist_ok=True)
    for name, text in ((".env", "API_KEY=fake-secret\n"), ("src/main.py", 'print("hello")\n'),
                       ("src/pkg/mod.py", "x = 1\n"), ("output/.keep", "keep\n")):
        with open(os.path.join(d, name), "w") as f:
            f.write(text)
    return d


def leftovers(wait=15):
    """rlsfs mounts or processes of this test still there after `wait`
    seconds (empty when all is clean)."""
    end = time.monotonic() + wait
    while True:
        found = []
        with open("/proc/self/mountinfo") as f:
            found += ["mount " + l.split()[4] for l in f if " fuse.rlsfs " in l and T in l]
        for pid in os.listdir("/proc"):
            if pid.isdigit():
                try:
                    with open("/proc/%s/cmdline" % pid, "rb") as f:
                        cmd = f.read().replace(b"\0", b" ").decode("utf-8", "replace")
                except OSError:
                    continue
                if T in cmd and ("rlsfs" in cmd or " run " in cmd) and int(pid) != os.getpid():
                    found.append("process %s: %s" % (pid, cmd[:200]))
        if not found or time.monotonic() > end:
            return found
        time.sleep(0.1)


class Server:
    """rls serve, started and waited for; stop() sends SIGTERM."""

    def __init__(self, *args, state=None, sock=None, wait=True):
        self.sock = sock or os.path.join(T, "serve.sock")
        self.state = state or os.path.join(T, "state")
        self.env = dict(os.environ, XDG_STATE_HOME=self.state, TMPDIR=os.path.join(T, "tmp"))
        self.env.pop("RLS_SERVE_SOCKET", None)
        os.makedirs(self.env["TMPDIR"], exist_ok=True)
        self.args = list(args) if args else ["--socket", self.sock]
        self.log = open(os.path.join(T, "serve.log"), "ab")
        self.p = subprocess.Popen([RLS, "serve"] + self.args, env=self.env, stdout=self.log,
                                  stderr=self.log)
        self.client = rls.Client(self.sock, timeout=120)
        # A test that dies half-way takes its server with it.
        atexit.register(lambda p=self.p: p.poll() is None and (p.kill(), p.wait()))
        if wait:
            self.wait_up()

    def wait_up(self, seconds=30):
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            if self.p.poll() is not None:
                raise RuntimeError("rls serve exited with %d: %s" % (self.p.returncode, self.logtext()))
            try:
                self.client.health()
                return
            except (OSError, rls.RlsError):
                time.sleep(0.05)
        raise RuntimeError("rls serve did not answer: " + self.logtext())

    def logtext(self):
        with open(os.path.join(T, "serve.log"), "rb") as f:
            return f.read().decode("utf-8", "replace")

    def stop(self, sig=signal.SIGTERM, timeout=60):
        self.p.send_signal(sig)
        try:
            return self.p.wait(timeout)
        except subprocess.TimeoutExpired:
            self.p.kill()
            return self.p.wait()


def raw(sock, request, uid=None):
    """Send bytes on the socket, return (status, body) of the answer."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(30)
    s.connect(sock)
    s.sendall(request)
    data = b""
    while True:
        try:
            chunk = s.recv(65536)
        except (ConnectionResetError, BrokenPipeError):
            break
        if not chunk:
            break
        data += chunk
        if b"\r\n\r\n" in data:
            head, _, body = data.partition(b"\r\n\r\n")
            length = [l for l in head.split(b"\r\n") if l.lower().startswith(b"content-length:")]
            if length and len(body) >= int(length[0].split(b":")[1]):
                break
    s.close()
    head, _, body = data.partition(b"\r\n\r\n")
    status = int(head.split(b" ")[1]) if head else 0
    try:
        return status, json.loads(body)
    except ValueError:
        return status, body
