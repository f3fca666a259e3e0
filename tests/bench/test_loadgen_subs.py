"""spoke-loadgen's idle role with --subs S: each connection subscribes to S
topics, (base + j*S + s) mod K, and is ready only once every one is acked;
--subs 0 subscribes to nothing and is ready at the welcome. The idle
workload's memory figures per shape rest on this. Run against a stand-in
server (python3-websockets, not spoke) that records each connection's subs
and acks them, the last one late, so that READY before every ack would show.

Run with /usr/bin/python3 -m pytest tests/bench/test_loadgen_subs.py after
`make build/spoke-loadgen` (BIN_DIR in the environment: another build dir)."""
import asyncio
import json
import os
import subprocess
import threading
from pathlib import Path

import pytest
import websockets

from standin import StandinServer, run_loadgen

REPO = Path(__file__).resolve().parents[2]
LOADGEN = Path(os.environ.get("BIN_DIR", REPO / "build")) / "spoke-loadgen"
LAST_ACK_DELAY_S = 0.5


class Server(StandinServer):
    """The stand-in edge: welcome, then an ack per sub (the S-th one
    LAST_ACK_DELAY_S late)."""

    def __init__(self, subs):
        self.subs = subs
        self.topics = []  # per connection: the topics it subscribed to
        self.acked = []   # per connection: acks sent
        self.lock = threading.Lock()
        super().__init__(self.handler, compression=None)

    async def handler(self, ws, path=None):
        mine = []
        with self.lock:
            self.topics.append(mine)
            self.acked.append(0)
            me = len(self.acked) - 1
        await ws.send(json.dumps({"op": "welcome", "conn": f"c{len(self.topics)}"}))
        try:
            async for raw in ws:
                m = json.loads(raw)
                if m.get("op") != "sub":
                    continue
                mine.append(m["topic"])
                if len(mine) == self.subs:
                    await asyncio.sleep(LAST_ACK_DELAY_S)
                # Counted before it is sent: the generator may say READY
                # as soon as it reads it.
                with self.lock:
                    self.acked[me] += 1
                await ws.send(json.dumps({"op": "ack", "id": m.get("id"), "seq": 0}))
        except websockets.ConnectionClosed:
            pass


def run_idle(port, conns, args, on_ready=None):
    """Runs the idle role to its RESULT, calling on_ready() when it says
    READY (which it must); returns (on_ready's value, the RESULT)."""
    return run_loadgen([str(LOADGEN), "--role", "idle", "--url", f"ws://127.0.0.1:{port}/",
                        "--conns", str(conns), "--duration", "0.2", "--topic", "t",
                        "--setup-timeout", "20", *args],
                       on_ready=on_ready or (lambda: True))


@pytest.mark.skipif(not LOADGEN.exists(), reason=f"{LOADGEN} not built")
def test_loadgen_idle_subscribes_each_connection_to_its_s_topics():
    s = Server(subs=3)

    def record():
        with s.lock:
            return [list(t) for t in s.topics], list(s.acked)
    try:
        # READY may come only once every connection holds all 3 acks; the
        # last ack of each is late, so a READY after 1 or 2 would see fewer.
        (at_ready, acked), r = run_idle(s.port, 4, ["--subs", "3", "--topics", "5", "--topic-base", "1"],
                               record)
    finally:
        s.stop()
    assert r["alive"] == 4
    assert acked == [3, 3, 3, 3]  # READY came after every connection's last ack
    got = sorted(sorted(t) for t in at_ready)
    # Connection j: topics (1 + 3j + s) mod 5 for s = 0, 1, 2.
    want = sorted(sorted(f"t.{(1 + 3 * j + k) % 5}" for k in range(3)) for j in range(4))
    assert got == want


@pytest.mark.skipif(not LOADGEN.exists(), reason=f"{LOADGEN} not built")
def test_loadgen_idle_with_subs_0_subscribes_to_nothing():
    s = Server(subs=1)
    try:
        _, r = run_idle(s.port, 3, ["--subs", "0"])
    finally:
        s.stop()
    assert r["alive"] == 3
    assert [t for t in s.topics] == [[], [], []]


@pytest.mark.skipif(not LOADGEN.exists(), reason=f"{LOADGEN} not built")
def test_loadgen_refuses_more_subs_than_topics():
    p = subprocess.run([str(LOADGEN), "--role", "idle", "--url", "ws://127.0.0.1:1/",
                        "--subs", "3", "--topics", "2"], capture_output=True, text=True, timeout=10)
    assert p.returncode != 0 and "--subs 3 needs --topics 3" in p.stderr
