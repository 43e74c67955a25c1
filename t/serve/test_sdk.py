"""rls serve through the Python SDK, end to end: run, sessions, files,
diff, commit, discard, events, several sandboxes over one folder."""
import os

from harness import *  # noqa: F401,F403
from rls import RlsError, Sandbox

srv = Server()
c = srv.client
S = mk_src(os.path.join(T, "src"))

with Sandbox.from_local(S, client=c) as sb:
    r = sb.run("echo out; echo err >&2; exit 3")
    is_((r.exit_status, r.stdout, r.stderr), (3, "out\n", "err\n"),
        "run gives the shell line's exit status, stdout and stderr apart")
    r = sb.run(["sh", "-c", 'echo "$GREETING from $(pwd)"'], env={"GREETING": "hi"}, cwd="src/pkg")
    is_(r.stdout, "hi from /workspace/src/pkg\n", "run takes an argv, an environment and a folder to start in")
    r = sb.run("cat .env")
    ok(r.exit_status != 0 and "fake-secret" not in r.stdout, "the policy hides .env from commands",
       r)
    r = sb.run("sleep 30", timeout=0.5)
    ok(r.timed_out and r.exit_status == 124 and r.duration_s < 20, "a command past its timeout is killed: 124, timed_out",
       r)
    r = sb.run("head -c 100000 /dev/zero | tr '\\0' x", max_output=1000)
    ok(r.stdout_truncated and len(r.stdout) == 1000, "output beyond max_output is cut and said so", len(r.stdout))
    is_(sb.run("test -t 1 && echo tty || echo none", pty=True).stdout, "tty\r\n",
        "pty runs the command on a terminal of its own")
    is_(sb.run("test -t 1 && echo tty || echo none").stdout, "none\n", "without pty it has none")
    lines = list(sb.run_stream("echo one; echo two >&2; exit 5"))
    ok([l for l in lines if l["stream"] == "stdout"] == [{"stream": "stdout", "data": "one\n"}] and
       lines[-1]["stream"] == "exit" and lines[-1]["exit_status"] == 5,
       "a streamed run gives output as JSON lines, then the exit status", lines)

    s = sb.session()
    s.exec("cd src && export ANSWER=42 && X=unexported")
    r = s.exec('pwd; echo "$ANSWER:$X"')
    is_(r.stdout, "/workspace/src\n42:\n", "a session keeps its working directory and exported environment")
    r = s.exec("cd / && unset ANSWER; exit 7")
    is_(r.exit_status, 7, "a session's exit status is the line's")
    r = s.exec('pwd; echo "[$ANSWER]"')
    is_(r.stdout, "/\n[]\n", "an exit still keeps what the line changed before it")
    s2 = sb.session(env={"ONLY": "here"}, cwd="output")
    is_(s2.exec('pwd; echo "$ONLY $ANSWER"').stdout, "/workspace/output\nhere \n",
        "each session has its own state, from its own start")
    r = s2.exec("sleep 60 & echo started")
    is_(r.stdout, "started\n", "a line may start a background process")
    ok(sb.run("pgrep -x sleep || echo none").stdout.strip() == "none",
       "a session's background processes end with its command, not later")
    s.close()
    raises(lambda: s.exec("true"), 404, "sid", "an ended session is gone")

    sb.write_file("output/report.txt", b"line 1\nline 2\n")
    is_(sb.read_file("output/report.txt"), b"line 1\nline 2\n", "write_file then read_file gives the bytes back")
    blob = bytes(range(256)) * 64
    sb.write_file("output/blob.bin", blob)
    is_(sb.read_file("output/blob.bin"), blob, "files are bytes, not text")
    is_(sb.run("cat output/report.txt").stdout, "line 1\nline 2\n", "commands see what write_file wrote")
    names = sorted(e["name"] for e in sb.list_files("output"))
    is_(names, [".keep", "blob.bin", "report.txt"], "list_files lists a folder")
    ok(".env" not in [e["name"] for e in sb.list_files("")], "list_files does not show what the policy hides")
    st = sb.stat("output/report.txt")
    ok(st["type"] == "file" and st["size"] == 14, "stat gives type and size", st)
    raises(lambda: sb.write_file("src/main.py", "x"), 403, "path", "writing a read-only file is refused (403)")
    raises(lambda: sb.read_file(".env"), 404, "path", "reading a hidden file is a 404, as if it did not exist")
    raises(lambda: sb.read_file("../../etc/passwd"), 400, "path", "a path that climbs out is refused")
    raises(lambda: sb.read_file("/output"), 409, "path", "reading a folder is a 409")
    raises(lambda: sb.list_files("nothere"), 404, "path", "listing a missing folder is a 404")

    d = sb.diff()
    paths = sorted(ch["path"] for ch in d["changes"])
    is_(paths, ["/output/blob.bin", "/output/report.txt"], "diff lists what the sandbox changed")
    ok(not os.path.exists(os.path.join(S, "output", "report.txt")), "nothing reaches the folder before commit")
    with open(os.path.join(S, "output", "report.txt"), "w") as f:
        f.write("theirs\n")
    raises(lambda: sb.commit(on_conflict="fail"), 409, None, "commit with on_conflict fail refuses over a conflict")
    ok(open(os.path.join(S, "output", "report.txt")).read() == "theirs\n", "and writes nothing")
    res = sb.commit(on_conflict="theirs")
    ok(res["committed"] and res["conflicts"] == ["/output/report.txt"], "commit with theirs names the conflict", res)
    is_(open(os.path.join(S, "output", "report.txt")).read(), "theirs\n", "and keeps the folder's version")
    ok(open(os.path.join(S, "output", "blob.bin"), "rb").read() == blob, "the rest lands in the folder")
    is_(sb.diff()["changes"], [], "after commit the diff is empty")

    sb.run("echo scratch > output/scratch")
    sb.discard()
    is_(sb.diff()["changes"], [], "discard drops what was not committed")
    ok(not os.path.exists(os.path.join(S, "output", "scratch")), "and the folder never saw it")

    ev = list(sb.events())
    types = [e["type"] for e in ev]
    ok("created" in types and "exec" in types and "commit" in types and "discard" in types,
       "events list the sandbox's life", types)
    den = [e for e in ev if e["type"] == "denial"]
    ok(any(e["audit"]["path"] == "/src/main.py" for e in den), "events carry the policy's denials", den)
    ok(all(ev[i]["seq"] == i for i in range(len(ev))), "events are numbered in order")
    is_([e["seq"] for e in sb.events(since=len(ev) - 1)], [len(ev) - 1], "events since N start at N")
    raises(lambda: sb.run("echo " + "x" * 200000), 400, "command",
           "a command past the kernel's 128 KiB an argument is refused, saying so")
    sid = sb.id

raises(lambda: c.request("GET", "/v1/sandboxes/" + sid), 404, "id", "a closed sandbox is gone")
is_(os.listdir(os.path.join(T, "state", "rls", "deltas")) if os.path.isdir(os.path.join(T, "state", "rls", "deltas")) else [],
    [], "closing drops the delta by default")

# Events as they come.
import threading  # noqa: E402

fol = Sandbox.from_local(S, client=c)
seen = []
reader = threading.Thread(target=lambda: seen.extend(e["type"] for e in fol.events(follow=True)))
reader.start()
fol.run("true")
fol.close()
reader.join(30)
ok(not reader.is_alive() and seen[:1] == ["created"] and "exec" in seen and seen[-1] == "closed",
   "events(follow=True) gives events as they happen, and ends when the sandbox closes", seen)

# Two sandboxes over one folder, each with its own policy.
ro = Sandbox.from_local(S, preset="read-only", client=c)
rw = Sandbox.from_local(S, preset="agent-safe", client=c, keep_delta=True)
is_(len(c.sandboxes()), 2, "several sandboxes live at once")
ok(ro.run("echo x > output/f").exit_status != 0, "read-only refuses a write its neighbour allows")
ok(rw.run("echo x > output/f").exit_status == 0, "agent-safe allows it over the same folder")
ok(ro.run("test -e output/f").exit_status != 0, "each sandbox sees only its own changes")
ro.close()
kept = rw.close()
ok(kept and os.path.isdir(kept), "keep_delta keeps a delta with changes when closed", kept)
ok(not os.path.exists(os.path.join(S, "output", "f")), "and commits nothing")

raises(lambda: Sandbox.from_local(S, preset="no-such-preset", client=c), 400, "preset",
       "an unknown preset is refused when the sandbox is made")
raises(lambda: Sandbox.from_local(os.path.join(T, "nothere"), client=c), 400, "path",
       "a folder that does not exist is refused")
is_(srv.stop(), 0, "rls serve stops on SIGTERM with status 0")
ok(not os.path.exists(srv.sock), "and removes its socket")
is_(leftovers(), [], "no rlsfs mount or process is left")
done()
