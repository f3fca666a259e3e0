"""Connecting to an edge yields a welcome naming the edge, its region, a unique conn id and the policy in force, in the negotiated subprotocol's encoding."""
import asyncio

import msgpack

from helpers import CONN_RE, connect, expect, open_ws, recv_raw, run, scaled, send, subscribe

# The hub's defaults as the welcome shows them (the cluster sets no policy).
DEFAULT_POLICY = {"idle_timeout_ms": 0, "ping_interval_ms": 25000, "max_message_bytes": 65536}


def test_welcome_names_edge_region_and_unique_conn(cluster):
    async def body():
        conns = []
        for name in ("edge-a", "edge-a", "edge-a", "edge-b", "edge-b"):
            _, welcome = await connect(cluster.url(name))
            assert welcome["edge"] == name
            assert welcome["region"] == "test"
            assert welcome["policy"] == DEFAULT_POLICY, welcome
            m = CONN_RE.match(welcome["conn"])
            assert m, f"conn {welcome['conn']!r} is not name:worker:boot-hex:seq"
            assert m["edge"] == name
            assert 0 <= int(m["worker"]) < cluster.workers
            conns.append(welcome["conn"])
        assert len(set(conns)) == len(conns), conns
    run(body())


def test_subprotocol_negotiation_picks_the_encoding(cluster):
    async def body():
        ws, _ = await connect(cluster.url_a, "spoke.json")
        assert ws.subprotocol == "spoke.json"

        # No offer: no Sec-WebSocket-Protocol in the answer, JSON text frames.
        ws, _ = await connect(cluster.url_a, None)
        assert ws.subprotocol is None
        await send(ws, {"op": "sub", "topic": "x", "id": 1})
        assert isinstance(await recv_raw(ws), str)

        ws = await open_ws(cluster.url_a, "spoke.msgpack")
        assert ws.subprotocol == "spoke.msgpack"
        frame = await recv_raw(ws)
        assert isinstance(frame, bytes), f"msgpack welcome is a text frame: {frame!r}"
        assert msgpack.unpackb(frame, raw=False)["op"] == "welcome"
        await ws.send(msgpack.packb({"op": "sub", "topic": "x", "id": 2}))
        frame = await recv_raw(ws)
        assert isinstance(frame, bytes), f"msgpack client got a text frame: {frame!r}"
        ack = msgpack.unpackb(frame, raw=False)
        assert (ack["op"], ack["id"]) == ("ack", 2) and "epoch" in ack, ack
    run(body())


def test_sub_is_acked_and_publisher_gets_its_own_message(cluster):
    async def body():
        ws, welcome = await connect(cluster.url_a)
        await subscribe(ws, "self/echo", 7)
        await cluster.await_interest(welcome["conn"])
        await send(ws, {"op": "pub", "topic": "self/echo", "data": {"x": 1}, "id": 8})
        got = {}
        for _ in range(2):  # the ack and the message, in either order
            msg = await expect(ws)
            got[msg["op"]] = msg
        assert got["ack"]["id"] == 8
        m = got["msg"]
        assert (m["topic"], m["seq"], m["data"]) == ("self/echo", 1, {"x": 1}), m
        assert m["from"] == welcome["conn"], m
    run(body())


def test_ping_is_answered_and_close_is_echoed(cluster):
    async def body():
        ws, _ = await connect(cluster.url_a)
        pong = await ws.ping(b"are you there")
        await asyncio.wait_for(pong, scaled(2))  # resolves only when the matching pong arrives
        await ws.close(1000, "bye")
        assert ws.close_code == 1000, f"edge answered our close with {ws.close_code}"
    run(body())
