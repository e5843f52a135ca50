#!/usr/bin/env python3
"""Writes the small seed inputs of every fuzz target into Fuzz/seeds/<target>/.

Standard library only (JPEG seeds need ImageMagick's `convert`, skipped without it).
The seeds are committed; rerun this only to change them: python3 Fuzz/make_seeds.py
"""
import io, json, os, pickle, shutil, struct, subprocess, sys, types, zipfile, zlib

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "seeds")


def put(target, name, data):
    folder = os.path.join(ROOT, target)
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, name), "wb") as f:
        f.write(data if isinstance(data, bytes) else data.encode())


# --- message: both framings, odd ids, a notification, an oversized claim.
def messages():
    def framed(obj):
        body = json.dumps(obj).encode()
        return b"Content-Length: %d\r\n\r\n" % len(body) + body
    init = {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {"capabilities": {}}}
    step = {"jsonrpc": "2.0", "id": "s-1", "method": "step", "params": {"uri": "a", "count": 3, "workDoneToken": "t"}}
    put("message", "headers", framed(init) + framed(step))
    put("message", "lines", json.dumps(init) + "\n" + json.dumps({"jsonrpc": "2.0", "method": "$/cancelRequest", "params": {"id": 1}}) + "\n")
    put("message", "unicode", json.dumps({"jsonrpc": "2.0", "id": 123456789012345678901234567890, "method": "getSVG",
                                          "params": {"uri": "\u00e9\ud83d\ude00", "x": [1.5e-7, -0.0, True, None]}}) + "\n")
    put("message", "stray", b"42\nhello\n\x00\x00\nContent-Length: 99999999999\r\n\r\n{}Content-Length: 2\r\n\r\n{}")


# --- image: PNGs of each colour type and depth, interlaced, with tRNS; JPEGs via ImageMagick.
def chunk(kind, data):
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def png(width, height, depth, colour, rows, extra=b"", interlace=0):
    raw = b"".join(b"\x00" + r for r in rows)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, depth, colour, 0, 0, interlace))
            + extra + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


def images():
    put("image", "gray8.png", png(3, 2, 8, 0, [bytes([0, 128, 255]), bytes([1, 2, 3])]))
    put("image", "rgb8.png", png(2, 2, 8, 2, [bytes(range(6)), bytes(range(6, 12))]))
    put("image", "rgba16.png", png(1, 2, 16, 6, [bytes(range(8)), bytes(range(8, 16))]))
    put("image", "palette.png", png(2, 1, 8, 3, [bytes([0, 1])], chunk(b"PLTE", bytes([255, 0, 0, 0, 0, 255])) + chunk(b"tRNS", bytes([128]))))
    put("image", "grayalpha.png", png(2, 1, 8, 4, [bytes([10, 20, 30, 40])]))
    convert = shutil.which("convert")
    if convert and b"ImageMagick" in subprocess.run([convert, "-version"], capture_output=True).stdout:
        for name, options in [("baseline.jpg", []), ("progressive.jpg", ["-interlace", "JPEG"]),
                              ("gray.jpg", ["-colorspace", "Gray"]), ("cmyk.jpg", ["-colorspace", "CMYK"])]:
            out = subprocess.run([convert, "-size", "8x6", "gradient:red-blue"] + options + ["-quality", "80", "jpg:-"],
                                 capture_output=True, check=True).stdout
            put("image", name, out)
    else:
        print("convert (ImageMagick) not found: JPEG seeds skipped", file=sys.stderr)


# --- svg: our own output, the reference's path style, an editor's file with transforms.
def svgs():
    put("svg", "ours.svg", '<?xml version="1.0" encoding="UTF-8"?>\n<svg xmlns="http://www.w3.org/2000/svg" version="1.1" width="224" height="224" viewBox="0 0 224 224">\n'
        '<rect width="224" height="224" fill="white"/>\n<g id="foreground"><path d="M 10.00 20.00 C 30.00 40.00 50.00 60.00 70.00 80.00" fill="none" stroke="black" stroke-width="3.00" stroke-linecap="round"/></g>\n'
        '<clipPath id="c"><path d="M0 0 L10 0 L10 10 Z" clip-rule="evenodd"/></clipPath>\n</svg>\n')
    put("svg", "reference.svg", '<svg width="224" height="224"><path d="M101.2,20.5 C 90,30 80,40 70,50" stroke-width="1.5" stroke-opacity="1"/></svg>')
    put("svg", "editor.svg", '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 100 50"><g transform="translate(5,5) scale(2) rotate(10)">'
        '<path d="m 1,1 l 10,0 q 5,5 10,0 h 3 v 4 z M 40 40 Q 45 45 50 40 T 60 40 s 5 5 10 0 S 80 40 90 40" transform="matrix(1 0 0 1 1 1)"/>'
        '<polyline points="1,2 3,4 5,6"/><line x1="0" y1="0" x2="5" y2="5"/></g></svg>')


# --- pickle: a zip-format torch.save of a two-tensor state dict, and a TorchScript-like module tree.
class Storage:
    def __init__(self, key, kind, numel, data):
        self.key, self.kind, self.numel, self.data = key, kind, numel, data


def fake_torch():
    torch = types.ModuleType("torch")
    utils = types.ModuleType("torch._utils")
    collections_mod = sys.modules["collections"]

    def _rebuild_tensor_v2(*args):
        raise RuntimeError("never called")
    _rebuild_tensor_v2.__module__ = "torch._utils"
    _rebuild_tensor_v2.__qualname__ = "_rebuild_tensor_v2"
    utils._rebuild_tensor_v2 = _rebuild_tensor_v2
    for kind in ["FloatStorage", "HalfStorage", "LongStorage"]:
        cls = type(kind, (), {"__module__": "torch", "__qualname__": kind})
        setattr(torch, kind, cls)
    torch._utils = utils
    sys.modules["torch"], sys.modules["torch._utils"] = torch, utils
    return torch, utils, collections_mod


class Tensor:
    def __init__(self, storage, offset, size, stride):
        self.storage, self.offset, self.size, self.stride = storage, offset, size, stride

    def __reduce__(self):
        import torch._utils as u
        from collections import OrderedDict
        return (u._rebuild_tensor_v2, (self.storage, self.offset, self.size, self.stride, False, OrderedDict()))


class TorchPickler(pickle.Pickler):
    def persistent_id(self, obj):
        if isinstance(obj, Storage):
            import torch
            return ("storage", getattr(torch, obj.kind), obj.key, "cpu", obj.numel)
        return None


def torch_zip(root, storages, prefix="archive"):
    out = io.BytesIO()
    buf = io.BytesIO()
    TorchPickler(buf, protocol=2).dump(root)
    with zipfile.ZipFile(out, "w", zipfile.ZIP_STORED) as z:
        z.writestr(f"{prefix}/data.pkl", buf.getvalue())
        for s in storages:
            z.writestr(f"{prefix}/data/{s.key}", s.data)
        z.writestr(f"{prefix}/version", "3\n")
    return out.getvalue()


def pickles():
    from collections import OrderedDict
    fake_torch()
    w = Storage("0", "FloatStorage", 6, struct.pack("<6f", 1, 2, 3, 4, 5, 6))
    h = Storage("1", "HalfStorage", 2, struct.pack("<2e", 0.5, -2))
    state = OrderedDict([("layer.weight", Tensor(w, 0, (2, 3), (3, 1))), ("layer.bias", Tensor(h, 0, (2,), (1,))),
                         ("view", Tensor(w, 1, (2, 2), (1, 3)))])
    put("pickle", "state_dict.pt", torch_zip(state, [w, h]))
    long = Storage("2", "LongStorage", 1, struct.pack("<q", 7))
    tree = {"visual": {"conv1": {"weight": Tensor(w, 0, (6,), (1,))}, "ln": [Tensor(long, 0, (), ())]}}
    put("pickle", "module_tree.pt", torch_zip(tree, [w, long], prefix="clip"))


# --- onnx: a Conv → Relu graph with an initializer, hand-encoded protobuf.
def varint(n):
    out = b""
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out += bytes([b | 0x80])
        else:
            return out + bytes([b])


def field(number, payload):
    if isinstance(payload, int):
        return varint(number << 3) + varint(payload)
    return varint(number << 3 | 2) + varint(len(payload)) + payload


def onnx():
    weight = field(1, 2) + field(1, 1) + field(1, 3) + field(1, 3) + field(2, 1) + field(8, b"w") + field(9, struct.pack("<18f", *range(18)))
    bias = field(1, 2) + field(2, 1) + field(8, b"b") + field(4, struct.pack("<2f", 0.5, -0.5))
    pads = field(1, b"pads") + field(8, b"".join(varint(1) for _ in range(4))) + field(20, 7)
    conv = field(1, b"x") + field(1, b"w") + field(1, b"b") + field(2, b"y") + field(4, b"Conv") + field(5, pads) \
        + field(5, field(1, b"strides") + field(8, 1) + field(8, 1)) + field(5, field(1, b"kernel_shape") + field(8, 3) + field(8, 3))
    relu = field(1, b"y") + field(2, b"z") + field(4, b"Relu")
    graph = field(1, conv) + field(1, relu) + field(5, weight) + field(5, bias) + field(11, field(1, b"x")) + field(12, field(1, b"z"))
    put("onnx", "conv_relu.onnx", field(1, 7) + field(7, graph))


# --- snapshot: a small version-2 archive (header JSON and three blobs, checksum right).
def snapshots():
    stroke = {"points": [[1, 2], [3, 4], [5, 6], [7, 8]], "halfWidth": 1.5, "opacity": 1}
    adam = {"learningRate": 1e-4, "beta1": 0.9, "beta2": 0.999, "epsilon": 1e-8, "step": 1, "m": 1, "v": 2}
    part = {"parameters": 0, "adam": adam, "rng": {"state": 7}, "step": 1, "lastLoss": 1.5, "bestLoss": "inf",
            "lastTotalLoss": 2.0, "bestStrokes": [stroke]}
    header = {"version": 1, "abstraction": {"fidelity": 0, "simplicity": 0, "strokes": 1, "halfWidth": 1.5, "seed": 0,
                                            "iterations": 2, "simplicityIterations": 1, "learningRate": 1e-4, "augmentations": 4},
              "stepsDone": 1, "photoPNG": 0, "maskPNG": 0, "parts": [part], "encoder": "efficientnet-lite0"}
    body = json.dumps(header).encode()
    blobs = b"".join(struct.pack("<Q", n) + struct.pack(f"<{n}f", *range(n)) for n in (4, 4, 4))
    payload = body + blobs
    put("snapshot", "v2.clpsnap", b"CLPSNAP2" + struct.pack("<II", len(body), zlib.crc32(payload) & 0xFFFFFFFF) + payload)
    put("snapshot", "v1.clpsnap", b"CLPSNAP1" + struct.pack("<I", len(body)) + payload)


# --- manifest: good lines, aliases, bad values, comments, odd ids.
def manifests():
    put("manifest", "items.jsonl", "\n".join([
        '{"image": "a.jpg", "id": "house-loose", "fidelity": 3, "simplicity": 4, "paths": 48, "seed": 7}',
        '# a comment',
        '{"image": "/abs/b.png", "numPaths": 8, "strokeWidth": 2.5, "learningRate": 0.001, "augmentations": 0, "depth": 5, "mask": "none", "background": "bg.png", "matrix": true}',
        '{"image": "c.png", "id": "summary-0-of-1.jsonl", "encoder": "clip-vit-b32", "depth": 11}',
        '{"image": "d.png", "paths": 1e300, "seed": -5, "iterations": 2.5}',
        'not json', '', '{"image": "e.png", "id": "../../etc", "simplicityIterations": "8"}',
    ]) + "\n")


if __name__ == "__main__":
    for make in (messages, images, svgs, pickles, onnx, snapshots, manifests):
        make()
    print("seeds written to", ROOT)
