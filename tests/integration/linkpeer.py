"""A raw link peer for tests: speaks the hub's link protocol (docs/protocol.md,
"Link protocol") from Python, so tests can play an edge worker that misbehaves:
one that connects and says nothing, sends a decompression bomb, forges senders,
makes up direct results, or never answers.

The wire format (version 7) is docs/protocol.md's "Link protocol": the
preamble, one uncompressed first message, then a zstd stream of
length-prefixed msgpack arrays laid out as its message table says."""
import json
import socket
import struct
import time

import msgpack
import zstandard

from helpers import scaled

PREAMBLE = b"SPOKELNK"
VERSION = 7

HELLO, INTEREST_ADD, INTEREST_REMOVE, PUBLISH, MESSAGE = 1, 2, 3, 4, 5
DIRECT, DIRECT_RESULT, ERROR, HEARTBEAT, POLICY = 6, 7, 8, 9, 10
STATS, KICK, DRAIN, INTEREST_RESULT = 11, 12, 13, 14
PUBLISH_RESULT, HISTORY_READ, HISTORY_RESULT, TOPIC_RESET = 15, 16, 17, 18
EDGES, HOOKS = 19, 20
NAMES = {1: "hello", 2: "interest_add", 3: "interest_remove", 4: "publish", 5: "message",
         6: "direct", 7: "direct_result", 8: "error", 9: "heartbeat", 10: "policy",
         11: "stats", 12: "kick", 13: "drain", 14: "interest_result", 15: "publish_result",
         16: "history_read", 17: "history_result", 18: "topic_reset", 19: "edges",
         20: "hooks"}

# Fields protocol 3 appended to a message, with the values that mean "none":
# a message written with fewer is completed with them, so a test writes only
# what it is about.
APPENDED = {
    INTEREST_ADD: (3, [0, ""]),  # since_seq, since_epoch
    PUBLISH: (6, [0]),           # pub_id
    MESSAGE: (7, [0]),           # replay
}


def frame(fields):
    kind = fields[0] if fields else None
    if kind in APPENDED:
        short, tail = APPENDED[kind]
        if len(fields) == short:
            fields = list(fields) + tail
    body = msgpack.packb(fields, use_bin_type=True)
    return struct.pack("!I", len(body)) + body


def hello_msg(name, worker=0, boot=0x1234, region="test", software="linkpeer",
              heartbeat_ms=5000, public_url="", version=VERSION):
    return [HELLO, version, name, region, worker, software, boot, heartbeat_ms, public_url]


def conn_id(name, worker, boot, seq):
    """A connection id as an edge worker makes it: NAME:WORKER:BOOT(8 hex):SEQ."""
    return f"{name}:{worker}:{boot:08x}:{seq}"


class LinkReader:
    """Turns what one side of a link sends (preamble, uncompressed first
    message, zstd stream) into decoded messages, fed in pieces of any size."""

    def __init__(self):
        self.rbuf = b""
        self.preamble_seen = False
        self.first_seen = False
        self.dobj = None
        self.plain = b""

    def feed(self, data):
        """Returns the messages (lists: [type, fields...]) completed by data."""
        out = []
        self.rbuf += data
        if not self.preamble_seen:
            if len(self.rbuf) < len(PREAMBLE):
                return out
            assert self.rbuf.startswith(PREAMBLE), f"bad preamble {self.rbuf[:8]!r}"
            self.rbuf = self.rbuf[len(PREAMBLE):]
            self.preamble_seen = True
        if not self.first_seen:
            if len(self.rbuf) < 4:
                return out
            n = struct.unpack("!I", self.rbuf[:4])[0]
            if len(self.rbuf) < 4 + n:
                return out
            out.append(msgpack.unpackb(self.rbuf[4:4 + n], raw=False))
            self.rbuf = self.rbuf[4 + n:]
            self.first_seen = True
        if self.rbuf:
            if self.dobj is None:
                self.dobj = zstandard.ZstdDecompressor().decompressobj()
            self.plain += self.dobj.decompress(self.rbuf)
            self.rbuf = b""
        while len(self.plain) >= 4:
            n = struct.unpack("!I", self.plain[:4])[0]
            if len(self.plain) < 4 + n:
                break
            out.append(msgpack.unpackb(self.plain[4:4 + n], raw=False))
            self.plain = self.plain[4 + n:]
        return out


# Every LinkPeer not yet closed: the test's fixture closes what is left.
open_peers = []


def close_all_peers():
    while open_peers:
        open_peers.pop().close()


class LinkPeer:
    """One link connection to a hub. Plain TCP unless ssl_context is given."""

    def __init__(self, port, host="127.0.0.1", timeout=5.0, ssl_context=None,
                 server_hostname=None, source=None):
        timeout = scaled(timeout)
        self.sock = socket.create_connection((host, port), timeout=timeout,
                                             source_address=(source, 0) if source else None)
        if ssl_context is not None:
            try:
                self.sock = ssl_context.wrap_socket(self.sock, server_hostname=server_hostname)
            except BaseException:
                self.sock.close()
                raise
        self.sock.settimeout(timeout)
        open_peers.append(self)
        self.cobj = None
        self.reader = LinkReader()
        self.inbox = []       # decoded messages not yet returned
        self.closed = False

    # ---- sending
    def send_raw(self, data):
        self.sock.sendall(data)

    def send_first(self, fields, preamble=True):
        """The preamble and the uncompressed first message."""
        self.send_raw((PREAMBLE if preamble else b"") + frame(fields))

    def send(self, *messages):
        """Messages inside the zstd stream, flushed so the hub can decode them now."""
        self.send_raw(self.compress(b"".join(frame(m) for m in messages)))

    def compress(self, raw):
        if self.cobj is None:
            # The hub accepts windows up to 2^18 (its own 2^17, plus one).
            params = zstandard.ZstdCompressionParameters.from_level(1, window_log=17)
            self.cobj = zstandard.ZstdCompressor(compression_params=params).compressobj()
        return self.cobj.compress(raw) + self.cobj.flush(zstandard.COMPRESSOBJ_FLUSH_BLOCK)

    def hello(self, name, worker=0, boot=0x1234, **kw):
        """Says hello and returns the hub's answer messages up to its POLICY.
        The HOOKS document that follows the POLICY on every link is kept in
        self.hooks (a dict), not returned."""
        self.name, self.worker, self.boot = name, worker, boot
        self.send_first(hello_msg(name, worker, boot, **kw))
        got = []
        while not got or got[-1][0] not in (POLICY, ERROR):
            got.append(self.recv())
        if got[-1][0] == POLICY:
            hooks = self.recv()
            assert hooks[0] == HOOKS, f"expected HOOKS after POLICY, got {hooks!r}"
            self.hooks = json.loads(hooks[1])
        return got

    def own_conn(self, seq):
        return conn_id(self.name, self.worker, self.boot, seq)

    # ---- receiving
    def _feed(self, data):
        self.inbox += self.reader.feed(data)

    def recv(self, timeout=5.0):
        """The next message (a list: [type, fields...]); fails after timeout.
        Raises EOFError when the hub closed the link."""
        return self._recv_before(time.monotonic() + scaled(timeout))

    def _recv_before(self, deadline):
        while not self.inbox:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError("no link message before the deadline")
            self.sock.settimeout(left)
            try:
                data = self.sock.recv(65536)
            except socket.timeout:
                continue
            except ConnectionResetError:
                data = b""
            if not data:
                self.closed = True
                raise EOFError("the hub closed the link")
            self._feed(data)
        return self.inbox.pop(0)

    def recv_until(self, pred, timeout=5.0):
        """Receives until a message satisfies pred (everything before it is
        dropped); returns it."""
        deadline = time.monotonic() + scaled(timeout)
        while True:
            m = self._recv_before(deadline)
            if pred(m):
                return m

    def wait_closed(self, timeout=5.0):
        """Reads until the hub closes the link; returns the ERROR it sent first, or None."""
        deadline = time.monotonic() + scaled(timeout)
        error = None
        while True:
            try:
                m = self._recv_before(deadline)
            except EOFError:
                return error
            if m[0] == ERROR:
                error = m

    def close(self):
        if self in open_peers:
            open_peers.remove(self)
        try:
            self.sock.close()
        except OSError:
            pass
