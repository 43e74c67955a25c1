"""rls serve's HTTP face: who may connect, bad requests (4xx naming the
field), bounded bodies, paths that try to climb out."""
import os
import socket
import stat
import subprocess

from harness import *  # noqa: F401,F403

srv = Server("--socket", os.path.join(T, "serve.sock"), "--max-body", "64K")
sock = srv.sock
S = mk_src(os.path.join(T, "src"))


def req(method, path, body=b"", headers=""):
    if isinstance(body, str):
        body = body.encode()
    return raw(sock, ("%s %s HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: %d\r\n%s\r\n"
                      % (method, path, len(body), headers)).encode() + body)


is_(stat.S_IMODE(os.stat(sock).st_mode), 0o600, "the socket is mode 0600")

# Another uid: the socket's mode stops it; opened up, the peer check does.
os.chmod(sock, 0o666)
probe = ("import socket,sys; s=socket.socket(socket.AF_UNIX); s.connect(sys.argv[1]); "
         "s.sendall(b'GET /v1/sandboxes HTTP/1.1\\r\\nHost: x\\r\\nConnection: close\\r\\n\\r\\n'); "
         "print(s.recv(4096).split(b' ')[1].decode())")
if os.geteuid() == 0:
    p = subprocess.run(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "python3", "-c", probe, sock],
                       capture_output=True, text=True, timeout=30)
    is_(p.stdout.strip(), "403", "a peer of another uid is refused (403) even when it can connect")
else:
    ok(True, "# skip a peer of another uid: needs root to become one")
os.chmod(sock, 0o600)

st, b = req("POST", "/v1/sandboxes", "{not json")
ok(st == 400 and b["field"] == "body", "a body that is not JSON is a 400 naming the body", (st, b))
st, b = req("POST", "/v1/sandboxes", "[1]")
ok(st == 400 and b["field"] == "body", "a body that is not an object is a 400", (st, b))
st, b = req("POST", "/v1/sandboxes", '{"path": "%s", "colour": "red"}' % S)
ok(st == 400 and "colour" in b["error"], "an unknown field is named, not ignored", (st, b))
st, b = req("POST", "/v1/sandboxes", '{}')
ok(st == 400 and b["field"] == "path", "a missing path is a 400 naming path", (st, b))
st, b = req("POST", "/v1/sandboxes", '{"path": "relative/dir"}')
ok(st == 400 and b["field"] == "path", "a relative path is refused", (st, b))
st, b = req("POST", "/v1/sandboxes", '{"path": "%s", "network": "wide"}' % S)
ok(st == 400 and b["field"] == "network", "a bad network is named", (st, b))
st, b = req("POST", "/v1/sandboxes", '{"path": "%s", "limits": {"memory": "lots"}}' % S)
ok(st == 400 and b["field"] == "memory", "a bad limit is named", (st, b))
st, b = req("POST", "/v1/sandboxes", '{"path": "%s", "policy": "%s/nope.yml"}' % (S, T))
ok(st == 400 and b["field"] == "policy", "a policy file that cannot be read is refused", (st, b))
st, b = req("POST", "/v1/sandboxes", '{"path": "%s", "backend": "../../bin/sh"}' % S)
ok(st == 400 and b["field"] == "backend", "a backend that is not a name is refused", (st, b))

st, sb = req("POST", "/v1/sandboxes", '{"path": "%s", "limits": {"pids": 64}}' % S)
is_(st, 201, "a good request makes a sandbox (201)")
sid = sb["id"]
base = "/v1/sandboxes/" + sid
st, b = req("POST", base + "/exec", '{"argv": ["true"], "command": "true"}')
ok(st == 400 and b["field"] == "argv", "argv and command together are refused", (st, b))
st, b = req("POST", base + "/exec", '{"argv": ["a", 1]}')
ok(st == 400 and b["field"] == "argv", "an argv with a number in it is refused", (st, b))
st, b = req("POST", base + "/exec", '{"command": "true", "timeout": -1}')
ok(st == 400 and b["field"] == "timeout", "a negative timeout is refused", (st, b))
st, b = req("POST", base + "/exec", '{"command": "true", "env": {"BAD NAME": "x"}}')
ok(st == 400 and b["field"] == "env", "a bad environment name is refused", (st, b))
st, b = req("POST", base + "/exec", '{"command": "true", "cwd": "../.."}')
ok(st == 400 and b["field"] == "cwd", "a cwd that climbs out is refused", (st, b))
st, b = req("POST", base + "/exec", '{"command": "pwd", "cwd": "src"}')
ok(st == 200 and b["stdout"] == "/workspace/src\n", "a cwd inside the tree is taken", (st, b))
st, b = req("POST", base + "/exec", '{"command": "%s"}' % ("x" * 40000))
ok(st == 200 and b["exit_status"] == 127, "a long command line runs (not found here)", (st, b.get("error") if isinstance(b, dict) else b))
st, b = req("POST", base + "/exec", '{"command": "%s"}' % ("x" * 70000))
ok(st == 413 and b["field"] == "body", "a body past --max-body is refused before it is parsed", (st, b))
st, b = req("POST", base + "/exec", '{"command": "true", "max_output": 999999999}')
ok(st == 400 and b["field"] == "max_output", "max_output beyond 16 MiB is refused", (st, b))

for p in ("../etc/passwd", "src/../../etc/passwd", "..", "%2e%2e/etc/passwd"):
    st, b = req("GET", base + "/files?path=" + p)
    ok(st == 400 and b["field"] == "path", "file path %s is refused" % p, (st, b))
st, b = req("GET", base + "/files")
ok(st == 400 and b["field"] == "path", "a file request without path names it", (st, b))
# Symlinks resolve inside the sandbox: one to /etc/passwd reads the
# sandbox's view, never the host file through the server.
os.symlink("/etc/shadow", os.path.join(S, "output", "link"))
st, b = req("GET", base + "/files?path=output/link")
ok(st != 200 or b"root:" not in b, "a symlink to a host file does not reach the host's file", (st, b[:80] if isinstance(b, bytes) else b))
os.unlink(os.path.join(S, "output", "link"))
st, b = req("GET", base + "/files?path=/output/.keep")
ok(st == 200 and b == b"keep\n", "a leading / means the tree's root", (st, b))

big = b"x" * (65 * 1024)
st, b = req("PUT", base + "/files?path=output/big", big)
ok(st == 413 and b["field"] == "body", "a body past --max-body is refused (413)", (st, b))
st, b = req("GET", base + "/files?path=output/big")
is_(st, 404, "and nothing of it was written")

st, b = req("GET", "/v1/nothing")
ok(st == 404 and b["field"] == "route", "an unknown route is a 404 naming the route", (st, b))
st, b = req("PATCH", "/v1/sandboxes")
ok(st == 405 and b["field"] == "method", "a known route with a wrong method is a 405", (st, b))
st, b = req("GET", "/v1/sandboxes/sb-nope")
ok(st == 404 and b["field"] == "id", "an unknown sandbox is a 404 naming id", (st, b))
st, b = req("DELETE", base + "?delta=maybe")
ok(st == 400 and b["field"] == "delta", "DELETE with a bad delta choice is refused", (st, b))
st, b = req("POST", base + "/commit", '{"on_conflict": "mine"}')
ok(st == 400 and b["field"] == "on_conflict", "commit with a bad on_conflict is refused", (st, b))
st, b = req("GET", base + "/events?since=-1")
ok(st == 400 and b["field"] == "since", "events with a bad since is refused", (st, b))
st, b = req("DELETE", base)
is_(st, 200, "DELETE closes the sandbox")
is_(srv.stop(), 0, "the server stops")

# Loopback TCP with a bearer token.
tok = os.path.join(T, "token")
with open(tok, "w") as f:
    f.write("0123456789abcdef0123456789abcdef\n")
os.chmod(tok, 0o600)
st2 = os.path.join(T, "state2")
p = subprocess.run([RLS, "serve", "--listen", "10.0.0.1:1", "--token-file", tok], capture_output=True, text=True,
                   env=dict(os.environ, XDG_STATE_HOME=st2), timeout=30)
ok(p.returncode == 2 and "loopback" in p.stderr, "--listen refuses an address that is not loopback", p.stderr)
p = subprocess.run([RLS, "serve", "--listen", "127.0.0.1:1"], capture_output=True, text=True,
                   env=dict(os.environ, XDG_STATE_HOME=st2), timeout=30)
ok(p.returncode == 2 and "--token-file" in p.stderr, "--listen without a token file is refused", p.stderr)
os.chmod(tok, 0o644)
p = subprocess.run([RLS, "serve", "--listen", "127.0.0.1:1", "--token-file", tok], capture_output=True, text=True,
                   env=dict(os.environ, XDG_STATE_HOME=st2), timeout=30)
ok(p.returncode != 0 and "chmod 600" in p.stderr, "a token file others can read is refused", p.stderr)
os.chmod(tok, 0o600)

s = socket.socket()
s.bind(("127.0.0.1", 0))
port = s.getsockname()[1]
s.close()
tcp = Server("--listen", "127.0.0.1:%d" % port, "--token-file", tok, state=st2, wait=False)
tcp.client = rls.Client(url="http://127.0.0.1:%d" % port, token="0123456789abcdef0123456789abcdef")
tcp.wait_up()
bad = rls.Client(url="http://127.0.0.1:%d" % port, token="0123456789abcdef0123456789abcdeX")
raises(bad.sandboxes, 401, None, "a wrong token is refused (401)")
raises(rls.Client(url="http://127.0.0.1:%d" % port).sandboxes, 401, None, "no token is refused (401)")
is_(tcp.client.sandboxes(), [], "the right token is let in")
is_(tcp.stop(), 0, "the TCP server stops")
done()
