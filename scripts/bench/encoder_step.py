"""The encoder work of one optimisation step, timed the way `clipascene bench encoder` does:
1 clean + 4 augmented sketch copies forward through a block and backward to the input,
4 target copies forward. Shared by the PyTorch bench scripts.

Arguments of those scripts: [threads] [--trainable]. By default the weights are frozen (what
our engine does, and PyTorch at its fastest). `--trainable` leaves them as the reference
CLIPasso/CLIPascene code does (it never turns requires_grad off), so autograd also computes
every weight gradient, which the optimiser then ignores."""
import sys
import time

import torch


def options():
    """(threads, trainable) from the command line."""
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    threads = int(args[0]) if args else 2
    return threads, "--trainable" in sys.argv[1:]


def set_trainable(module, trainable):
    for p in module.parameters():
        p.requires_grad_(trainable)


def time_steps(run, depths, threads, resolution=224, repeats=5, trainable=False):
    """Prints the best of `repeats` seconds per step for each block in `depths`;
    `run(images, depth)` returns the features after block `depth`."""
    torch.set_num_threads(threads)
    sketch = torch.rand(5, 3, resolution, resolution) * 2 - 1
    target = torch.rand(4, 3, resolution, resolution) * 2 - 1
    weights = "trainable" if trainable else "frozen"
    for depth in depths:
        best = float("inf")
        for _ in range(repeats):
            t0 = time.perf_counter()
            s = sketch.clone().requires_grad_(True)
            features = run(s, depth)
            with torch.no_grad():
                run(target, depth)
            (features * 0.001).sum().backward()
            best = min(best, time.perf_counter() - t0)
        print(f"block {depth}: {best:.3f} s/step (PyTorch {torch.__version__}, {threads} threads, weights {weights})",
              flush=True)
