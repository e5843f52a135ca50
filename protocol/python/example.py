"""Sketch a photo through `clipascene serve`, watching progress, then save the SVG and a PNG.

    python3 protocol/python/example.py examples/bull.jpg out/example
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from clipascene_client import Client  # noqa: E402


def main() -> None:
    photo = sys.argv[1] if len(sys.argv) > 1 else "examples/bull.jpg"
    out = sys.argv[2] if len(sys.argv) > 2 else "out/example"
    os.makedirs(out, exist_ok=True)
    with Client() as client:
        print("server", client.server_info.get("version"), file=sys.stderr)
        info = client.load_image("photo", path=photo)
        print(f"{info['width']}×{info['height']}, subject found: {info['subjectFound']}", file=sys.stderr)
        client.set_abstraction("photo", fidelity=0, simplicity=0, strokes=64, iterations=100)

        def show(value: dict) -> None:
            if value.get("kind") == "report":
                print(f"\r{value.get('percentage', 0):3d}%  {value.get('message', '')}", end="", file=sys.stderr)

        result = client.step("photo", 10_000, on_progress=show)
        print(f"\nstep {result['step']}/{result['totalSteps']}, loss {result['loss']:.4f}", file=sys.stderr)
        with open(os.path.join(out, "combined.svg"), "w") as f:
            f.write(client.get_svg("photo"))
        with open(os.path.join(out, "preview.png"), "wb") as f:
            f.write(client.get_preview_png("photo"))
        print(f"wrote {out}/combined.svg and {out}/preview.png", file=sys.stderr)


if __name__ == "__main__":
    main()
