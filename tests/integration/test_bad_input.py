"""Bad client input is contained: protocol errors get a 400 reply on a connection that stays usable, invalid UTF-8 closes with 1007, oversized messages close with 1009, and other clients never notice."""
import json

import msgpack

from helpers import (OP_TEXT, RawWS, connect, expect, recv_json, run, send,
                     subscribe)

TOPIC_CHARS = "ABCXYZabcxyz0189._:/-"

# (frame payload, id the reply must carry or None)
BAD_JSON = [
    ('{"op":', None),                                            # truncated JSON
    ("not json at all", None),
    ("[1,2,3]", None),                                           # not an object
    ('"just a string"', None),
    ('{"id":1}', 1),                                             # no op
    ('{"op":"nope","id":2}', 2),                                 # unknown op
    ('{"op":42,"id":3}', 3),                                     # op not a string
    ('{"op":"sub","id":4}', 4),                                  # missing topic
    ('{"op":"unsub","id":5}', 5),
    ('{"op":"pub","topic":"t","id":6}', 6),                      # missing data
    ('{"op":"send","data":1,"id":7}', 7),                        # missing to
    ('{"op":"sub","topic":"","id":8}', 8),                       # empty topic
    ('{"op":"sub","topic":"bad topic","id":9}', 9),              # space
    ('{"op":"sub","topic":"a*b","id":10}', 10),
    ('{"op":"sub","topic":"caf\u00e9","id":11}', 11),            # non-ASCII
    (json.dumps({"op": "sub", "topic": "x" * 256, "id": 12}), 12),  # 256 bytes
    ('{"op":"pub","topic":"a b","data":1,"id":13}', 13),
    ('{"op":"sub","topic":7,"id":14}', 14),                      # topic not a string
]


async def assert_edge_serves(url):
    """A fresh client on the edge can still subscribe."""
    ws, _ = await connect(url)
    await subscribe(ws, "health/check")
    await ws.close()


def test_malformed_messages_get_400_and_the_connection_survives(cluster):
    async def body():
        ws, _ = await connect(cluster.url_a)
        for i, (payload, id_) in enumerate(BAD_JSON):
            await ws.send(payload)
            reply = await recv_json(ws)
            assert reply.get("op") == "error" and reply.get("code") == 400, (payload, reply)
            if id_ is not None:
                assert reply.get("id") == id_, (payload, reply)
            assert isinstance(reply.get("reason"), str) and reply["reason"], reply
            await subscribe(ws, f"ok/{i}")            # same connection still works
            await assert_edge_serves(cluster.url_a)   # and so do other clients
    run(body())


def test_valid_topic_edges_are_accepted(cluster):
    async def body():
        ws, _ = await connect(cluster.url_a)
        await subscribe(ws, "x" * 255)
        await subscribe(ws, TOPIC_CHARS)
        await subscribe(ws, "a")
    run(body())


def test_malformed_msgpack_gets_400(cluster):
    async def body():
        ws, _ = await connect(cluster.url_a, "spoke.msgpack")
        for payload, id_ in ((b"\xc1", None),                                   # never-used byte
                             (b"\x93\x01\x02\x03", None),                       # array, not map
                             (msgpack.packb({"op": "nope", "id": 21}), 21),
                             (msgpack.packb({"op": "sub", "topic": "a b", "id": 22}), 22),
                             (msgpack.packb({"op": "pub", "id": 23}), 23)):
            await ws.send(payload)
            frame = await ws.recv()
            assert isinstance(frame, bytes), frame
            reply = msgpack.unpackb(frame, raw=False)
            assert reply.get("op") == "error" and reply.get("code") == 400, (payload, reply)
            if id_ is not None:
                assert reply.get("id") == id_, reply
            await subscribe(ws, "ok")
    run(body())


def test_invalid_utf8_text_frame_closes_1007(cluster):
    raw = RawWS(cluster.edge_ports["edge-a"])
    raw.read_welcome()
    raw.send_frame(OP_TEXT, b'{"op":"sub","topic":"\xff\xfe"}')
    assert raw.recv_close()[0] == 1007
    run(assert_edge_serves(cluster.url_a))


def test_invalid_utf8_split_across_fragments_closes_1007(cluster):
    for pieces in ([b'{"op":"pub","topic":"t","data":"\xc3', b'\x28"}'],        # bad continuation
                   [b'{"op":"pub","topic":"t","data":"', b'\xe2\x82'],       # ends mid-character
                   [b'{"op":"sub","topic":"\xed', b'\xa0\x80"}']):            # surrogate
        raw = RawWS(cluster.edge_ports["edge-a"])
        raw.read_welcome()
        raw.send_fragments(pieces)
        code = raw.recv_close()[0]
        assert code == 1007, f"{pieces!r} closed with {code}"
        raw.close()
    run(assert_edge_serves(cluster.url_a))


def test_valid_utf8_split_across_fragments_is_reassembled(cluster):
    raw = RawWS(cluster.edge_ports["edge-a"])
    conn = raw.read_welcome()["conn"]
    raw.send_json({"op": "sub", "topic": "utf8", "id": 1})
    ack = raw.recv_json()
    assert (ack["op"], ack["id"]) == ("ack", 1) and "epoch" in ack, ack
    cluster.wait_interest(conn)
    # "café" with the two bytes of "é" in different frames, plus an empty middle frame.
    raw.send_fragments([b'{"op":"pub","topic":"utf8","data":"caf\xc3', b"", b'\xa9"}'])
    msg = raw.recv_json()
    assert msg["op"] == "msg" and msg["data"] == "caf\u00e9", msg


def test_oversized_messages_close_1009(make_cluster):
    cluster = make_cluster(hub_args=["--max-message-bytes", "1024"])

    async def under_limit():
        ws, welcome = await connect(cluster.url_a)
        assert welcome["policy"]["max_message_bytes"] == 1024, welcome
        await send(ws, {"op": "pub", "topic": "big", "data": "x" * 900, "id": 1})
        await expect(ws, op="ack", id=1)
    run(under_limit())

    big = json.dumps({"op": "pub", "topic": "big", "data": "x" * 2000})
    raw = RawWS(cluster.edge_ports["edge-a"])
    raw.read_welcome()
    raw.send_frame(OP_TEXT, big)
    assert raw.recv_close()[0] == 1009, "one frame over the limit"

    raw = RawWS(cluster.edge_ports["edge-a"])
    raw.read_welcome()
    raw.send_fragments([big[:600], big[600:1200], big[1200:]])  # every frame under the limit
    assert raw.recv_close()[0] == 1009, "a message over the limit in small fragments"
    run(assert_edge_serves(cluster.url_a))
