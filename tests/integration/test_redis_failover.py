"""Two hubs sharing Redis, two edges listing both (`--hub A,B`): when hub 0
is killed in the middle of a flood of publishes, its edge workers fail over
to hub 1 and send again what hub 0 had not answered, and every publish a
client was acked for is in the topic exactly once, at the seq of its ack,
in one order that every subscriber on both edges sees, with no reset."""
import asyncio
import time

from helpers import recv_json, run, scaled, send, subscribe, wait_for
from test_failover import connect_on_worker, workers_at

TOPIC = "fo.redis"
PER_PUBLISHER = 150


async def flood(ws, tag, n, acks, ended, on_ack):
    """Sends n publishes from ws, a few at a time without waiting for each
    answer, and files every answer: acks[(tag, i)] = seq, then on_ack(), or
    ended for an error (503/504: not acked, so not promised)."""
    sent = answered = 0
    while answered < n:
        while sent < n and sent - answered < 8:
            await send(ws, {"op": "pub", "topic": TOPIC, "data": {"by": tag, "i": sent},
                            "id": sent + 1})
            sent += 1
        m = await recv_json(ws, timeout=30)
        if m["op"] == "ack":
            acks[(tag, m["id"] - 1)] = m["seq"]
            on_ack()
        else:
            assert m["op"] == "error" and m["code"] in (503, 504), m
            ended.append((tag, m["id"] - 1, m["code"]))
        answered += 1


async def read_to(ws, last, timeout):
    """Every msg of TOPIC on ws up to seq last: [(seq, (by, i))]; no reset."""
    got = []
    deadline = time.monotonic() + scaled(timeout)
    while not got or got[-1][0] < last:
        left = deadline - time.monotonic()
        assert left > 0, f"read up to seq {got[-1][0] if got else 0} of {last}"
        m = await recv_json(ws, timeout=left / scaled(1))
        assert m["op"] != "reset", f"unexpected reset {m}"
        if m["op"] == "msg" and m["topic"] == TOPIC:
            got.append((m["seq"], (m["data"]["by"], m["data"]["i"])))
    return got


def test_a_hub_killed_mid_flood_loses_and_doubles_no_acked_publish(make_cluster, redis):
    r = redis("r0")
    cluster = make_cluster(hubs=2, edges=("edge-a", "edge-b"), workers=2,
                           hub_args=["--engine", "redis", "--redis", r.sock])
    for edge in ("edge-a", "edge-b"):
        assert workers_at(cluster, 0, edge) == [0] and workers_at(cluster, 1, edge) == [1]

    async def body():
        # Subscribers on both workers of both edges: worker 0 of each is on
        # hub 0 and fails over, worker 1 stays on hub 1.
        subs = []
        for url in (cluster.url_a, cluster.url_b):
            for worker in (0, 1):
                ws, welcome = await connect_on_worker(url, worker)
                await subscribe(ws, TOPIC)
                await cluster.await_interest(welcome["conn"])
                subs.append(ws)
        # Publishers on both workers of both edges too.
        pubs = []
        for url in (cluster.url_a, cluster.url_b):
            for worker in (0, 1):
                ws, welcome = await connect_on_worker(url, worker)
                pubs.append((ws, welcome["conn"]))
        acks, ended = {}, []

        def on_ack():
            # Mid-flood, once a quarter is acked: hub 0 dies with publishes
            # in flight (some ordered in Redis, their results not sent).
            if len(acks) == PER_PUBLISHER:
                cluster.kill_hub(0)
        await asyncio.gather(*[flood(ws, conn, PER_PUBLISHER, acks, ended, on_ack)
                               for ws, conn in pubs])
        assert not cluster.hub_proc(0).alive()
        await asyncio.to_thread(wait_for, lambda: workers_at(cluster, 1, "edge-a") == [0, 1]
                                and workers_at(cluster, 1, "edge-b") == [0, 1], 10,
                                "every worker on hub 1")
        assert len(acks) + len(ended) == len(pubs) * PER_PUBLISHER
        assert len(acks) > PER_PUBLISHER, (len(acks), ended)
        # The workers that moved sent again what hub 0 had not answered.
        for edge in ("edge-a", "edge-b"):
            assert "failed over from" in cluster.edge_log(edge)
        # One seq per acked publish (no seq acked twice).
        assert len(set(acks.values())) == len(acks), "two publishes acked with one seq"
        last = max(acks.values())
        seen = [await read_to(ws, last, 60) for ws in subs]
        for other in seen[1:]:
            assert other[:len(seen[0])] == seen[0][:len(other)], "one order for every subscriber"
        stream = seen[0][:last]
        assert [s for s, _ in stream] == list(range(1, last + 1)), "contiguous seqs"
        where = {}
        for seq, key in stream:
            assert key not in where, f"{key} at seq {where[key]} and again at {seq}"
            where[key] = seq
        for key, seq in acks.items():
            assert where.get(key) == seq, f"acked {key} at {seq}, in the stream at {where.get(key)}"
        for ws, _ in pubs:
            assert ws.close_code is None, "a client was closed"
        for ws in subs:
            assert ws.close_code is None, "a client was closed"
    run(body(), timeout=120)
