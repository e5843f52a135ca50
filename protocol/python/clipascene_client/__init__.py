"""A client for `clipascene serve`, standard library only.

Works from a plain script and from a Jupyter cell (it uses threads, not asyncio, so an
already-running event loop is no obstacle):

    from clipascene_client import Client
    with Client() as c:
        c.load_image("photo", path="examples/bull.jpg")
        c.set_abstraction("photo", fidelity=1, simplicity=2)
        c.step("photo", 400, on_progress=lambda v: print(v.get("message")))
        svg = c.get_svg("photo")

How it behaves, so that a notebook never hangs:

- Callbacks (`on_progress`) run on a dispatcher thread of their own, in order, never on the
  thread that reads the server. A callback may call the client (a live preview calling
  `get_svg` works), and an exception in a callback is logged with its traceback
  (logger "clipascene_client") and never breaks the connection.
- Every blocking call can be interrupted, the Python way: KeyboardInterrupt (Ctrl-C, or
  Jupyter's "Interrupt kernel") sends `$/cancelRequest`, cleans up, and is raised again, so a
  script or a loop over photos stops there. During `step`, `sketch` and `run_matrix` the
  cleanup waits for the server to stop (at most one optimisation step) first, so the document
  holds the state reached (`get_svg`, `status`), and it is logged; a notebook's live drawing
  stays shown. `step_async(...).result()` does the same.
- Default timeouts (`DEFAULT_TIMEOUTS`): requests that only read (getSVG, getPreview,
  getStatus) 60 s, initialize and shutdown 60 s; requests that queue behind a document's
  work (loadImage, setAbstraction, step, runMatrix, saveSession, restoreSession,
  closeDocument) have none: they can run for minutes, and they are interruptible. If the
  server exits, every waiting call fails at once.
- A `Client` shuts its server down when closed, when it is garbage-collected (re-running a
  notebook cell `c = Client()` replaces the old server, it does not pile them up) and at
  interpreter exit.
- Closing a client (`close()`, the end of a `with` block) first closes the documents it
  opened, so a clean run leaves no automatic snapshots behind (`keep_snapshots=True` keeps
  them); only a crash leaves one to resume from.
"""

from __future__ import annotations

import base64
import itertools
import json
import logging
import os
import queue
import shutil
import subprocess
import threading
import weakref
from typing import IO, Any, Callable, Dict, List, Optional

__all__ = ["Client", "ServerError", "Cancelled", "Pending", "Drawing", "MatrixView", "DEFAULT_TIMEOUTS"]

log = logging.getLogger("clipascene_client")

#: Seconds each method may take before `TimeoutError` (None: no limit; interruptible).
DEFAULT_TIMEOUTS: Dict[str, Optional[float]] = {
    "initialize": 60, "shutdown": 60, "getSVG": 60, "getPreview": 60, "getStatus": 60,
    "loadImage": None, "setAbstraction": None, "step": None, "runMatrix": None,
    "saveSession": None, "restoreSession": None, "closeDocument": None,
}

#: Methods whose interruption returns the state reached instead of raising.
_RESUMABLE = {"step", "runMatrix"}


class ServerError(Exception):
    """An error answer: `code` is the JSON-RPC code, `data` any detail the server sent."""

    def __init__(self, code: int, message: str, data: Any = None):
        super().__init__(f"{message} (code {code})")
        self.code = code
        self.message = message
        self.data = data


class Cancelled(ServerError):
    """The request was cancelled (-32800); `data` holds the state it reached, if any."""


class _Shared:
    """What the reader and dispatcher threads share. They hold this, never the Client, so a
    Client nobody references any more is collected and its server shut down."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.pending: Dict[Any, "Pending"] = {}
        self.progress: Dict[str, Callable[[dict], None]] = {}
        self.notifications: List[dict] = []
        self.callbacks: "queue.Queue[Optional[tuple]]" = queue.Queue()
        self.queued = 0          # callbacks handed to the dispatcher so far
        self.ran = 0             # callbacks the dispatcher has finished
        self.ran_changed = threading.Condition()
        self.dispatcher: Optional[threading.Thread] = None
        self.closed = False


class Pending:
    """A request in flight."""

    def __init__(self, client: "Client", request_id: int, method: str):
        self._client = client
        self.id = request_id
        self.method = method
        self._done = threading.Event()
        self._answer: Optional[dict] = None
        self._callbacks_before = 0
        # What a step or matrix had reached when KeyboardInterrupt cancelled it.
        self.interrupted_at: Optional[dict] = None

    def _resolve(self, message: dict, callbacks_before: int = 0) -> None:
        self._answer = message
        self._callbacks_before = callbacks_before
        self._done.set()

    def done(self) -> bool:
        return self._done.is_set()

    def cancel(self) -> None:
        """Asks the server to stop this request; `result()` then raises `Cancelled`."""
        self._client.notify("$/cancelRequest", {"id": self.id})

    def _wait(self, timeout: Optional[float]) -> bool:
        # Short slices: a signal (KeyboardInterrupt) is handled between them on every platform.
        if timeout is None:
            while not self._done.wait(0.25):
                pass
            return True
        return self._done.wait(timeout)

    def result(self, timeout: Optional[float] = None, interrupt_grace: float = 60) -> Any:
        """The answer. KeyboardInterrupt cancels the request on the server; see the module text."""
        try:
            if not self._wait(timeout):
                raise TimeoutError(f"{self.method} did not answer within {timeout} s")
        except KeyboardInterrupt:
            self.cancel()
            # step/runMatrix stop within one optimisation step: wait for that, so the document
            # holds the state reached when the interrupt goes on; anything else is left to
            # finish or stop on the server. Either way the interrupt is raised again.
            if self.method in _RESUMABLE and self._done.wait(interrupt_grace):
                message = self._answer or {}
                error = message.get("error") or {}
                reached = error.get("data") if error.get("code") == -32800 else message.get("result")
                self.interrupted_at = reached if isinstance(reached, dict) else None
                log.warning("interrupted: %s cancelled%s", self.method,
                            f" at step {reached['step']}" if isinstance(reached, dict) and "step" in reached else "")
            raise
        self._client._callbacks_settled(self._callbacks_before)
        message = self._answer or {}
        if "error" in message:
            e = message["error"]
            cls = Cancelled if e.get("code") == -32800 else ServerError
            raise cls(e.get("code", 0), e.get("message", ""), e.get("data"))
        return message.get("result")


class Drawing:
    """A drawing as SVG text and PNG bytes. Notebooks show it from either (`_repr_mimebundle_`),
    so it displays in trusted, untrusted and exported notebooks alike."""

    def __init__(self, svg: str, png: bytes):
        self.svg = svg
        self.png = png

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> Dict[str, str]:
        return {"image/svg+xml": self.svg, "image/png": base64.b64encode(self.png).decode("ascii")}

    def save(self, path: str) -> None:
        """Writes the SVG (a path ending in .png gets the PNG)."""
        with open(path, "wb") as f:
            f.write(self.png if path.lower().endswith(".png") else self.svg.encode("utf-8"))


class MatrixView:
    """An abstraction matrix: the contact sheet as PNG, and as HTML a grid of every cell's SVG
    (fidelity across, simplicity down)."""

    def __init__(self, result: dict):
        self.result = result
        self.png = base64.b64decode(result["contactSheet"])
        self.cells = {(c["fidelity"], c["simplicity"]): c["svg"] for c in result["cells"]}

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> Dict[str, str]:
        fidelities, simplicities = self.result["fidelities"], self.result["simplicities"]
        rows = ["<tr><th></th>" + "".join(f"<th>fidelity {f}</th>" for f in fidelities) + "</tr>"]
        for s in simplicities:
            cells = []
            for f in fidelities:
                svg = self.cells.get((f, s), "")
                data = base64.b64encode(svg.encode("utf-8")).decode("ascii")
                cells.append(f'<td><img width="200" src="data:image/svg+xml;base64,{data}"/></td>')
            rows.append(f"<tr><th>simplicity {s}</th>" + "".join(cells) + "</tr>")
        return {"image/png": base64.b64encode(self.png).decode("ascii"), "text/html": "<table>" + "".join(rows) + "</table>"}


class _LiveView:
    """Keeps a notebook output showing the current drawing and a progress bar, refreshed at
    most `rate` times a second from the progress callbacks (plain scripts: a line per update)."""

    def __init__(self, client: "Client", uri: str, rate: float):
        self.client, self.uri, self.interval = client, uri, 1 / rate
        self.updates = 0
        self.last = 0.0
        try:
            from IPython import get_ipython  # type: ignore
            from IPython.display import display  # type: ignore
            self.notebook = get_ipython() is not None
        except ImportError:
            self.notebook = False
        if self.notebook:
            self.bar = display(self._bar(0, "starting"), display_id=True)
            self.picture = display(client.drawing(uri), display_id=True)

    @staticmethod
    def _bar(percentage: int, message: str) -> Any:
        from IPython.display import HTML  # type: ignore
        return HTML(f'<progress value="{percentage}" max="100" style="width:60%"></progress> {message}')

    def __call__(self, value: dict, final: bool = False) -> None:
        import time
        now = time.monotonic()
        if not final and (value.get("kind") != "report" or now - self.last < self.interval):
            return
        self.last = now
        message = value.get("message", "")
        if self.notebook:
            self.bar.update(self._bar(int(value.get("percentage", 100 if final else 0)), message))
            self.picture.update(self.client.drawing(self.uri))
        else:
            print(message, flush=True)
        self.updates += 1


def _write_message(stdin: Optional[IO[bytes]], lock: threading.Lock, message: dict) -> None:
    body = json.dumps(message, separators=(",", ":")).encode("utf-8")
    with lock:
        if stdin is None or stdin.closed:
            raise BrokenPipeError("the server's input is closed")
        stdin.write(b"Content-Length: %d\r\n\r\n" % len(body) + body)
        stdin.flush()


def _read_loop(stream: IO[bytes], client_ref: "weakref.ref[Client]", shared: _Shared) -> None:
    """Reads messages until the server's output ends. Never raises: a message it cannot read
    is logged and skipped."""
    while True:
        try:
            length = None
            while True:
                line = stream.readline()
                if not line:
                    _fail_all(shared, "the server exited")
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
            client = client_ref()
            if client is not None:
                client._dispatch(message)
            else:
                _route(shared, message)
            del client
        except Exception:  # noqa: BLE001 — the reader must outlive any one bad message
            log.exception("clipascene_client: a message from the server could not be handled")


def _route(shared: _Shared, message: dict) -> None:
    """Hands a message on: notifications to the dispatcher, answers to their waiting call."""
    if "method" in message:
        params = message.get("params") or {}
        with shared.lock:
            shared.notifications.append(message)
        if message["method"] == "$/progress":
            callback = shared.progress.get(str(params.get("token")))
            if callback is not None:
                _enqueue(shared, callback, params.get("value", {}))
        elif message["method"] == "window/showMessage":
            level = {1: logging.ERROR, 2: logging.WARNING}.get(params.get("type"), logging.INFO)
            log.log(level, "%s", params.get("message", ""))
        return
    with shared.lock:
        pending = shared.pending.pop(message.get("id"), None)
        shared.progress.pop(f"progress-{message.get('id')}", None)  # its "end" came before the answer
        before = shared.queued
    if pending is not None:
        pending._resolve(message, before)


def _enqueue(shared: _Shared, callback: Callable[[dict], None], value: dict) -> None:
    with shared.lock:
        shared.queued += 1
    shared.callbacks.put((callback, value))


def _dispatch_loop(shared: _Shared) -> None:
    """Runs user callbacks in order; an exception is logged, never propagated."""
    while True:
        item = shared.callbacks.get()
        if item is None:
            return
        callback, value = item
        try:
            callback(value)
        except Exception:  # noqa: BLE001
            log.exception("clipascene_client: the progress callback %r raised; the request goes on", callback)
        finally:
            with shared.ran_changed:
                shared.ran += 1
                shared.ran_changed.notify_all()


def _fail_all(shared: _Shared, why: str) -> None:
    with shared.lock:
        pending, shared.pending = list(shared.pending.values()), {}
        before = shared.queued
    for p in pending:
        p._resolve({"error": {"code": -32603, "message": why}}, before)


def _stop_server(process: subprocess.Popen, write_lock: threading.Lock, shared: _Shared, timeout: float = 10) -> None:
    """shutdown + exit, then terminate if need be. Runs at close, garbage collection or exit."""
    shared.closed = True
    shared.callbacks.put(None)
    if process.poll() is None:
        try:
            _write_message(process.stdin, write_lock, {"jsonrpc": "2.0", "id": "client-shutdown", "method": "shutdown"})
            _write_message(process.stdin, write_lock, {"jsonrpc": "2.0", "method": "exit"})
        except (OSError, ValueError):
            pass
        try:
            if process.stdin:
                process.stdin.close()
        except OSError:
            pass
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.terminate()
            try:
                process.wait(5)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


class Client:
    """Starts `clipascene serve` (or uses `command`) and speaks LSP-framed JSON-RPC to it."""

    def __init__(self, command: Optional[List[str]] = None, *, cwd: Optional[str] = None,
                 stderr: Any = None, initialize: bool = True,
                 timeouts: Optional[Dict[str, Optional[float]]] = None,
                 snapshots: bool = True, state_dir: Optional[str] = None, keep_snapshots: bool = False):
        """`command`: how to start the server (default: `clipascene serve`, with
        `--no-snapshots` when `snapshots` is False and `--state-dir` when `state_dir` is given).
        `keep_snapshots`: leave the documents' automatic snapshots when the client is closed
        (by default `close()` closes the documents first, which deletes them)."""
        if command is None:
            command = [self.find_binary(), "serve"]
            if not snapshots:
                command.append("--no-snapshots")
            if state_dir is not None:
                command += ["--state-dir", state_dir]
        self.timeouts: Dict[str, Optional[float]] = {**DEFAULT_TIMEOUTS, **(timeouts or {})}
        self.keep_snapshots = keep_snapshots
        # The documents this client opened and has not closed, closed by close().
        self._documents: set = set()
        self._process = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                          stderr=stderr, cwd=cwd)
        self._ids = itertools.count(1)
        self._write_lock = threading.Lock()
        self._shared = shared = _Shared()
        shared.dispatcher = threading.Thread(target=_dispatch_loop, args=(shared,), daemon=True,
                                             name="clipascene-callbacks")
        shared.dispatcher.start()
        self._reader = threading.Thread(target=_read_loop, args=(self._process.stdout, weakref.ref(self), shared),
                                        daemon=True, name="clipascene-reader")
        self._reader.start()
        self._finalizer = weakref.finalize(self, _stop_server, self._process, self._write_lock, shared)
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
        built = os.path.join(here, "..", "..", "..", ".build", "release", "clipascene")
        if os.path.exists(built):
            return os.path.normpath(built)
        raise FileNotFoundError(
            "the clipascene engine was not found (not in $CLIPASCENE_BIN, not on PATH). Install it from the "
            "repository with `make install` (PREFIX=~/.local by default: then have ~/.local/bin on PATH), "
            "or set CLIPASCENE_BIN=/path/to/clipascene")

    @property
    def pid(self) -> int:
        """The server's process id."""
        return self._process.pid

    @property
    def notifications(self) -> List[dict]:
        """Every notification received so far (progress, showMessage), oldest first."""
        with self._shared.lock:
            return list(self._shared.notifications)

    # -- transport (subclasses may wrap _send and _dispatch to observe traffic) -------------

    def _send(self, message: dict) -> None:
        _write_message(self._process.stdin, self._write_lock, message)

    def _dispatch(self, message: dict) -> None:
        _route(self._shared, message)

    def _callbacks_settled(self, before: int) -> None:
        """Waits until the callbacks queued before an answer have run, so `step(...,
        on_progress=...)` returns after its last progress callback; not when called from a
        callback itself (that would wait for itself)."""
        shared = self._shared
        if threading.current_thread() is shared.dispatcher:
            return
        with shared.ran_changed:
            shared.ran_changed.wait_for(lambda: shared.ran >= before or shared.closed, timeout=60)

    # -- requests --------------------------------------------------------------------------

    def request_async(self, method: str, params: Optional[dict] = None,
                      on_progress: Optional[Callable[[dict], None]] = None) -> Pending:
        request_id = next(self._ids)
        params = dict(params or {})
        if on_progress is not None:
            token = f"progress-{request_id}"
            self._shared.progress[token] = on_progress
            params["workDoneToken"] = token
        pending = Pending(self, request_id, method)
        with self._shared.lock:
            self._shared.pending[request_id] = pending
        self._send({"jsonrpc": "2.0", "id": request_id, "method": method, "params": params})
        return pending

    _DEFAULT = object()

    def request(self, method: str, params: Optional[dict] = None, timeout: Any = _DEFAULT,
                on_progress: Optional[Callable[[dict], None]] = None) -> Any:
        """Sends a request and waits for its answer (`timeout`: seconds, default per method)."""
        limit = self.timeouts.get(method, 60) if timeout is Client._DEFAULT else timeout
        return self.request_async(method, params, on_progress).result(limit)

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
        self._documents.add(uri)
        return self.request("loadImage", params, **kw)

    def set_abstraction(self, uri: str, **settings: Any) -> dict:
        """settings: fidelity, simplicity, strokes, strokeWidth, seed, iterations,
        simplicityIterations, learningRate, augmentations, depth."""
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
        self._documents.add(uri)
        return self.request("restoreSession", {"uri": uri, **({"path": path} if path else {})})

    def close_document(self, uri: str, keep_snapshot: bool = False) -> None:
        """Forgets the document; its automatic snapshot is deleted unless `keep_snapshot`."""
        self.request("closeDocument", {"uri": uri, "keepSnapshot": keep_snapshot})
        self._documents.discard(uri)

    def status(self) -> dict:
        return self.request("getStatus", {})

    # -- notebooks -------------------------------------------------------------------------

    def drawing(self, uri: str, part: str = "combined", scale: float = 2) -> Drawing:
        """The current drawing as SVG and PNG."""
        return Drawing(self.get_svg(uri, part), self.get_preview_png(uri, part, scale))

    def display(self, uri: str, part: str = "combined") -> Drawing:
        """The current drawing; a notebook cell shows it inline (SVG, or PNG where SVG is blocked)."""
        return self.drawing(uri, part)

    def sketch(self, uri: str, steps: int = 10_000, live: bool = True, rate: float = 4) -> dict:
        """Runs up to `steps` steps. With `live`, a notebook cell shows the drawing and a progress
        bar, refreshed at most `rate` times a second while it runs; "Interrupt kernel" stops the
        server's work, leaves the drawing reached shown, and raises KeyboardInterrupt. The result
        is step's, plus "updates": how many times the live view was refreshed."""
        view = _LiveView(self, uri, rate) if live else None
        try:
            result = self.step(uri, steps, on_progress=view)
        except KeyboardInterrupt:
            # The drawing reached stays shown, then the interrupt goes on.
            if view is not None:
                view({"message": "interrupted"}, final=True)
            raise
        if view is not None:
            view({"message": f"step {result.get('step')}/{result.get('totalSteps')}"
                             + (" (interrupted)" if result.get("cancelled") else "")}, final=True)
            result = {**result, "updates": view.updates}
        return result

    def matrix(self, uri: str, fidelities: Optional[List[int]] = None, simplicities: Optional[List[int]] = None,
               **kw: Any) -> MatrixView:
        """The abstraction matrix of the document's photo, shown as a grid in a notebook."""
        params: Dict[str, Any] = {}
        if fidelities is not None:
            params["fidelities"] = fidelities
        if simplicities is not None:
            params["simplicities"] = simplicities
        return MatrixView(self.run_matrix(uri, **params, **kw))

    # -- lifecycle -------------------------------------------------------------------------

    def close(self, timeout: float = 30) -> int:
        """Closes the documents this client opened (deleting their automatic snapshots, unless
        `keep_snapshots`), then shutdown + exit; returns the server's exit code (0 when it shut
        down cleanly)."""
        if self._process.poll() is None:
            try:
                if not self.keep_snapshots:
                    for uri in sorted(self._documents):
                        try:
                            self.request("closeDocument", {"uri": uri, "keepSnapshot": False}, timeout=timeout)
                        except ServerError:
                            pass   # never opened (its load failed) or already gone
                    self._documents.clear()
                self.request("shutdown", timeout=timeout)
                self.notify("exit")
            except (ServerError, OSError, TimeoutError):
                pass
        self._finalizer()  # closes stdin, waits, and stops the dispatcher; a no-op the second time
        return self._process.wait(timeout)

    def __enter__(self) -> "Client":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()
