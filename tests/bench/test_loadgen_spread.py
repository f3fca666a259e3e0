"""spoke-loadgen's --spread 1 (the NATS comparison's fan-out span per
edge): per measured message, how many connections of each --url got it and
their first and last arrival after its send time. Run against two stand-in
edges (python3-websockets, not spoke) that send the same messages, with the
same send times, to every connection.

Run with /usr/bin/python3 -m pytest tests/bench/test_loadgen_spread.py after
`make build/spoke-loadgen` (BIN_DIR in the environment: another build dir)."""
import asyncio
import json
import os
import subprocess
import time
from pathlib import Path

import pytest

from standin import StandinServer, run_loadgen

REPO = Path(__file__).resolve().parents[2]
LOADGEN = Path(os.environ.get("BIN_DIR", REPO / "build")) / "spoke-loadgen"
WARM, MEASURED = 3, 12
CONNS_PER_URL = 2


class Edge(StandinServer):
    """Welcome, an ack for the sub, then once all CONNS_PER_URL connections
    have subscribed, the same WARM + MEASURED messages to each of them."""

    def __init__(self, sends):
        self.sends, self.conns = sends, []
        super().__init__(self.handler, compression=None)

    async def handler(self, ws, path=None):
        await ws.send(json.dumps({"op": "welcome", "conn": f"c{len(self.conns)}"}))
        sub = json.loads(await ws.recv())
        await ws.send(json.dumps({"op": "ack", "id": sub.get("id"), "seq": 0}))
        self.conns.append(ws)
        if len(self.conns) == CONNS_PER_URL:
            for seq, t in enumerate(self.sends, 1):
                for c in self.conns:
                    await c.send(json.dumps({"op": "msg", "topic": "bench", "seq": seq,
                                             "from": "x", "data": {"t": t,
                                                                   "w": int(seq <= WARM)}}))
                await asyncio.sleep(0.001)
        await ws.wait_closed()


@pytest.mark.skipif(not LOADGEN.exists(), reason=f"{LOADGEN} not built")
def test_loadgen_spread_counts_each_message_per_url():
    base = time.monotonic_ns()
    sends = [base + 1000 * i for i in range(WARM + MEASURED)]
    edges = [Edge(sends), Edge(sends)]
    try:
        _, r = run_loadgen([str(LOADGEN), "--role", "sub",
                            "--url", f"ws://127.0.0.1:{edges[0].port}/",
                            "--url", f"ws://127.0.0.1:{edges[1].port}/",
                            "--conns", str(2 * CONNS_PER_URL), "--messages", str(MEASURED),
                            "--spread", "1", "--timeout", "10"], go=True)
    finally:
        for e in edges:
            e.stop()
    assert r["received"] == 2 * CONNS_PER_URL * MEASURED and r["seq_gaps"] == 0
    assert r["spread_dropped"] == 0
    spread = sorted(r["spread"])
    # The measured messages only, each once, by its send time.
    assert [m[0] for m in spread] == sends[WARM:]
    for m in spread:
        assert len(m) == 1 + 3 * 2
        for u in range(2):
            n, first, last = m[1 + 3 * u: 4 + 3 * u]
            assert n == CONNS_PER_URL
            assert 0 < first <= last


@pytest.mark.skipif(not LOADGEN.exists(), reason=f"{LOADGEN} not built")
def test_loadgen_refuses_spread_beyond_its_limits():
    args = ["--role", "sub", "--spread", "1", "--url", "ws://127.0.0.1:1/"]
    p = subprocess.run([str(LOADGEN), *args, "--reconnect", "since"], capture_output=True,
                       text=True, timeout=10)
    assert p.returncode != 0 and "--spread 1 applies to --role sub" in p.stderr
    p = subprocess.run([str(LOADGEN), "--role", "idle", "--spread", "1", "--url",
                        "ws://127.0.0.1:1/"], capture_output=True, text=True, timeout=10)
    assert p.returncode != 0 and "--spread 1 applies to --role sub" in p.stderr
