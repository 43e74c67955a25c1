"""rls: sandboxes over local folders, through a running ``rls serve``.

    from rls import Sandbox

    with Sandbox.from_local("./proj", preset="agent-safe") as sb:
        print(sb.run("pytest -q").stdout)
        sb.write_file("output/notes.txt", b"done\\n")
        print(sb.diff())
        sb.commit()

Standard library only: HTTP over the server's unix socket (or loopback TCP
with a bearer token).  Errors are :class:`RlsError`, carrying the server's
message and the request field it named.
"""
from __future__ import annotations

import http.client
import json
import os
import socket
import urllib.parse
from dataclasses import dataclass, field
from typing import Any, Dict, Iterator, List, Mapping, Optional, Sequence, Union

__all__ = ["Client", "Sandbox", "Session", "ExecResult", "RlsError", "default_socket"]
__version__ = "0.1.0"


class RlsError(Exception):
    """A request the server refused or could not do."""

    def __init__(self, status: int, message: str, field: Optional[str] = None) -> None:
        super().__init__(f"{message} (HTTP {status}" + (f", field {field})" if field else ")"))
        self.status = status
        self.message = message
        self.field = field


@dataclass
class ExecResult:
    exit_status: int
    stdout: str
    stderr: str
    duration_s: float
    timed_out: bool
    stdout_truncated: bool = False
    stderr_truncated: bool = False
    killed_by: Optional[str] = None
    error: Optional[str] = None
    denials: Dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.exit_status == 0

    @classmethod
    def from_json(cls, o: Mapping[str, Any]) -> "ExecResult":
        return cls(exit_status=o.get("exit_status", -1), stdout=o.get("stdout", ""),
                   stderr=o.get("stderr", ""), duration_s=o.get("duration_s") or 0.0,
                   timed_out=bool(o.get("timed_out")), stdout_truncated=bool(o.get("stdout_truncated")),
                   stderr_truncated=bool(o.get("stderr_truncated")), killed_by=o.get("killed_by"),
                   error=o.get("error"), denials=o.get("denials") or {})


def default_socket() -> str:
    """Where ``rls serve`` listens by default: $RLS_SERVE_SOCKET, else as the
    server chooses (/run/rls/serve.sock for root, $XDG_RUNTIME_DIR/rls/serve.sock,
    else the state directory's)."""
    env = os.environ.get("RLS_SERVE_SOCKET")
    if env:
        return env
    if os.geteuid() == 0:
        return "/run/rls/serve.sock"
    rt = os.environ.get("XDG_RUNTIME_DIR")
    if rt and rt.startswith("/"):
        return os.path.join(rt, "rls", "serve.sock")
    state = os.environ.get("XDG_STATE_HOME") or os.path.expanduser("~/.local/state")
    return os.path.join(state, "rls", "serve", "serve.sock")


class _UnixConnection(http.client.HTTPConnection):
    def __init__(self, path: str, timeout: Optional[float]) -> None:
        super().__init__("localhost", timeout=timeout)
        self._path = path

    def connect(self) -> None:
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        if self.timeout is not None:
            s.settimeout(self.timeout)
        s.connect(self._path)
        self.sock = s


class Client:
    """A connection to ``rls serve``: a unix socket (default) or
    ``url="http://127.0.0.1:PORT"`` with ``token``."""

    def __init__(self, socket_path: Optional[str] = None, url: Optional[str] = None,
                 token: Optional[str] = None, timeout: Optional[float] = None) -> None:
        self.socket_path = None if url else (socket_path or default_socket())
        self.url = urllib.parse.urlsplit(url) if url else None
        self.token = token
        self.timeout = timeout

    def _conn(self) -> http.client.HTTPConnection:
        if self.url:
            return http.client.HTTPConnection(self.url.hostname or "127.0.0.1", self.url.port,
                                              timeout=self.timeout)
        assert self.socket_path
        return _UnixConnection(self.socket_path, self.timeout)

    def _send(self, method: str, path: str, query: Optional[Mapping[str, str]], body: Optional[bytes],
              ctype: str) -> http.client.HTTPResponse:
        if query:
            path += "?" + urllib.parse.urlencode(query)
        headers = {"Content-Type": ctype}
        if self.token:
            headers["Authorization"] = "Bearer " + self.token
        conn = self._conn()
        conn.request(method, path, body=body, headers=headers)
        resp = conn.getresponse()
        if resp.status >= 400:
            data = resp.read()
            conn.close()
            try:
                o = json.loads(data)
                raise RlsError(resp.status, o.get("error", ""), o.get("field"))
            except ValueError:
                raise RlsError(resp.status, data.decode("utf-8", "replace")) from None
        return resp

    def request(self, method: str, path: str, body: Any = None, query: Optional[Mapping[str, str]] = None,
                raw: Optional[bytes] = None) -> Any:
        """One request; the decoded JSON answer (bytes for raw answers)."""
        data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
        resp = self._send(method, path, query, data,
                          "application/octet-stream" if raw is not None else "application/json")
        out = resp.read()
        if resp.getheader("Content-Type", "").startswith("application/json"):
            return json.loads(out)
        return out

    def stream(self, method: str, path: str, body: Any = None,
               query: Optional[Mapping[str, str]] = None) -> Iterator[Dict[str, Any]]:
        """The JSON lines of a streamed answer, as they come."""
        resp = self._send(method, path, query, json.dumps(body).encode() if body is not None else None,
                          "application/json")
        try:
            for line in resp:
                line = line.strip()
                if line:
                    yield json.loads(line)
        finally:
            resp.close()

    def health(self) -> Dict[str, Any]:
        return self.request("GET", "/v1/health")

    def sandboxes(self) -> List[Dict[str, Any]]:
        return self.request("GET", "/v1/sandboxes")["sandboxes"]


class Session:
    """A shell whose working directory and exported environment persist
    between :meth:`exec` calls."""

    def __init__(self, sandbox: "Sandbox", sid: str) -> None:
        self.sandbox = sandbox
        self.id = sid

    def exec(self, command: str, timeout: Optional[float] = None,
             max_output: Optional[int] = None) -> ExecResult:
        body: Dict[str, Any] = {"command": command}
        if timeout is not None:
            body["timeout"] = timeout
        if max_output is not None:
            body["max_output"] = max_output
        return ExecResult.from_json(self.sandbox.client.request(
            "POST", f"/v1/sandboxes/{self.sandbox.id}/sessions/{self.id}/exec", body))

    def close(self) -> None:
        self.sandbox.client.request("DELETE", f"/v1/sandboxes/{self.sandbox.id}/sessions/{self.id}")

    def __enter__(self) -> "Session":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


class Sandbox:
    """A sandbox over a local folder.  What its commands write stays in the
    sandbox until :meth:`commit` (or :meth:`discard`); closing it (the end of
    a ``with`` block) drops what was not committed, unless ``keep_delta``."""

    def __init__(self, client: Client, info: Dict[str, Any], keep_delta: bool = False) -> None:
        self.client = client
        self.info = info
        self.id: str = info["id"]
        self.keep_delta = keep_delta
        self.closed = False

    @classmethod
    def from_local(cls, path: Union[str, "os.PathLike[str]"], preset: Optional[str] = None,
                   policy: Optional[str] = None, backend: str = "bwrap", network: str = "none",
                   memory: Optional[str] = None, cpus: Optional[float] = None, pids: Optional[int] = None,
                   keep_delta: bool = False, client: Optional[Client] = None) -> "Sandbox":
        client = client or Client()
        body: Dict[str, Any] = {"path": os.path.abspath(os.fspath(path)), "backend": backend,
                                "network": network, "keep_delta_on_close": keep_delta}
        if preset:
            body["preset"] = preset
        if policy:
            body["policy"] = os.path.abspath(policy)
        limits = {k: v for k, v in (("memory", memory), ("cpus", cpus), ("pids", pids)) if v is not None}
        if limits:
            body["limits"] = limits
        return cls(client, client.request("POST", "/v1/sandboxes", body), keep_delta)

    def _path(self, tail: str = "") -> str:
        return f"/v1/sandboxes/{self.id}{tail}"

    def run(self, command: Union[str, Sequence[str]], env: Optional[Mapping[str, str]] = None,
            cwd: Optional[str] = None, timeout: Optional[float] = None,
            max_output: Optional[int] = None, pty: bool = False) -> ExecResult:
        """Run a shell line (str) or an argv (list) in the sandbox.  With pty
        it runs on a terminal of its own: stdout and stderr both arrive in
        stdout, with a terminal's line ends (\\r\\n)."""
        body = self._exec_body(command, env, cwd, timeout, max_output)
        if pty:
            body["pty"] = True
        return ExecResult.from_json(self.client.request("POST", self._path("/exec"), body))

    def run_stream(self, command: Union[str, Sequence[str]], env: Optional[Mapping[str, str]] = None,
                   cwd: Optional[str] = None, timeout: Optional[float] = None) -> Iterator[Dict[str, Any]]:
        """As run, but yields {"stream": "stdout"|"stderr", "data": ...} as the
        output comes, and last {"stream": "exit", "exit_status": ...}."""
        body = self._exec_body(command, env, cwd, timeout, None)
        body["stream"] = True
        return self.client.stream("POST", self._path("/exec"), body)

    @staticmethod
    def _exec_body(command: Union[str, Sequence[str]], env: Optional[Mapping[str, str]], cwd: Optional[str],
                   timeout: Optional[float], max_output: Optional[int]) -> Dict[str, Any]:
        body: Dict[str, Any] = {"command": command} if isinstance(command, str) else {"argv": list(command)}
        if env:
            body["env"] = dict(env)
        if cwd is not None:
            body["cwd"] = cwd
        if timeout is not None:
            body["timeout"] = timeout
        if max_output is not None:
            body["max_output"] = max_output
        return body

    def session(self, env: Optional[Mapping[str, str]] = None, cwd: Optional[str] = None) -> Session:
        body: Dict[str, Any] = {}
        if env:
            body["env"] = dict(env)
        if cwd is not None:
            body["cwd"] = cwd
        return Session(self, self.client.request("POST", self._path("/sessions"), body)["id"])

    def read_file(self, path: str) -> bytes:
        return self.client.request("GET", self._path("/files"), query={"path": path})

    def write_file(self, path: str, data: Union[bytes, str]) -> None:
        self.client.request("PUT", self._path("/files"), query={"path": path},
                            raw=data.encode() if isinstance(data, str) else data)

    def stat(self, path: str) -> Dict[str, Any]:
        return self.client.request("GET", self._path("/files/stat"), query={"path": path})

    def list_files(self, path: str = "") -> List[Dict[str, Any]]:
        return self.client.request("GET", self._path("/files/list"), query={"path": path})["entries"]

    def diff(self) -> Dict[str, Any]:
        """{"changes": [{"change": "added"|"modified"|"deleted", "path": ...}],
        "conflicts": [...], "held_back": [...]}"""
        return self.client.request("GET", self._path("/diff"))

    def commit(self, on_conflict: str = "ours", allow_symlinks_out: bool = False) -> Dict[str, Any]:
        """Apply the sandbox's changes to the folder.  on_conflict "fail"
        raises RlsError (409) when the folder changed under them."""
        return self.client.request("POST", self._path("/commit"),
                                   {"on_conflict": on_conflict, "allow_symlinks_out": allow_symlinks_out})

    def discard(self) -> None:
        self.client.request("POST", self._path("/discard"), {})

    def events(self, since: int = 0, follow: bool = False) -> Iterator[Dict[str, Any]]:
        return self.client.stream("GET", self._path("/events"),
                                  query={"since": str(since), "follow": "true" if follow else "false"})

    def close(self, keep_delta: Optional[bool] = None) -> Optional[str]:
        """Close the sandbox; returns the kept delta's path, if kept."""
        if self.closed:
            return None
        keep = self.keep_delta if keep_delta is None else keep_delta
        r = self.client.request("DELETE", self._path(), query={"delta": "keep" if keep else "discard"})
        self.closed = True
        return r.get("delta")

    def __enter__(self) -> "Sandbox":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()
