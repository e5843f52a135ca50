"""Runs a `clipascene batch` manifest on a Ray cluster: each Ray actor owns one
`clipascene serve` process and drives it with the shipped client.

    python3 protocol/python/ray_batch.py photos.jsonl --out sketches --actors 4 [--address auto]

Same manifest format and output layout as `clipascene batch` (docs/batch/README.md): each
item appears whole in OUT/<id>/ (written under a temporary name, then renamed), finished
items are skipped on a rerun, failures get OUT/<id>/error.json, and OUT/summary-ray.jsonl
lists every item. Exit code 1 if any item failed. The `clipascene` binary (and its
checkpoint/ folder) must exist at the same path on every node (--binary).
"""

import argparse
import json
import os
import shutil
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import ray  # noqa: E402

# A manifest names the settings as setAbstraction does (numPaths and paths: older spellings of strokes).
SETTINGS = {"fidelity", "simplicity", "strokes", "strokeWidth", "seed", "iterations", "simplicityIterations",
            "learningRate", "augmentations", "depth", "numPaths", "paths"}
KNOWN = set(SETTINGS) | {"image", "id", "mask", "background", "matrix"}


def parse_manifest(path):
    """Items as dicts with an `id`; bad lines become items with a `problem`."""
    base = os.path.dirname(os.path.abspath(path))
    items, seen = [], set()
    with open(path) as f:
        for n, line in enumerate(f, 1):
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            item = {"id": f"line-{n}", "line": n}
            try:
                o = json.loads(line)
                assert isinstance(o, dict)
            except (ValueError, AssertionError):
                items.append({**item, "problem": f"line {n} is not a JSON object"})
                continue
            image = o.get("image")
            if not isinstance(image, str) or not image:
                items.append({**item, "problem": f'line {n}: "image" (a path) is required'})
                continue
            stem = os.path.splitext(os.path.basename(image))[0]
            raw = o.get("id", stem)
            item["id"] = "".join(c if c.isalnum() or c in "-_." else "_" for c in str(raw)).lstrip(".") or f"item-{n}"
            unknown = sorted(set(o) - KNOWN)
            if unknown:
                item["problem"] = f"line {n}: unknown option '{unknown[0]}'"
            if item["id"] in seen:
                item["problem"] = f"id '{item['id']}' is used by an earlier line"
                item["id"] += f"-line-{n}"
            seen.add(item["id"])

            def resolve(p):
                return p if os.path.isabs(p) else os.path.join(base, p)

            item["image"] = resolve(image)
            item["mask"] = o.get("mask", "auto") if o.get("mask", "auto") in ("auto", "none") else resolve(o["mask"])
            item["background"] = "auto" if o.get("background", "auto") == "auto" else resolve(o["background"])
            item["matrix"] = bool(o.get("matrix", False))
            item["settings"] = {k: v for k, v in o.items() if k in SETTINGS}
            items.append(item)
    return items


def publish(out, item_id, fill):
    """Fills a temporary folder, then renames it to OUT/<id> (replacing a failed attempt)."""
    tmp = tempfile.mkdtemp(prefix=f".tmp-{item_id}-ray", dir=out)
    try:
        fill(tmp)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    target = os.path.join(out, item_id)
    if os.path.exists(target):
        shutil.rmtree(target)
    os.rename(tmp, target)


@ray.remote
class SketchWorker:
    """One `clipascene serve` process, one item at a time."""

    def __init__(self, binary, threads):
        from clipascene_client import Client
        self.state = tempfile.mkdtemp(prefix="clipascene-ray-state-")
        self.client = Client([binary, "serve", "--threads", str(threads), "--state-dir", self.state],
                             stderr=open(os.devnull, "w"))

    def sketch(self, item, out):
        from clipascene_client import ServerError
        started = time.time()
        record = {"id": item["id"], "worker": os.getpid()}
        done = os.path.join(out, item["id"], "done.json")
        if os.path.exists(done):
            with open(done) as f:
                previous = json.load(f)
            return {**record, "status": "ok", "reused": True, "seconds": previous.get("seconds"), "loss": previous.get("loss")}
        uri = item["id"]
        try:
            if item.get("problem"):
                raise ServerError(-32602, item["problem"])
            self.client.load_image(uri, path=item["image"], mask=item["mask"], background=item["background"])
            if item["settings"]:
                self.client.set_abstraction(uri, **item["settings"])
            result = {}

            def fill(tmp):
                nonlocal result
                if item["matrix"]:
                    self.client.run_matrix(uri, outDir=tmp)
                else:
                    result = self.client.step(uri, 1_000_000)
                    for part in ("combined", "foreground", "background"):
                        with open(os.path.join(tmp, f"{part}.svg"), "w") as f:
                            f.write(self.client.get_svg(uri, part))
                    with open(os.path.join(tmp, "preview.png"), "wb") as f:
                        f.write(self.client.get_preview_png(uri))
                with open(os.path.join(tmp, "done.json"), "w") as f:
                    json.dump({"id": uri, "seconds": time.time() - started, "loss": result.get("loss")}, f)

            publish(out, item["id"], fill)
            return {**record, "status": "ok", "seconds": time.time() - started, "loss": result.get("loss")}
        except ServerError as e:
            def fill_error(tmp):
                with open(os.path.join(tmp, "error.json"), "w") as f:
                    json.dump({"id": item["id"], "line": item.get("line"), "error": e.message}, f)
            publish(out, item["id"], fill_error)
            return {**record, "status": "failed", "error": e.message, "seconds": time.time() - started}
        finally:
            try:
                self.client.close_document(uri)
            except ServerError:
                pass

    def close(self):
        code = self.client.close()
        shutil.rmtree(self.state, ignore_errors=True)
        return code


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("manifest")
    ap.add_argument("--out", required=True)
    ap.add_argument("--actors", type=int, default=2, help="number of clipascene serve processes")
    ap.add_argument("--threads", type=int, default=1, help="threads per server")
    ap.add_argument("--address", default=None, help="Ray cluster address (default: start a local one)")
    ap.add_argument("--binary", default=None, help="clipascene executable (default: as the client finds it)")
    args = ap.parse_args(argv)

    from clipascene_client import Client
    binary = os.path.abspath(args.binary or Client.find_binary())
    out = os.path.abspath(args.out)
    os.makedirs(out, exist_ok=True)
    items = parse_manifest(args.manifest)
    # Workers import the client from this folder.
    env = {"PYTHONPATH": os.pathsep.join([HERE] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p])}
    if args.address:
        ray.init(address=args.address, runtime_env={"env_vars": env}, log_to_driver=False)
    else:
        ray.init(num_cpus=args.actors * args.threads, include_dashboard=False, runtime_env={"env_vars": env},
                 log_to_driver=False)
    workers = [SketchWorker.options(num_cpus=args.threads).remote(binary, args.threads) for _ in range(args.actors)]
    pool = ray.util.ActorPool(workers)
    started, records = time.time(), []
    for k, record in enumerate(pool.map_unordered(lambda w, it: w.sketch.remote(it, out), items), 1):
        records.append(record)
        eta = (time.time() - started) / k * (len(items) - k)
        print(f"[{k}/{len(items)}] {record['id']}: {record['status']}  (ETA {eta:.0f} s)", file=sys.stderr)
        with open(os.path.join(out, "summary-ray.jsonl.tmp"), "w") as f:
            f.writelines(json.dumps(r, sort_keys=True) + "\n" for r in records)
        os.replace(os.path.join(out, "summary-ray.jsonl.tmp"), os.path.join(out, "summary-ray.jsonl"))
    ray.get([w.close.remote() for w in workers])
    ray.shutdown()
    failed = sum(r["status"] != "ok" for r in records)
    print(f"{len(records)} items, {failed} failed; summary in {out}/summary-ray.jsonl", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
