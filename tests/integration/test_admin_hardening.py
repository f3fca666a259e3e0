"""The admin HTTP servers (the hub's API, each edge's /healthz, /readyz, /metrics) survive hostile clients: one address cannot hold every connection, a slow request head is cut at its own short deadline, a web page (Origin header, form body) cannot drive a hub without a token, a foreign Host name (DNS rebinding) is refused; the hub serves its API over HTTPS with a certificate reloaded on SIGHUP, cuts an unfinished TLS handshake at the head deadline, and refuses to take a token in clear off loopback; spokectl speaks https with a private CA, fails with one clear line otherwise, and never sends a token in clear off loopback. Every attack ends with the process alive, the attacker holding the documented error, the refusal counted in /metrics, and other clients served."""
import json
import os
import re
import shutil
import signal
import socket
import ssl
import subprocess
import time
import urllib.error
import urllib.request

import pytest

from conftest import CHILD_ENV, binary
from helpers import HOST, assert_elapsed, http_get, raw_http, scaled, wait_for

TOKEN = "hardening-token-0123456789"


# ---- helpers

def start_hub(launch, *args):
    """A hub alone, HTTP on 127.0.0.1:0; returns (proc, http port from its ready file)."""
    proc = launch("spoke-hub", ["--listen", f"{HOST}:0", "--http", f"{HOST}:0",
                                "--log-level", "debug", *args])
    return proc, proc.wait_ready_file()["http"]


def assert_alive(proc):
    assert proc.p.poll() is None, f"{proc.name} exited with {proc.p.returncode}:\n{proc.output()}"


def connect_from(src, port, timeout=5.0):
    """A TCP connection to 127.0.0.1:port from source address src (any 127/8)."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.settimeout(scaled(timeout))
    s.bind((src, 0))
    s.connect((HOST, port))
    return s


def request_from(src, port, path="/healthz"):
    """GET path from source address src; returns (status, body bytes)."""
    status, _, body = raw_http(port, f"GET {path} HTTP/1.1\r\nHost: {HOST}\r\n\r\n", source=src)
    return status, body


def request(port, method, path, headers=(), body=b"", version="1.1", host=HOST):
    """A hand-written request; returns (status, decoded JSON body or text)."""
    lines = [f"{method} {path} HTTP/{version}"]
    if host is not None:
        lines.append(f"Host: {host}")
    lines += [f"{k}: {v}" for k, v in headers]
    if body or method in ("POST", "PUT"):
        lines.append(f"Content-Length: {len(body)}")
    status, _, raw = raw_http(port, ("\r\n".join(lines) + "\r\n\r\n").encode() + body)
    try:
        return status, json.loads(raw)
    except ValueError:
        return status, raw.decode(errors="replace")


def metric(port, name, labels, get=http_get):
    """The value of one sample in port's /metrics (None if absent)."""
    status, text = get(port, "/metrics")
    assert status == 200, text
    m = re.search(rf"^{re.escape(name)}\{{{re.escape(labels)}\}} (\d+)$", text.decode(), re.M)
    return int(m.group(1)) if m else None


def wait_metric(port, name, labels, at_least=1, get=http_get):
    return wait_for(lambda: (metric(port, name, labels, get) or 0) >= at_least and
                    metric(port, name, labels, get), 5, f"{name}{{{labels}}} >= {at_least}")


def https_get(port, path, cafile, host=HOST, headers=None):
    """GET https://host:port/path trusting cafile; returns (status, body bytes)."""
    ctx = ssl.create_default_context(cafile=str(cafile))
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}),
                                         urllib.request.HTTPSHandler(context=ctx))
    req = urllib.request.Request(f"https://{host}:{port}{path}", headers=headers or {})
    try:
        with opener.open(req, timeout=scaled(5)) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def spokectl(hub_url, *args, env=None):
    full = dict(os.environ, **CHILD_ENV)
    for k in ("SPOKE_TOKEN", "SPOKE_CACERT", "SPOKE_HUB"):
        full.pop(k, None)
    full["SPOKE_HUB"] = hub_url
    full.update(env or {})
    return subprocess.run([binary("spokectl"), *args], capture_output=True, text=True,
                          timeout=scaled(30), env=full)


def one_line(stderr):
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, f"want one line on stderr, got {stderr!r}"
    return lines[0]


# ---- per-address connection cap

def test_one_address_cannot_hold_every_hub_api_connection(launch):
    hub, port = start_hub(launch, "--http-max-conns-per-ip", "4", "--http-head-timeout", "10")
    idle = [connect_from("127.0.0.1", port) for _ in range(4)]
    try:
        # The fifth from the same address is refused at once, with its reason.
        status, body = request_from("127.0.0.1", port)
        assert status == 503 and json.loads(body) == {
            "error": "too many connections from your address"}, body
        # Another address is served meanwhile.
        assert request_from("127.0.0.2", port) == (200, b'{"status":"ok","links":0}\n')
        idle.pop().close()
        wait_for(lambda: request_from("127.0.0.1", port)[0] == 200, 5,
                 "127.0.0.1 served again once it holds fewer connections")
    finally:
        for s in idle:
            s.close()
    assert_alive(hub)
    assert wait_metric(port, "spoke_hub_http_refused_total", 'reason="per_ip_limit"') >= 1


def test_one_address_cannot_hold_every_edge_admin_connection(make_cluster):
    cluster = make_cluster(edges=("edge-a",), workers=1,
                           edge_args=["--admin-max-conns-per-ip", "2",
                                      "--admin-head-timeout", "10"])
    port = cluster.edge_admin_port("edge-a")
    idle = [connect_from("127.0.0.1", port) for _ in range(2)]
    try:
        status, body = request_from("127.0.0.1", port)
        assert status == 503 and b"too many connections from your address" in body, body
        assert request_from("127.0.0.3", port)[0] == 200
        assert request_from("127.0.0.3", port, "/metrics")[0] == 200
    finally:
        for s in idle:
            s.close()
    cluster.edges["edge-a"].assert_alive()
    wait_for(lambda: http_get(port, "/readyz")[0] == 200, 5, "edge-a's admin served again")
    assert metric(port, "spoke_edge_admin_refused_total",
                  'edge="edge-a",reason="per_ip_limit"') >= 1


# ---- request head deadline (slowloris)

def test_a_slow_request_head_is_cut_at_the_head_deadline(launch):
    hub, port = start_hub(launch, "--http-head-timeout", "1")
    s = socket.create_connection((HOST, port), timeout=scaled(5))
    start = time.monotonic()
    s.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n")
    # Drip one header byte at a time, as a slowloris does, until the hub hangs up.
    closed_at = None
    for _ in range(100):
        try:
            s.sendall(b"X")
            s.settimeout(0.2)
            if s.recv(4096) == b"":
                closed_at = time.monotonic()
                break
        except socket.timeout:
            continue
        except (ConnectionResetError, BrokenPipeError):
            closed_at = time.monotonic()
            break
    s.close()
    assert closed_at is not None, "the hub never closed the slow connection"
    assert_elapsed("slow head closed", start, closed_at, 1.0)
    assert_alive(hub)
    assert http_get(port, "/healthz")[0] == 200
    assert metric(port, "spoke_hub_http_closed_total", 'reason="head_timeout"') == 1


# ---- web pages: Origin and form bodies (hub without a token, edge admin)

def test_a_web_page_cannot_drive_a_hub_without_token(make_cluster, launch):
    cluster = make_cluster()
    port = cluster.http_port
    before = cluster.policy()["idle_timeout"]
    wait_for(lambda: cluster.edge_ready("edge-b")[0] == 200, 5, "edge-b ready")
    evil = ("Origin", "https://evil.example")
    # Any request carrying Origin is refused, reads included.
    status, doc = request(port, "GET", "/api/policy", [evil])
    assert status == 403 and "Origin" in doc["error"], doc
    status, doc = request(port, "PUT", "/api/policy",
                          [evil, ("Content-Type", "application/json")], b'{"idle_timeout": 7}')
    assert status == 403, doc
    # What a form (or fetch without CORS) can send is refused: no JSON type, no action.
    for ctype in ("application/x-www-form-urlencoded", "text/plain", "multipart/form-data; b=x",
                  None):
        headers = [("Content-Type", ctype)] if ctype else []
        status, doc = request(port, "PUT", "/api/policy", headers, b'{"idle_timeout": 7}')
        assert status == 415 and "application/json" in doc["error"], (ctype, doc)
        status, doc = request(port, "POST", "/api/edges/edge-b/drain", headers, b"period=0")
        assert status == 415, (ctype, doc)
    assert cluster.policy()["idle_timeout"] == before
    # edge-b was not drained: still linked and ready a while later.
    deadline = time.monotonic() + 0.5
    while time.monotonic() < deadline:
        assert cluster.edge_ready("edge-b")[0] == 200
        time.sleep(0.05)
    assert len(cluster.links_of("edge-b")) == 2
    # A JSON type with parameters is JSON.
    status, doc = request(port, "PUT", "/api/policy",
                          [("Content-Type", "application/json; charset=utf-8")],
                          b'{"idle_timeout": 7}')
    assert status == 200 and doc["idle_timeout"] == 7, doc
    cluster.hubs[-1].assert_alive()
    assert metric(port, "spoke_hub_http_refused_total", 'reason="origin"') == 2
    assert metric(port, "spoke_hub_http_refused_total", 'reason="content_type"') == 8

    # With a token the token alone decides: a page cannot add the
    # Authorization header cross-origin (no CORS is ever granted).
    hub, tport = start_hub(launch, "--admin-token", TOKEN)
    auth = ("Authorization", f"Bearer {TOKEN}")
    assert request(tport, "GET", "/api/policy", [evil])[0] == 401
    assert request(tport, "GET", "/api/policy", [evil, auth])[0] == 200
    status, doc = request(tport, "PUT", "/api/policy", [auth, ("Content-Type", "text/plain")],
                          b'{"idle_timeout": 3}')
    assert status == 200 and doc["idle_timeout"] == 3, doc
    assert_alive(hub)


def test_the_edge_admin_refuses_web_pages(make_cluster):
    cluster = make_cluster(edges=("edge-a",), workers=1)
    port = cluster.edge_admin_port("edge-a")
    status, doc = request(port, "GET", "/metrics", [("Origin", "http://127.0.0.1:8000")])
    assert status == 403 and "Origin" in doc["error"], doc
    assert http_get(port, "/metrics")[0] == 200
    assert metric(port, "spoke_edge_admin_refused_total", 'edge="edge-a",reason="origin"') == 1


# ---- Host (DNS rebinding)

def test_foreign_host_names_are_refused(launch):
    hub, port = start_hub(launch, "--http-allowed-hosts", "api.example.com, ops.example.com")
    status, doc = request(port, "GET", "/healthz", host="evil.example")
    assert status == 421 and "Host" in doc["error"], doc
    assert request(port, "GET", "/api/policy", host=f"evil.example:{port}")[0] == 421
    for ok in (HOST, f"{HOST}:{port}", "localhost", f"localhost:{port}", "api.example.com",
               f"OPS.example.com:{port}"):
        assert request(port, "GET", "/healthz", host=ok)[0] == 200, ok
    status, doc = request(port, "GET", "/healthz", host=None)
    assert status == 400 and "Host" in doc["error"], doc
    assert request(port, "GET", "/healthz", host=None, version="1.0")[0] == 200
    status, doc = request(port, "GET", "/healthz", [("Host", "localhost")])  # two Host headers
    assert status == 400, doc
    assert_alive(hub)
    assert metric(port, "spoke_hub_http_refused_total", 'reason="host"') == 4


def test_the_edge_admin_refuses_foreign_host_names(make_cluster):
    cluster = make_cluster(edges=("edge-a",), workers=1)
    port = cluster.edge_admin_port("edge-a")
    assert request(port, "GET", "/readyz", host="rebind.evil.example")[0] == 421
    assert request(port, "GET", "/healthz", host="localhost")[0] == 200
    assert metric(port, "spoke_edge_admin_refused_total", 'edge="edge-a",reason="host"') == 1


# ---- HTTPS

def tls_args(certs):
    return ["--http-tls-cert", str(certs / "client-facing.pem"),
            "--http-tls-key", str(certs / "client-facing.key")]


def test_hub_api_over_https(launch, dev_certs):
    ca1 = dev_certs.ca1
    hub, port = start_hub(launch, "--admin-token", TOKEN, *tls_args(ca1))
    auth = {"Authorization": f"Bearer {TOKEN}"}
    assert https_get(port, "/healthz", ca1 / "ca.pem")[0] == 200
    status, body = https_get(port, "/api/policy", ca1 / "ca.pem", host="localhost", headers=auth)
    assert status == 200 and "idle_timeout" in json.loads(body)
    # Plain HTTP on the HTTPS port gets a plain answer saying so.
    status, body = http_get(port, "/healthz")
    assert status == 400 and b"HTTPS" in body, body
    # A client that does not trust the certificate gives up in the handshake.
    with pytest.raises(urllib.error.URLError) as e:
        https_get(port, "/healthz", dev_certs.ca2 / "ca.pem")
    assert isinstance(e.value.reason, ssl.SSLCertVerificationError), e.value
    assert_alive(hub)
    get = lambda p, path: https_get(p, path, ca1 / "ca.pem")  # noqa: E731
    assert metric(port, "spoke_hub_http_closed_total", 'reason="tls_error"', get=get) == 2


def test_hub_api_certificate_is_reloaded_on_sighup(launch, dev_certs, tmp_path):
    cert, key = tmp_path / "api.pem", tmp_path / "api.key"
    shutil.copy(dev_certs.ca1 / "client-facing.pem", cert)
    shutil.copy(dev_certs.ca1 / "client-facing.key", key)
    hub, port = start_hub(launch, "--http-tls-cert", str(cert), "--http-tls-key", str(key))
    assert https_get(port, "/healthz", dev_certs.ca1 / "ca.pem")[0] == 200
    # A half-written rotation is refused and the old certificate stays.
    cert.write_text("not a certificate\n")
    hub.p.send_signal(signal.SIGHUP)
    wait_for(lambda: "API certificate reload failed, the old one stays" in hub.output(), 5,
             "the failed reload logged")
    assert https_get(port, "/healthz", dev_certs.ca1 / "ca.pem")[0] == 200
    shutil.copy(dev_certs.ca2 / "client-facing.pem", cert)
    shutil.copy(dev_certs.ca2 / "client-facing.key", key)
    hub.p.send_signal(signal.SIGHUP)
    wait_for(lambda: "API certificate reloaded from" in hub.output(), 5, "the reload logged")
    assert https_get(port, "/healthz", dev_certs.ca2 / "ca.pem")[0] == 200
    with pytest.raises(urllib.error.URLError) as e:
        https_get(port, "/healthz", dev_certs.ca1 / "ca.pem")
    assert isinstance(e.value.reason, ssl.SSLCertVerificationError), e.value
    assert_alive(hub)


def test_a_slow_tls_handshake_is_cut_at_the_head_deadline(launch, dev_certs):
    hub, port = start_hub(launch, "--http-head-timeout", "1", *tls_args(dev_certs.ca1))
    s = socket.create_connection((HOST, port), timeout=scaled(5))
    start = time.monotonic()
    s.sendall(b"\x16\x03\x01")  # the start of a ClientHello, then nothing
    s.settimeout(scaled(5))
    try:
        data = s.recv(4096)
    except ConnectionResetError:
        data = b""
    end = time.monotonic()
    s.close()
    assert data == b""
    assert_elapsed("unfinished TLS handshake closed", start, end, 1.0)
    assert_alive(hub)
    get = lambda p, path: https_get(p, path, dev_certs.ca1 / "ca.pem")  # noqa: E731
    assert metric(port, "spoke_hub_http_closed_total", 'reason="head_timeout"', get=get) == 1


# ---- the admin token never crosses a network in clear

def test_hub_refuses_a_token_on_a_plain_non_loopback_address():
    r = subprocess.run([binary("spoke-hub"), "--listen", f"{HOST}:0", "--http",
                        "0.0.0.0:0", "--admin-token", TOKEN],
                       capture_output=True, text=True, timeout=scaled(10),
                       env=dict(os.environ, **CHILD_ENV))
    assert r.returncode == 2
    line = one_line(r.stderr)
    assert line.startswith("spoke-hub: refusing to take the admin token over plain HTTP on "
                           "0.0.0.0:"), line
    assert "http_tls_cert" in line and "allow_insecure_http" in line and TOKEN not in line


def test_hub_refuses_half_a_tls_setting(dev_certs):
    r = subprocess.run([binary("spoke-hub"), "--listen", f"{HOST}:0", "--http", f"{HOST}:0",
                        "--http-tls-cert", str(dev_certs.ca1 / "client-facing.pem")],
                       capture_output=True, text=True, timeout=scaled(10),
                       env=dict(os.environ, **CHILD_ENV))
    assert r.returncode == 2
    assert one_line(r.stderr) == "spoke-hub: http_tls_cert and http_tls_key must be set together"


# ---- spokectl: https, and no token in clear

def test_spokectl_speaks_https_with_a_private_ca(launch, dev_certs):
    ca1 = dev_certs.ca1
    hub, port = start_hub(launch, "--admin-token", TOKEN, *tls_args(ca1))
    url = f"https://127.0.0.1:{port}"
    r = spokectl(url, "--token", TOKEN, "--cacert", str(ca1 / "ca.pem"), "policy")
    assert r.returncode == 0 and "idle_timeout" in r.stdout, r.stderr
    r = spokectl(url, "topics", env={"SPOKE_TOKEN": TOKEN, "SPOKE_CACERT": str(ca1 / "ca.pem")})
    assert r.returncode == 0 and "no topic has a subscriber" in r.stdout, r.stderr
    r = spokectl(url, "--token", TOKEN, "edges")
    assert r.returncode == 1 and r.stdout == ""
    line = one_line(r.stderr)
    assert line.startswith(f"spokectl: cannot verify the hub's TLS certificate at {url}: ")
    assert "--cacert" in line, line
    r = spokectl(url, "--token", TOKEN, "--cacert", str(dev_certs.ca2 / "ca.pem"), "edges")
    assert r.returncode == 1 and "cannot verify the hub's TLS certificate" in one_line(r.stderr)
    r = spokectl(f"http://127.0.0.1:{port}", "--token", TOKEN, "edges")
    assert r.returncode == 1
    assert one_line(r.stderr) == "spokectl: the hub answered 400: this server speaks HTTPS: use https://"
    r = spokectl(url, "--cacert", "/nonexistent/ca.pem", "edges")
    assert r.returncode == 2
    assert one_line(r.stderr) == "spokectl: --cacert /nonexistent/ca.pem: No such file or directory"
    assert_alive(hub)


def test_spokectl_refuses_to_send_a_token_in_clear_off_loopback(launch):
    # 192.0.2.0/24 is TEST-NET-1: nothing must be sent there, and nothing is.
    r = spokectl("http://192.0.2.1:7480", "--token", TOKEN, "edges")
    assert r.returncode == 2 and r.stdout == ""
    line = one_line(r.stderr)
    assert line.startswith("spokectl: refusing to send the admin token in clear to "
                           "http://192.0.2.1:7480: use https://"), line
    assert TOKEN not in line
    # On loopback (an address or localhost) plain http is fine.
    hub, port = start_hub(launch, "--admin-token", TOKEN)
    r = spokectl(f"http://localhost:{port}", "--token", TOKEN, "policy")
    assert r.returncode == 0 and "idle_timeout" in r.stdout, r.stderr
    assert_alive(hub)
