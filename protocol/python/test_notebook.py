"""Executes examples/sketch.ipynb with nbclient, as a notebook user would run it, and checks
what the cells show: the live sketch refreshed more than once, the drawing as PNG and SVG,
the matrix as PNG and HTML. Needs nbclient, nbformat and ipykernel (scripts/setup --test).

    CLIPASCENE_BIN=.build/release/clipascene python3 protocol/python/test_notebook.py
"""

import os
import sys
import time

import nbformat
from nbclient import NotebookClient

ROOT = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
PATH = os.path.join(ROOT, "examples", "sketch.ipynb")

os.environ.setdefault("SKETCH_ITERATIONS", "12")
os.environ.setdefault("SKETCH_MATRIX_ITERATIONS", "4")

notebook = nbformat.read(PATH, as_version=4)
started = time.time()
NotebookClient(notebook, timeout=900, kernel_name="python3",
               resources={"metadata": {"path": os.path.dirname(PATH)}}).execute()
seconds = time.time() - started

code = [c for c in notebook.cells if c.cell_type == "code"]
texts = ["".join(o.get("text", "") for o in c.outputs if o.output_type == "stream") for c in code]
bundles = [[o.get("data", {}) for o in c.outputs if o.output_type in ("display_data", "execute_result")] for c in code]

sketch = next(i for i, c in enumerate(code) if "c.sketch(" in c.source)
line = next(l for l in texts[sketch].splitlines() if "refreshed" in l)
updates = int(line.split("refreshed")[1].split()[0])
assert updates > 1, f"the live view was refreshed {updates} times: {line}"
live = bundles[sketch]
assert any("image/png" in b and "image/svg+xml" in b for b in live), f"the live drawing: {[list(b) for b in live]}"
assert any("text/html" in b and "<progress" in b["text/html"] for b in live), "no progress bar"

shown = bundles[next(i for i, c in enumerate(code) if c.source.strip() == 'c.display("bull")')]
assert shown and "image/png" in shown[0] and "image/svg+xml" in shown[0], [list(b) for b in shown]
assert shown[0]["image/svg+xml"].lstrip().startswith("<?xml")

matrix = bundles[next(i for i, c in enumerate(code) if "c.matrix(" in c.source)]
assert matrix and "image/png" in matrix[0] and "text/html" in matrix[0], [list(b) for b in matrix]

steps = int(line.split()[0])
timing = code[sketch].metadata.get("execution", {})
rate = ""
if "iopub.execute_input" in timing and "shell.execute_reply" in timing:
    from datetime import datetime
    parse = lambda t: datetime.fromisoformat(t.replace("Z", "+00:00"))
    cell_seconds = (parse(timing["shell.execute_reply"]) - parse(timing["iopub.execute_input"])).total_seconds()
    rate = f", {updates / cell_seconds:.1f} refreshes a second over the {cell_seconds:.1f} s cell"
print(f"notebook: ok ({seconds:.0f} s; the live view was refreshed {updates} times over {steps} steps{rate})")
