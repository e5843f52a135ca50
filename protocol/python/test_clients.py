"""Drives `clipascene serve` with two clients: the shipped `clipascene_client` and pygls's
`LanguageClient` (a third-party LSP client). Run by the Swift test suite; needs pygls and
jsonschema importable (scripts/setup --test installs them into .build/python).

    CLIPASCENE_BIN=.build/release/clipascene python3 protocol/python/test_clients.py IMAGE
"""

import asyncio
import json
import os
import sys
import threading
import time
import uuid

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import jsonschema  # noqa: E402
from clipascene_client import Cancelled, Client  # noqa: E402

OPENRPC = json.load(open(os.path.join(HERE, "..", "clipascene.openrpc.json")))
METHODS = {m["name"]: m for m in OPENRPC["methods"]}
problems = []


def with_components(schema):
    return {**schema, "components": OPENRPC["components"]}


def check(value, schema, where):
    try:
        jsonschema.validate(value, with_components(schema))
    except jsonschema.ValidationError as e:
        problems.append(f"{where}: {e.message}")


def params_schema(method):
    m = METHODS[method]
    return {"type": "object",
            "properties": {p["name"]: p.get("schema", {}) for p in m["params"]},
            "required": [p["name"] for p in m["params"] if p.get("required")],
            "additionalProperties": bool(m.get("x-additionalParams"))}


class RecordingClient(Client):
    """The shipped client, with every message both ways checked against the OpenRPC document."""

    def __init__(self, *a, **kw):
        self.methods_by_id = {}
        super().__init__(*a, **kw)

    def _send(self, message):
        if "method" in message:
            check(message.get("params", {}), params_schema(message["method"]), message["method"] + ".params")
            if "id" in message:
                self.methods_by_id[message["id"]] = message["method"]
        super()._send(message)

    def _dispatch(self, message):
        if "method" in message:
            check(message.get("params", {}), params_schema(message["method"]), message["method"] + ".params")
        elif "error" in message:
            check(message["error"], {"$ref": "#/components/schemas/Error"}, "error")
        else:
            method = self.methods_by_id.get(message.get("id"))
            if method:
                check(message["result"], METHODS[method]["result"]["schema"], method + ".result")
        super()._dispatch(message)


def shipped_client(binary, image):
    client = RecordingClient([binary, "serve", "--state-dir", f"/tmp/clipascene-py-{uuid.uuid4()}"])
    assert client.server_info["name"] == "clipascene", client.server_info
    info = client.load_image("doc", path=image, mask="none")
    assert info["width"] > 0 and info["subjectFound"] is False, info
    client.set_abstraction("doc", iterations=3, strokes=16)
    seen = []
    result = client.step("doc", 3, on_progress=seen.append)
    assert result["step"] == 3 and result["complete"], result
    kinds = [v["kind"] for v in seen]
    assert kinds[0] == "begin" and kinds[-1] == "end" and "report" in kinds, kinds
    svg = client.get_svg("doc")
    assert svg.startswith("<?xml") and "<path" in svg
    assert client.get_preview_png("doc").startswith(b"\x89PNG")
    # Cancellation: a long step, cancelled once it has reported progress.
    client.set_abstraction("doc", iterations=5000)
    started = threading.Event()
    pending = client.step_async("doc", 5000, on_progress=lambda v: v.get("kind") == "report" and started.set())
    assert started.wait(60), "no progress from the long step"
    t = time.time()
    pending.cancel()
    try:
        pending.result(30)
        raise AssertionError("the cancelled step succeeded")
    except Cancelled as e:
        assert e.data and e.data["step"] > 0, e.data
    assert time.time() - t < 2, "cancel took too long"
    assert client.close() == 0
    print("shipped client: ok")


async def pygls_client(binary, image):
    from lsprotocol import types
    from pygls.exceptions import JsonRpcRequestCancelled
    from pygls.lsp.client import LanguageClient

    client = LanguageClient("clipascene-test", "1.0")
    progress = []

    @client.feature("$/progress")
    def on_progress(params):
        progress.append(params)

    await client.start_io(binary, "serve", "--state-dir", f"/tmp/clipascene-pygls-{uuid.uuid4()}")
    result = await client.initialize_async(types.InitializeParams(capabilities=types.ClientCapabilities()))
    assert result.server_info.name == "clipascene", result
    client.initialized(types.InitializedParams())
    send = client.protocol.send_request_async
    info = await send("loadImage", {"uri": "doc", "path": image, "options": {"mask": "none"}})
    assert info.width > 0, info
    await send("setAbstraction", {"uri": "doc", "iterations": 2, "numPaths": 16})
    stepped = await send("step", {"uri": "doc", "count": 2, "workDoneToken": "pygls-step"})
    assert stepped.step == 2, stepped
    def kind(p):  # pygls gives `value` as a dict (its type is LSPAny)
        return p.value["kind"] if isinstance(p.value, dict) else p.value.kind

    kinds = [kind(p) for p in progress if p.token == "pygls-step"]
    assert kinds[0] == "begin" and kinds[-1] == "end", kinds
    svg = await send("getSVG", {"uri": "doc"})
    assert "<path" in svg.svg
    # pygls does not send $/cancelRequest when a future is cancelled: send it ourselves.
    await send("setAbstraction", {"uri": "doc", "iterations": 5000})
    long_id = str(uuid.uuid4())
    future = client.protocol.send_request_async("step", {"uri": "doc", "count": 5000, "workDoneToken": "long"}, msg_id=long_id)
    for _ in range(600):
        if any(p.token == "long" and kind(p) == "report" for p in progress):
            break
        await asyncio.sleep(0.1)
    client.protocol.notify("$/cancelRequest", types.CancelParams(id=long_id))
    try:
        await asyncio.wait_for(future, 30)
        raise AssertionError("the cancelled step succeeded")
    except JsonRpcRequestCancelled:
        pass
    await client.shutdown_async(None)
    client.exit(None)
    await client.stop()
    print("pygls LanguageClient: ok")


def main():
    binary = os.environ.get("CLIPASCENE_BIN") or Client.find_binary()
    image = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else "examples/bull.jpg")
    shipped_client(binary, image)
    asyncio.run(pygls_client(binary, image))
    if problems:
        print("schema problems:\n" + "\n".join(problems), file=sys.stderr)
        sys.exit(1)
    print("all messages valid against clipascene.openrpc.json")


if __name__ == "__main__":
    main()
