"""common/httpcall.c against a real HTTP backend (a threaded http.server on
loopback, driven through build/.../httpcall-probe): answers come back with
status and body, sequential calls share one kept-alive connection, a hanging
backend ends in a timeout while the loop keeps ticking, a refused port fails
fast, the response-size cap and the in-flight cap with its queue hold, a
cancelled call never calls back, and the signature verifies."""
import hashlib
import hmac
import json
import os
import socket
import subprocess
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

import pytest

from conftest import CHILD_ENV, SANITIZER_MARKS, binary, tail
from helpers import HOST, scaled, wait_for


class Backend:
    """A threaded HTTP/1.1 server on HOST port 0 that records every request
    (path, headers, body) and every accepted connection, and answers by path:
    /ok (200, "ok:" + the request body), /status?code=N (N, "boom"),
    /hang?s=N (answers after N s, or at close), /gate (answers once
    gate is set), /huge?n=N (N bytes, Content-Length), /chunked?n=N (N bytes,
    chunked, no length), /close (closes without answering), /redirect (302
    to /ok)."""

    def __init__(self):
        self.lock = threading.Lock()
        self.requests = []
        self.connections = 0
        self.active = 0
        self.max_active = 0
        self.gate = threading.Event()
        self.closing = threading.Event()
        backend = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def setup(self):
                super().setup()
                with backend.lock:
                    backend.connections += 1

            def log_message(self, *args):
                pass

            def answer(self, code, body, headers=()):
                self.send_response(code)
                for name, value in headers:
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                url = urlparse(self.path)
                query = {k: v[0] for k, v in parse_qs(url.query).items()}
                with backend.lock:
                    backend.requests.append((url.path, dict(self.headers), body))
                    backend.active += 1
                    backend.max_active = max(backend.max_active, backend.active)
                try:
                    self.route(url.path, query, body)
                except OSError:  # the client gave up (timeout, cancel): fine
                    self.close_connection = True
                finally:
                    with backend.lock:
                        backend.active -= 1

            def route(self, path, query, body):
                if path == "/ok":
                    self.answer(200, b"ok:" + body)
                elif path == "/status":
                    self.answer(int(query["code"]), b"boom")
                elif path == "/hang":
                    backend.closing.wait(float(query["s"]))
                    self.answer(200, b"late")
                elif path == "/gate":
                    while not (backend.gate.wait(0.05) or backend.closing.is_set()):
                        pass
                    self.answer(200, b"open")
                elif path == "/huge":
                    self.answer(200, b"x" * int(query["n"]))
                elif path == "/chunked":
                    self.send_response(200)
                    self.send_header("Transfer-Encoding", "chunked")
                    self.end_headers()
                    left = int(query["n"])
                    while left:
                        n = min(left, 4096)
                        self.wfile.write(b"%x\r\n%s\r\n" % (n, b"y" * n))
                        left -= n
                    self.wfile.write(b"0\r\n\r\n")
                elif path == "/close":
                    self.close_connection = True
                elif path == "/redirect":
                    self.answer(302, b"", [("Location", "/ok")])
                else:
                    self.answer(404, b"no such path")

        self.server = ThreadingHTTPServer((HOST, 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,),
                                       daemon=True)
        self.thread.start()

    def url(self, path):
        return f"http://{HOST}:{self.port}{path}"

    def seen(self, path):
        with self.lock:
            return [r for r in self.requests if r[0] == path]

    def close(self):
        self.closing.set()
        self.gate.set()
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(scaled(5))


class Probe:
    """One httpcall-probe process: commands go to its stdin, its JSON lines
    are collected by a reader thread (tick lines only update .ticks)."""

    def __init__(self, log_path, args=()):
        self.log_path = log_path
        self.cond = threading.Condition()
        self.lines = []
        self.ticks = 0
        with open(log_path, "ab") as log:
            self.p = subprocess.Popen([binary("httpcall-probe"), *args], stdin=subprocess.PIPE,
                                      stdout=subprocess.PIPE, stderr=log,
                                      env=dict(os.environ, **CHILD_ENV))
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()
        self.wait_line(lambda m: m.get("ready"), 10, "the probe's ready line")

    def _read(self):
        for raw in self.p.stdout:
            msg = json.loads(raw)
            with self.cond:
                if list(msg) == ["tick"]:
                    self.ticks = msg["tick"]
                else:
                    self.lines.append(msg)

    def send(self, line):
        self.p.stdin.write(line.encode() + b"\n")
        self.p.stdin.flush()

    def post(self, call_id, url, timeout_ms=5000, body=""):
        self.send(f"post {call_id} {url} {timeout_ms} {body}")

    def find(self, pred):
        with self.cond:
            return next((m for m in self.lines if pred(m)), None)

    def wait_line(self, pred, timeout, what):
        def check():
            if self.p.poll() is not None:
                raise AssertionError(f"probe exited with {self.p.returncode}:\n"
                                     f"{tail(self.log_path.read_text(errors='replace'))}")
            return self.find(pred)
        return wait_for(check, timeout, what)

    def result(self, call_id, timeout=5):
        return self.wait_line(lambda m: m.get("id") == call_id, timeout,
                              f"the result of call {call_id}")

    def stats(self):
        with self.cond:
            before = sum(1 for m in self.lines if "stats" in m)
        self.send("stats")

        def newest():
            with self.cond:
                found = [m for m in self.lines if "stats" in m]
            return found[before]["stats"] if len(found) > before else None
        return wait_for(newest, 5, "a stats line")

    def stop(self):
        """Closes stdin (the probe frees everything and exits 0) and returns
        a list of problems."""
        problems = []
        try:
            self.p.stdin.close()
        except OSError:
            pass
        try:
            rc = self.p.wait(scaled(10))
            if rc != 0:
                problems.append(f"probe exited with {rc}")
        except subprocess.TimeoutExpired:
            self.p.kill()
            self.p.wait()
            problems.append("probe ignored the end of its stdin (SIGKILLed)")
        self.reader.join(scaled(5))
        text = self.log_path.read_text(errors="replace")
        if any(m in text for m in SANITIZER_MARKS):
            problems.append("probe log has a sanitizer report")
        if problems:
            problems[-1] += f"\n--- {self.log_path} ---\n{tail(text, 80)}"
        return problems


@pytest.fixture
def backend():
    b = Backend()
    yield b
    b.close()


@pytest.fixture
def probe(tmp_path):
    """start(*flags) starts a probe; every probe is stopped after the test,
    which fails on an unclean exit or a sanitizer report."""
    probes = []

    def start(*args):
        p = Probe(tmp_path / f"probe{len(probes)}.log", [str(a) for a in args])
        probes.append(p)
        return p

    yield start
    problems = [msg for p in probes for msg in p.stop()]
    if problems:
        pytest.fail("\n".join(problems), pytrace=False)


def test_results_carry_status_and_body(backend, probe):
    p = probe()
    p.post("a", backend.url("/ok"), body='{"a":1}')
    r = p.result("a")
    assert (r["kind"], r["status"], r["body"], r["error"]) == ("ok", 200, 'ok:{"a":1}', None)
    path, headers, body = backend.seen("/ok")[0]
    assert body == b'{"a":1}'
    assert headers["Content-Type"] == "application/json"
    assert headers["X-Probe-Id"] == "a"

    p.post("b", backend.url("/status?code=503"))
    r = p.result("b")
    assert (r["kind"], r["status"], r["body"], r["error"]) == ("http_5xx", 503, "boom", None)

    # A redirect is an answer: not followed.
    p.post("c", backend.url("/redirect"))
    r = p.result("c")
    assert (r["kind"], r["status"]) == ("ok", 302)
    assert len(backend.seen("/ok")) == 1

    s = p.stats()
    assert (s["calls"], s["ok"], s["http_5xx"], s["in_flight"], s["queued"]) == (3, 2, 1, 0, 0)


def test_sequential_calls_reuse_one_connection(backend, probe):
    p = probe()
    for i in range(6):
        p.post(f"k{i}", backend.url("/ok"), body=str(i))
        assert p.result(f"k{i}")["body"] == f"ok:{i}"
    assert len(backend.seen("/ok")) == 6
    assert backend.connections == 1


def test_hanging_backend_times_out_while_the_loop_keeps_running(backend, probe):
    p = probe()
    ticks_before = p.ticks
    p.post("slow", backend.url("/hang?s=30"), timeout_ms=1000)
    wait_for(lambda: backend.seen("/hang"), 5, "the hanging request to arrive")
    # Another call completes while the first one hangs.
    p.post("fast", backend.url("/ok"))
    fast = p.result("fast")
    assert fast["kind"] == "ok"
    assert p.find(lambda m: m.get("id") == "slow") is None
    r = p.result("slow", timeout=5)
    assert r["kind"] == "timeout", r
    assert r["status"] == 0
    assert "timed out" in r["error"].lower()
    assert 1000 <= r["elapsed_ms"] <= scaled(1000 + 1500), r
    # 1 s of 10 ms ticks: at least half of them ran meanwhile.
    assert r["tick"] - ticks_before >= 50, (ticks_before, r)
    assert p.stats()["timeout"] == 1


def test_refused_port_fails_fast_with_a_connect_error(probe):
    s = socket.socket()
    s.bind((HOST, 0))
    port = s.getsockname()[1]
    s.close()
    p = probe()
    start = time.monotonic()
    p.post("r", f"http://{HOST}:{port}/", timeout_ms=10000)
    r = p.result("r", timeout=3)
    assert time.monotonic() - start < scaled(2)
    assert (r["kind"], r["status"]) == ("connect", 0)
    assert r["error"] and r["elapsed_ms"] < scaled(1000)
    assert p.stats()["connect"] == 1


def test_response_body_cap(backend, probe):
    p = probe("--max-body", 1000)
    p.post("fits", backend.url("/huge?n=1000"))
    r = p.result("fits")
    assert (r["kind"], r["body_len"]) == ("ok", 1000)
    p.post("declared", backend.url("/huge?n=1001"))
    p.post("chunked", backend.url("/chunked?n=200000"))
    for call_id in ("declared", "chunked"):
        r = p.result(call_id)
        assert r["kind"] == "too_large", r
        assert "1000-byte limit" in r["error"]
        assert r["body_len"] == 0
    # The instance goes on serving.
    p.post("after", backend.url("/ok"), body="x")
    assert p.result("after")["body"] == "ok:x"
    s = p.stats()
    assert (s["too_large"], s["ok"]) == (2, 2)


def test_in_flight_cap_queues_then_refuses(backend, probe):
    p = probe("--max-in-flight", 2, "--max-queued", 2)
    for i in range(5):
        p.post(f"g{i}", backend.url("/gate"), timeout_ms=20000)
    refused = p.wait_line(lambda m: m.get("refused"), 5, "a refused call")
    assert refused["id"] == "g4" and refused["rc"] < 0
    wait_for(lambda: len(backend.seen("/gate")) == 2, 5, "two calls at the backend")
    s = p.stats()
    assert (s["in_flight"], s["queued"], s["refused"], s["calls"]) == (2, 2, 1, 4)
    assert len(backend.seen("/gate")) == 2  # the queued ones have not been sent
    backend.gate.set()
    for i in range(4):
        r = p.result(f"g{i}")
        assert (r["kind"], r["body"]) == ("ok", "open")
    assert backend.max_active == 2
    assert p.find(lambda m: m.get("id") == "g4" and "kind" in m) is None
    s = p.stats()
    assert (s["ok"], s["in_flight"], s["queued"]) == (4, 0, 0)


def test_cancelled_call_never_calls_back(backend, probe):
    p = probe("--max-in-flight", 1)
    p.post("c1", backend.url("/gate"), timeout_ms=20000)
    p.post("c2", backend.url("/ok"), body="2")  # queued behind c1
    wait_for(lambda: backend.seen("/gate"), 5, "c1 at the backend")
    p.send("cancel c1")
    assert p.wait_line(lambda m: "cancelled" in m, 5, "the cancel")["n"] == 1
    # The slot c1 held goes to c2.
    assert p.result("c2")["body"] == "ok:2"
    backend.gate.set()
    p.post("c3", backend.url("/ok"), body="3")
    assert p.result("c3")["body"] == "ok:3"
    assert p.find(lambda m: m.get("id") == "c1") is None
    s = p.stats()
    assert (s["cancelled"], s["ok"], s["calls"]) == (1, 2, 3)


def test_exit_with_calls_in_flight_and_queued_is_clean(backend, probe):
    p = probe("--max-in-flight", 1)
    p.post("x1", backend.url("/gate"), timeout_ms=20000)
    p.post("x2", backend.url("/gate"), timeout_ms=20000)
    wait_for(lambda: backend.seen("/gate"), 5, "x1 at the backend")
    assert p.stop() == []


def test_closed_connection_and_other_schemes_are_other_errors(backend, probe):
    p = probe()
    p.post("closed", backend.url("/close"))
    r = p.result("closed")
    assert (r["kind"], r["status"]) == ("other", 0)
    assert r["error"]
    p.post("ftp", f"ftp://{HOST}:{backend.port}/")
    r = p.result("ftp")
    assert r["kind"] == "other" and "ftp" in r["error"].lower()
    assert backend.seen("/") == []


def test_signature_verifies_at_the_backend(backend, probe):
    secret = "s3cret-for-tests"
    p = probe("--secret", secret)
    body = '{"event":"publish","topic":"chat"}'
    p.post("s", backend.url("/ok"), body=body)
    assert p.result("s")["kind"] == "ok"
    _, headers, got = backend.seen("/ok")[0]
    parts = dict(part.split("=", 1) for part in headers["X-Spoke-Signature"].split(","))
    assert abs(int(parts["t"]) - time.time()) < 60
    want = hmac.new(secret.encode(), parts["t"].encode() + b"." + got, hashlib.sha256).hexdigest()
    assert hmac.compare_digest(parts["v1"], want)
    assert got == body.encode()
