"""Client-side helpers for the integration tests: the one time factor every
timeout goes through, pollers, timing checks, a WebSocket client wrapper
speaking spoke.json / spoke.msgpack, a raw WebSocket client for frames the
websockets library refuses to send, raw HTTP request helpers, and a port
held closed."""
import asyncio
import base64
import hashlib
import itertools
import json
import os
import re
import socket
import ssl
import struct
import time
import urllib.error
import urllib.request

import msgpack
import websockets

HOST = "127.0.0.1"
CONN_RE = re.compile(r"^(?P<edge>[^:]+):(?P<worker>\d+):(?P<boot>[0-9a-f]+):(?P<seq>\d+)$")
WS_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"  # RFC 6455 section 1.3


# ---- time: one factor for every timeout and every upper bound on a duration

def _time_factor():
    raw = os.environ.get("SPOKE_TEST_TIME_FACTOR", "1")
    try:
        factor = float(raw)
    except ValueError:
        factor = 0.0
    if not factor > 0:
        raise SystemExit(f"SPOKE_TEST_TIME_FACTOR={raw!r}: want a number above 0")
    return factor


# 1 fits the sanitizer build on a loaded 2-core machine, which the figures in
# the tests were measured on; a slower machine (valgrind, emulation) sets more.
TIME_FACTOR = _time_factor()


def scaled(seconds):
    """seconds x SPOKE_TEST_TIME_FACTOR. Every deadline a test waits for and
    every upper bound it puts on a duration goes through here; lower bounds
    ("not before the timeout") never do: a slow machine is late, never early.
    The helpers below scale the timeouts they are given: pass them seconds
    as measured on the reference machine."""
    return seconds * TIME_FACTOR


def remaining(deadline):
    """What is left until deadline (a time.monotonic() made with scaled()),
    unscaled again: for passing on to a helper that scales its timeout."""
    return max(0.01, (deadline - time.monotonic()) / TIME_FACTOR)


class PortHold:
    """A loopback port kept ours while no server listens on it: a socket
    bound with SO_REUSEADDR that never listens. Connections to the port are
    refused, as to a closed port, and no other bind (nor an outgoing
    connection's source port) can take it. A spoke process started on the
    port binds beside it (spoke sets SO_REUSEADDR too), so a hub can come
    back on the port its previous instance had. port=0: a port of the
    kernel's choosing (see .port); host: another loopback address than
    HOST (127.0.0.2, for a second hub)."""

    def __init__(self, port=0, host=HOST):
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            self.sock.bind((host, port))
        except BaseException:
            self.sock.close()
            raise
        self.port = self.sock.getsockname()[1]

    def release(self):
        self.sock.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.release()


# ---- polling (never bare sleeps: every wait has a condition and a deadline)

class Abort(AssertionError):
    """Raised by a wait_for predicate to stop polling at once (e.g. the process died)."""


def wait_for(pred, timeout=5.0, what="condition", interval=0.02):
    """Polls pred() until it returns a truthy value (returned); fails after
    scaled(timeout)."""
    timeout = scaled(timeout)
    deadline = time.monotonic() + timeout
    last_exc = None
    while True:
        try:
            value = pred()
            if value:
                return value
        except Abort:
            raise
        except Exception as e:  # noqa: BLE001 - keep polling, report the last error
            last_exc = e
        if time.monotonic() >= deadline:
            extra = f" (last error: {last_exc!r})" if last_exc else ""
            raise AssertionError(f"timed out after {timeout:g}s waiting for {what}{extra}")
        time.sleep(interval)


async def await_for(pred, timeout=5.0, what="condition", interval=0.02):
    """wait_for for async tests: pred runs in a thread so the event loop keeps going."""
    return await asyncio.to_thread(wait_for, pred, timeout, what, interval)


_direct = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # ignore *_proxy env


def http_request(port, method, path, body=None, timeout=2.0):
    """METHOD http://127.0.0.1:port/path with an optional body; returns (status, body bytes).
    Anything but GET is sent as JSON, as the admin APIs require."""
    req = urllib.request.Request(f"http://{HOST}:{port}{path}", data=body, method=method)
    if body is not None or method not in ("GET", "HEAD"):
        req.add_header("Content-Type", "application/json")
    try:
        with _direct.open(req, timeout=scaled(timeout)) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def http_get(port, path, timeout=2.0):
    """GET http://127.0.0.1:port/path; returns (status, body bytes)."""
    return http_request(port, "GET", path, timeout=timeout)


# ---- running async test bodies

_ids = itertools.count(1000)  # request ids for helpers that need one
_open = []  # clients opened during the current run(); closed when it ends


def run(coro, timeout=60.0):
    """Runs an async test body with an overall deadline, then closes its clients."""
    async def main():
        try:
            return await asyncio.wait_for(coro, scaled(timeout))
        finally:
            await close_all()
    return asyncio.run(main())


async def close_all():
    while _open:
        c = _open.pop()
        try:
            if isinstance(c, RawWS):
                c.close()
            else:
                await asyncio.wait_for(c.close(), scaled(3))
        except Exception:  # noqa: BLE001 - best effort; the server may be gone
            pass


# ---- websockets-based client

def decode(frame):
    """One protocol message: a text frame is JSON, a binary frame is msgpack."""
    if isinstance(frame, str):
        return json.loads(frame)
    return msgpack.unpackb(frame, raw=False, strict_map_key=False)


def encode_for(ws, obj):
    if ws.subprotocol == "spoke.msgpack":
        return msgpack.packb(obj, use_bin_type=True)
    return json.dumps(obj)


# Set per test by conftest's client_compression fixture: None (websockets'
# default, which offers permessage-deflate), or "deflate" / "plain", which
# open_ws offers and checks the edge's answer for.
CLIENT_COMPRESSION = None
DEFLATE_ANSWER = "permessage-deflate; server_no_context_takeover; client_no_context_takeover"


async def open_ws(url, proto="spoke.json", **kw):
    """Opens a client offering subprotocol proto (none if None); the welcome is left unread."""
    kw.setdefault("open_timeout", scaled(5))
    kw.setdefault("close_timeout", scaled(2))
    mode = CLIENT_COMPRESSION if "compression" not in kw else None
    if mode == "plain":
        kw["compression"] = None
    ws = await websockets.connect(url, subprotocols=[proto] if proto else None, **kw)
    _open.append(ws)
    if mode:
        answer = ws.response_headers.get("Sec-WebSocket-Extensions")
        assert answer == (DEFLATE_ANSWER if mode == "deflate" else None), answer
    return ws


async def connect(url, proto="spoke.json", **kw):
    """Opens a client (offering subprotocol proto, or none if None); returns (ws, welcome)."""
    ws = await open_ws(url, proto, **kw)
    welcome = await recv_json(ws)
    assert welcome.get("op") == "welcome", f"first message is not a welcome: {welcome!r}"
    return ws, welcome


async def recv_raw(ws, timeout=5.0):
    """The next frame as str (text) or bytes (binary); fails after timeout."""
    try:
        return await asyncio.wait_for(ws.recv(), scaled(timeout))
    except asyncio.TimeoutError:
        raise AssertionError(f"no message within {timeout}s") from None


async def recv_json(ws, timeout=5.0):
    """The next message decoded (JSON or msgpack, by frame type)."""
    return decode(await recv_raw(ws, timeout))


async def send(ws, obj):
    """Sends obj in the connection's encoding."""
    await ws.send(encode_for(ws, obj))


async def expect(ws, timeout=5.0, **fields):
    """Receives the next message and asserts it carries the given fields."""
    msg = await recv_json(ws, timeout)
    wrong = {k: v for k, v in fields.items() if msg.get(k) != v}
    assert not wrong, f"expected fields {fields!r}, got {msg!r}"
    return msg


async def subscribe(ws, topic, id_=None):
    """sub with an id and wait for its ack."""
    id_ = id_ if id_ is not None else next(_ids)
    await send(ws, {"op": "sub", "topic": topic, "id": id_})
    await expect(ws, op="ack", id=id_)


async def ping_pong(ws, id_):
    """An app-level ping (which counts as activity) and its pong."""
    await send(ws, {"op": "ping", "id": id_})
    await expect(ws, op="pong", id=id_)


async def wait_closed(ws, timeout=5.0):
    """Waits for the server to close ws, failing on any message first.

    Returns (code, reason, t): the close frame's code and reason (None, None
    if the TCP connection ended without one) and time.monotonic() when the
    close was seen."""
    try:
        msg = await asyncio.wait_for(ws.recv(), scaled(timeout))
    except websockets.ConnectionClosed as e:
        t = time.monotonic()
        return (e.rcvd.code, e.rcvd.reason, t) if e.rcvd else (None, None, t)
    except asyncio.TimeoutError:
        raise AssertionError(f"not closed within {timeout}s") from None
    raise AssertionError(f"a message instead of a close: {decode(msg)!r}")


async def request_until_503(ws, make_request, timeout=5.0):
    """Sends requests with fresh ids until one is refused with 503; returns that error.

    The edge notices a dead hub link asynchronously, so the first requests may
    still be accepted (acked or answered otherwise); after timeout, fail.
    """
    deadline = time.monotonic() + scaled(timeout)
    for i in range(10_000, 20_000):
        await send(ws, dict(make_request(), id=i))
        reply = await recv_json(ws)
        while reply.get("id") != i:  # skip replies to earlier requests
            reply = await recv_json(ws)
        if reply.get("op") == "error" and reply.get("code") == 503:
            return reply
        assert time.monotonic() < deadline, f"no 503 within {timeout}s; last reply {reply!r}"
        await asyncio.sleep(0.05)


async def until_link_down(ws, timeout=5.0):
    """Waits (with sends to a connection of no worker here) until ws's edge
    worker has noticed that its hub link is down: its sends then get 503.
    (Publishes would not tell: the edge holds them while the link is down.)"""
    return await request_until_503(
        ws, lambda: {"op": "send", "to": "elsewhere:0:00000001:1", "data": 0}, timeout)


def assert_elapsed(what, start, end, expected, slack=1.0):
    """Asserts an event at end came expected seconds after start, give or take:
    no earlier than 0.8 x expected, no later than expected + scaled(slack) (a
    loaded machine running sanitizer builds is late, never early)."""
    took, latest = end - start, expected + scaled(slack)
    assert 0.8 * expected <= took <= latest, (
        f"{what} after {took:.3f}s; expected {expected}s (allowed {0.8 * expected:.3f}s"
        f" to {latest:.3f}s)")
    return took


async def assert_silent(ws, timeout=0.3):
    """Asserts no message arrives within timeout (use only to bound a negative
    check; not scaled: a longer window would only make the check slower)."""
    try:
        msg = await asyncio.wait_for(ws.recv(), timeout)
    except asyncio.TimeoutError:
        return
    raise AssertionError(f"unexpected message: {decode(msg)!r}")


def parse_conn(conn):
    """(edge, worker) from a conn id like edge-a:1:5f3a9c21:17."""
    m = CONN_RE.match(conn)
    assert m, f"conn id {conn!r} is not name:worker:boot-hex:seq"
    return m["edge"], int(m["worker"])


# ---- raw WebSocket client (masked frames, fragments, invalid payloads)

OP_CONT, OP_TEXT, OP_BIN, OP_CLOSE, OP_PING, OP_PONG = 0, 1, 2, 8, 9, 10


def client_frame(opcode, payload, fin=True, rsv=0):
    """One masked client frame (RFC 6455 section 5.2) as bytes; rsv: the
    RSV bits in place (0x40 is RSV1, a compressed message under RFC 7692)."""
    payload = payload.encode() if isinstance(payload, str) else payload
    n = len(payload)
    head = bytes([(0x80 if fin else 0) | rsv | opcode])
    if n < 126:
        head += bytes([0x80 | n])
    elif n < 65536:
        head += bytes([0x80 | 126]) + struct.pack("!H", n)
    else:
        head += bytes([0x80 | 127]) + struct.pack("!Q", n)
    mask = os.urandom(4)
    return head + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload))


def parse_frames(data):
    """[(opcode, payload)] of the complete unmasked frames at the start of data."""
    frames, off = [], 0
    while off + 2 <= len(data):
        n, head = data[off + 1] & 0x7F, 2
        if n == 126 and off + 4 <= len(data):
            n, head = struct.unpack("!H", data[off + 2:off + 4])[0], 4
        elif n == 127 and off + 10 <= len(data):
            n, head = struct.unpack("!Q", data[off + 2:off + 10])[0], 10
        elif n >= 126:
            break
        if off + head + n > len(data):
            break
        frames.append((data[off] & 0x0F, data[off + head:off + head + n]))
        off += head + n
    return frames


def ws_accept(key):
    return base64.b64encode(hashlib.sha1((key + WS_GUID).encode()).digest()).decode()


def read_http_head(sock):
    """Reads a response head; returns (status, headers dict lowercased, leftover bytes)."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(4096)
        if not chunk:
            raise AssertionError(f"connection closed before a full HTTP head: {data!r}")
        data += chunk
    head, rest = data.split(b"\r\n\r\n", 1)
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {}
    for line in lines[1:]:
        k, _, v = line.partition(":")
        headers[k.strip().lower()] = v.strip()
    return status, headers, rest


def raw_http(port, request, timeout=5.0, source=None):
    """Sends a hand-written HTTP request (from loopback address `source`, any
    of 127/8, if given); returns (status, headers, body)."""
    with socket.create_connection((HOST, port), timeout=scaled(timeout),
                                  source_address=(source, 0) if source else None) as s:
        s.sendall(request.encode() if isinstance(request, str) else request)
        status, headers, body = read_http_head(s)
        want = int(headers.get("content-length", "0"))
        while len(body) < want:
            chunk = s.recv(4096)
            if not chunk:
                break
            body += chunk
        return status, headers, body


def upgrade_request(path="/ws", key=None, version="13", protocol=None, host=HOST, headers=()):
    key = key if key is not None else base64.b64encode(os.urandom(16)).decode()
    lines = [f"GET {path} HTTP/1.1", f"Host: {host}", "Upgrade: websocket",
             "Connection: Upgrade", f"Sec-WebSocket-Key: {key}",
             f"Sec-WebSocket-Version: {version}"]
    if protocol:
        lines.append(f"Sec-WebSocket-Protocol: {protocol}")
    lines += [f"{k}: {v}" for k, v in headers]
    return "\r\n".join(lines) + "\r\n\r\n", key


def tls_context(cafile, alpn=None, version=None):
    """A client SSLContext trusting only cafile (hostname checks on), optionally
    offering ALPN protocols and pinned to one ssl.TLSVersion."""
    ctx = ssl.create_default_context(cafile=str(cafile))
    if alpn:
        ctx.set_alpn_protocols(list(alpn))
    if version is not None:
        ctx.minimum_version = ctx.maximum_version = version
    return ctx


def tls_connect(port, ctx, server_hostname=HOST, timeout=5.0):
    """A TLS socket to 127.0.0.1:port, handshake done (raises ssl.SSLError
    and its subclasses, e.g. ssl.SSLCertVerificationError, on failure)."""
    sock = socket.create_connection((HOST, port), timeout=scaled(timeout))
    try:
        return ctx.wrap_socket(sock, server_hostname=server_hostname)
    except BaseException:
        sock.close()
        raise


def raw_upgrade(port, path="/ws", headers=(), ssl_context=None, server_hostname=HOST,
                timeout=5.0):
    """Sends a WebSocket upgrade request (with extra (name, value) headers)
    over plain TCP, or TLS with ssl_context; returns (status, headers, body)
    where body is the refusal's text (up to Content-Length) or, after a 101,
    whatever bytes followed the head."""
    req, _ = upgrade_request(path)
    req = req[:-2] + "".join(f"{k}: {v}\r\n" for k, v in headers) + "\r\n"
    if ssl_context is not None:
        sock = tls_connect(port, ssl_context, server_hostname, timeout)
    else:
        sock = socket.create_connection((HOST, port), timeout=scaled(timeout))
    with sock:
        sock.sendall(req.encode())
        status, head, body = read_http_head(sock)
        if status != 101:
            want = int(head.get("content-length", "0"))
            while len(body) < want:
                try:
                    chunk = sock.recv(4096)
                except ConnectionResetError:
                    chunk = b""
                if not chunk:
                    raise AssertionError(
                        f"{status} answer ends after {len(body)} of its Content-Length {want} "
                        f"body bytes: {body!r}")
                body += chunk
        return status, head, body


class RawWS:
    """A minimal blocking WebSocket client over a plain socket. headers:
    extra (name, value) upgrade headers; the answer's headers are kept in
    self.headers, and the first byte of the last frame read (FIN, RSV bits,
    opcode) in self.last_b0."""

    def __init__(self, port, path="/ws", protocol=None, rcvbuf=None, timeout=5.0, headers=()):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if rcvbuf:  # before connect, so the advertised window starts small
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        self.sock.settimeout(scaled(timeout))
        try:
            self.sock.connect((HOST, port))
            req, key = upgrade_request(path, protocol=protocol, headers=headers)
            self.sock.sendall(req.encode())
            status, self.headers, self.buf = read_http_head(self.sock)
            assert status == 101, f"handshake answered {status}"
            assert self.headers.get("sec-websocket-accept") == ws_accept(key), self.headers
        except BaseException:
            self.sock.close()
            raise
        _open.append(self)
        self.welcome = None

    def read_welcome(self, timeout=5.0):
        self.welcome = self.recv_json(timeout)
        assert self.welcome.get("op") == "welcome", self.welcome
        return self.welcome

    def send_frame(self, opcode, payload, fin=True, rsv=0):
        self.sock.sendall(client_frame(opcode, payload, fin, rsv))

    def send_json_batch(self, objs):
        """Sends one text frame per object, all in a single write (one read at the edge)."""
        self.sock.sendall(b"".join(client_frame(OP_TEXT, json.dumps(o)) for o in objs))

    def send_fragments(self, pieces, opcode=OP_TEXT):
        """Sends one message as len(pieces) frames."""
        for i, piece in enumerate(pieces):
            self.send_frame(opcode if i == 0 else OP_CONT, piece, fin=i == len(pieces) - 1)

    def send_json(self, obj):
        self.send_frame(OP_TEXT, json.dumps(obj))

    def _need(self, n, deadline):
        while len(self.buf) < n:
            self.sock.settimeout(max(0.01, deadline - time.monotonic()))
            try:
                chunk = self.sock.recv(65536)
            except socket.timeout:
                raise AssertionError("no complete frame before the deadline") from None
            if not chunk:
                raise EOFError("connection closed")
            self.buf += chunk

    def recv_frame(self, timeout=5.0):
        """(fin, opcode, payload) of the next server frame."""
        return self._frame_before(time.monotonic() + scaled(timeout))

    def _frame_before(self, deadline):
        self._need(2, deadline)
        b0, b1 = self.buf[0], self.buf[1]
        assert not b1 & 0x80, "server frames must not be masked (RFC 6455 5.1)"
        n, off = b1 & 0x7F, 2
        if n == 126:
            self._need(4, deadline)
            n, off = struct.unpack("!H", self.buf[2:4])[0], 4
        elif n == 127:
            self._need(10, deadline)
            n, off = struct.unpack("!Q", self.buf[2:10])[0], 10
        self._need(off + n, deadline)
        self.last_b0 = b0
        payload, self.buf = self.buf[off:off + n], self.buf[off + n:]
        return bool(b0 & 0x80), b0 & 0x0F, payload

    def assert_silent(self, timeout):
        """Asserts the server sends nothing for timeout seconds (bounds a negative check)."""
        assert not self.buf, f"unexpected bytes: {self.buf!r}"
        self.sock.settimeout(timeout)
        try:
            chunk = self.sock.recv(65536, socket.MSG_PEEK)
        except socket.timeout:
            return
        raise AssertionError(f"unexpected bytes: {chunk!r}" if chunk else "connection closed")

    def recv_json(self, timeout=5.0):
        """The next data message, decoded; answers pings on the way."""
        deadline = time.monotonic() + scaled(timeout)
        while True:
            fin, op, payload = self._frame_before(deadline)
            if op == OP_PING:
                self.send_frame(OP_PONG, payload)
                continue
            assert op in (OP_TEXT, OP_BIN) and fin, f"unexpected frame op={op} fin={fin}"
            return decode(payload.decode() if op == OP_TEXT else payload)

    def recv_close(self, timeout=5.0):
        """Reads until the server's close frame; returns its (code, reason)."""
        deadline = time.monotonic() + scaled(timeout)
        while True:
            try:
                fin, op, payload = self._frame_before(deadline)
            except EOFError:
                raise AssertionError("connection closed without a close frame") from None
            if op == OP_CLOSE:
                code = struct.unpack("!H", payload[:2])[0] if len(payload) >= 2 else None
                return code, payload[2:].decode(errors="replace")

    def read_until_eof(self, timeout=10.0):
        """Reads until the peer closes; returns everything not yet parsed. Fails on timeout."""
        timeout = scaled(timeout)
        deadline = time.monotonic() + timeout
        chunks = [self.buf]
        self.buf = b""
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                n = sum(map(len, chunks))
                raise AssertionError(f"peer did not close within {timeout}s ({n} bytes read)")
            self.sock.settimeout(left)
            try:
                chunk = self.sock.recv(65536)
            except socket.timeout:
                continue
            except ConnectionResetError:
                return b"".join(chunks)
            if not chunk:
                return b"".join(chunks)
            chunks.append(chunk)

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


def metric(port, name, labels=""):
    """The sum of the samples of /metrics family `name` (on an edge's admin
    port or the hub's HTTP port) whose labels contain `labels`."""
    status, body = http_get(port, "/metrics")
    assert status == 200, body
    total, seen = 0, False
    for line in body.decode().splitlines():
        if line.startswith(name) and line[len(name)] in " {" and labels in line:
            total += int(float(line.rsplit(" ", 1)[1]))
            seen = True
    assert seen, f"no {name}{labels} in /metrics"
    return total


def rss_anon_kb(pid):
    """A process's anonymous resident memory (RssAnon), in KiB."""
    with open(f"/proc/{pid}/status") as f:
        return int(re.search(r"RssAnon:\s+(\d+) kB", f.read()).group(1))


def probe_welcome(port, timeout=2.0):
    """Opens a raw connection, returns its welcome and closes it again."""
    ws = RawWS(port, timeout=timeout)
    try:
        return ws.read_welcome(timeout)
    finally:
        ws.close()
        _open.remove(ws)


def wait_welcomes(port, workers, pred, timeout, what):
    """Opens connections to an edge until the latest welcome from each of its
    workers satisfies pred (the kernel spreads connections over the workers);
    returns {worker: welcome}."""
    latest = {}

    def all_match():
        welcome = probe_welcome(port)
        latest[parse_conn(welcome["conn"])[1]] = welcome
        return len(latest) == workers and all(pred(w) for w in latest.values())
    try:
        wait_for(all_match, timeout, what, interval=0.01)
    except AssertionError as e:
        raise AssertionError(f"{e}; latest welcome per worker: {latest!r}") from None
    return latest
