"""A stand-in for spoke-hub on the link (docs/protocol.md, "Link protocol"),
for tests that need the hub to send what the real one never would, such as
a KICK with a 200-byte reason, invalid UTF-8 or close code 1005. It speaks
plain TCP on a loopback port it binds itself (port 0): the preamble, the
uncompressed HELLO, then one zstd stream per direction, each message a u32
big-endian length and a msgpack array. It
answers every edge worker's link with HELLO and a default POLICY, discards
what the edge sends, and sends whatever the test asks to every link."""
import socket
import struct
import threading

import msgpack
import zstandard

from helpers import HOST
from linkpeer import INTEREST_ADD, INTEREST_RESULT, LinkReader

PREAMBLE = b"SPOKELNK"
LINK_PROTOCOL_VERSION = 7
HELLO, POLICY, KICK = 1, 10, 12
# idle_timeout_ms, ping_interval_ms, pong_timeout_ms, handshake_timeout_ms,
# max_message_bytes, send_queue_bytes, max_subscriptions, rate_limit, rate_burst,
# worker_max_topics, send_timeout_ms, max_pending_sends, publish_timeout_ms,
# max_pending_publishes, publish_buffer_bytes, deflate, deflate_threshold
DEFAULT_POLICY = [0, 25000, 10000, 10000, 65536, 1 << 20, 1000, 0, 100, 100000, 10000, 100,
                  10000, 10000, 8 << 20, 1, 256]



class _Compressor:
    """One zstd stream, flushed after each batch so the edge can decode it at once."""

    def __init__(self):
        # The edge accepts windows up to 2^18 (common/zstream.h, plus one).
        params = zstandard.ZstdCompressionParameters.from_level(1, window_log=17)
        self.cobj = zstandard.ZstdCompressor(compression_params=params).compressobj()

    def flush(self, data):
        return self.cobj.compress(data) + self.cobj.flush(zstandard.COMPRESSOBJ_FLUSH_BLOCK)

    def close(self):
        self.cobj = None


def _message(*fields):
    body = msgpack.packb(list(fields), use_bin_type=True)
    return struct.pack("!I", len(body)) + body


class _Link:
    def __init__(self, sock):
        self.sock = sock
        self.z = _Compressor()
        self.lock = threading.Lock()

    def send_first(self, message):
        """The preamble and the uncompressed first message (our HELLO)."""
        with self.lock:
            self.sock.sendall(PREAMBLE + message)

    def send(self, *messages):
        with self.lock:
            self.sock.sendall(self.z.flush(b"".join(messages)))

    def drain(self):
        """Reads what the edge sends until it closes the link: every
        INTEREST_ADD is granted (the edge acks a sub only then), the rest is
        discarded."""
        reader = LinkReader()
        try:
            while True:
                data = self.sock.recv(65536)
                if not data:
                    return
                for m in reader.feed(data):
                    if m[0] == INTEREST_ADD:  # granted at a new topic's position
                        self.send(_message(INTEREST_RESULT, m[1], m[2], 0, "", 0, "fakehub0", 0))
        except OSError:
            pass

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass
        self.z.close()


class FakeHub:
    """Accepts edge links on 127.0.0.1:port (port 0 by default: see .port)."""

    def __init__(self, policy=DEFAULT_POLICY, heartbeat_ms=600000):
        self.policy = list(policy)
        self.heartbeat_ms = heartbeat_ms
        self.listener = socket.socket()
        self.listener.bind((HOST, 0))
        self.listener.listen(16)
        self.port = self.listener.getsockname()[1]
        self.links = []
        self.lock = threading.Lock()
        self.closed = False
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    def _accept(self):
        while True:
            try:
                sock, _ = self.listener.accept()
            except OSError:
                return
            link = _Link(sock)
            try:
                link.send_first(_message(HELLO, LINK_PROTOCOL_VERSION, "fakehub", "test", 0,
                                         "fakehub", 0, self.heartbeat_ms, ""))
                link.send(_message(POLICY, *self.policy))
            except OSError:
                link.close()
                continue
            with self.lock:
                if self.closed:
                    link.close()
                    return
                self.links.append(link)
            threading.Thread(target=link.drain, daemon=True).start()

    def nlinks(self):
        with self.lock:
            return len(self.links)

    def kick(self, conn, code, reason):
        """KICK to every link (only the worker holding conn acts on it);
        reason may be bytes of any kind, sent as a msgpack str."""
        reason = reason.encode() if isinstance(reason, str) else reason
        n = len(reason)  # a msgpack str header by hand: msgpack.packb wants text
        head = bytes([0xa0 | n]) if n < 32 else bytes([0xd9, n]) if n < 256 else \
            b"\xda" + struct.pack("!H", n)
        body = b"\x94" + b"".join(msgpack.packb(x) for x in (KICK, conn, code)) + head + reason
        with self.lock:
            links = list(self.links)
        for link in links:
            link.send(struct.pack("!I", len(body)) + body)

    def close(self):
        with self.lock:
            self.closed = True
            links, self.links = self.links, []
        try:
            self.listener.shutdown(socket.SHUT_RDWR)  # wakes the accept() in our thread
        except OSError:
            pass
        self.listener.close()
        self.thread.join(5)
        for link in links:
            link.close()
