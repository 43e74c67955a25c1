"""serve/openapi.yaml and the server list the same routes, and every route
the document names is answered."""
import os
import re
import subprocess

from harness import *  # noqa: F401,F403

doc = set()
path = None
with open(os.path.join(os.environ["RLS_SRC"], "serve", "openapi.yaml")) as f:
    in_paths = False
    for line in f:
        if line.startswith("paths:"):
            in_paths = True
            continue
        if not in_paths:
            continue
        m = re.match(r"^  (/\S+):\s*$", line)
        if m:
            path = m.group(1)
        m = re.match(r"^    (get|put|post|delete|patch):\s*$", line)
        if m and path:
            doc.add("%s %s" % (m.group(1).upper(), path))
ok(len(doc) > 10, "the document lists its routes", doc)

p = subprocess.run([RLS, "serve", "--list-routes"], capture_output=True, text=True, timeout=30)
served = set(p.stdout.split("\n")) - {""}
is_(sorted(served - doc), [], "every route the server has is in the document")
is_(sorted(doc - served), [], "every route in the document is the server's")

srv = Server()
S = mk_src(os.path.join(T, "src"))
sid = srv.client.request("POST", "/v1/sandboxes", {"path": S})["id"]
sess = srv.client.request("POST", "/v1/sandboxes/%s/sessions" % sid, {})["id"]
answered = []
for route in sorted(doc, key=lambda r: ("DELETE" in r, r.count("/"), r)):
    method, tmpl = route.split(" ", 1)
    url = tmpl.replace("{id}", sid).replace("{sid}", sess) + "?path=output/.keep"
    body = b'{"command": "true"}' if method == "POST" and "exec" in url else b"{}" if method != "GET" else b""
    if method == "PUT":
        body = b"x"
    st, b = raw(srv.sock, ("%s %s HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: %d\r\n\r\n"
                           % (method, url, len(body))).encode() + body)
    if st == 0 or (isinstance(b, dict) and b.get("field") in ("route", "method")):
        answered.append("%s: %d %r" % (route, st, b))
is_(answered, [], "the server answers every route of the document")
is_(srv.stop(), 0, "the server stops")
done()
