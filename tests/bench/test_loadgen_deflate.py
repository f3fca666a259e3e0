"""spoke-loadgen's --deflate offers permessage-deflate without context
takeover, inflates what a server compresses and counts wire against inflated
bytes, and goes on uncompressed when the server declines: run against a
stand-in server (python3-websockets, not spoke: just enough of client
protocol v1) that accepts the extension or not.

Run with /usr/bin/python3 -m pytest tests/bench/test_loadgen_deflate.py after
`make build/spoke-loadgen` (BIN_DIR in the environment: another build dir)."""
import json
import os
import time
from pathlib import Path

import pytest
from websockets.extensions.permessage_deflate import ServerPerMessageDeflateFactory

from standin import StandinServer, run_loadgen

REPO = Path(__file__).resolve().parents[2]
LOADGEN = Path(os.environ.get("BIN_DIR", REPO / "build")) / "spoke-loadgen"
WARM, MEASURED = 5, 20
TEXT = "the deploy is done, please review the dashboard before lunch " * 12


class Server(StandinServer):
    """The stand-in edge: welcome, an ack for the sub, then the messages;
    permessage-deflate accepted (without context takeover) or not."""

    def __init__(self, accept):
        self.accept, self.offers = accept, []
        ext = [ServerPerMessageDeflateFactory(server_no_context_takeover=True,
                                              client_no_context_takeover=True)] \
            if accept else []
        super().__init__(self.handler, extensions=ext,
                         compression=None if not accept else "deflate")

    async def handler(self, ws, path=None):
        self.offers.append(ws.request_headers.get("Sec-WebSocket-Extensions"))
        await ws.send(json.dumps({"op": "welcome", "conn": "c1"}))
        sub = json.loads(await ws.recv())
        await ws.send(json.dumps({"op": "ack", "id": sub.get("id"), "seq": 0}))
        for i in range(1, WARM + MEASURED + 1):
            await ws.send(json.dumps({"op": "msg", "topic": "bench", "seq": i, "from": "x",
                                      "data": {"text": TEXT, "t": time.monotonic_ns(),
                                               "w": 1 if i <= WARM else 0}}))
        await ws.wait_closed()


def run_sub(port, deflate):
    _, r = run_loadgen([str(LOADGEN), "--role", "sub", "--url", f"ws://127.0.0.1:{port}/",
                        "--messages", str(MEASURED), "--timeout", "10"] +
                       (["--deflate"] if deflate else []), go=True)
    return r


@pytest.mark.skipif(not LOADGEN.exists(), reason=f"{LOADGEN} not built")
@pytest.mark.parametrize("accept", [True, False], ids=["accepted", "declined"])
def test_loadgen_deflate_inflates_or_goes_on_plain(accept):
    s = Server(accept)
    try:
        r = run_sub(s.port, deflate=True)
    finally:
        s.stop()
    assert "permessage-deflate" in s.offers[0]
    assert "client_no_context_takeover" in s.offers[0]
    assert r["received"] == MEASURED and r["seq_gaps"] == 0 and r["proto_errors"] == 0
    d = r["deflate"]
    assert d["offered"] is True and d["negotiated"] is accept
    if accept:
        assert d["compressed_msgs"] >= WARM + MEASURED
        assert d["wire_payload_bytes"] * 3 < d["inflated_bytes"]  # repetitive text
    else:
        assert d["compressed_msgs"] == 0 and d["declined"] == 1
        assert d["wire_payload_bytes"] == d["inflated_bytes"]


@pytest.mark.skipif(not LOADGEN.exists(), reason=f"{LOADGEN} not built")
def test_loadgen_without_deflate_offers_nothing():
    s = Server(True)
    try:
        r = run_sub(s.port, deflate=False)
    finally:
        s.stop()
    assert s.offers[0] is None
    assert r["received"] == MEASURED and r["deflate"]["offered"] is False
