"""The hub's per-connection limits hold on every edge: a message over max_message_bytes closes with 1009 (also after a live change), one subscription too many and messages over the rate limit get error 429 on a connection that stays usable, and persistent abuse of the rate limit closes with 1008."""
import json

from helpers import (OP_CLOSE, OP_TEXT, RawWS, connect, expect, probe_welcome, run, send,
                     subscribe, wait_welcomes)

RATE, BURST = 2, 5


def test_max_message_bytes_change_applies_to_open_connections(make_cluster):
    cluster = make_cluster(hub_args=["--max-message-bytes", "4096"])
    port = cluster.edge_ports["edge-a"]
    msg = json.dumps({"op": "pub", "topic": "big", "data": "x" * 2000, "id": 1})

    old = RawWS(port)
    assert old.read_welcome()["policy"]["max_message_bytes"] == 4096
    old.send_frame(OP_TEXT, msg)
    ack = old.recv_json()
    assert (ack["op"], ack["id"]) == ("ack", 1), f"2 KB is under 4096: {ack}"

    status, answer = cluster.put_policy({"max_message_bytes": 1024})
    assert status == 200 and answer["max_message_bytes"] == 1024, answer
    wait_welcomes(port, cluster.workers, lambda w: w["policy"]["max_message_bytes"] == 1024, 2.0,
                  "max_message_bytes 1024 in welcomes")
    old.send_frame(OP_TEXT, msg)
    assert old.recv_close()[0] == 1009, "the connection opened under 4096 now gets 1009"

    async def new_client():
        ws, _ = await connect(cluster.url_a)
        await send(ws, {"op": "pub", "topic": "big", "data": "x" * 900, "id": 2})
        await expect(ws, op="ack", id=2)
    run(new_client())


def test_subscription_limit_gives_429_and_the_connection_stays(make_cluster):
    cluster = make_cluster(hub_args=["--max-subscriptions", "3"])

    async def body():
        ws, welcome = await connect(cluster.url_a)
        for topic in ("t0", "t1", "t2"):
            await subscribe(ws, topic)
        await send(ws, {"op": "sub", "topic": "t3", "id": 4})
        assert await expect(ws) == {"op": "error", "id": 4, "code": 429,
                                    "reason": "subscription limit reached (3)"}
        await subscribe(ws, "t0")   # already subscribed: a no-op, not a fourth topic
        await send(ws, {"op": "unsub", "topic": "t1", "id": 5})
        await expect(ws, op="ack", id=5)
        await subscribe(ws, "t3")   # room again

        # Still a working subscriber: t3 is delivered, the refused topic was never taken.
        await cluster.await_interest(welcome["conn"], topics=3)
        pub, _ = await connect(cluster.url_b)
        await send(pub, {"op": "pub", "topic": "t3", "data": "hello", "id": 6})
        await expect(pub, op="ack", id=6)
        await expect(ws, op="msg", topic="t3", data="hello")
        assert cluster.link_of(welcome["conn"])["topics"] == 3
    run(body())


def pings(ids):
    return [{"op": "ping", "id": i} for i in ids]


def rate_error(id_):
    return {"op": "error", "id": id_, "code": 429, "reason": "rate limit exceeded: message dropped"}


def test_rate_limit_gives_429_then_1008_on_persistent_abuse(make_cluster):
    cluster = make_cluster(hub_args=["--rate-limit", str(RATE), "--rate-burst", str(BURST)])
    port = cluster.edge_ports["edge-a"]
    raw = RawWS(port)
    raw.read_welcome()

    # 8 messages in one write: the burst passes, the other 3 are refused.
    raw.send_json_batch(pings(range(1, 9)))
    replies = [raw.recv_json() for _ in range(8)]
    assert replies == [{"op": "pong", "id": i} for i in range(1, 6)] + \
        [rate_error(i) for i in range(6, 9)], replies

    # The limit is per connection: another client on the edge is not affected.
    other = RawWS(port)
    other.read_welcome()
    other.send_json_batch(pings(range(1, 6)))
    assert [other.recv_json() for _ in range(5)] == [{"op": "pong", "id": i} for i in range(1, 6)]

    # The bucket refills at RATE per second.
    raw.assert_silent(1.2 / RATE)
    raw.send_json({"op": "ping", "id": 9})
    assert raw.recv_json() == {"op": "pong", "id": 9}

    # Keep pushing: the refusals within 10 s pass rate_burst and the edge closes.
    raw.send_json_batch(pings(range(10, 20)))
    errors = []
    while True:
        _, op, payload = raw.recv_frame()
        if op == OP_CLOSE:
            code, reason = int.from_bytes(payload[:2], "big"), payload[2:].decode()
            break
        msg = json.loads(payload)
        if msg.get("op") == "error":
            assert msg == rate_error(msg["id"]), msg
            errors.append(msg)
    assert (code, reason) == (1008, "rate limit exceeded")
    assert 3 + len(errors) == BURST, f"{3 + len(errors)} refusals answered 429 before the close"

    # The edge itself is fine.
    assert probe_welcome(port)["op"] == "welcome"
    other.send_json({"op": "ping", "id": 6})
    assert other.recv_json() == {"op": "pong", "id": 6}


def test_rate_limit_is_off_by_default(cluster):
    raw = RawWS(cluster.edge_ports["edge-a"])
    raw.read_welcome()
    raw.send_json_batch(pings(range(300)))  # three times the default burst, at once
    assert [raw.recv_json() for _ in range(300)] == [{"op": "pong", "id": i} for i in range(300)]
