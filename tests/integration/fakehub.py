"""A stand-in for spoke-hub on the link (docs/protocol.md, "Link protocol"),
for tests that need the hub to send what the real one never would, such as
a KICK with a 200-byte reason, invalid UTF-8 or close code 1005. It speaks
plain TCP on a loopback port it binds itself (port 0): the preamble, then one
zstd stream per direction (libzstd through ctypes, the same library the
edge links), each message a u32 big-endian length and a msgpack array. It
answers every edge worker's link with HELLO and a default POLICY, discards
what the edge sends, and sends whatever the test asks to every link."""
import ctypes
import ctypes.util
import socket
import struct
import threading

import msgpack

from helpers import HOST

PREAMBLE = b"SPOKELNK"
LINK_PROTOCOL_VERSION = 1
HELLO, POLICY, KICK = 1, 10, 12
# idle_timeout_ms, ping_interval_ms, pong_timeout_ms, handshake_timeout_ms,
# max_message_bytes, send_queue_bytes, max_subscriptions, rate_limit, rate_burst
DEFAULT_POLICY = [0, 25000, 10000, 10000, 65536, 1 << 20, 1000, 0, 100]

ZSTD_c_compressionLevel, ZSTD_c_windowLog, ZSTD_e_flush = 100, 101, 1
WINDOW_LOG = 17  # common/zstream.h ZSTREAM_WINDOW_LOG: the edge accepts up to one more


class _ZBuf(ctypes.Structure):
    """ZSTD_inBuffer and ZSTD_outBuffer share this layout."""
    _fields_ = [("ptr", ctypes.c_void_p), ("size", ctypes.c_size_t), ("pos", ctypes.c_size_t)]


def _libzstd():
    lib = ctypes.CDLL(ctypes.util.find_library("zstd") or "libzstd.so.1")
    lib.ZSTD_createCCtx.restype = ctypes.c_void_p
    lib.ZSTD_freeCCtx.argtypes = [ctypes.c_void_p]
    lib.ZSTD_CCtx_setParameter.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.c_int]
    lib.ZSTD_CCtx_setParameter.restype = ctypes.c_size_t
    lib.ZSTD_compressStream2.argtypes = [ctypes.c_void_p, ctypes.POINTER(_ZBuf),
                                         ctypes.POINTER(_ZBuf), ctypes.c_int]
    lib.ZSTD_compressStream2.restype = ctypes.c_size_t
    lib.ZSTD_isError.argtypes = [ctypes.c_size_t]
    lib.ZSTD_isError.restype = ctypes.c_uint
    return lib


_zstd = _libzstd()


class _Compressor:
    """One zstd stream, flushed after each batch so the edge can decode it at once."""

    def __init__(self):
        self.cctx = _zstd.ZSTD_createCCtx()
        assert self.cctx, "ZSTD_createCCtx failed"
        for param, value in ((ZSTD_c_compressionLevel, 1), (ZSTD_c_windowLog, WINDOW_LOG)):
            assert not _zstd.ZSTD_isError(_zstd.ZSTD_CCtx_setParameter(self.cctx, param, value))

    def flush(self, data):
        src = ctypes.create_string_buffer(data, len(data))
        inb = _ZBuf(ctypes.cast(src, ctypes.c_void_p), len(data), 0)
        dst = ctypes.create_string_buffer(len(data) + 4096)
        out = b""
        while True:
            outb = _ZBuf(ctypes.cast(dst, ctypes.c_void_p), len(dst), 0)
            left = _zstd.ZSTD_compressStream2(self.cctx, ctypes.byref(outb), ctypes.byref(inb),
                                              ZSTD_e_flush)
            assert not _zstd.ZSTD_isError(left), "ZSTD_compressStream2 failed"
            out += dst.raw[:outb.pos]
            if left == 0 and inb.pos == inb.size:
                return out

    def close(self):
        if self.cctx:
            _zstd.ZSTD_freeCCtx(self.cctx)
            self.cctx = None


def _message(*fields):
    body = msgpack.packb(list(fields), use_bin_type=True)
    return struct.pack("!I", len(body)) + body


class _Link:
    def __init__(self, sock):
        self.sock = sock
        self.z = _Compressor()
        self.lock = threading.Lock()
        self.first = True

    def send(self, *messages):
        with self.lock:
            wire = self.z.flush(b"".join(messages))
            if self.first:
                wire, self.first = PREAMBLE + wire, False
            self.sock.sendall(wire)

    def drain(self):
        """Reads and discards what the edge sends until it closes the link."""
        try:
            while self.sock.recv(65536):
                pass
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
                link.send(_message(HELLO, LINK_PROTOCOL_VERSION, "fakehub", "test", 0, "fakehub",
                                   0, self.heartbeat_ms, ""),
                          _message(POLICY, *self.policy))
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
