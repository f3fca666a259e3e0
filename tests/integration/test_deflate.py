"""permessage-deflate (RFC 7692) between clients and the edge: negotiated
without context takeover either way, each message compressed once per
worker and the same compressed frame sent to every subscriber that
negotiated it, small or incompressible messages sent plain; compressed
client messages inflated into at most max_message_bytes (a bomb gets 1009,
data that needs another message's context 1002, bad UTF-8 1007); RSV1 where
RFC 7692 does not allow it is a protocol error; deflate=off in the policy
means no negotiation."""
import asyncio
import json
import os
import random
import time
import zlib

import msgpack
import pytest

from helpers import (OP_CONT, OP_PING, OP_TEXT, RawWS, connect, expect, http_request, metric,
                     recv_raw, run, rss_anon_kb, scaled, send, subscribe, wait_for)

OFFER = ("Sec-WebSocket-Extensions", "permessage-deflate; client_max_window_bits")
ANSWER = "permessage-deflate; server_no_context_takeover; client_no_context_takeover"
RSV1 = 0x40

WORDS = ("deploy rollout latency weekend budget schedule customer dashboard version "
         "metrics upgrade draft office support problem question feedback").split()


def chat_text(n, seed=1):
    """n bytes of varied chat-like text (compresses about 2x, as real chat does)."""
    rnd = random.Random(seed)
    out = []
    while sum(len(w) + 1 for w in out) < n:
        out.append(rnd.choice(WORDS) + rnd.choice(("", "", ",", "?", f" {rnd.randint(0, 9999)}")))
    return " ".join(out)[:n]


def deflate_body(data, zobj=None):
    """A message body as RFC 7692 section 7.2.1 makes it: sync flush, 00 00 ff ff removed.
    zobj: a compressobj kept across messages (context takeover), else a fresh one."""
    z = zobj or zlib.compressobj(wbits=-15)
    out = z.compress(data) + z.flush(zlib.Z_SYNC_FLUSH)
    assert out.endswith(b"\x00\x00\xff\xff")
    return out[:-4]


def inflate_body(body):
    """What a receiver does (RFC 7692 section 7.2.2): append 00 00 ff ff and inflate."""
    return zlib.decompressobj(wbits=-15).decompress(body + b"\x00\x00\xff\xff")


def publish(cluster, topic, data):
    """Publishes through the hub's API (no client connection needed)."""
    status, answer = http_request(cluster.http_port, "POST", "/api/publish",
                                  json.dumps({"topic": topic, "data": data}).encode())
    assert status == 200, answer


def settles(port, name, want):
    """Waits until edge metric `name` equals want (the edge publishes its figures a few times
    a second)."""
    wait_for(lambda: metric(port, name) == want, scaled(5), f"{name} == {want}")


def raw_deflate_client(cluster, name="edge-a", protocol=None):
    ws = RawWS(cluster.edge_ports[name], protocol=protocol, headers=[OFFER])
    assert ws.headers.get("sec-websocket-extensions") == ANSWER, ws.headers
    return ws


def recv_message(ws, timeout=5.0):
    """(compressed?, payload inflated if it was) of the next data frame of a RawWS."""
    deadline = time.monotonic() + scaled(timeout)
    while True:
        fin, op, payload = ws._frame_before(deadline)
        if op == OP_PING:
            continue
        assert fin and op in (1, 2), (fin, op)
        rsv1 = bool(ws.last_b0 & RSV1)
        assert not ws.last_b0 & 0x30, "RSV2/RSV3 set by the edge"
        return rsv1, inflate_body(payload) if rsv1 else payload


def raw_subscribe(ws, topic, id_=1):
    ws.send_json({"op": "sub", "topic": topic, "id": id_})
    rsv1, payload = recv_message(ws)
    ack = json.loads(payload)
    assert ack["op"] == "ack" and ack["id"] == id_, payload


def test_the_edge_answers_an_offer_without_context_takeover_and_nothing_without_one(cluster):
    async def body():
        ws, welcome = await connect(cluster.url_a)  # websockets offers permessage-deflate
        assert ws.response_headers["Sec-WebSocket-Extensions"] == ANSWER
        plain, _ = await connect(cluster.url_a, compression=None)
        assert "Sec-WebSocket-Extensions" not in plain.response_headers
    run(body())
    # An offer the edge cannot honour whole is declined, never half-accepted.
    for offer in ("permessage-deflate; server_max_window_bits=10",
                  "permessage-deflate; bogus_param", "x-webkit-deflate-frame"):
        ws = RawWS(cluster.edge_ports["edge-a"], headers=[("Sec-WebSocket-Extensions", offer)])
        assert "sec-websocket-extensions" not in ws.headers, (offer, ws.headers)
        ws.read_welcome()
        ws.close()
    # The second of several offers, in a repeated header.
    ws = RawWS(cluster.edge_ports["edge-a"], headers=[
        ("Sec-WebSocket-Extensions", "permessage-deflate; server_max_window_bits=9"),
        ("Sec-WebSocket-Extensions", "permessage-deflate; server_no_context_takeover")])
    assert ws.headers.get("sec-websocket-extensions") == ANSWER
    ws.close()


def test_large_messages_go_compressed_small_ones_plain_in_both_encodings(cluster):
    sub = raw_deflate_client(cluster)
    sub.read_welcome()
    assert not sub.last_b0 & RSV1, "the short welcome went compressed"
    raw_subscribe(sub, "room")
    mp = raw_deflate_client(cluster, protocol="spoke.msgpack")
    rsv1, payload = recv_message(mp)
    assert msgpack.unpackb(payload)["op"] == "welcome"
    mp.send_frame(2, msgpack.packb({"op": "sub", "topic": "room", "id": 7}))
    rsv1, payload = recv_message(mp)
    assert msgpack.unpackb(payload)["id"] == 7
    cluster.wait_interest(sub.welcome["conn"])
    text = chat_text(2000)
    publish(cluster, "room", {"text": text})
    publish(cluster, "room", "hi")
    rsv1, payload = recv_message(sub)
    assert rsv1, "a 2 KB message went uncompressed"
    msg = json.loads(payload)
    assert msg["op"] == "msg" and msg["data"] == {"text": text} and msg["seq"] == 1
    rsv1, payload = recv_message(sub)
    assert not rsv1, "a short message went compressed (below deflate_threshold)"
    assert json.loads(payload)["data"] == "hi"
    rsv1, payload = recv_message(mp)
    assert rsv1 and msgpack.unpackb(payload)["data"] == {"text": text}
    rsv1, payload = recv_message(mp)
    assert not rsv1 and msgpack.unpackb(payload)["data"] == "hi"


def test_a_message_is_compressed_once_per_worker_for_all_its_subscribers(make_cluster):
    cluster = make_cluster(workers=1)
    port = cluster.edge_admin_port("edge-a")
    text = chat_text(4000, seed=2)

    async def body():
        subs = []
        for _ in range(5):
            ws, w = await connect(cluster.url_a)
            await subscribe(ws, "fanout")
            subs.append(ws)
        plain, _ = await connect(cluster.url_a, compression=None)
        await subscribe(plain, "fanout")
        await cluster.await_interest(w["conn"])
        before = metric(port, "spoke_edge_deflate_compressed_total")
        bytes_before = metric(port, "spoke_edge_client_bytes_out_total")
        pub, _ = await connect(cluster.url_b)
        await send(pub, {"op": "pub", "topic": "fanout", "data": text, "id": 1})
        await expect(pub, op="ack", id=1)
        for ws in subs + [plain]:
            m = json.loads(await recv_raw(ws))
            assert m["data"] == text
        await asyncio.to_thread(settles, port, "spoke_edge_deflate_clients", 5)
        await asyncio.to_thread(settles, port, "spoke_edge_deflate_compressed_total", before + 1)
        sent = metric(port, "spoke_edge_client_bytes_out_total") - bytes_before
        # Five compressed copies and one plain: well under six plain ones.
        assert sent < 6 * len(text) * 0.75, sent
    run(body())


def test_compressed_client_messages_are_inflated_and_published(cluster):
    text = chat_text(3000, seed=3)

    async def body():
        sub, w = await connect(cluster.url_b, compression=None)
        await subscribe(sub, "up")
        await cluster.await_interest(w["conn"])
        pub, _ = await connect(cluster.url_a)  # websockets compresses what it sends
        before = metric(cluster.edge_admin_port("edge-a"), "spoke_edge_inflated_total")
        await send(pub, {"op": "pub", "topic": "up", "data": text, "id": 4})
        await expect(pub, op="ack", id=4)
        assert (await expect(sub, op="msg", topic="up"))["data"] == text
        await asyncio.to_thread(wait_for, lambda: metric(
            cluster.edge_admin_port("edge-a"), "spoke_edge_inflated_total") > before, scaled(5))
    run(body())


def test_a_fragmented_compressed_message_is_inflated_whole(cluster):
    ws = raw_deflate_client(cluster)
    ws.read_welcome()
    body = deflate_body(json.dumps({"op": "sub", "topic": "frag", "id": 9}).encode())
    third = max(1, len(body) // 3)
    pieces = [body[:third], body[third:2 * third], body[2 * third:]]
    ws.send_frame(OP_TEXT, pieces[0], fin=False, rsv=RSV1)  # RSV1 on the first frame only
    ws.send_frame(OP_PING, b"in between")  # a control frame inside the message
    ws.send_frame(OP_CONT, pieces[1], fin=False)
    ws.send_frame(OP_CONT, pieces[2], fin=True)
    while True:
        fin, op, payload = ws.recv_frame()
        if op != 0xA:  # the pong
            break
    ack = json.loads(inflate_body(payload) if ws.last_b0 & RSV1 else payload)
    assert ack["op"] == "ack" and ack["id"] == 9, ack


def test_a_client_using_context_takeover_is_closed_with_1002(cluster):
    ws = raw_deflate_client(cluster)
    ws.read_welcome()
    z = zlib.compressobj(wbits=-15)  # one stream for every message: context takeover
    msg = json.dumps({"op": "ping", "id": 1, "pad": chat_text(300)}).encode()
    ws.send_frame(OP_TEXT, deflate_body(msg, z), rsv=RSV1)
    rsv1, payload = recv_message(ws)
    assert json.loads(payload) == {"op": "pong", "id": 1}
    ws.send_frame(OP_TEXT, deflate_body(msg, z), rsv=RSV1)  # refers back to the first
    code, reason = ws.recv_close()
    assert code == 1002 and "context takeover" in reason, (code, reason)


def test_an_inflate_bomb_is_closed_with_1009_and_the_edge_barely_grows(make_cluster):
    cluster = make_cluster(workers=1)
    pid = cluster.edges["edge-a"].p.pid
    bomb = deflate_body(b"\0" * (60 << 20))  # 60 MiB of zeros in ~60 KB, under the 64 KiB limit
    assert len(bomb) < 65536
    ws = raw_deflate_client(cluster)
    ws.read_welcome()
    rss0 = rss_anon_kb(pid)
    port = cluster.edge_admin_port("edge-a")
    t0 = time.monotonic()
    ws.send_frame(OP_TEXT, bomb, rsv=RSV1)
    code, reason = ws.recv_close(timeout=10)
    elapsed = time.monotonic() - t0
    assert code == 1009, (code, reason)
    grew = rss_anon_kb(pid) - rss0
    assert grew < 4096, f"the edge grew by {grew} KiB inflating a bomb"
    assert elapsed < scaled(2), f"closing the bomb took {elapsed:.2f} s"
    settles(port, "spoke_edge_inflate_too_big_total", 1)
    # The limit counts inflated bytes: a message that inflates to just over it is refused too.
    ws = raw_deflate_client(cluster)
    ws.read_welcome()
    ws.send_frame(OP_TEXT, deflate_body(b" " * 65537), rsv=RSV1)
    assert ws.recv_close()[0] == 1009


def test_inflated_text_that_is_not_utf8_is_closed_with_1007(cluster):
    ws = raw_deflate_client(cluster)
    ws.read_welcome()
    ws.send_frame(OP_TEXT, deflate_body(b'{"op":"ping","id":1,"x":"\xff\xfe"}'), rsv=RSV1)
    assert ws.recv_close()[0] == 1007


def test_garbage_in_a_compressed_message_is_closed_with_1002(cluster):
    ws = raw_deflate_client(cluster)
    ws.read_welcome()
    ws.send_frame(OP_TEXT, b"\xff" * 40, rsv=RSV1)
    assert ws.recv_close()[0] == 1002


@pytest.mark.parametrize("what", ["not negotiated", "continuation", "control", "rsv2"])
def test_reserved_bits_where_rfc_7692_allows_none_are_protocol_errors(cluster, what):
    body = deflate_body(b'{"op":"ping","id":1}')
    if what == "not negotiated":
        ws = RawWS(cluster.edge_ports["edge-a"])
        ws.read_welcome()
        ws.send_frame(OP_TEXT, body, rsv=RSV1)
    else:
        ws = raw_deflate_client(cluster)
        ws.read_welcome()
        if what == "continuation":
            ws.send_frame(OP_TEXT, body[:2], fin=False, rsv=RSV1)
            ws.send_frame(OP_CONT, body[2:], rsv=RSV1)
        elif what == "control":
            ws.send_frame(OP_PING, b"", rsv=RSV1)
        else:
            ws.send_frame(OP_TEXT, body, rsv=0x20)
    code, reason = ws.recv_close()
    assert code == 1002, (what, code, reason)


def test_deflate_off_in_the_policy_means_no_negotiation(make_cluster):
    cluster = make_cluster(hub_config="[policy]\ndeflate = off\n")

    async def body():
        ws, _ = await connect(cluster.url_a)
        assert "Sec-WebSocket-Extensions" not in ws.response_headers
        assert cluster.policy()["deflate"] in (False, "off", 0)
    run(body())
