#!/usr/bin/python3
"""Writes the fuzz seed corpora, tests/fuzz/corpus/<driver>/, from the
message layout in docs/protocol.md ("Link protocol"): a few valid inputs
per decoder and a few near misses. Rerun after a format change, for every
set or only those named:
    /usr/bin/python3 tests/fuzz/make_corpus.py [SET...]
Needs python3-msgpack and the zstd command (Debian: zstd)."""
import hashlib
import os
import shutil
import struct
import subprocess
import sys

import msgpack

HERE = os.path.dirname(os.path.abspath(__file__))
CORPUS = os.path.join(HERE, "corpus")


def pack(obj):
    return msgpack.packb(obj, use_bin_type=True)


def link(fields):
    body = pack(fields)
    return struct.pack(">I", len(body)) + body


def zstd(data):
    return subprocess.run(["zstd", "-q", "-c", "-1", "--no-check", "--zstd=wlog=17"], input=data,
                          stdout=subprocess.PIPE, check=True).stdout


POLICY = [0, 25000, 10000, 5000, 65536, 1 << 20, 1000, 0, 0, 100000, 10000, 100,
          10000, 10000, 8 << 20]
EPOCH = "00000000"  # what fuzz_hub_link's engine mints for every topic
LINK_MSGS = [
    [1, 5, "edge-a", "local", 0, "spoke/0.1.0", 0x18d84800, 5000, ""],
    [2, "chat.lobby", 1, 0, ""],
    [3, "chat.lobby"],
    [4, "chat.lobby", "edge-a:0:1:1", 0, b'{"text":"hi"}', "", 0],
    [5, "chat.lobby", 42, "edge-a:0:1:1", 1, pack({"text": "hi"}), "", 0],
    [6, "edge-b:0:2:7", "edge-a:0:1:1", 9, 0, b'"hello"', ""],
    [6, "edge-b:0:2:7", "edge-a:0:1:1", None, 1, b"\xa5hello", "alice"],
    [7, "edge-a:0:1:1", 9, 404, "no such connection"],
    [8, 1, "protocol error"],
    [9, 1700000000123, 0],
    [10] + POLICY,
    [14, "chat.lobby", 1, 429, "the hub holds max_topics (10) topics", 0, "", 0],
    [2, "chat.lobby", 2, 41, "k3x9a0qz"],
    [4, "chat.lobby", "edge-a:0:1:1", 1, b"\x01", "", 7],
    [5, "chat.lobby", 43, "edge-a:0:1:1", 0, b"1", "", 9],
    [14, "chat.lobby", 2, 0, "", 57, "k3x9a0qz", 1],
    [15, 7, 0, "", 58, "k3x9a0qz"],
    [16, "chat.lobby", 9, 41, "k3x9a0qz"],
    [17, "chat.lobby", 9, 0, "too old: the history now starts after seq 50", 57, "k3x9a0qz", 0],
    [18, "chat.lobby", 0, "p0q1r2s3", "epoch changed: the topic's numbering restarted"],
    [19, '{"edges":[{"name":"edge-a","region":"local","url":"ws://127.0.0.1:8080/ws",'
         '"clients":3}],"generated_ms":1765000000000}'],
]
LINK_BAD = [
    b"\x00\x00\x00\x00",                                   # zero length
    b"\x00\x80\x00\x01" + b"\x90",                         # over LINK_MAX_MESSAGE
    link([99, "x"]),                                       # unknown type
    link([4, "t", "f", 2, b"x", "", 0]),                   # enc out of range
    link([2, "t" * 256, 1, 0, ""]),                        # topic too long
    link([2, "t", 1]),                                     # a protocol-2 INTEREST_ADD
    link([16, "t", 1, 0, "e" * 17]),                       # epoch too long
    link([19, "x" * 65537]),                               # EDGES over LINK_MAX_EDGES_JSON
    link([9]),                                             # too few elements
    link([9, 1, 2, "newer peer field"]),                   # extra element: accepted
    b"\x00\x00\x00\x03\x92\x09",                           # truncated body
    b"\x00\x00\x00\x06\xdd\xff\xff\xff\xff\x09",           # huge array count
]

# Issue 10's payload: fixmaps as map keys, 28 deep (57 bytes).
NESTED_KEYS = b"\x81" * 28 + b"\xc0" + b"\xc0" * 28

MSG_JSON = [
    b'{"op":"sub","topic":"chat.lobby","id":1}',
    b'{"op":"unsub","topic":"chat.lobby"}',
    b'{"op":"pub","topic":"chat.lobby","id":2,"data":{"text":"hi","n":[1,2.5,null,true]}}',
    b'{"op":"send","to":"edge-b:0:2:7","data":"hello","id":-3}',
    b'{"op":"ping","id":7}',
    b'{"op":"pub","topic":"t","data":"\\u0000\\ud83d\\ude00"}',
    b'{"op":"sub","topic":"bad topic"}',
    b'{"op":"sub","topic":"a","topic":"b"}',
    b'{"op":"sub","topic":"t","id":9223372036854775808}',
    b'{"op":"publish","topic":"t"}',
    b'[{"op":"sub"}]',
    b'{"op":"pub","topic":"t","data":' + b"[" * 33 + b"]" * 33 + b"}",
    b'{"op":"sub","topic":"t","id":3,"since":{"seq":41,"epoch":"k3x9a0qz"}}',
    b'{"op":"sub","topic":"t","since":{"seq":-1,"epoch":"K"}}',
]
MSG_MSGPACK = [
    pack({"op": "sub", "topic": "chat.lobby", "id": 1}),
    pack({"op": "pub", "topic": "t", "data": {"k": [1, -1, 1.5, None, b"\x00\xff"]}}),
    pack({"op": "send", "to": "edge-b:0:2:7", "data": "hello"}),
    pack({"op": "ping"}),
    pack({"op": "sub", "topic": "t", "id": 2**64 - 1}),
    pack({1: "op"}),
    b"\x82\xa2op\xa3sub\xa5topic\xa2\xc3\x28",              # invalid UTF-8
    b"\x81\xa2op\xdb\xff\xff\xff\xff",                      # str32 past the end
    b"\x84" + pack({"op": "pub", "topic": "hk", "id": 1})[1:]
    + pack("data") + NESTED_KEYS,                           # issue 10: maps as keys
    pack({"op": "send", "to": "c", "data": "\x01" * 90}),   # over fuzz_msg's budget as JSON
    pack({"op": "sub", "topic": "t", "id": 4, "since": {"seq": 2**63, "epoch": "e"}}),
]

TRANSCODE = [
    NESTED_KEYS,
    b"\xde\x00\x20" + b"\xc2\xc2" * 32,                      # {false: false, ...}: ratio 7
    pack("\x01" * 40),                                      # control characters: 6 each
    b'1,"op":"ack","id":1',                                 # issue 10: splice injection
    b"1\x00",                                               # NUL after a value
    b"[1] x",
    b'{"a":[1,-2,3.25,1e300,"x\\u00e9",null,false,true],"b":{}}',
    b"18446744073709551615",
    b'"\\ud800"',
    b"[" * 40 + b"]" * 40,
    pack({"a": [1, -2, 3.25, "x\u00e9", None, False, True], 7: b"bin", (1, 2): {}}),
    pack(float("nan")),
    b"\xcb\x7f\xf0\x00\x00\x00\x00\x00\x00",                # +inf
    b"\xca\x3d\xcc\xcc\xcd",                                # float32 0.1
    b"\xd4\x01\x02",                                        # fixext1
    b"\xa3a\xffb",                                          # invalid UTF-8 str
    b"\x91" * 32 + b"\x90",                                 # 32 deep + empty
]

MPCHECK = [
    pack([1, "two", {"three": 3.0}, None, b"bin", 2**64 - 1, -2**63]),
    b"\xc1",
    b"\xdd\xff\xff\xff\xff",
    b"\xdf\x7f\xff\xff\xff",
    b"\xc6\xff\xff\xff\xff",
    b"\xc7\x01\x05\x00",
    b"\x91" * 32 + b"\x01",
    b"\x91" * 33 + b"\x01",
    b"\x91" * 31 + b"\x90",                                 # 31 deep + empty
    b"\x92\x01\x02\x03",
]

UTF8 = [
    b"plain ascii text, longer than eight bytes",
    "h\u00e9llo \u20ac \U0001f600".encode(),
    b"\xc0\x80", b"\xed\xa0\x80", b"\xf4\x90\x80\x80", b"\xe0\x9f\xbf",
    b"\xf0\x9f\x98", b"abcdefgh\xe2\x82", b"\xff\xfe",
]

# wsframe: the first byte picks the payload limit (index into limits[], low 7
# bits) and whether a fragmented message is in progress (top bit).
WSFRAME = [
    b"\x06" + b"\x88\x84\x00\x00\x00\x00\x03\xe8ok",            # close 1000 "ok"
    b"\x06" + b"\x88\x81\x00\x00\x00\x00\x03",                   # close of 1 byte
    b"\x06" + b"\x88\x83\x00\x00\x00\x00\x03\xed\xff",           # close 1005, bad UTF-8
    b"\x86" + b"\x09\x80\x00\x00\x00\x00",                       # fragmented ping
    b"\x86" + b"\x80\x81\x00\x00\x00\x00x",                      # last fragment
    b"\x06" + b"\x81\x85\x37\xfa\x21\x3d\x7f\x9f\x4d\x51\x58",  # masked "Hello"
    b"\x06" + b"\x82\x7e\x01\x00" + b"\x00" * 256,
    b"\x06" + b"\x82\x7f" + b"\x00" * 5 + b"\x01\x00\x00",
    b"\x0b" + b"\x82\x7f\x80" + b"\x00" * 7,
    b"\x00" + b"\x89\x00",
    b"\x02" + b"\x88\x80\x00\x00\x00\x00",
    b"\x06" + b"\x81",
]

KEY = b"dGhlIHNhbXBsZSBub25jZQ=="
UPGRADE = (b"GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
           b"Sec-WebSocket-Key: " + KEY + b"\r\nSec-WebSocket-Version: 13\r\n")
# handshake: the first byte picks the split point.
HANDSHAKE = [
    b"\x10" + UPGRADE + b"\r\n",
    b"\x40" + UPGRADE + b"Sec-WebSocket-Protocol: spoke.msgpack, spoke.json\r\n\r\n\x81\x80",
    b"\x20" + UPGRADE + b"Sec-WebSocket-Protocol: chat\r\n\r\n",
    b"\x05" + UPGRADE.replace(b"13", b"8") + b"\r\n",
    b"\x07" + UPGRADE + b"Sec-WebSocket-Key: " + KEY + b"\r\n\r\n",
    b"\x30" + b"POST /ws HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc",
    b"\x09" + b"GET /other HTTP/1.1\r\n\r\n",
    b"\x03" + b"GET /ws HTTP/1.0\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n",
    b"\x00" + b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03",      # TLS hello
    b"\x1d" + b"GET /ws HTTP/1.1\r\nHost: x\r\n\r\nGET /ws HTTP/1.1\r\nUpgrade: websocket\r\n\r\n",
]

LINK_STREAM = b"".join(link(m) for m in LINK_MSGS)
# After the preamble: the uncompressed first message, then the zstd stream.
HELLO = link(LINK_MSGS[0])
LINKIO = [
    HELLO + zstd(LINK_STREAM),
    HELLO + zstd(link(LINK_MSGS[1])) + zstd(link(LINK_MSGS[3])),  # two frames
    HELLO + zstd(LINK_STREAM)[:40],                               # cut mid-frame
    HELLO + zstd(link(LINK_MSGS[0]) + b"\x00\x00\x00\x00"),       # then a bad length
    HELLO + zstd(b"\x00\x00\x10\x00" + b"\x00" * 64),             # partial message at EOF
    HELLO + b"\x28\xb5\x2f\xfd\x00\x00\x00\x00",                  # garbage after magic
    link([8, 426, "unsupported link protocol version"]),           # refused: an ERROR first
    zstd(LINK_STREAM),                                             # a version-1 peer
    b"\x00\x00\x08\x01" + b"\x00" * 16,                           # first message too long
    link(LINK_MSGS[1]),                                            # first is not hello
    b"not zstd at all",
]
# The hub's link handling after HELLO (fuzz_hub_link): raw message streams
# from a hostile edge named "evil" (worker 0, boot 1) beside "victim".
ME, VICTIM = "evil:0:00000001:5", "victim:0:00000001:1"


def pub(topic, data=b"1", pub_id=0, enc=0, frm=ME, user=""):
    return link([4, topic, frm, enc, data, user, pub_id])


HUB_LINK = [
    link([2, "t", 1, 0, ""]) + link([3, "t"]) + link([2, "new.topic", 2, 0, ""]),
    link([2, "t", 1, 0, ""]) + pub("t", b'{"a":1}') + pub("u", b"\x81\xa1a\x01", enc=1),
    link([6, VICTIM, ME, 7, 0, b'"hi"', ""]) + link([6, VICTIM, ME, None, 0, b"1", ""]) +
    link([6, "nobody:0:00000001:1", ME, 8, 0, b"1", ""]),
    link([6, ME, ME, 9, 0, b"1", ""]) + link([7, ME, 9, 0, ""]) + link([7, VICTIM, 4242, 0, ""]) +
    link([7, ME, 9, 0, ""]),
    b"".join(link([2, f"f.{i}", i + 1, 0, ""]) for i in range(100)),
    link([11] + [2**64 - 1] * 15 + [1]) + link([9, 0, 0]) + link([9, 1, 2]),
    pub("t", frm=VICTIM, user="admin"),
    pub("t", b'1,"op":"ack","id":1'),
    # Positions: publish, resume from the start, read the history back.
    b"".join(pub("t", b"%d" % i, pub_id=i + 1) for i in range(5)) +
    link([2, "t", 1, 2, EPOCH]) + link([16, "t", 7, 0, EPOCH]) + pub("t", pub_id=6),
    # Reads without interest, with id 0, ahead, of another epoch, beyond the cap.
    link([16, "x", 1, 0, EPOCH]) + link([2, "x", 1, 9, EPOCH]) + link([16, "x", 2, 0, "zz"]) +
    b"".join(link([16, "x", 10 + i, 0, EPOCH]) for i in range(12)) + link([16, "x", 0, 0, ""]),
    # pub_ids: repeated, going back, a huge jump, then small again.
    pub("t", pub_id=5) + pub("t", pub_id=5) + pub("t", pub_id=3) + pub("t", pub_id=2**64 - 1) +
    pub("t", pub_id=6),
    # Interest churn around a resume and reads while publishes keep coming.
    b"".join(link([2, "t", i, i, EPOCH]) + pub("t", pub_id=100 + i) + link([3, "t"])
             for i in range(1, 20)) + link([2, "t", 99, 0, EPOCH]) +
    b"".join(link([16, "t", 50 + i, i, EPOCH]) + pub("t", pub_id=200 + i) for i in range(8)),
]
# fuzz_httpd: a rules byte (bit 0 browser_checks, bits 1-2 the listen host,
# bits 3-4 the allowed list, 3 taking it from the input up to "\n"; bit 7 a
# 40-byte buffer), a byte saying how to cut the reads, then a whole request.
LOOSE, BROWSER, LISTED, SMALL = 0x00, 0x01, 0x18, 0x80
WHOLE, BYTES, CUTS = b"\xf0", b"\x00", b"\x35"


def http(rules, cut, head, body=b"", listed=None):
    """A request: head lines (Host and all), then body, after the two bytes
    and, with LISTED, the allowed list."""
    pre = bytes([rules]) + cut + (listed + b"\n" if listed is not None else b"")
    return pre + b"\r\n".join(head) + b"\r\n\r\n" + body


GET = [b"GET /healthz HTTP/1.1", b"Host: 127.0.0.1:7480"]
PUBLISH = b'{"topic":"t","data":{"a":1}}'
JSON_POST = [b"POST /api/publish HTTP/1.1", b"Host: localhost", b"Authorization: Bearer s3cret",
             b"Content-Type: application/json; charset=utf-8",
             b"Content-Length: %d" % len(PUBLISH)]
CHUNKED = [b"PUT /api/policy HTTP/1.1", b"Host: [::1]:7480", b"Content-Type: application/json",
           b"Transfer-Encoding: chunked"]
HTTPD_REQUESTS = [
    http(LOOSE, WHOLE, GET),
    http(BROWSER, BYTES, GET),
    http(BROWSER, CUTS, JSON_POST, PUBLISH),
    http(BROWSER, CUTS, [b"PUT /api/policy?x=1 HTTP/1.1", b"Host: hub.internal", b"Content-Type: "
                         b"application/json", b"Content-Length: 2"], b"{}", listed=b"hub.internal"),
    http(BROWSER, WHOLE, [b"HEAD /metrics HTTP/1.1", b"Host: [2001:db8::1]"]),
    http(BROWSER, CUTS, [b"DELETE /x HTTP/1.1", b"Host: localhost"]),                # 415: no type
    http(LOOSE, CUTS, GET + [b"host: localhost"]),                                   # 400: two Hosts
    http(LOOSE, BYTES, [b"GET / HTTP/1.1"]),                                         # 400: no Host
    http(BROWSER, CUTS, [b"GET /healthz HTTP/1.0"]),                                 # 1.0: fine
    http(LOOSE, CUTS, [b"GET / HTTP/1.1", b"Host: evil.example:7480"]),             # 421
    http(LOOSE, CUTS, [b"GET / HTTP/1.1", b"Host: api.example.com"], listed=b"api.example.com,x"),
    http(BROWSER, CUTS, GET + [b"Origin: https://evil.example"]),                   # 403
    http(BROWSER, CUTS, [b"POST /api/publish HTTP/1.1", b"Host: localhost", b"Content-Type: "
                         b"text/plain", b"Content-Length: 2"], b"hi"),               # 415
    http(BROWSER, CUTS, CHUNKED, b"3\r\n{\"a\r\n4\r\n\":1}\r\n0\r\n\r\n"),           # chunked
    http(LOOSE, BYTES, CHUNKED, b"2\r\n{}\r\n0\r\nHost: evil.example\r\nOrigin: x\r\n\r\n"),
    http(LOOSE, CUTS, GET, b"GET /second HTTP/1.1\r\nHost: evil.example\r\n\r\n"),   # pipelined
    http(LOOSE, WHOLE, GET + [b"X-Pad: " + b"a" * 8200]),                           # 431
    http(LOOSE, CUTS, JSON_POST[:4] + [b"Content-Length: 9000"], b"{" * 8100),        # 413
    http(SMALL, CUTS, GET + [b"X-Pad: aaaaaaaa"]),                                   # 431, small
    http(SMALL | 0x60, BYTES, [b"POST / HTTP/1.1", b"Host: localhost", b"Content-Length: 30"],
         b"{" * 30),                                                              # 413, small
    http(LOOSE, CUTS, [b"BREW /pot HTTP/1.1", b"Host: localhost"]),                  # bad method
    http(LOOSE, CUTS, [b"GET / HTTP/1.x", b"Host: localhost"]),                      # bad version
    http(LOOSE, CUTS, [b"GET / HTTP/2.0", b"Host: localhost"]),
    http(LOOSE, CUTS, [b"GET /ws HTTP/1.1", b"Host: localhost", b"Upgrade: websocket",
                       b"Connection: Upgrade"], b"\x81\x80"),                         # upgrade
    http(LOOSE, CUTS, [b"CONNECT localhost:443 HTTP/1.1", b"Host: localhost"]),
    http(BROWSER, CUTS, [b"GET / HTTP/1.1", b"Host: local", b" host", b"Origin:"]),  # folded
    http(LOOSE, CUTS, [b"GET / HTTP/1.1", b"Host:", b"Content-Length: 1", b"Content-Length: 2"]),
]
# The Host values (then "\n" and an allowed-hosts list) that walk every
# branch of httpreq_host_is_allowed, and Content-Type values for
# httpreq_is_json_type: each in a request.
HOST_VALUES = [b"127.0.0.1:7480", b"[::1]:7480", b"localhost", b"hub.internal:443",
               b"evil.example\napi.example.com, ops.example.com",
               b"api.example.com\napi.example.com,*", b"[2001:db8::1", b" localhost. \nx",
               b"127.0.0.1:99999", b"a:b:c",
               # IPv6 literals: no port, empty port, junk after "]", empty, mapped
               # IPv4, a zone id (inet_pton refuses it), longer than any literal.
               b"[::1]", b"[::1]:", b"[::1]x", b"[]:80", b"[::ffff:127.0.0.1]:80",
               b"[fe80::1%eth0]", b"[" + b"1:" * 40 + b"]",
               # Ports and names: empty, six digits, a letter, no name, a bare IPv6
               # literal, not quite IPv4, trailing dots, case, the listen host.
               b"127.0.0.1:", b"127.0.0.1:123456", b"127.0.0.1:8a", b":80", b"::1",
               b"1.2.3.4.5", b"256.1.1.1", b"LOCALHOST.", b"localhost..", b"hub.internal.",
               b"HUB.INTERNAL:7480",
               # Characters no reg-name holds, and blanks around a good name.
               b"evil.example/", b"user@localhost", b"a b", b"\tlocalhost\t", b"local\x00host",
               # Allowed lists: empty items and blanks, a trailing dot either side,
               # "*" among blanks, an empty list, repeats, names longer than a literal.
               b"api.example.com\n,, ,api.example.com ,", b"x.\nx", b"x\nx.", b"x\n *,", b"x\n",
               b"api.example.com\nAPI.Example.Com.", b"d\na,b,c,d,a",
               b"a" * 80 + b"\n" + b"a" * 80]
CONTENT_TYPES = [b"application/json; charset=utf-8", b"Application/JSON", b"text/plain",
                 b"application/json;", b"application/jsonx", b" application/json \t",
                 b"application/json ; charset=utf-8", b"application/json5",
                 b"APPLICATION/JSON", b"application/", b""]


def host_seed(v):
    value, _, listed = v.partition(b"\n")
    # Listen host "hub.internal" (bits 1-2: 1), the list from the input.
    return http(LISTED | 0x02, CUTS, [b"GET / HTTP/1.1", b"Host: " + value], listed=listed)


HTTPD = (HTTPD_REQUESTS + [host_seed(v) for v in HOST_VALUES] +
         [http(BROWSER, CUTS, [b"POST /api/publish HTTP/1.1", b"Host: localhost",
                               b"Content-Type: " + t, b"Content-Length: 2"], b"{}")
          for t in CONTENT_TYPES])
# Connection ids: valid ones and the near misses a lenient parser took.
CONNID = [b"edge-a:1:18d84800:1", b"e:1023:ffffffff:18446744073709551615", b"edge-a:1:18D84800:1",
          b"edge-a:1:1234:1", b"edge-a:01:18d84800:1", b"edge-a:1:18d84800:0",
          b"a:b:c:0:1:2", b".edge:0:00000000:1", b"edge-a:1024:18d84800:1", b"nonsense"]


# What the redis engine reads from Redis (fuzz_redis_wire: a selector byte,
# then the input): channel payloads, RESP replies, channel names.
def resp(*items):
    out = b""
    for it in items:
        out += it
    return out


def bulk(s):
    s = s if isinstance(s, bytes) else s.encode()
    return b"$%d\r\n%s\r\n" % (len(s), s)


def entry(seq, data=b'"hi"'):
    fields = [b"t", b"1700000000123", b"f", b"edge-a:0:1:1", b"u", b"", b"n", b"0", b"d", data]
    return b"*2\r\n" + bulk(b"%d-0" % seq) + b"*10\r\n" + b"".join(bulk(f) for f in fields)


REDIS_WIRE = [
    b"\x00k3x9a0qz:57:0:12:0:edge-a:0:1:1{\"text\":\"hi\"}",
    b"\x00e:1:1:0:5:alice\xa5hello",
    b"\x00e:18446744073709551615:0:0:0:",
    b"\x00e:1:0:200:0:x",
    b"\x00E:1:0:0:0:",
    b"\x01*2\r\n" + bulk("k3x9a0qz") + b":7\r\n",
    b"\x01*5\r\n" + bulk("k3x9a0qz") + b":10\r\n:8\r\n:0\r\n*2\r\n" + entry(8) + entry(9),
    b"\x01*5\r\n$-1\r\n:0\r\n:1\r\n:0\r\n*0\r\n",
    b"\x01" + entry(42),
    b"\x01-NOSCRIPT No matching script.\r\n+OK\r\n:1\r\n",
    b"\x01*3\r\n$7\r\nmessage\r\n$15\r\nspoke:c:{a.b.c}\r\n$9\r\ne:1:0:0:0:\r\n",
    b"\x02spoke:c:{chat.lobby}",
    b"\x02spoke:hb:hub:0123456789abcdef",
    b"\x02spoke:c:{",
]


# What a hub of a cluster reads from Redis (fuzz_cluster_wire: a selector
# byte, then the input): envelopes, registrations, views, policy documents,
# RESP answers of its scripts.
def envelope(kind, body, edge="", frm="hub-a"):
    return pack([1, kind, frm, 0x1122334455667788, 0x99, edge, body])


CLUSTER_WIRE = [
    b"\x00" + envelope(1, link([6, "edge-b:0:2:7", "edge-a:0:1:1", 9, 0, b'"hello"', ""])),
    b"\x00" + envelope(2, link([7, "edge-a:0:1:1", 9, 404, "unknown connection"])),
    b"\x00" + envelope(3, link([12, "edge-b:0:2:7", 4001, "kicked"])),
    b"\x00" + envelope(4, link([13, 500]), "edge-b"),
    b"\x00" + envelope(5, b""),
    b"\x00" + envelope(3, link([6, "edge-b:0:2:7", "edge-a:0:1:1", 9, 0, b'"x"', ""])),
    b"\x00" + envelope(1, link([6, "e:0:2:7", "e:0:1:1", 9, 0, b"1", ""]) * 2),
    b"\x00\x97\x01\x01\xa5hub-a\x00\x00\xa0\xc6\x7f\xff\xff\xff",
    b'\x01{"v":1,"name":"hub-a","boot":"00000000000000ff","version":"0.1.0","link":'
    b'"127.0.0.1:7400","http":"127.0.0.1:7480","https":false,"uptime_s":3,"ttl_ms":5000,'
    b'"refresh_ms":1000,"links":2,"edges":1,"policy_version":4}',
    b'\x01{"v":1,"name":"hub a","boot":"00000000000000ff"}',
    b'\x02{"v":1,"edges":[{"name":"edge-a","region":"r","workers":2,"clients":5,'
    b'"closes":{"idle":1},"addresses":["127.0.0.1:1"],"rtt_ms":0.5}],'
    b'"links":[["edge-a",0,4660,120],["edge-a",1,4660,80]]}',
    b'\x02{"v":1,"edges":[],"links":[["edge-a",1024,1,1]],"truncated":true}',
    b'\x03{"v":1,"base":{"idle_timeout":30,"rate_limit":5},"edges":{"fra-1":'
    b'{"ping_interval":60}},"by":"hub-a","how":"API"}',
    b'\x03{"v":1,"base":{"idle_timeout":-1}}',
    b"\x04*9\r\n:1\r\n$0\r\n\r\n:0\r\n$1\r\n3\r\n" + bulk("hub-a") + b":4200\r\n" +
    bulk("00000000000000ff") + bulk("{}") + bulk(""),
    b"\x04*4\r\n:0\r\n" + bulk("0123456789abcdef") + b":2999\r\n" + bulk("0"),
    b"\x04*3\r\n:0\r\n:6\r\n" + bulk("{}") + b"*2\r\n:1\r\n:7\r\n",
    b"\x04*2\r\n$-1\r\n$-1\r\n*2\r\n" + bulk("12") + bulk("{}"),
]


SETS = {
    "link": [link(m) for m in LINK_MSGS] + LINK_BAD,
    "mpcheck": MPCHECK,
    "msg": MSG_JSON + MSG_MSGPACK,
    "transcode": TRANSCODE,
    "utf8": UTF8,
    "wsframe": WSFRAME,
    "handshake": HANDSHAKE,
    "linkio": LINKIO,
    "hub_link": HUB_LINK,
    "jsoncheck": MSG_JSON + [b'1,"op":"ack","id":1', b'"\\ud83d\\ude00"', b'[[[[]]]]',
                             b'{"a":1e999}', b'-0.0E+1', b'"\\u0000"', b'{"\\u0000":1}'],
    "httpd": HTTPD,
    "connid": CONNID,
    "redis_wire": REDIS_WIRE,
    "cluster_wire": CLUSTER_WIRE,
}


def main(names):
    total = 0
    for name in names or SETS:
        seeds = SETS[name]
        d = os.path.join(CORPUS, name)
        shutil.rmtree(d, ignore_errors=True)
        os.makedirs(d)
        for seed in seeds:
            # Named by content, as libFuzzer names the inputs it saves.
            with open(os.path.join(d, hashlib.sha1(seed).hexdigest()), "wb") as f:
                f.write(seed)
            total += len(seed)
        print(f"{name}: {len(seeds)} seeds")
    print(f"{total} bytes in all")


if __name__ == "__main__":
    main(sys.argv[1:])
