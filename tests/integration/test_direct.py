"""Direct messages reach one connection by its conn id, on the same or another edge, and a send to an unknown or gone connection is answered 404."""
import asyncio
import time

from helpers import connect, decode, expect, recv_json, recv_raw, run, scaled, send, subscribe


def test_direct_across_edges_is_delivered_with_sender_and_acked(cluster):
    async def body():
        a, aw = await connect(cluster.url_a)
        b, bw = await connect(cluster.url_b)
        await send(a, {"op": "send", "to": bw["conn"], "data": {"hi": "b"}, "id": 9})
        await expect(a, op="ack", id=9)
        await expect(b, op="direct", data={"hi": "b"}, **{"from": aw["conn"]})

        await send(b, {"op": "send", "to": aw["conn"], "data": "back"})  # no id: no ack
        msg = await expect(a, op="direct", data="back", **{"from": bw["conn"]})
        assert "id" not in msg
    run(body())


def test_direct_on_the_same_edge(cluster):
    async def body():
        a1, w1 = await connect(cluster.url_a)
        a2, w2 = await connect(cluster.url_a)
        await send(a1, {"op": "send", "to": w2["conn"], "data": [1, 2], "id": 1})
        await expect(a1, op="ack", id=1)
        await expect(a2, op="direct", data=[1, 2], **{"from": w1["conn"]})
    run(body())


def test_direct_to_unknown_conn_is_404_with_the_id(cluster):
    async def body():
        a, _ = await connect(cluster.url_a)
        for i, to in enumerate(["edge-b:0:deadbeef:99999", "edge-a:1:deadbeef:99999",
                                "nonsense", "no-such-edge:0:ab:1"]):
            await send(a, {"op": "send", "to": to, "data": 1, "id": 40 + i})
            await expect(a, op="error", id=40 + i, code=404)
        await subscribe(a, "still/usable")  # the connection survives the errors
    run(body())


def test_direct_to_a_closed_conn_is_404(cluster):
    async def body():
        a, _ = await connect(cluster.url_a)
        b, bw = await connect(cluster.url_b)
        await b.close()
        # The edge learns of the close asynchronously: retry until it answers 404.
        deadline = time.monotonic() + scaled(5)
        for i in range(1000):
            await send(a, {"op": "send", "to": bw["conn"], "data": "late", "id": i})
            reply = await recv_json(a)
            assert reply.get("id") == i and reply["op"] in ("ack", "error"), reply
            if reply["op"] == "error":
                assert reply["code"] == 404, reply
                return
            assert time.monotonic() < deadline, "send to a closed conn is still acked after 5s"
            await asyncio.sleep(0.05)
    run(body())


def test_direct_is_transcoded_between_encodings(cluster):
    async def body():
        j, jw = await connect(cluster.url_a, "spoke.json")
        m, mw = await connect(cluster.url_b, "spoke.msgpack")
        await send(j, {"op": "send", "to": mw["conn"], "data": {"n": [1, 2.5, "s"]}, "id": 1})
        await expect(j, op="ack", id=1)
        frame = await recv_raw(m)
        assert isinstance(frame, bytes)
        assert decode(frame) == {"op": "direct", "from": jw["conn"], "data": {"n": [1, 2.5, "s"]}}

        await send(m, {"op": "send", "to": jw["conn"], "data": {"b": b"\x00\xff"}, "id": 2})
        await expect(m, op="ack", id=2)
        frame = await recv_raw(j)
        assert isinstance(frame, str)
        assert decode(frame) == {"op": "direct", "from": mw["conn"], "data": {"b": "AP8="}}
    run(body())
