"""spoke-loadgen's --reconnect keeps each subscriber's position and counts
what a move to another edge cost it: run against a scripted stand-in for two
edges (not spoke: just enough of client protocol v1 in this process) that
replays exactly, duplicates or drops a replayed message, refuses recovery,
gives no positions, or resets a topic.

Run with /usr/bin/python3 -m pytest tests/bench/test_loadgen_resume.py after
`make build/spoke-loadgen` (BIN_DIR in the environment: another build dir)."""
import asyncio
import json
import os
import random
import string
import sys
import threading
from pathlib import Path

import msgpack
import pytest
import websockets

sys.dont_write_bytecode = True
sys.path.insert(0, str(Path(__file__).resolve().parent))
import benchlib as bl  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
LOADGEN = Path(os.environ.get("BIN_DIR", REPO / "build")) / "spoke-loadgen"
CONNS = 40       # subscribers, over TOPICS topics
TOPICS = 4
RATE = 200       # messages/s from the publisher, in total
MESSAGES = 200   # so about a second of publishing
ACK_DELAY = 0.15  # edge b answers a sub this late: ~7 messages per topic to replay


class Edges:
    """Two stand-in edges, "a" and "b", sharing one topic table, on an
    asyncio loop in a thread. Every message a connection gets goes through
    its own queue, so acks, replays and live messages keep their order."""

    def __init__(self, mode):
        self.mode = mode
        self.topics = {}
        self.conns = {"a": set(), "b": set()}
        self.servers = {}
        self.n = 0
        self.loop = asyncio.new_event_loop()
        started = threading.Event()
        self.thread = threading.Thread(target=self._run, args=(started,), daemon=True)
        self.thread.start()
        started.wait(10)

    def _run(self, started):
        asyncio.set_event_loop(self.loop)

        async def boot():
            for edge in ("a", "b"):
                self.servers[edge] = await websockets.serve(
                    lambda ws, path, e=edge: self.client(ws, e), "127.0.0.1", 0,
                    subprotocols=["spoke.json", "spoke.msgpack"], backlog=1024)
            started.set()
        self.loop.run_until_complete(boot())
        self.loop.run_forever()

    def url(self, edge):
        return f"ws://127.0.0.1:{self.servers[edge].sockets[0].getsockname()[1]}/ws"

    def topic(self, name):
        if name not in self.topics:
            self.topics[name] = {"epoch": self.new_epoch(), "seq": 0, "hist": [], "subs": set()}
        return self.topics[name]

    @staticmethod
    def new_epoch():
        return "".join(random.choice(string.ascii_lowercase) for _ in range(8))

    @staticmethod
    def put(conn, obj):
        ws, q = conn
        q.put_nowait(msgpack.packb(obj) if ws.subprotocol == "spoke.msgpack"
                     else json.dumps(obj, separators=(",", ":")))

    async def client(self, ws, edge):
        q = asyncio.Queue()
        conn = (ws, q)
        self.n += 1
        me = f"{edge}:0:00000000:{self.n}"
        self.conns[edge].add(conn)

        async def writer():
            while True:
                await ws.send(await q.get())
        w = asyncio.ensure_future(writer())
        self.put(conn, {"op": "welcome", "conn": me, "edge": edge, "region": "", "policy": {}})
        try:
            async for raw in ws:
                m = msgpack.unpackb(raw) if isinstance(raw, bytes) else json.loads(raw)
                if m["op"] == "sub":
                    if edge == "b":  # the clients that moved
                        await asyncio.sleep(ACK_DELAY)
                    self.subscribe(conn, m)
                elif m["op"] == "pub":
                    self.publish(m, me)
        except websockets.ConnectionClosed:
            pass
        finally:
            w.cancel()
            self.conns[edge].discard(conn)
            for t in self.topics.values():
                t["subs"].discard(conn)

    def subscribe(self, conn, m):
        """The ack, the replay and the subscription in one step, with no
        publish in between."""
        t = self.topic(m["topic"])
        since = m.get("since") if self.mode != "noposition" else None
        ack = {"op": "ack", "id": m.get("id")}
        if self.mode != "noposition":
            ack.update(seq=t["seq"], epoch=t["epoch"])
        replay = []
        if since is not None:
            if self.mode == "norecover" or since["epoch"] != t["epoch"]:
                ack.update(recovered=False, reason="too old: the history now starts later")
            else:
                ack["recovered"] = True
                replay = [x for s, x in t["hist"] if s > since["seq"]]
                if self.mode == "dup" and replay:
                    replay.insert(1, replay[0])
                if self.mode == "drop" and len(replay) > 1:
                    del replay[len(replay) // 2]
        self.put(conn, ack)
        for x in replay:
            self.put(conn, x)
        t["subs"].add(conn)

    def publish(self, m, me):
        t = self.topic(m["topic"])
        t["seq"] += 1
        msg = {"op": "msg", "topic": m["topic"], "seq": t["seq"], "data": m["data"], "from": me}
        t["hist"].append((t["seq"], msg))
        for c in t["subs"]:
            self.put(c, msg)

    def drain(self, edge):
        """Stops accepting on edge and closes its clients with 1001."""
        def go():
            self.servers[edge].close()
        self.loop.call_soon_threadsafe(go)

    def reset_all(self):
        """Every topic starts a new epoch 10 seqs on: each subscriber gets a reset."""
        def go():
            for name, t in self.topics.items():
                t["epoch"], t["seq"], t["hist"] = self.new_epoch(), t["seq"] + 10, []
                for c in t["subs"]:
                    self.put(c, {"op": "reset", "topic": name, "seq": t["seq"],
                                 "epoch": t["epoch"], "reason": "the hub restarted"})
        self.loop.call_soon_threadsafe(go)

    def stop(self):
        async def down():
            for s in self.servers.values():
                s.close()
            await asyncio.gather(*(s.wait_closed() for s in self.servers.values()),
                                 return_exceptions=True)
        asyncio.run_coroutine_threadsafe(down(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)


def run(tmp_path, mode, encoding="json", reconnect="since", event="drain"):
    """Subscribers on edge a, a publisher on edge b; after a third of the
    messages, edge a drains (or every topic is reset). Returns the
    subscribers' merged figures."""
    if not os.access(LOADGEN, os.X_OK):
        pytest.fail(f"{LOADGEN} is missing: run `make build/spoke-loadgen`")
    edges = Edges(mode)
    fleet = bl.Fleet(LOADGEN, tmp_path, src_ips=None)
    try:
        subs = [fleet.start("t", "sub", [edges.url("a")], encoding=encoding, conns=CONNS // 2,
                            topics=TOPICS, topic_base=i * (CONNS // 2), messages=MESSAGES,
                            timeout=MESSAGES / RATE + 2, reconnect=reconnect,
                            reconnect_url=edges.url("b")) for i in range(2)]
        fleet.wait(subs, "READY", 20)
        pub = fleet.start("t", "pub", [edges.url("b")], encoding=encoding, conns=1, topics=TOPICS,
                          messages=MESSAGES, rate=RATE, echo=0)
        fleet.wait([pub], "READY", 20)
        fleet.wait(subs, "WARM", 20)
        for g in subs + [pub]:
            g.send("go")
        # A third of the way through the publishing (a test, not a benchmark:
        # the stand-in has no readiness to poll for).
        threading.Event().wait(MESSAGES / RATE / 3)
        if event == "drain":
            edges.drain("a")
            fleet.wait(subs, "RECOVERED", 20)
        else:
            edges.reset_all()
        fleet.wait(subs + [pub], "RESULT", 30)
        results = [g.result for g in subs]
    finally:
        fleet.stop()
        edges.stop()
    out = {k: sum(r[k] for r in results) for k in ("received", "expected", "seq_gaps", "resets")}
    for key in results[0]["resume"]:
        if isinstance(results[0]["resume"][key], int) and not key.endswith("_ns"):
            out[key] = sum(r["resume"][key] for r in results)
    out["reason"] = results[0]["resume"]["first_not_recovered_reason"]
    out["caught_up_samples"] = sum(n for r in results for _, n in r["resume"]["caught_up_hist"])
    return out


@pytest.mark.parametrize("encoding", ["json", "msgpack"])
def test_resume_with_since_recovers_without_gap_or_duplicate(tmp_path, encoding):
    r = run(tmp_path, "good", encoding)
    assert r["received"] == r["expected"]
    assert (r["seq_missing"], r["seq_dups"], r["seq_gaps"]) == (0, 0, 0)
    assert r["conns_closed"] == r["reconnects"] == r["recovered"] == CONNS
    assert r["acks_with_position"] == CONNS and r["away"] == 0
    assert r["replayed"] >= 2 * CONNS  # the late ack left something to replay
    assert r["caught_up_samples"] == CONNS


def test_a_duplicated_replay_message_is_counted_not_received_twice(tmp_path):
    r = run(tmp_path, "dup")
    assert r["seq_dups"] == CONNS and r["seq_missing"] == 0
    assert r["received"] == r["expected"]


def test_a_dropped_replay_message_is_a_missing_seq(tmp_path):
    r = run(tmp_path, "drop")
    assert r["seq_missing"] == CONNS and r["seq_dups"] == 0
    assert r["received"] == r["expected"] - CONNS


def test_recovered_false_is_told_loss_not_a_gap(tmp_path):
    r = run(tmp_path, "norecover")
    assert r["not_recovered"] == CONNS and r["recovered"] == 0
    assert r["missed_told"] > 0 and r["seq_missing"] == 0
    assert r["received"] == r["expected"] - r["missed_told"]
    assert r["reason"].startswith("too old")


def test_without_positions_the_loss_shows_as_missing_seqs(tmp_path):
    r = run(tmp_path, "noposition")
    assert r["acks_with_position"] == 0
    assert r["without_position"] == r["unanswered"] == CONNS
    assert r["seq_missing"] == r["expected"] - r["received"] > 0


def test_plain_reconnect_sends_no_since(tmp_path):
    r = run(tmp_path, "good", reconnect="plain")
    assert r["unanswered"] == CONNS and r["recovered"] == 0
    assert r["seq_missing"] == r["expected"] - r["received"] > 0


def test_a_reset_moves_the_position_without_a_gap(tmp_path):
    r = run(tmp_path, "good", event="reset")
    assert r["resets"] == CONNS and r["epoch_changes"] == CONNS
    assert (r["seq_missing"], r["seq_dups"]) == (0, 0)
    assert r["received"] == r["expected"] and r["conns_closed"] == 0
