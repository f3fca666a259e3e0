"""A kick from the hub closes the connection with a close frame that is valid whatever the hub sent: the reason is cut to at most 123 bytes on a UTF-8 boundary, invalid UTF-8 and NUL bytes in it become U+FFFD, and a code that is not valid on the wire (1005, 1006, 1015, 1004, 1010, ...) becomes 4001. The real hub's API never sends such kicks, so a stand-in hub (fakehub.py) sends them over a real link to a real edge process."""
import struct

import pytest

from conftest import Proc, binary
from fakehub import FakeHub
from helpers import HOST, OP_CLOSE, RawWS, connect, run, subscribe, wait_for


@pytest.fixture(scope="module")
def edge(tmp_path_factory):
    """One spoke-edge process (1 worker) linked to a FakeHub; yields
    (fake hub, edge port)."""
    workdir = tmp_path_factory.mktemp("kick-reasons")
    hub = FakeHub()
    proc = None
    try:
        ready_path = workdir / "edge.ready.json"
        proc = Proc("edge", [binary("spoke-edge"), "--name", "edge-k", "--workers", "1",
                             "--listen", f"{HOST}:0", "--hub", f"{HOST}:{hub.port}",
                             "--admin", f"{HOST}:0", "--ready-file", str(ready_path),
                             "--drain-period", "0.1", "--log-level", "debug"],
                    workdir / "edge.log", ready_path)

        def ready():
            proc.assert_alive()
            doc = proc.ready_file()
            return hub.nlinks() >= 1 and doc is not None and doc["accepting"] and doc
        doc = wait_for(ready, 10, "the edge linked to the fake hub and accepting clients")
        yield hub, doc["ws"]
    finally:
        problems = proc.stop() if proc else []
        hub.close()
    assert not problems, "\n".join(problems)


def kicked(edge, code, reason):
    """Opens a connection, has the hub kick it with code and reason (bytes),
    and returns the (code, reason bytes) of the close frame the client gets."""
    hub, port = edge
    raw = RawWS(port)
    conn = raw.read_welcome()["conn"]
    hub.kick(conn, code, reason)
    fin, op, payload = raw.recv_frame()
    assert op == OP_CLOSE and fin, (op, payload)
    assert len(payload) >= 2, f"close frame without a code: {payload!r}"
    raw.close()
    return struct.unpack("!H", payload[:2])[0], payload[2:]


CUTS = [
    ("2-byte chars, 124 bytes", "\u00e9" * 62, "\u00e9" * 61),
    ("3-byte chars, 124 bytes", "\u20ac" * 41 + "a", "\u20ac" * 41),
    ("3-byte chars, 125 bytes", "a" + "\u20ac" * 41 + "b", "a" + "\u20ac" * 40),
    ("4-byte chars, 125 bytes", "a" + "\U0001F600" * 31, "a" + "\U0001F600" * 30),
    ("1024 bytes", "x" * 1024, "x" * 123),
]


@pytest.mark.parametrize("what,sent,expected", CUTS, ids=[c[0] for c in CUTS])
def test_long_reason_is_cut_on_a_utf8_boundary(edge, what, sent, expected):
    code, reason = kicked(edge, 4001, sent.encode())
    assert code == 4001
    assert len(reason) <= 123, len(reason)
    assert reason.decode("utf-8") == expected  # raises if the cut split a character


INVALID = [
    ("stray bytes", b"bad \xff\xfe reason", "bad \ufffd\ufffd reason"),
    ("truncated at the end", b"caf\xc3", "caf\ufffd"),
    ("surrogate", b"x\xed\xa0\x80y", "x\ufffd\ufffd\ufffdy"),
    ("NUL byte", b"a\x00b", "a\ufffdb"),
]


@pytest.mark.parametrize("what,sent,expected", INVALID, ids=[c[0] for c in INVALID])
def test_invalid_utf8_in_reason_is_replaced(edge, what, sent, expected):
    code, reason = kicked(edge, 4002, sent)
    assert code == 4002
    assert reason.decode("utf-8") == expected


def test_invalid_bytes_near_the_limit_still_fit(edge):
    """Replacement characters take 3 bytes for 1: the result still ends on a
    character boundary within 123 bytes."""
    code, reason = kicked(edge, 4001, b"y" * 121 + b"\xff\xff")
    assert len(reason) <= 123
    assert reason.decode("utf-8") == "y" * 121


# Not valid on the wire (RFC 6455 section 7.4): the edge uses 4001 instead.
# (0, 999, 5000 and 70000 were mapped to 4001 before this change too.)
BAD_CODES = [0, 999, 1004, 1005, 1006, 1010, 1015, 1016, 2000, 2999, 5000, 70000]


@pytest.mark.parametrize("code", BAD_CODES)
def test_invalid_code_becomes_4001(edge, code):
    assert kicked(edge, code, b"bye") == (4001, b"bye")


@pytest.mark.parametrize("code", [1000, 1001, 1008, 1011, 3000, 4999])
def test_valid_code_is_kept(edge, code):
    """Guard: valid codes (those the hub's API allows, and 1011) go out as sent."""
    assert kicked(edge, code, b"bye") == (code, b"bye")


def test_edge_keeps_serving_after_kicks(edge):
    hub, port = edge

    async def body():
        ws, _ = await connect(f"ws://{HOST}:{port}/ws")
        await subscribe(ws, "after/kicks")
    run(body())
