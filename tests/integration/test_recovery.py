"""No message lost (docs/protocol.md, "Positions and recovery"): a link flap while a publisher runs, publishes made during an outage, a client that reconnects with since, many clients resuming at once, and a drain through the balancer all end with every subscriber holding every seq exactly once, in order; a restarted hub and positions the hub cannot serve are told (reset, recovered:false), never silent."""
import asyncio
import re
import signal
import time

import websockets

from helpers import (HOST, connect, expect, http_get, recv_json, run, scaled, send,
                     wait_for)
from test_nginx_balancer import balancer  # noqa: F401 - the fixture

TOPIC = "chat.recovery"


def metric(port, name, labels=""):
    """The sum of a /metrics family's samples whose labels contain `labels`."""
    status, body = http_get(port, "/metrics")
    assert status == 200, body
    total, seen = 0, False
    for line in body.decode().splitlines():
        if line.startswith(name) and (line[len(name)] in " {") and labels in line:
            total += int(float(line.rsplit(" ", 1)[1]))
            seen = True
    assert seen, f"no {name}{labels} in /metrics"
    return total


class Reader:
    """One subscriber: keeps its position (the epoch of its sub ack, the seq
    of the last msg) and every seq it was given, in order."""

    def __init__(self, url, topic=TOPIC, proto="spoke.json"):
        self.url, self.topic, self.proto = url, topic, proto
        self.ws, self.epoch, self.seq = None, None, 0
        self.seqs, self.resets, self.acks = [], [], []

    async def open(self, since=None, url=None):
        self.ws, _ = await connect(url or self.url, self.proto)
        msg = {"op": "sub", "topic": self.topic, "id": 1}
        if since:
            msg["since"] = since
        await send(self.ws, msg)
        ack = await expect(self.ws, op="ack", id=1)
        self.acks.append(ack)
        if "epoch" in ack:
            # Resuming, the replay brings it from `since` on; else it is at
            # the topic's position.
            self.seq = since["seq"] if since and ack.get("recovered") else ack["seq"]
            self.epoch = ack["epoch"]
        return ack

    async def resume(self, url=None):
        return await self.open({"seq": self.seq, "epoch": self.epoch}, url)

    def take(self, m):
        if m["op"] == "msg" and m["topic"] == self.topic:
            self.seqs.append(m["seq"])
            self.seq = m["seq"]
        elif m["op"] == "reset":
            self.resets.append(m)
            self.epoch, self.seq = m["epoch"], m["seq"]

    async def read_until(self, last, timeout=10.0):
        """Reads until it holds seq `last`."""
        deadline = time.monotonic() + scaled(timeout)
        while self.seq < last:
            left = deadline - time.monotonic()
            assert left > 0, f"{self.url}: stuck at seq {self.seq}, waiting for {last}"
            self.take(await recv_json(self.ws, timeout=left))


def metric_settles(port, name, pred, what):
    """Waits for an edge's /metrics figure to satisfy pred (edge workers
    publish their figures four times a second); returns it."""
    got = []

    def ok():
        got.append(metric(port, name))
        return pred(got[-1])
    wait_for(ok, scaled(5), what)
    return got[-1]


def assert_every_seq_once(reader, first, last):
    want = list(range(first, last + 1))
    assert reader.seqs == want, (
        f"{reader.url}: missing {sorted(set(want) - set(reader.seqs))[:10]}, "
        f"extra or out of order: {[s for s in reader.seqs if s not in want][:10]}, "
        f"{len(reader.seqs)} seqs for {len(want)}")


class Publisher:
    """Publishes n messages with ids, one every `gap` seconds, and collects
    each ack's seq; errors fail the test."""

    def __init__(self, url, topic=TOPIC):
        self.url, self.topic, self.acked = url, topic, {}

    async def run(self, n, gap):
        ws, _ = await connect(self.url)
        reader = asyncio.ensure_future(self._acks(ws, n))
        for i in range(1, n + 1):
            await send(ws, {"op": "pub", "topic": self.topic, "data": {"n": i}, "id": i})
            await asyncio.sleep(gap)
        await asyncio.wait_for(reader, scaled(30))
        return ws

    async def _acks(self, ws, n):
        while len(self.acked) < n:
            m = await recv_json(ws, timeout=scaled(30))
            assert m["op"] != "error", f"a publish failed: {m}"
            if m["op"] == "ack":
                self.acked[m["id"]] = m["seq"]


def freeze_hub(cluster, seconds):
    """SIGSTOP the hub for longer than the edges' silence limit (3 heartbeats
    of 500 ms): every link goes down and comes back to the same hub."""
    hub = cluster.hubs[-1]
    before = {lk["id"] for lk in cluster.hub_links()}
    hub.signal(signal.SIGSTOP)
    time.sleep(seconds)  # the outage itself is what is measured: a fixed length
    hub.signal(signal.SIGCONT)
    wait_for(lambda: len(cluster.hub_links()) == 2 and
             not ({lk["id"] for lk in cluster.hub_links()} & before), scaled(10),
             "both edges relinked on new links")


def test_a_link_flap_loses_nothing_while_a_publisher_runs(make_cluster):
    # The history must hold what a flap misses: the publisher's edge may
    # relink first and send all it held before the subscribers' edge asks.
    cluster = make_cluster(workers=1, hub_config="[history]\ndefault = 1000 300s\n")

    async def body():
        readers = [Reader(cluster.url_a), Reader(cluster.url_b, proto="spoke.msgpack")]
        for r in readers:
            await r.open()
        pub = Publisher(cluster.url_b)
        task = asyncio.ensure_future(pub.run(200, 0.01))
        await asyncio.sleep(0.5)
        await asyncio.to_thread(freeze_hub, cluster, 2.5)
        await task
        assert sorted(pub.acked.values()) == list(range(1, 201)), "each publish once, in order"
        for r in readers:
            await r.read_until(200)
            assert_every_seq_once(r, 1, 200)
            assert not r.resets
        assert re.search(r"hub \S+ lost: ", cluster.edge_log("edge-a")), "the link did flap"
    run(body(), timeout=scaled(60))


def test_publishes_during_an_outage_are_acked_after_it_and_stored_once(make_cluster):
    cluster = make_cluster(workers=1, edges=("edge-a",))
    edge_admin = cluster.edge_admin_port("edge-a")

    async def body():
        reader = Reader(cluster.url_a)
        await reader.open()
        ws, _ = await connect(cluster.url_a)
        hub = cluster.hubs[-1]
        hub.signal(signal.SIGSTOP)
        # Sent while the hub is frozen: some reach its socket before the edge
        # gives the link up, the rest wait in the edge; all are sent again
        # on the new link, and the hub must order each only once.
        for i in range(1, 11):
            await send(ws, {"op": "pub", "topic": TOPIC, "data": i, "id": i})
            await asyncio.sleep(0.2)
        def link_down():
            status, body = http_get(edge_admin, "/readyz")
            return status == 503 and b"hub link down" in body
        await asyncio.to_thread(wait_for, link_down, scaled(5), "the edge to give the link up")
        await asyncio.to_thread(metric_settles, edge_admin, "spoke_edge_publishes_pending",
                                lambda v: v == 10, "the 10 publishes held")
        hub.signal(signal.SIGCONT)
        acks = {}
        while len(acks) < 10:
            m = await recv_json(ws, timeout=scaled(15))
            assert m["op"] == "ack", f"a held publish failed: {m}"
            acks[m["id"]] = m["seq"]
        assert sorted(acks.values()) == list(range(1, 11)), acks
        await reader.read_until(10)
        assert_every_seq_once(reader, 1, 10)
        # Once in the history too: a fresh reader resuming from the start.
        late = Reader(cluster.url_a)
        ack = await late.open({"seq": 0, "epoch": reader.epoch})
        assert ack["recovered"] is True, ack
        await late.read_until(10)
        assert_every_seq_once(late, 1, 10)
        await asyncio.to_thread(metric_settles, edge_admin, "spoke_edge_publishes_pending",
                                lambda v: v == 0, "no publish held any more")
    run(body(), timeout=scaled(60))


def test_a_restarted_hub_resets_its_topics_for_their_subscribers(make_cluster):
    cluster = make_cluster(workers=1)

    async def body():
        reader = Reader(cluster.url_a)
        await reader.open()
        pub, _ = await connect(cluster.url_b)
        for i in range(1, 4):
            await send(pub, {"op": "pub", "topic": TOPIC, "data": i, "id": i})
            await expect(pub, op="ack", id=i)
        await reader.read_until(3)
        old_epoch = reader.epoch
        cluster.kill_hub()  # its memory, history included, is gone
        await asyncio.to_thread(cluster.start_hub)
        await asyncio.to_thread(cluster.wait_links, 2)
        m = await expect(reader.ws, timeout=scaled(10), op="reset", topic=TOPIC)
        assert m["epoch"] != old_epoch and m["seq"] == 0 and m["reason"], m
        reader.take(m)
        await send(pub, {"op": "pub", "topic": TOPIC, "data": "after", "id": 9})
        ack = await expect(pub, op="ack", id=9)
        assert ack["seq"] == 1 and ack["epoch"] == m["epoch"], ack
        got = await expect(reader.ws, op="msg", topic=TOPIC)
        assert got["seq"] == 1 and got["data"] == "after", got
    run(body(), timeout=scaled(60))


def test_positions_the_hub_cannot_serve_are_answered_not_recovered(make_cluster):
    cluster = make_cluster(workers=1, edges=("edge-a",),
                           hub_config="[history]\ndefault = 5 300s\n")

    async def body():
        reader = Reader(cluster.url_a)
        await reader.open()
        pub, _ = await connect(cluster.url_a)
        for i in range(1, 21):
            await send(pub, {"op": "pub", "topic": TOPIC, "data": i, "id": i})
            await expect(pub, op="ack", id=i)
        await reader.read_until(20)
        epoch = reader.epoch
        cases = [({"seq": 2, "epoch": epoch}, "too old"),
                 ({"seq": 3, "epoch": "zzzzzzzz"}, "epoch"),
                 ({"seq": 99, "epoch": epoch}, "ahead")]
        for since, why in cases:
            r = Reader(cluster.url_a)
            ack = await r.open(since)
            assert ack["recovered"] is False and why in ack["reason"], ack
            assert ack["seq"] == reader.seq and ack["epoch"] == epoch, ack
            # Subscribed anyway, from now on.
            await send(pub, {"op": "pub", "topic": TOPIC, "data": "next", "id": 100})
            await expect(pub, op="ack", id=100)
            got = await expect(r.ws, op="msg", topic=TOPIC)
            await r.ws.close()
            await reader.read_until(got["seq"])
        # Within the history: recovered.
        r = Reader(cluster.url_a)
        ack = await r.open({"seq": 18, "epoch": epoch})
        assert ack["recovered"] is True, ack
        await r.read_until(ack["seq"])
        assert r.seqs[:2] == [19, 20], r.seqs
    run(body(), timeout=scaled(60))


def test_many_connections_resuming_one_topic_share_one_history_read(make_cluster):
    cluster = make_cluster(workers=1)
    b_admin = cluster.edge_admin_port("edge-b")

    async def body():
        first = Reader(cluster.url_a)
        await first.open()
        pub, _ = await connect(cluster.url_a)
        for i in range(1, 31):
            await send(pub, {"op": "pub", "topic": TOPIC, "data": i, "id": i})
            await expect(pub, op="ack", id=i)
        await first.read_until(30)
        reads_before = metric(b_admin, "spoke_edge_history_reads_total")
        assert reads_before == 0
        # 50 connections that had seq 10 move to edge-b, which has not seen
        # the topic: one read, the rest served from what it brought.
        movers = [Reader(cluster.url_b) for _ in range(50)]
        for m in movers:
            m.epoch, m.seq = first.epoch, 10
        acks = await asyncio.gather(*(m.resume() for m in movers))
        assert all(a["recovered"] is True for a in acks), acks
        for m in movers:
            await m.read_until(30)
            assert_every_seq_once(m, 11, 30)
        reads = await asyncio.to_thread(metric_settles, b_admin, "spoke_edge_history_reads_total",
                                        lambda v: v >= 1, "edge-b's history read")
        recovered = await asyncio.to_thread(metric_settles, b_admin,
                                            "spoke_edge_resumes_recovered_total",
                                            lambda v: v >= 50, "50 resumes recovered")
        # Those that came in the read's turn went in it; the later ones were
        # served from the cache it left.
        cached = metric(b_admin, "spoke_edge_resumes_from_cache_total")
        reads = metric(b_admin, "spoke_edge_history_reads_total")
        assert reads <= 3, f"{reads} history reads for 50 resumes of one topic ({cached} cached)"
        assert recovered == 50, recovered
    run(body(), timeout=scaled(60))


def test_a_drain_through_the_balancer_loses_nothing(cluster, balancer):  # noqa: F811
    url = f"ws://{HOST}:{balancer}/ws"
    edge_a = cluster.edges["edge-a"]
    edge_a.exit_expected = True

    async def body():
        readers = [Reader(url) for _ in range(10)]
        for r in readers:
            await r.open()
        assert all("epoch" in r.acks[0] for r in readers), "positions in the acks"
        pub = Publisher(cluster.url_b)
        task = asyncio.ensure_future(pub.run(150, 0.01))
        await asyncio.sleep(0.3)
        edge_a.signal(signal.SIGTERM)  # drain: its clients get 1001 over the drain period

        async def follow(r):
            while True:
                try:
                    await r.read_until(150, timeout=20)
                    return
                except websockets.ConnectionClosed as e:
                    assert e.code == 1001, f"closed with {e.code}"
                    ack = await r.resume()  # reconnect through the balancer, with since
                    assert ack["recovered"] is True, ack
        await asyncio.gather(*(follow(r) for r in readers))
        await task
        for r in readers:
            assert_every_seq_once(r, 1, 150)
        assert any(len(r.acks) > 1 for r in readers), "the drain moved some clients"
    run(body(), timeout=scaled(90))
