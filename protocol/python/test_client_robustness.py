"""The first things a notebook user writes, each of which once hung or broke the client:
a callback that raises, a callback that calls the client, Ctrl-C / "Interrupt kernel", a
re-run `c = Client()` cell, a notebook that blocks SVG, and `pip install`. Run by the Swift
test suite:

    CLIPASCENE_BIN=.build/release/clipascene python3 protocol/python/test_client_robustness.py IMAGE
"""

import gc
import io
import logging
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

from clipascene_client import Client, Drawing  # noqa: E402

BINARY = os.environ.get("CLIPASCENE_BIN") or Client.find_binary()


def new_client():
    return Client([BINARY, "serve", "--state-dir", f"/tmp/clipascene-py-{uuid.uuid4()}"])


def alive(process):
    return process.poll() is None


def callbacks_that_raise_or_call_back(image):
    c = new_client()
    c.load_image("doc", path=image, mask="none")
    c.set_abstraction("doc", iterations=4, strokes=8)
    # 1. The obvious first callback raises KeyError on the "begin" message (it has no step).
    records = io.StringIO()
    handler = logging.StreamHandler(records)
    logging.getLogger("clipascene_client").addHandler(handler)
    steps = []
    result = c.step("doc", 2, on_progress=lambda v: steps.append(v["step"]))
    logging.getLogger("clipascene_client").removeHandler(handler)
    assert result["step"] == 2, result
    assert steps, "no progress callback ran after the first one raised"
    assert "KeyError" in records.getvalue(), records.getvalue()
    assert c.status()["documents"], "the connection died after a callback raised"
    # 2. A callback that calls the client (a live preview) must not deadlock.
    previews = []
    result = c.step("doc", 2, on_progress=lambda v: previews.append(c.get_svg("doc")))
    assert result["step"] == 4 and previews and previews[-1].startswith("<?xml"), (result, len(previews))
    # 5. Both an SVG and a PNG, so untrusted notebooks still show the picture.
    bundle = c.display("doc")._repr_mimebundle_()
    assert bundle["image/svg+xml"].startswith("<?xml"), bundle.keys()
    assert bundle["image/png"].startswith("iVBORw0KGgo"), bundle["image/png"][:20]
    assert c.close() == 0
    print("callbacks: ok")


def keyboard_interrupt_cancels(image):
    """3. What Ctrl-C and Jupyter's "Interrupt kernel" do: SIGINT to the process running the
    script. The step stops on the server, the document keeps the state reached, and the
    KeyboardInterrupt goes on (Python's convention), so a loop over photos stops there too."""
    c = new_client()
    for uri in ("a", "b", "c"):
        c.load_image(uri, path=image, mask="none")
        c.set_abstraction(uri, iterations=5000, strokes=16)
    started = threading.Event()
    sent = []

    def interrupt():
        started.wait(60)
        time.sleep(0.3)
        sent.append(time.time())
        os.kill(os.getpid(), signal.SIGINT)

    threading.Thread(target=interrupt, daemon=True).start()
    stepped = []
    try:
        for uri in ("a", "b", "c"):
            stepped.append(uri)
            c.step(uri, 5000, on_progress=lambda v: v.get("kind") == "report" and started.set())
        raise AssertionError("the loop ran to its end: the interrupt was swallowed")
    except KeyboardInterrupt:
        returned = time.time()
    assert sent, "the interrupt was never sent"
    assert stepped == ["a"], f"the loop went on after the interrupt: {stepped}"
    latency = returned - sent[0]
    docs = {d["uri"]: d for d in c.status()["documents"]}
    assert 0 < docs["a"]["step"] < 5000, docs["a"]
    assert docs["b"]["step"] == 0, docs["b"]
    # The server is free again at once: the next request is not stuck behind the old step.
    t = time.time()
    c.set_abstraction("a", fidelity=1)
    after = time.time() - t
    assert after < 10, f"setAbstraction after the interrupt took {after:.1f} s"
    assert c.close() == 0
    print(f"interrupt: ok (Interrupt to raise {latency * 1000:.0f} ms, next request {after * 1000:.0f} ms)")


def clean_close_leaves_no_snapshot(image):
    """5. A one-shot `with Client():` leaves nothing in the state folder; `keep_snapshots=True`
    keeps the automatic snapshot, as a crash would."""
    for keep in (False, True):
        state = tempfile.mkdtemp(prefix="clipascene-state-")
        with Client([BINARY, "serve", "--state-dir", state], keep_snapshots=keep) as c:
            c.load_image("doc", path=image, mask="none")
            c.set_abstraction("doc", iterations=3, strokes=8)
            c.step("doc", 2)
        left = [n for n in os.listdir(state) if n.endswith(".clpsnap")]
        assert len(left) == (1 if keep else 0), (keep, os.listdir(state))
        shutil.rmtree(state, ignore_errors=True)
    print("clean close: ok")


def rerun_cells_leave_no_servers():
    """4. `c = Client()` run three times: the replaced clients' servers stop."""
    processes = []
    c = None
    for _ in range(3):
        c = new_client()
        processes.append(c._process)
        gc.collect()
    deadline = time.time() + 20
    while time.time() < deadline and any(alive(p) for p in processes[:-1]):
        gc.collect()
        time.sleep(0.1)
    assert not any(alive(p) for p in processes[:-1]), [p.pid for p in processes if alive(p)]
    assert alive(processes[-1])
    del c
    gc.collect()
    processes[-1].wait(20)
    # Interpreter exit without close(): the server goes too.
    script = f"import sys; sys.path.insert(0, {HERE!r}); from clipascene_client import Client; " \
             f"c = Client([{BINARY!r}, 'serve', '--state-dir', '/tmp/clipascene-py-{uuid.uuid4()}']); print(c.pid)"
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    pid = int(out.stdout.strip())
    deadline = time.time() + 20
    while time.time() < deadline:
        try:
            os.kill(pid, 0)
            time.sleep(0.1)
        except ProcessLookupError:
            break
    else:
        raise AssertionError(f"server {pid} outlived its interpreter")
    print("servers: ok")


def pip_installs():
    """pip install ./protocol/python gives an importable, typed package."""
    target = tempfile.mkdtemp(prefix="clipascene-pip-")
    # From a copy: building in place would leave build/ and *.egg-info in the repository.
    source = os.path.join(tempfile.mkdtemp(prefix="clipascene-src-"), "python")
    shutil.copytree(HERE, source, ignore=shutil.ignore_patterns("build", "*.egg-info", "__pycache__"))
    run = subprocess.run([sys.executable, "-m", "pip", "install", "--quiet",
                          "--disable-pip-version-check", "--target", target, source], capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    assert os.path.exists(os.path.join(target, "clipascene_client", "py.typed"))
    check = subprocess.run([sys.executable, "-c", "import clipascene_client as m; print(m.__file__)"],
                           capture_output=True, text=True, env={**os.environ, "PYTHONPATH": target})
    assert check.stdout.strip().startswith(target), (check.stdout, check.stderr)
    print("pip: ok")


if __name__ == "__main__":
    image = sys.argv[1]
    callbacks_that_raise_or_call_back(image)
    keyboard_interrupt_cancels(image)
    clean_close_leaves_no_snapshot(image)
    rerun_cells_leave_no_servers()
    pip_installs()
    print("all ok")
