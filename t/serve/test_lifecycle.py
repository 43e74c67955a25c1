"""rls serve's sandboxes end cleanly: on SIGTERM with commands running,
after a kill -9 and a restart, and when idle too long."""
import os
import signal
import threading
import time

from harness import *  # noqa: F401,F403
from rls import RlsError, Sandbox

S = mk_src(os.path.join(T, "src"))
deltas = os.path.join(T, "state", "rls", "deltas")
states = os.path.join(T, "state", "rls", "serve", "sandboxes")


def listing(d, suffix=""):
    return sorted(n for n in os.listdir(d) if n.endswith(suffix)) if os.path.isdir(d) else []


# SIGTERM while a command runs: it is killed, the delta kept or dropped
# as each sandbox asked.
srv = Server()
keep = Sandbox.from_local(S, client=srv.client, keep_delta=True)
drop = Sandbox.from_local(S, client=srv.client)
keep.run("echo kept > output/k")
drop.run("echo dropped > output/d")
result = {}


def long_run():
    try:
        result["r"] = drop.run("sleep 120")
    except Exception as e:  # the server may answer or close the connection
        result["e"] = e


t = threading.Thread(target=long_run)
t.start()
time.sleep(1.5)
is_(srv.stop(), 0, "SIGTERM stops the server while a command runs")
t.join(30)
ok(not t.is_alive(), "the running request ends too")
# Its answer, if it got one, says the command was stopped by a signal:
# the server did not wait for its 120 s to pass.
ok("e" in result or result["r"].killed_by == "signal",
   "without waiting for the command's end (%r)" % (result.get("r") or result.get("e"),))
is_(listing(deltas), ["serve-" + keep.id], "the sandbox that asked keeps its delta; the other's is dropped")
is_(listing(states, ".json"), [], "no state file is left")
is_(leftovers(), [], "no rlsfs mount or process is left")
ok(not os.path.exists(os.path.join(S, "output", "k")), "nothing was committed")

# kill -9: the next server closes what it left.
srv = Server()
a = Sandbox.from_local(S, client=srv.client, keep_delta=True)
b = Sandbox.from_local(S, client=srv.client)
a.run("echo a > output/a")
b.run("echo b > output/b")
t = threading.Thread(target=lambda: result.update(r2=_safe(lambda: b.run("sleep 120"))))


def _safe(fn):
    try:
        return fn()
    except Exception as e:
        return e


t.start()
time.sleep(1.5)
srv.stop(signal.SIGKILL)
t.join(30)
is_(len(listing(states, ".json")), 2, "a killed server leaves its sandboxes' state files")
is_(leftovers(), [], "its commands end with it (no mount or process left)")
srv = Server()
is_(listing(states, ".json"), [], "the next server closes the sandboxes it finds")
is_(sorted(listing(deltas)), sorted(["serve-" + keep.id, "serve-" + a.id]),
    "keeping the delta of the one that asked, dropping the other's")
raises(lambda: a.run("true"), 404, "id", "the old sandboxes are gone")

# Idle sandboxes are reaped.
is_(srv.stop(), 0, "the server stops")
srv = Server("--socket", os.path.join(T, "serve.sock"), "--idle-timeout", "3")
c = Sandbox.from_local(S, client=srv.client)
c.run("echo c > output/c")
ok(c.run("sleep 4").ok and c.run("true").ok, "a sandbox busy past --idle-timeout is not reaped")
gone = None
for _ in range(200):
    try:
        c.client.request("GET", "/v1/sandboxes/" + c.id)
    except RlsError as e:
        gone = e
        break
    time.sleep(0.1)
ok(gone is not None and gone.status == 404, "one idle past --idle-timeout is closed (looking at it is no use)",
   gone)
for _ in range(200):  # closing may still be settling the delta
    if not listing(states, ".json"):
        break
    time.sleep(0.1)
is_(listing(states, ".json"), [], "and its state file removed")
ok("serve-" + c.id not in listing(deltas), "its delta dropped as it asked")
is_(srv.stop(), 0, "the server stops")
is_(leftovers(), [], "nothing is left")
done()
