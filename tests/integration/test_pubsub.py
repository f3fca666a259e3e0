"""Messages published on one edge reach subscribers on every edge in one hub-assigned order, with contiguous seqs starting at 1."""
import asyncio
import base64
import os

import pytest

from helpers import connect, decode, expect, recv_json, recv_raw, run, scaled, send, subscribe


def test_cross_edge_delivery_numbers_messages_1_2_3(cluster):
    async def body():
        sub, sw = await connect(cluster.url_a)
        pub, pw = await connect(cluster.url_b)
        await subscribe(sub, "news/eu")
        await cluster.await_interest(sw["conn"])
        for i, data in enumerate(["one", {"two": 2}, [3, "three"]]):
            await send(pub, {"op": "pub", "topic": "news/eu", "data": data, "id": 100 + i})
            await expect(pub, op="ack", id=100 + i)
        got = [await expect(sub, op="msg", topic="news/eu", **{"from": pw["conn"]})
               for _ in range(3)]
        assert [(m["seq"], m["data"]) for m in got] == [
            (1, "one"), (2, {"two": 2}), (3, [3, "three"])]
    run(body())


@pytest.mark.timeout(scaled(150), func_only=True)  # run() below allows 90 s
def test_1000_messages_from_two_edges_arrive_in_one_order_everywhere(cluster):
    n_each = 500
    topic = "orders:book-1"

    async def body():
        subs = []
        for url in (cluster.url_a, cluster.url_a, cluster.url_b, cluster.url_b):
            ws, w = await connect(url)
            await subscribe(ws, topic)
            subs.append(ws)
            await cluster.await_interest(w["conn"])
        pubs = [(await connect(url)) for url in (cluster.url_a, cluster.url_b)]

        async def publish(ws, tag):
            for i in range(n_each):
                await send(ws, {"op": "pub", "topic": topic, "data": {"p": tag, "i": i}})
                if i % 10 == 9:
                    await asyncio.sleep(0)  # let the other publisher interleave

        async def collect(ws):
            return [await recv_json(ws, 10) for _ in range(2 * n_each)]

        results = await asyncio.gather(*(collect(ws) for ws in subs),
                                       publish(pubs[0][0], "a"), publish(pubs[1][0], "b"))
        lists = [[(m["seq"], m["data"]) for m in r] for r in results[:len(subs)]]
        first = lists[0]
        seqs = [s for s, _ in first]
        assert seqs == list(range(seqs[0], seqs[0] + 2 * n_each)), "seqs are not contiguous"
        for other in lists[1:]:
            assert other == first, "subscribers saw different orders"
        for tag in ("a", "b"):  # each publisher's own order is kept
            assert [d["i"] for _, d in first if d["p"] == tag] == list(range(n_each))
        senders = {pubs[0][1]["conn"]: "a", pubs[1][1]["conn"]: "b"}
        assert all(senders[m["from"]] == m["data"]["p"] for m in results[0])
    run(body(), timeout=90)


def test_json_and_msgpack_subscribers_each_get_their_own_encoding(cluster):
    topic = "mixed"

    async def body():
        subs = {}
        for name, url, proto in (("json_a", cluster.url_a, "spoke.json"),
                                 ("mp_a", cluster.url_a, "spoke.msgpack"),
                                 ("json_b", cluster.url_b, "spoke.json"),
                                 ("mp_b", cluster.url_b, "spoke.msgpack")):
            ws, w = await connect(url, proto)
            await subscribe(ws, topic)
            await cluster.await_interest(w["conn"])
            subs[name] = ws
        jpub, _ = await connect(cluster.url_b, "spoke.json")
        mpub, _ = await connect(cluster.url_a, "spoke.msgpack")

        async def receive_all():
            """{name: decoded msg}, checking each frame's type matches its encoding."""
            out = {}
            for name, ws in subs.items():
                frame = await recv_raw(ws)
                want = bytes if name.startswith("mp") else str
                assert isinstance(frame, want), f"{name} got a {type(frame).__name__} frame"
                out[name] = decode(frame)
                assert out[name]["op"] == "msg" and out[name]["topic"] == topic, out[name]
            assert len({m["seq"] for m in out.values()}) == 1, f"seqs differ: {out}"
            return out

        jdata = {"n": 1, "neg": -7, "i64max": 2**63 - 1, "i64min": -2**63, "f": 1.5,
                 "tiny": 1e-7, "huge": 1e300, "s": "h\u00e9llo \U0001F600 a\u0000b",
                 "l": [1, 2, [3]], "t": True, "z": None, "o": {"k": "v", "": {}}, "e": []}
        await send(jpub, {"op": "pub", "topic": topic, "data": jdata})
        for name, m in (await receive_all()).items():
            assert m["data"] == jdata, f"{name}: {m['data']!r}"

        blob = b"\x00\x01\xfe\xff binary"
        mdata = {"b": blob, "n": -5, "s": "x", "u64": 2**64 - 1, "l": [b"y"]}
        await send(mpub, {"op": "pub", "topic": topic, "data": mdata})
        b64 = lambda b: base64.b64encode(b).decode()  # noqa: E731
        as_json = {"b": b64(blob), "n": -5, "s": "x", "u64": 2**64 - 1, "l": [b64(b"y")]}
        for name, m in (await receive_all()).items():
            want = mdata if name.startswith("mp") else as_json
            assert m["data"] == want, f"{name}: {m['data']!r}"
    run(body())


def test_large_message_crosses_edges_intact(cluster):
    async def body():
        sub, sw = await connect(cluster.url_a)
        pub, _ = await connect(cluster.url_b)
        await subscribe(sub, "big")
        await cluster.await_interest(sw["conn"])
        # Incompressible and close to the default 64 KiB limit once framed.
        data = base64.b64encode(os.urandom(47_000)).decode()
        await send(pub, {"op": "pub", "topic": "big", "data": data, "id": 1})
        await expect(pub, op="ack", id=1)
        msg = await expect(sub, op="msg", topic="big")
        assert msg["data"] == data
    run(body())
