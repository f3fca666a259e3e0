"""The redis engine over real redis-server processes: two hubs sharing Redis,
each with its own edge, give a topic one order that every subscriber on both
sees; history and `since` work on a hub other than the one that took the
publishes, and across a hub restart (same epochs, no reset); a Redis
restarted empty refuses publishes meanwhile (503, /readyz 503) and then
starts new epochs, which subscribers learn from a reset notice; a lost
pub/sub connection is made good from the streams; topics spread over two
shards, and one shard down refuses only its own topics; max_topics bounds a
hub's interest, never publishes; settings are checked at startup; a publish
an edge worker sends again through another hub is not ordered twice."""
import asyncio
import json
import signal
import time

import pytest

from conftest import HUB_STARTED_RE
from helpers import (connect, expect, http_get, http_request, recv_json, run, scaled, send,
                     wait_for)
from linkpeer import MESSAGE, PUBLISH, PUBLISH_RESULT, TOPIC_RESET
from test_hub_recovery import interest, peer, publish, publish_many
from test_hub_recovery import metric as hub_metric
from test_recovery import Reader, assert_every_seq_once, metric

TOPIC = "room.redis"


def two_hubs(make_cluster, socks, workers=1, hub_args=(), hub_config=None):
    """Two hubs on the same Redis shards (socks), each with its own edge:
    hub-a with edge-a, hub-b with edge-b. Returns (a, b), two Clusters."""
    store = ["--engine", "redis", "--redis", ",".join(socks), *hub_args]
    a = make_cluster(edges=("edge-a",), workers=workers, hub_args=[*store, "--name", "hub-a"],
                     hub_config=hub_config)
    b = make_cluster(edges=("edge-b",), workers=workers, hub_args=[*store, "--name", "hub-b"],
                     hub_config=hub_config)
    return a, b


def ready(cluster):
    """(status, decoded body) of the hub's /readyz."""
    status, body = http_get(cluster.http_port, "/readyz")
    return status, json.loads(body)


def api_publish(cluster, topic, data):
    """POST /api/publish on the cluster's hub; returns (status, decoded answer)."""
    status, body = http_request(cluster.http_port, "POST", "/api/publish",
                                json.dumps({"topic": topic, "data": data}).encode())
    return status, json.loads(body)


async def publish_all(url, topic, tag, n):
    """Sends n publishes at once from one client and waits for their acks;
    returns their seqs by index."""
    ws, _ = await connect(url)
    for i in range(n):
        await send(ws, {"op": "pub", "topic": topic, "data": {"by": tag, "i": i}, "id": i + 1})
    seqs = {}
    while len(seqs) < n:
        m = await recv_json(ws, timeout=10)
        assert m["op"] == "ack", f"publish {m} from {tag} failed"
        seqs[m["id"] - 1] = m["seq"]
    await ws.close()
    return seqs


async def collect(ws, topic, n, timeout=15.0):
    """The next n msgs of topic on ws: [(seq, data)]."""
    got = []
    deadline = time.monotonic() + scaled(timeout)
    while len(got) < n:
        m = await recv_json(ws, timeout=max(0.1, (deadline - time.monotonic()) / scaled(1)))
        assert m["op"] != "reset", f"unexpected reset {m}"
        if m["op"] == "msg" and m["topic"] == topic:
            got.append((m["seq"], m["data"]))
    return got


async def sub(url, topic, since=None):
    """A subscriber to topic (with since); returns (ws, its ack)."""
    ws, _ = await connect(url)
    msg = {"op": "sub", "topic": topic, "id": 1}
    if since:
        msg["since"] = since
    await send(ws, msg)
    return ws, await expect(ws, op="ack", id=1)


def test_two_hubs_give_a_topic_one_order_for_every_subscriber(make_cluster, redis):
    r = redis("r0")
    a, b = two_hubs(make_cluster, [r.sock], workers=2)

    async def body():
        # Four subscribers per edge, so that both workers of each have some.
        subs = [await sub(url, TOPIC) for url in [a.url_a] * 4 + [b.url_b] * 4]
        epochs = {ack["epoch"] for _, ack in subs}
        assert len(epochs) == 1, f"one epoch for the topic on both hubs: {epochs}"
        n = 60
        acked_a, acked_b = await asyncio.gather(publish_all(a.url_a, TOPIC, "a", n),
                                                publish_all(b.url_b, TOPIC, "b", n))
        assert sorted(list(acked_a.values()) + list(acked_b.values())) == list(range(1, 2 * n + 1))
        # Each publisher's messages in the order it sent them.
        for acked in (acked_a, acked_b):
            assert [acked[i] for i in range(n)] == sorted(acked.values())
        seen = [await collect(ws, TOPIC, 2 * n) for ws, _ in subs]
        assert [s for s, _ in seen[0]] == list(range(1, 2 * n + 1))
        for other in seen[1:]:
            assert other == seen[0], "every subscriber on both hubs sees one order"
        by_seq = dict(seen[0])
        for i in range(n):
            assert by_seq[acked_a[i]] == {"by": "a", "i": i}
            assert by_seq[acked_b[i]] == {"by": "b", "i": i}
        assert metric(a.http_port, "spoke_hub_redis_publish_seconds_count") >= n
        assert metric(b.http_port, "spoke_hub_redis_subscriptions") == 1
    run(body(), timeout=60)


def test_history_and_since_work_on_a_hub_other_than_the_publishers(make_cluster, redis):
    r = redis("r0")
    a, b = two_hubs(make_cluster, [r.sock])

    async def body():
        acked = await publish_all(a.url_a, TOPIC, "a", 10)
        assert sorted(acked.values()) == list(range(1, 11))
        # A resume on hub-b, which never saw these publishes: from Redis.
        ws, ack = await sub(b.url_b, TOPIC, since={"seq": 0, "epoch": "zzzzzzzz"})
        assert ack["recovered"] is False and ack["seq"] == 10, ack
        epoch = ack["epoch"]
        late, ack = await sub(b.url_b, TOPIC, since={"seq": 3, "epoch": epoch})
        assert (ack["recovered"], ack["seq"], ack["epoch"]) == (True, 10, epoch), ack
        got = await collect(late, TOPIC, 7)
        assert [s for s, _ in got] == list(range(4, 11))
        assert [d["i"] for _, d in got] == list(range(3, 10))
        # Live from here on, on both, from either hub.
        status, answer = api_publish(b, TOPIC, "eleven")
        assert status == 200 and answer["seq"] == 11, answer
        assert await collect(late, TOPIC, 1) == [(11, "eleven")]
        assert await collect(ws, TOPIC, 1) == [(11, "eleven")]
        # The hub's /api/topics lists what it is interested in, at its position.
        status, answer = http_get(b.http_port, "/api/topics")
        topics = json.loads(answer)["topics"]
        assert [(t["topic"], t["seq"]) for t in topics] == [(TOPIC, 11)], topics
    run(body(), timeout=60)


def test_a_hub_restart_keeps_history_and_epochs(make_cluster, redis):
    r = redis("r0")
    a, b = two_hubs(make_cluster, [r.sock])

    async def body():
        reader = Reader(a.url_a, TOPIC)
        await reader.open()
        epoch = reader.epoch
        await publish_all(b.url_b, TOPIC, "b", 5)
        await reader.read_until(5)
        a.kill_hub()
        # Ordered by hub-b while hub-a is gone; edge-a's link is down.
        await publish_all(b.url_b, TOPIC, "b", 3)
        await asyncio.to_thread(a.start_hub)
        await asyncio.to_thread(a.wait_links, 1)
        # edge-a re-registers its interest from seq 5: the rest comes, no reset.
        await reader.read_until(8)
        assert_every_seq_once(reader, 1, 8)
        assert not reader.resets and reader.epoch == epoch
        back, ack = await sub(a.url_a, TOPIC, since={"seq": 2, "epoch": epoch})
        assert (ack["recovered"], ack["seq"], ack["epoch"]) == (True, 8, epoch), ack
        assert [s for s, _ in await collect(back, TOPIC, 6)] == list(range(3, 9))
        status, answer = api_publish(a, TOPIC, "after")
        assert status == 200 and (answer["seq"], answer["epoch"]) == (9, epoch), answer
    run(body(), timeout=60)


def test_redis_restarted_empty_refuses_publishes_then_resets_to_a_new_epoch(make_cluster,
                                                                            redis):
    r = redis("r0")
    a, b = two_hubs(make_cluster, [r.sock])

    async def body():
        readers = [Reader(a.url_a, TOPIC), Reader(b.url_b, TOPIC)]
        for rd in readers:
            await rd.open()
        old = readers[0].epoch
        await publish_all(a.url_a, TOPIC, "a", 3)
        for rd in readers:
            await rd.read_until(3)
        r.kill()
        # Publishes are refused (503), not lost or held; /readyz says why.
        ws, _ = await connect(a.url_a)
        deadline = time.monotonic() + scaled(10)
        for i in range(1, 1000):
            await send(ws, {"op": "pub", "topic": TOPIC, "data": i, "id": i})
            m = await recv_json(ws)
            # One sent before the hub saw the connection go is 504 (it may
            # have been published); once it knows, 503 (it was not).
            if m["op"] == "error" and m["code"] == 503:
                assert "engine is unavailable" in m["reason"], m
                break
            assert m["op"] != "error" or m["code"] == 504, m
            assert time.monotonic() < deadline, "publishes still acked with Redis down"
            await asyncio.sleep(0.05)
        for c in (a, b):
            status, doc = await asyncio.to_thread(
                wait_for, lambda c=c: ready(c)[0] == 503 and ready(c), scaled(10),
                "/readyz 503")
            assert r.sock in doc["reason"] and "down" in doc["reason"], doc
        status, _ = api_publish(b, TOPIC, "refused")
        assert status == 503
        r.start()  # empty
        for c in (a, b):
            await asyncio.to_thread(wait_for, lambda c=c: ready(c)[0] == 200, 15,
                                    "/readyz 200 once Redis is back")
        # Every subscriber hears that the numbering restarted, at seq 0 of one new epoch.
        news = set()
        for rd in readers:
            m = await recv_json(rd.ws, timeout=15)
            while m["op"] != "reset":
                m = await recv_json(rd.ws, timeout=15)
            assert m["topic"] == TOPIC and m["seq"] == 0 and m["epoch"] != old, m
            news.add(m["epoch"])
        assert len(news) == 1, news
        status, answer = api_publish(a, TOPIC, "new")
        assert status == 200 and (answer["seq"], answer["epoch"]) == (1, news.pop()), answer
        for rd in readers:
            m = await recv_json(rd.ws, timeout=10)
            assert (m["op"], m["seq"], m["data"]) == ("msg", 1, "new"), m
    run(body(), timeout=90)
    assert metric(a.http_port, "spoke_hub_topic_resets_total") == 1
    assert metric(a.http_port, "spoke_hub_redis_reconnects_total", 'conn="command"') >= 1
    assert metric(a.http_port, "spoke_hub_redis_up") == 2
    assert metric(b.http_port, "spoke_hub_redis_unavailable_total") >= 1


def test_a_lost_pubsub_connection_is_made_good_from_the_stream(make_cluster, redis):
    r = redis("r0")
    a, b = two_hubs(make_cluster, [r.sock])

    async def body():
        reader = Reader(b.url_b, TOPIC)
        await reader.open()
        pub, _ = await connect(a.url_a)
        n = 0
        for burst in range(1, 4):
            # hub-b's subscription goes under a burst of publishes via hub-a
            # (each hub has two pub/sub connections: the engine's and the
            # cluster's, hub/cluster.h).
            # The cluster's connections come back on their own backoff.
            for c in (a, b):
                await asyncio.to_thread(
                    wait_for, lambda c=c: metric(c.http_port, "spoke_hub_cluster_up") == 1, 10,
                    "the cluster's pub/sub connection back")
            assert r.command("CLIENT", "KILL", "TYPE", "pubsub") == ":4"
            for _ in range(20):
                n += 1
                await send(pub, {"op": "pub", "topic": TOPIC, "data": n, "id": n})
            while True:
                m = await recv_json(pub, timeout=10)
                assert m["op"] == "ack", m
                if m["id"] == n:
                    break
            for c in (a, b):
                await asyncio.to_thread(
                    wait_for, lambda c=c: metric(c.http_port, "spoke_hub_redis_reconnects_total",
                                                 'conn="pubsub"') == burst, 10,
                    "the pub/sub connections back")
        await reader.read_until(n)
        assert_every_seq_once(reader, 1, n)
        assert not reader.resets, reader.resets
    run(body(), timeout=60)
    assert metric(b.http_port, "spoke_hub_topic_resets_total") == 0


def shard_of(servers, topic):
    """The server holding topic's state (exactly one must)."""
    holders = [s for s in servers if s.command("EXISTS", f"spoke:m:{{{topic}}}") == ":1"]
    assert len(holders) == 1, (topic, [s.name for s in holders])
    return holders[0]


def test_two_shards_split_the_topics_and_one_down_refuses_only_its_own(make_cluster, redis):
    r0, r1 = redis("r0"), redis("r1")
    a, b = two_hubs(make_cluster, [r0.sock, r1.sock])
    topics = [f"shard.t{i}" for i in range(16)]
    for t in topics:
        assert api_publish(a, t, t)[0] == 200
    where = {t: shard_of([r0, r1], t) for t in topics}
    on = {s.name: [t for t in topics if where[t] is s] for s in (r0, r1)}
    assert on["r0"] and on["r1"], on
    # The other hub maps every topic to the same shard (the same addresses
    # in another order would too): its publishes follow on.
    for t in topics:
        status, answer = api_publish(b, t, t)
        assert status == 200 and answer["seq"] == 2, (t, answer)

    async def body():
        ws, _ = await connect(b.url_b)
        for i, t in enumerate(topics):
            await send(ws, {"op": "sub", "topic": t, "id": i + 1})
            await expect(ws, op="ack", id=i + 1, seq=2)
        r1.kill()
        # Once hub-a knows its command connection there is gone (before, a
        # publish could still be sent, and be answered 504).
        await asyncio.to_thread(
            wait_for, lambda: "command connection down" in ready(a)[1].get("reason", ""), 10,
            "hub-a to see r1's command connection go")
        assert r1.sock in ready(a)[1]["reason"]
        for t in topics:
            status, _ = api_publish(a, t, "three")
            assert status == (200 if where[t] is r0 else 503), (t, status)
        got = {}
        while len(got) < len(on["r0"]):
            m = await recv_json(ws, timeout=10)
            if m["op"] == "msg":
                got[m["topic"]] = m["seq"]
        assert got == {t: 3 for t in on["r0"]}
    run(body(), timeout=60)


def test_max_topics_bounds_a_hub_s_interest_never_its_publishes(make_cluster, redis):
    r = redis("r0")
    a, _ = two_hubs(make_cluster, [r.sock], hub_args=["--max-topics", "2"])

    async def body():
        ws, _ = await connect(a.url_a)
        for i, t in enumerate(["cap.1", "cap.2"]):
            await send(ws, {"op": "sub", "topic": t, "id": i + 1})
            await expect(ws, op="ack", id=i + 1)
        await send(ws, {"op": "sub", "topic": "cap.3", "id": 3})
        err = await expect(ws, op="error", id=3, code=429)
        assert "max_topics" in err["reason"], err
        for t in ("cap.3", "cap.4", "cap.5"):
            assert api_publish(a, t, 1)[0] == 200
    run(body(), timeout=30)


def test_a_password_is_sent_and_a_wrong_one_keeps_the_hub_unready(make_cluster, launch,
                                                                   redis):
    r = redis("r0")
    assert r.command("CONFIG", "SET", "requirepass", "s3cret") == "+OK"
    hub = launch("spoke-hub", ["--listen", "127.0.0.1:0", "--http", "127.0.0.1:0",
                               "--engine", "redis", "--redis", r.sock,
                               "--redis-password", "wrong"])
    port = hub.wait_ready_file()["http"]

    def unready():
        # 503 "connecting" too until Redis answers AUTH: wait for its answer.
        status, body = http_get(port, "/readyz")
        doc = json.loads(body)
        return status == 503 and not doc["reason"].endswith("connecting") and doc
    doc = wait_for(unready, 10, "/readyz 503 with Redis's answer")
    assert "AUTH refused" in doc["reason"] or "NOAUTH" in doc["reason"] or \
        "WRONGPASS" in doc["reason"], doc
    good = launch("spoke-hub", ["--listen", "127.0.0.1:0", "--http", "127.0.0.1:0",
                                "--engine", "redis", "--redis", r.sock,
                                "--redis-password", "s3cret"])
    port = good.wait_ready_file()["http"]
    wait_for(lambda: http_get(port, "/readyz")[0] == 200, 10, "/readyz 200")


@pytest.mark.parametrize("args, says", [
    (["--engine", "redis"], "engine redis needs redis = ADDR"),
    (["--engine", "redis", "--redis", "a::b"], "IPv6 address goes in [brackets]"),
    (["--engine", "redis", "--redis", "127.0.0.1:0"], "the port must be 1 to 65535"),
    (["--engine", "redis", "--redis", "/a.sock,/a.sock"], "listed twice"),
    (["--engine", "redis", "--redis", "/a.sock", "--redis-prefix", "a b"], "redis_prefix"),
    (["--engine", "cassandra"], "is not memory or redis"),
])
def test_bad_redis_settings_stop_the_hub_at_startup(launch, args, says):
    hub = launch("spoke-hub", ["--listen", "127.0.0.1:0", "--http", "127.0.0.1:0", *args])
    assert hub.outcome(HUB_STARTED_RE) == "exited"
    assert hub.p.returncode == 2 and says in hub.stderr(), hub.stderr()


def test_a_shard_down_at_startup_is_retried_and_said_so(launch):
    """A name resolves once at startup; nothing listens there: the hub
    starts all the same, says why it is not ready, and refuses publishes."""
    hub = launch("spoke-hub", ["--listen", "127.0.0.1:0", "--http", "127.0.0.1:0",
                               "--engine", "redis", "--redis", "localhost:1"])
    port = hub.wait_ready_file()["http"]
    status, body = http_get(port, "/readyz")
    doc = json.loads(body)
    assert status == 503 and "localhost:1" in doc["reason"], doc
    status, _ = http_request(port, "POST", "/api/publish",
                             json.dumps({"topic": "t", "data": 1}).encode())
    assert status == 503
    assert "refused" in hub.output().lower() or "connection" in hub.output().lower()


def test_a_frozen_redis_is_noticed_by_its_heartbeats(make_cluster, redis):
    """hiredis 0.14 has no timeouts: a Redis that stops answering (SIGSTOP)
    is found by the connections' own heartbeats (PING on the command
    connection, a private channel on the pub/sub one), a publish waiting on
    it is answered (504: it may have been published) instead of hanging,
    and all comes back with SIGCONT."""
    r = redis("r0")
    a, _ = two_hubs(make_cluster, [r.sock], hub_args=["--redis-heartbeat-ms", "200"])
    assert api_publish(a, TOPIC, 1)[0] == 200
    r.proc.send_signal(signal.SIGSTOP)
    try:
        # Sent, then the connection is dropped: Redis holds it and may run
        # it later, so the hub cannot say it was not published (504).
        status, answer = api_publish(a, TOPIC, 2)
        assert status == 504 and "may have been published" in answer["error"], answer
        doc = wait_for(lambda: ready(a)[0] == 503 and ready(a)[1], 5, "/readyz 503")
        assert "no answer to PING" in doc["reason"] or "heartbeat" in doc["reason"] or \
            "not up within" in doc["reason"], doc
    finally:
        r.proc.send_signal(signal.SIGCONT)
    wait_for(lambda: ready(a)[0] == 200, 15, "/readyz 200 again")
    status, answer = api_publish(a, TOPIC, 3)
    assert status == 200 and answer["seq"] == 3, answer  # 2 was published after all


def test_a_link_hears_topic_reset_with_the_topic_s_new_position(make_cluster, redis):
    """The link message behind the reset notice: TOPIC_RESET carries the
    topic, the new position (seq 0 of the new epoch) and why; live messages
    then go on from it."""
    r = redis("r0")
    cluster = make_cluster(edges=(), workers=1, hub_args=["--engine", "redis", "--redis", r.sock])
    p = peer(cluster, "peer")
    old = interest(p, "lk.t", 1)[6]
    assert [x[4] for x in publish_many(p, "lk.t", 2, 1)] == [1, 2]
    r.restart()  # empty
    m = p.recv_until(lambda m: m[0] == TOPIC_RESET, timeout=15)
    assert m[1:3] == ["lk.t", 0] and m[3] != old and "epoch changed" in m[4], m
    p.send([PUBLISH, "lk.t", p.own_conn(1), 0, b'"after"', "", 3])
    # Its result and its live copy, in either order (Redis sends the copy
    # on another connection).
    got = {}
    while len(got) < 2:
        x = p.recv_until(lambda x: x[0] in (PUBLISH_RESULT, MESSAGE))
        got[x[0]] = x
    res, msg = got[PUBLISH_RESULT], got[MESSAGE]
    assert (res[1], res[2], res[4], res[5]) == (3, 0, 1, m[3]), res
    assert (msg[1], msg[2], msg[5]) == ("lk.t", 1, b'"after"'), msg


def test_a_publish_sent_again_through_another_hub_is_not_ordered_twice(make_cluster, redis):
    """An edge worker's PUBLISH that hub-a ordered, sent again with the same
    pub_id by the same run of that worker (name, worker, boot) through
    hub-b, which never saw it (its link to hub-a broke before the result
    came): hub-b answers the first position from Redis and orders nothing,
    so a subscriber sees the message once."""
    r = redis("r0")
    store = ["--engine", "redis", "--redis", r.sock]
    a = make_cluster(edges=(), workers=1, hub_args=[*store, "--name", "hub-a"])
    b = make_cluster(edges=(), workers=1, hub_args=[*store, "--name", "hub-b"])
    watcher = peer(b, "watcher")
    epoch = interest(watcher, "dd.t", 1)[6]
    on_a = peer(a, "edge-x", 0, 0x5151)
    first = publish(on_a, "dd.t", b'"five"', 5)
    assert (first[2], first[4]) == (0, 1), first
    on_a.close()
    on_b = peer(b, "edge-x", 0, 0x5151)
    again = publish(on_b, "dd.t", b'"five"', 5)
    assert (again[2], again[4], again[5]) == (0, 1, first[5]), again
    assert again[5] == epoch
    # The next ones go on from it.
    assert [x[4] for x in publish_many(on_b, "dd.t", 2, 6)] == [2, 3]
    got = []
    while len(got) < 3:
        m = watcher.recv_until(lambda m: m[0] == MESSAGE and m[1] == "dd.t")
        got.append((m[2], m[5]))
    assert got == [(1, b'"five"'), (2, b'"0"'), (3, b'"1"')], got
    assert hub_metric(b, "spoke_hub_publishes_retransmitted_total", '{outcome="answered"}') == 1
    assert hub_metric(b, "spoke_hub_redis_publishes_repeated_total",
                      f'{{shard="{r.sock}"}}') == 1
    # A publish of another run of the worker (a new boot) is its own.
    other = peer(b, "edge-x", 0, 0x5152)
    assert publish(other, "dd.t", b'"new boot"', 5)[4] == 4
    # The record is the topic's, under the prefix, and expires.
    key = "spoke:p:{dd.t}:edge-x:0:00005151:5"
    assert r.command("GET", key) == f"${len(epoch) + 2}"
    assert 0 < int(r.command("PTTL", key)[1:]) <= 2 * 10000
