"""Payloads built to blow up when rendered for the other encoding are refused by the publisher's edge with 400 (nothing is delivered, the connection stays open, the edges stay small and responsive), and the edge that renders a message for its clients enforces the same output budget on whatever reaches it from the hub, counting what it drops in /metrics."""
import json

import msgpack

from helpers import (await_for, connect, expect, http_get, http_request, run, send,
                     subscribe)

# The issue's payload: fixmaps nested as map keys, {{{...{nil: nil}...: nil}: nil},
# 1 + 2 x NESTED_DEPTH bytes. Rendering each key as the escaped JSON text of
# the level below doubled the output per level: 28 levels took an edge from
# 7 MB to 1.3 GB.
NESTED_DEPTH = 28
# The default policy: max_message_bytes 65536, so the render budget is
# 4 x 65536 bytes (docs/protocol.md, "Payload transcoding").
BUDGET = 4 * 65536
# How much an edge's anonymous memory may grow while it refuses (and, for
# the budget test, delivers) the payloads below. The work left is bounded by
# the budget (256 KiB, a few copies of it in flight); the rest is slack for
# the sanitizer build's allocator, whose quarantine keeps freed blocks for a
# while. Measured: under 0.1 MiB for the nested keys, ~3 MiB for the budget
# test. The old rendering sent a 64 MiB frame for 25 levels of nested keys
# and grew by gigabytes for 28.
RSS_GROWTH_LIMIT_KB = 16 * 1024


def nested_key_data(depth=NESTED_DEPTH):
    data = b"\xc0"
    for _ in range(depth):
        data = b"\x81" + data + b"\xc0"
    return data


def control_chars_data(n):
    """A msgpack str of n U+0001 characters: 6 n + 2 bytes as JSON."""
    return msgpack.packb("\x01" * n)


def raw_request(fields, data):
    """A msgpack client frame: the map `fields` plus "data" holding the raw
    msgpack bytes `data` (which python-msgpack could not build: map keys)."""
    body = b"".join(msgpack.packb(k) + msgpack.packb(v) for k, v in fields.items())
    n = len(fields) + 1
    assert n < 16
    return bytes([0x80 | n]) + body + msgpack.packb("data") + data


def rss_anon_kb(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("RssAnon:"):
                return int(line.split()[1])
    raise AssertionError(f"no RssAnon in /proc/{pid}/status")


def edge_rss(cluster):
    return {name: rss_anon_kb(proc.p.pid) for name, proc in cluster.edges.items()}


def assert_rss_bounded(cluster, before):
    after = edge_rss(cluster)
    for name, kb in after.items():
        cluster.edges[name].assert_alive()
        grew = kb - before[name]
        assert grew < RSS_GROWTH_LIMIT_KB, (
            f"{name}'s RssAnon grew by {grew} KiB ({before[name]} -> {kb}); "
            f"allowed {RSS_GROWTH_LIMIT_KB} KiB")


async def expect_refused(ws, id_, why):
    reply = await expect(ws, op="error", id=id_, code=400)
    assert why in reply["reason"], reply
    return reply


def metric(text, name, **labels):
    want = ",".join(f'{k}="{v}"' for k, v in labels.items())
    for line in text.splitlines():
        if line.startswith(f"{name}{{") and want in line:
            return int(line.rsplit(" ", 1)[1])
    raise AssertionError(f"no {name} with {labels} in /metrics:\n{text}")


def test_nested_key_pub_is_refused_and_nothing_is_delivered(cluster):
    async def body():
        data = nested_key_data()
        frame = raw_request({"op": "pub", "topic": "hk", "id": 1}, data)
        assert len(frame) <= 85, len(frame)  # ~80 bytes, as in the issue
        subs = [await connect(cluster.url_a), await connect(cluster.url_b),
                await connect(cluster.url_b, "spoke.msgpack")]
        for ws, welcome in subs:
            await subscribe(ws, "hk")
            await cluster.await_interest(welcome["conn"])
        pub, _ = await connect(cluster.url_a, "spoke.msgpack")
        before = edge_rss(cluster)

        await pub.send(frame)
        await expect_refused(pub, 1, "map or array as a map key")
        # The connection stays open and the next publish goes through: it is
        # the first thing every subscriber receives, so nothing came before it.
        await send(pub, {"op": "pub", "topic": "hk", "data": "after", "id": 2})
        await expect(pub, op="ack", id=2)
        for ws, _ in subs:
            await expect(ws, op="msg", topic="hk", data="after", seq=1)
        assert_rss_bounded(cluster, before)
    run(body())


def test_nested_key_send_to_own_json_connection_is_refused(make_cluster):
    # One worker: the JSON target is on the sender's own worker, so the
    # message takes the edge's local path and never reaches the hub.
    cluster = make_cluster(edges=("edge-a",), workers=1)

    async def body():
        target, welcome = await connect(cluster.url_a)
        sender, _ = await connect(cluster.url_a, "spoke.msgpack")
        before = edge_rss(cluster)

        frame = raw_request({"op": "send", "to": welcome["conn"], "id": 1}, nested_key_data())
        await sender.send(frame)
        await expect_refused(sender, 1, "map or array as a map key")
        await send(sender, {"op": "send", "to": welcome["conn"], "data": "after", "id": 2})
        await expect(sender, op="ack", id=2)
        await expect(target, op="direct", data="after")
        assert_rss_bounded(cluster, before)
    run(body())


def test_payload_over_the_render_budget_is_refused_at_the_budget(make_cluster):
    # No nested keys: a str of control characters, 6 bytes each as JSON.
    # 43690 of them render as BUDGET - 2 bytes and are delivered; one more
    # passes the budget and is refused, for pub and for send alike.
    cluster = make_cluster()
    fits, over = (BUDGET - 2) // 6, (BUDGET - 2) // 6 + 1
    assert 6 * fits + 2 <= BUDGET < 6 * over + 2

    async def body():
        sub, welcome = await connect(cluster.url_b, max_size=2 * BUDGET)
        await subscribe(sub, "big")
        await cluster.await_interest(welcome["conn"])
        pub, _ = await connect(cluster.url_a, "spoke.msgpack")
        before = edge_rss(cluster)

        for op, extra in (("pub", {"topic": "big"}), ("send", {"to": welcome["conn"]})):
            await pub.send(raw_request({"op": op, **extra, "id": 1}, control_chars_data(over)))
            await expect_refused(pub, 1, f"over {BUDGET} bytes as JSON")
            await pub.send(raw_request({"op": op, **extra, "id": 2}, control_chars_data(fits)))
            await expect(pub, op="ack", id=2)
            got = await expect(sub, op="msg" if op == "pub" else "direct")
            assert got["data"] == "\x01" * fits
        assert_rss_bounded(cluster, before)
    run(body())


def test_rendering_edge_drops_what_it_cannot_render_and_counts_it(make_cluster):
    # The hub's API checks data against the base policy's max_message_bytes,
    # but edge-b's own limit is smaller, so its budget is too: edge-b must
    # enforce it on what the hub sends down, whoever published it. Data
    # nested deeper than msgpack allows has no msgpack form: dropped for
    # msgpack subscribers, spliced for JSON ones.
    cluster = make_cluster(hub_config="[edge.edge-b]\nmax_message_bytes = 1024\n")
    edge_b_budget = 4 * 1024

    async def body():
        subs = {}
        for name, url in (("a", cluster.url_a), ("b", cluster.url_b)):
            for proto in ("spoke.json", "spoke.msgpack"):
                ws, welcome = await connect(url, proto)
                await subscribe(ws, "api")
                await cluster.await_interest(welcome["conn"])
                subs[name, proto] = ws

        def publish(data):
            status, answer = http_request(cluster.http_port, "POST", "/api/publish",
                                          json.dumps({"topic": "api", "data": data}).encode())
            assert status == 200, answer
            return json.loads(answer)["seq"]

        big = "x" * (edge_b_budget + 100)       # over edge-b's budget, not edge-a's
        deep = 1
        for _ in range(34):  # deeper than the 31 levels a payload may have in msgpack
            deep = [deep]
        assert publish(big) == 1
        assert publish(deep) == 2
        assert publish({"ok": True}) == 3
        # edge-a: the big one reaches both encodings, the deep one only JSON.
        await expect(subs["a", "spoke.json"], op="msg", seq=1, data=big)
        await expect(subs["a", "spoke.json"], op="msg", seq=2, data=deep)
        await expect(subs["a", "spoke.json"], op="msg", seq=3)
        await expect(subs["a", "spoke.msgpack"], op="msg", seq=1, data=big)
        await expect(subs["a", "spoke.msgpack"], op="msg", seq=3)
        # edge-b: neither copy of the big one; the deep one only as JSON.
        await expect(subs["b", "spoke.json"], op="msg", seq=2, data=deep)
        await expect(subs["b", "spoke.json"], op="msg", seq=3)
        await expect(subs["b", "spoke.msgpack"], op="msg", seq=3)

        def counts(name):
            text = http_get(cluster.edge_admin_port(name), "/metrics")[1].decode()
            return (metric(text, "spoke_edge_payloads_dropped_total", reason="invalid"),
                    metric(text, "spoke_edge_payloads_dropped_total", reason="over_budget"))
        want = {"edge-a": (1, 0), "edge-b": (1, 2)}

        def counted():
            return all(counts(name) == n for name, n in want.items())
        # The workers publish their counters a few times a second.
        try:
            await await_for(counted, 5, "the drop counters")
        except AssertionError:
            raise AssertionError({name: counts(name) for name in want}) from None
        log_b = cluster.edge_log("edge-b")
        assert "over the render budget of 4096 bytes" in log_b, log_b[-2000:]
        assert "is not one valid value" in cluster.edge_log("edge-a")
    run(body())
