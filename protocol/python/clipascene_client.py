"""A client for `clipascene serve`, standard library only.

Works from a plain script and from a Jupyter cell (it uses threads, not asyncio, so an
already-running event loop is no obstacle):

    from clipascene_client import Client
    with Client() as c:
        c.load_image("photo", path="examples/bull.jpg")
        c.set_abstraction("photo", fidelity=1, simplicity=2)
        c.step("photo", 400, on_progress=lambda v: print(v.get("message")))
        svg = c.get_svg("photo")

Every request runs on the calling thread and blocks until its answer; `step_async` returns a
`Pending` that another thread (or a notebook cell) can `cancel()`.
"""

from __future__ import annotations

import base64
import itertools
import json
import os
import shutil
import subprocess
import threading
from typing import Any, Callable, Dict, List, Optional

__all__ = ["Client", "ServerError", "Cancelled", "Pending"]


class ServerError(Exception):
    """An error answer: `code` is the JSON-RPC code, `data` any detail the server sent."""

    def __init__(self, code: int, message: str, data: Any = None):
        super().__init__(f"{message} (code {code})")
        self.code = code
        self.message = message
        self.data = data


class Cancelled(ServerError):
    """The request was cancelled (-32800); `data` holds the state it reached, if any."""


class Pending:
    """A request in flight."""

    def __init__(self, client: "Client", request_id: int, method: str):
        self._client = client
        self.id = request_id
        self.method = method
        self._done = threading.Event()
        self._answer: Optional[dict] = None

    def _resolve(self, message: dict) -> None:
        self._answer = message
        self._done.set()

    def done(self) -> bool:
        return self._done.is_set()

    def cancel(self) -> None:
        """Asks the server to stop this request; `result()` then raises `Cancelled`."""
        self._client.notify("$/cancelRequest", {"id": self.id})

    def result(self, timeout: Optional[float] = None) -> Any:
        if not self._done.wait(timeout):
            raise TimeoutError(f"{self.method} did not answer within {timeout} s")
        message = self._answer or {}
        if "error" in message:
            e = message["error"]
            cls = Cancelled if e.get("code") == -32800 else ServerError
            raise cls(e.get("code", 0), e.get("message", ""), e.get("data"))
        return message.get("result")


class Client:
    """Starts `clipascene serve` (or uses `command`) and speaks LSP-framed JSON-RPC to it."""

    def __init__(self, command: Optional[List[str]] = None, *, cwd: Optional[str] = None,
                 stderr: Any = None, initialize: bool = True):
        if command is None:
            command = [self.find_binary(), "serve"]
        self._process = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                          stderr=stderr, cwd=cwd)
        self._ids = itertools.count(1)
        self._pending: Dict[int, Pending] = {}
        self._progress: Dict[str, Callable[[dict], None]] = {}
        self._lock = threading.Lock()
        self._write_lock = threading.Lock()
        self.notifications: List[dict] = []
        self._reader = threading.Thread(target=self._read_loop, daemon=True)
        self._reader.start()
        self.server_info: dict = {}
        self.capabilities: dict = {}
        if initialize:
            result = self.request("initialize", {"processId": os.getpid(), "capabilities": {}})
            self.server_info = result.get("serverInfo", {})
            self.capabilities = result.get("capabilities", {}).get("experimental", {}).get("clipascene", {})
            self.notify("initialized", {})

    @staticmethod
    def find_binary() -> str:
        """$CLIPASCENE_BIN, else `clipascene` on PATH, else the repository's release build."""
        if os.environ.get("CLIPASCENE_BIN"):
            return os.environ["CLIPASCENE_BIN"]
        on_path = shutil.which("clipascene")
        if on_path:
            return on_path
        here = os.path.dirname(os.path.abspath(__file__))
        built = os.path.join(here, "..", "..", ".build", "release", "clipascene")
        if os.path.exists(built):
            return os.path.normpath(built)
        raise FileNotFoundError("clipascene not found: set CLIPASCENE_BIN, put it on PATH, or run `make build`")

    # -- transport -------------------------------------------------------------------------

    def _send(self, message: dict) -> None:
        body = json.dumps(message, separators=(",", ":")).encode("utf-8")
        with self._write_lock:
            stdin = self._process.stdin
            if stdin is None:
                raise BrokenPipeError("the server's input is closed")
            stdin.write(b"Content-Length: %d\r\n\r\n" % len(body) + body)
            stdin.flush()

    def _read_loop(self) -> None:
        stream = self._process.stdout
        while stream is not None:
            length = None
            while True:
                line = stream.readline()
                if not line:
                    self._fail_all("the server exited")
                    return
                line = line.strip()
                if not line:
                    break
                name, _, value = line.decode("ascii", "replace").partition(":")
                if name.strip().lower() == "content-length":
                    length = int(value.strip())
            if length is None:
                continue
            message = json.loads(stream.read(length))
            self._dispatch(message)

    def _dispatch(self, message: dict) -> None:
        if "method" in message:
            if message["method"] == "$/progress":
                params = message.get("params", {})
                callback = self._progress.get(str(params.get("token")))
                if callback:
                    callback(params.get("value", {}))
            with self._lock:
                self.notifications.append(message)
            return
        with self._lock:
            pending = self._pending.pop(message.get("id"), None)
        if pending:
            pending._resolve(message)

    def _fail_all(self, why: str) -> None:
        with self._lock:
            pending, self._pending = list(self._pending.values()), {}
        for p in pending:
            p._resolve({"error": {"code": -32603, "message": why}})

    # -- requests --------------------------------------------------------------------------

    def request_async(self, method: str, params: Optional[dict] = None,
                      on_progress: Optional[Callable[[dict], None]] = None) -> Pending:
        request_id = next(self._ids)
        params = dict(params or {})
        if on_progress is not None:
            token = f"progress-{request_id}"
            self._progress[token] = on_progress
            params["workDoneToken"] = token
        pending = Pending(self, request_id, method)
        with self._lock:
            self._pending[request_id] = pending
        self._send({"jsonrpc": "2.0", "id": request_id, "method": method, "params": params})
        return pending

    def request(self, method: str, params: Optional[dict] = None, timeout: Optional[float] = None,
                on_progress: Optional[Callable[[dict], None]] = None) -> Any:
        return self.request_async(method, params, on_progress).result(timeout)

    def notify(self, method: str, params: Optional[dict] = None) -> None:
        self._send({"jsonrpc": "2.0", "method": method, "params": params or {}})

    # -- the engine's methods --------------------------------------------------------------

    def load_image(self, uri: str, path: Optional[str] = None, data: Optional[bytes] = None,
                   mask: str = "auto", background: str = "auto", **kw: Any) -> dict:
        params: Dict[str, Any] = {"uri": uri, "options": {"mask": mask, "background": background}}
        if path is not None:
            params["path"] = os.path.abspath(path)
        if data is not None:
            params["data"] = base64.b64encode(data).decode("ascii")
        return self.request("loadImage", params, **kw)

    def set_abstraction(self, uri: str, **settings: Any) -> dict:
        """settings: fidelity, simplicity, numPaths, strokeWidth, seed, iterations,
        simplicityIterations, learningRate, augmentations."""
        return self.request("setAbstraction", {"uri": uri, **settings})

    def step(self, uri: str, count: int = 1, **kw: Any) -> dict:
        return self.request("step", {"uri": uri, "count": count}, **kw)

    def step_async(self, uri: str, count: int = 1, on_progress: Optional[Callable[[dict], None]] = None) -> Pending:
        return self.request_async("step", {"uri": uri, "count": count}, on_progress)

    def get_svg(self, uri: str, part: str = "combined") -> str:
        return self.request("getSVG", {"uri": uri, "part": part})["svg"]

    def get_preview_png(self, uri: str, part: str = "combined", scale: float = 2) -> bytes:
        return base64.b64decode(self.request("getPreview", {"uri": uri, "part": part, "scale": scale})["png"])

    def run_matrix(self, uri: str, **kw: Any) -> dict:
        params = {"uri": uri}
        for key in ("fidelities", "simplicities", "outDir"):
            if key in kw:
                params[key] = kw.pop(key)
        return self.request("runMatrix", params, **kw)

    def save_session(self, uri: str, path: Optional[str] = None) -> dict:
        return self.request("saveSession", {"uri": uri, **({"path": path} if path else {})})

    def restore_session(self, uri: str, path: Optional[str] = None) -> dict:
        return self.request("restoreSession", {"uri": uri, **({"path": path} if path else {})})

    def close_document(self, uri: str) -> None:
        self.request("closeDocument", {"uri": uri})

    def status(self) -> dict:
        return self.request("getStatus", {})

    # -- notebooks -------------------------------------------------------------------------

    def display(self, uri: str, part: str = "combined") -> Any:
        """The current drawing as an IPython SVG object (shown inline in Jupyter)."""
        from IPython.display import SVG  # type: ignore  # only in notebooks
        return SVG(self.get_svg(uri, part))

    # -- lifecycle -------------------------------------------------------------------------

    def close(self, timeout: float = 30) -> int:
        """shutdown + exit; returns the server's exit code (0 when it shut down cleanly)."""
        if self._process.poll() is None:
            try:
                self.request("shutdown", timeout=timeout)
                self.notify("exit")
            except (ServerError, BrokenPipeError, TimeoutError):
                pass
            if self._process.stdin:
                self._process.stdin.close()
        return self._process.wait(timeout)

    def __enter__(self) -> "Client":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()
