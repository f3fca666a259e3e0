"""WebSocket protocol violations are answered with a close frame that carries a valid code and a reason: 1002 for bad frames (control frames over 125 bytes or fragmented, a 1-byte close payload, an invalid close code, unmasked or reserved frames, lengths not in their shortest form), 1007 for a close reason or text that is not UTF-8, 1009 for oversized messages; the socket is then closed, the violation is counted as a protocol close, and the edge keeps serving other clients."""
import os
import re
import struct

import pytest

from helpers import (OP_BIN, OP_CLOSE, OP_CONT, OP_PING, OP_PONG, OP_TEXT, RawWS,
                     client_frame, connect, http_get, run, subscribe, wait_for)


def masked(first_byte, payload, length_bytes=None):
    """A masked frame with a hand-made first byte (FIN, RSV, opcode) and, if
    given, a hand-made length field (the byte after the first, without the
    mask bit, and any extended length)."""
    mask = os.urandom(4)
    if length_bytes is None:
        n = len(payload)
        length_bytes = bytes([n]) if n < 126 else bytes([126]) + struct.pack("!H", n)
    head = bytes([first_byte, 0x80 | length_bytes[0]]) + length_bytes[1:]
    return head + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload))


def close_payload(code, reason=b""):
    return struct.pack("!H", code) + reason


# (test id, bytes the client sends after the welcome, expected code, expected reason)
VIOLATIONS = [
    ("ping-126", client_frame(OP_PING, b"p" * 126), 1002, "control frame too long"),
    ("pong-200", client_frame(OP_PONG, b"p" * 200), 1002, "control frame too long"),
    ("close-126", client_frame(OP_CLOSE, close_payload(1000, b"r" * 124)), 1002,
     "control frame too long"),
    ("ping-64bit-length", masked(0x80 | OP_PING, b"", bytes([127]) + struct.pack("!Q", 1 << 40)),
     1002, "control frame too long"),
    ("fragmented-ping", client_frame(OP_PING, b"hi", fin=False), 1002,
     "fragmented control frame"),
    ("fragmented-close", client_frame(OP_CLOSE, close_payload(1000), fin=False), 1002,
     "fragmented control frame"),
    ("close-1-byte", client_frame(OP_CLOSE, b"\x03"), 1002, "close payload of 1 byte"),
    ("unmasked", bytes([0x80 | OP_TEXT, 2]) + b"{}", 1002, "client frame not masked"),
    ("reserved-opcode-3", masked(0x80 | 0x3, b"x"), 1002, "reserved opcode"),
    ("reserved-opcode-b", masked(0x80 | 0xB, b"x"), 1002, "reserved opcode"),
    ("rsv1", masked(0x80 | 0x40 | OP_TEXT, b"{}"), 1002, "RSV1 set without permessage-deflate"),
    ("rsv3-on-ping", masked(0x80 | 0x10 | OP_PING, b""), 1002, "reserved bits set"),
    ("stray-continuation", client_frame(OP_CONT, b"x"), 1002, "continuation without a message"),
    ("text-inside-fragmented", client_frame(OP_TEXT, b"{", fin=False) + client_frame(OP_TEXT, b"}"),
     1002, "new message inside a fragmented one"),
    ("64bit-length-top-bit", masked(0x80 | OP_BIN, b"", bytes([127, 0x80, 0, 0, 0, 0, 0, 0, 1])),
     1002, "invalid frame length"),
    # RFC 6455 section 5.2: a length must use the fewest bytes that hold it.
    ("16bit-length-of-5", masked(0x80 | OP_TEXT, b"hello", bytes([126, 0, 5])), 1002,
     "payload length not in its shortest form"),
    ("64bit-length-of-300", masked(0x80 | OP_BIN, b"b" * 300, bytes([127]) + struct.pack("!Q", 300)),
     1002, "payload length not in its shortest form"),
    ("close-reason-not-utf8", client_frame(OP_CLOSE, close_payload(1000, b"bad \xff")), 1007,
     "close reason is not UTF-8"),
    ("close-reason-cut-utf8", client_frame(OP_CLOSE, close_payload(1000, b"\xe2\x82")), 1007,
     "close reason is not UTF-8"),
]
# RFC 6455 section 7.4: codes a client must not send (1005, 1006, 1015 are for
# APIs only; 0-999 unused; 1004 reserved; 1012-2999 not defined by RFC 6455,
# which the edge treats as protocol errors as wslay does; above 4999 undefined).
BAD_CLOSE_CODES = [0, 999, 1004, 1005, 1006, 1012, 1014, 1015, 1016, 2999, 5000, 65535]
VIOLATIONS += [(f"close-code-{code}", client_frame(OP_CLOSE, close_payload(code, b"why")), 1002,
                "invalid close code") for code in BAD_CLOSE_CODES]


def close_counts(cluster, name="edge-a"):
    """{reason: n} of spoke_edge_closes_total from the edge's /metrics, and
    "accepted": spoke_edge_accepted_total (one snapshot of the workers'
    counters: they are published together)."""
    status, body = http_get(cluster.edge_admin_port(name), "/metrics")
    assert status == 200, body
    text = body.decode()
    counts = {m[1]: int(m[2]) for m in re.finditer(
        r'^spoke_edge_closes_total\{edge="[^"]*",reason="([a-z_]+)"\} (\d+)$', text, re.M)}
    assert "protocol" in counts, f"no protocol close counter in /metrics:\n{text}"
    counts["accepted"] = int(re.search(r"^spoke_edge_accepted_total\{.*\} (\d+)$", text,
                                       re.M)[1])
    return counts


def protocol_closes(cluster, name="edge-a"):
    """spoke_edge_closes_total{reason="protocol"} from the edge's /metrics."""
    return close_counts(cluster, name)["protocol"]


def expect_close_then_eof(raw, code, reason):
    """The next frame (after any pongs the edge owed) is a close with code and
    reason, a valid UTF-8 text of at most 123 bytes; then the edge closes the
    socket without waiting for our close frame."""
    while True:
        fin, op, payload = raw.recv_frame()
        if op != OP_PONG:
            break
    assert op == OP_CLOSE and fin, f"expected a close frame, got op={op} {payload!r}"
    assert len(payload) >= 2, f"close frame without a status code: {payload!r}"
    got_code = struct.unpack("!H", payload[:2])[0]
    got_reason = payload[2:].decode("utf-8")  # raises if the reason is not UTF-8
    assert (got_code, got_reason) == (code, reason), (got_code, got_reason)
    assert raw.read_until_eof(timeout=5) == b"", "bytes after the close frame"


async def assert_edge_serves(url):
    ws, _ = await connect(url)
    await subscribe(ws, "still/alive")
    await ws.close()


@pytest.fixture(scope="module")
def one_cluster(request, tmp_path_factory):
    """One hub + one edge (1 worker) shared by the parametrized cases below,
    stopped (and checked for sanitizer reports) at the end of the module."""
    from conftest import Cluster
    c = Cluster(tmp_path_factory.mktemp("protocol-edges"), workers=1, edges=("edge-a",))
    try:
        c.start()
    except BaseException:
        c.stop()
        raise
    yield c
    problems = c.stop()
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("name,data,code,reason", VIOLATIONS, ids=[v[0] for v in VIOLATIONS])
def test_violation_closes_with_code_and_reason(one_cluster, name, data, code, reason):
    port = one_cluster.edge_ports["edge-a"]
    before = protocol_closes(one_cluster)
    raw = RawWS(port)
    raw.read_welcome()
    raw.sock.sendall(data)
    expect_close_then_eof(raw, code, reason)
    raw.close()
    wait_for(lambda: protocol_closes(one_cluster) == before + 1, 5,
             "the violation counted as a protocol close")
    run(assert_edge_serves(one_cluster.url("edge-a")))


def test_frames_before_a_violation_are_still_processed(one_cluster):
    """A valid request and a ping in the same write as the bad frame are
    answered (ack, pong) before the close."""
    raw = RawWS(one_cluster.edge_ports["edge-a"])
    raw.read_welcome()
    # An app-level ping: answered by the edge itself (a sub's ack would wait
    # for the hub, and the connection is gone by then).
    raw.sock.sendall(client_frame(OP_TEXT, b'{"op":"ping","id":7}')
                     + client_frame(OP_PING, b"p1")
                     + client_frame(OP_PING, b"x" * 130))
    assert raw.recv_json() == {"op": "pong", "id": 7}
    fin, op, payload = raw.recv_frame()
    assert (op, payload) == (OP_PONG, b"p1")
    expect_close_then_eof(raw, 1002, "control frame too long")


def test_oversized_header_is_refused_before_its_payload_arrives(one_cluster):
    """A ping declaring 126 bytes is refused as soon as its header is in:
    the edge does not wait for (or buffer) the payload."""
    raw = RawWS(one_cluster.edge_ports["edge-a"])
    raw.read_welcome()
    raw.sock.sendall(client_frame(OP_PING, b"p" * 126)[:8])  # header + mask + 2 bytes
    expect_close_then_eof(raw, 1002, "control frame too long")


def test_wslay_closes_carry_a_reason_too(one_cluster):
    """Invalid UTF-8 in a text message (1007) and an oversized message (1009)
    are detected by wslay; their close frames carry a reason as well."""
    raw = RawWS(one_cluster.edge_ports["edge-a"])
    raw.read_welcome()
    raw.send_frame(OP_TEXT, b'{"op":"sub","topic":"\xff"}')
    fin, op, payload = raw.recv_frame()
    assert op == OP_CLOSE and struct.unpack("!H", payload[:2])[0] == 1007, payload
    assert payload[2:].decode() == "invalid UTF-8 in a text message"

    raw = RawWS(one_cluster.edge_ports["edge-a"])
    raw.read_welcome()
    raw.send_fragments([b"x" * 40000, b"x" * 40000])  # 80000 > max_message_bytes (65536)
    fin, op, payload = raw.recv_frame()
    assert op == OP_CLOSE and struct.unpack("!H", payload[:2])[0] == 1009, payload
    assert payload[2:].decode() == "message too big"


@pytest.mark.parametrize("code,reason", [(1000, b"bye"), (1001, b""), (4999, "\u00e9t\u00e9".encode()),
                                         (3000, b"r" * 123)])
def test_valid_client_close_is_echoed(make_cluster, code, reason):
    """A valid close (any valid code, a UTF-8 reason up to 123 bytes) is not a
    violation: the edge echoes it and closes the socket. (An edge of its own:
    its counters then hold this connection only.)"""
    cluster = make_cluster(edges=("edge-a",), workers=1)
    raw = RawWS(cluster.edge_ports["edge-a"])
    raw.read_welcome()
    raw.send_frame(OP_CLOSE, close_payload(code, reason))
    fin, op, payload = raw.recv_frame()
    assert (op, payload) == (OP_CLOSE, close_payload(code, reason))
    assert raw.read_until_eof(timeout=5) == b""

    def counted():  # the workers publish their counters a few times a second
        counts = close_counts(cluster)
        closed = sum(n for reason, n in counts.items() if reason != "accepted")
        assert counts["accepted"] == closed == 1, counts
        return counts
    counts = wait_for(counted, 5, "the close counted")
    assert counts["protocol"] == 0, counts


def test_empty_client_close_is_echoed_without_a_code(one_cluster):
    raw = RawWS(one_cluster.edge_ports["edge-a"])
    raw.read_welcome()
    raw.send_frame(OP_CLOSE, b"")
    fin, op, payload = raw.recv_frame()
    assert (op, payload) == (OP_CLOSE, b"")
    assert raw.read_until_eof(timeout=5) == b""
