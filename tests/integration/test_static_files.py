"""Edges serve the files of edge/www/ on their client ports (ws and wss) and the hub serves hub/www/ on its HTTP port, each with its content type, an ETag answered by 304, HEAD, no-cache, nosniff and a CSP on HTML, 405 for other methods and 404 for unknown paths (and for the demo files without --demo); /edges.json on the hub and on every edge lists the edges that are up with a public URL, and drops one that drains or stops; oversized requests are still refused by the handshake's limits."""
import json
import os
from pathlib import Path

import pytest

from helpers import HOST, http_request, raw_http, connect, run, tls_connect, tls_context, wait_for

REPO = Path(__file__).resolve().parents[2]
EDGE_FILES = sorted(p.name for p in (REPO / "edge" / "www").iterdir() if p.is_file())
HUB_FILES = sorted(p.name for p in (REPO / "hub" / "www").iterdir() if p.is_file())
TYPES = {".html": "text/html", ".js": "text/javascript", ".mjs": "text/javascript",
         ".ts": "text/plain", ".css": "text/css", ".svg": "image/svg+xml",
         ".json": "application/json"}


def public_url(name):
    return f"ws://{name}.test:8080/ws"


def demo_args(name):
    return ["--demo", "--public-url", public_url(name)]


def get(port, path, method="GET", headers=(), ssl_context=None):
    """(status, headers, body) of one hand-written request, over TLS with ssl_context."""
    extra = "".join(f"{k}: {v}\r\n" for k, v in headers)
    req = f"{method} {path} HTTP/1.1\r\nHost: {HOST}\r\n{extra}\r\n"
    if ssl_context is None:
        return raw_http(port, req)
    with tls_connect(port, ssl_context) as s:
        s.sendall(req.encode())
        data = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    hdrs = {k.strip().lower(): v.strip() for k, _, v in (x.partition(":") for x in lines[1:])}
    return int(lines[0].split()[1]), hdrs, body


def check_file(port, path, name, csp, ssl_context=None):
    """The whole contract for one served file: GET, HEAD, 304, POST."""
    want = (REPO / ("edge" if "connect-src" in csp else "hub") / "www" / name).read_bytes()
    status, h, body = get(port, path, ssl_context=ssl_context)
    assert status == 200, (path, status, body[:200])
    assert body == want, path
    assert h["content-type"].startswith(TYPES.get(os.path.splitext(name)[1], "application/"))
    assert "charset=utf-8" in h["content-type"] or not name.endswith((".html", ".js"))
    assert int(h["content-length"]) == len(want)
    assert h["cache-control"] == "no-cache" and h["x-content-type-options"] == "nosniff"
    if name.endswith(".html"):
        assert h["content-security-policy"] == csp, h
    else:
        assert "content-security-policy" not in h
    etag = h["etag"]
    assert etag.startswith('"') and etag.endswith('"')

    status, h2, body = get(port, path, "HEAD", ssl_context=ssl_context)
    assert status == 200 and body == b"" and h2["content-length"] == str(len(want))
    assert h2["etag"] == etag
    status, h3, body = get(port, path, headers=[("If-None-Match", f'"nope", W/{etag}')],
                           ssl_context=ssl_context)
    assert status == 304 and body == b"" and h3["etag"] == etag
    status, _, _ = get(port, path, headers=[("If-None-Match", '"other"')],
                       ssl_context=ssl_context)
    assert status == 200
    status, h4, _ = get(port, path, "POST", ssl_context=ssl_context)
    assert status == 405 and h4["allow"] == "GET, HEAD"


EDGE_CSP = "default-src 'self'; connect-src 'self' ws: wss:"


def test_edge_serves_every_file_with_demo(make_cluster):
    cluster = make_cluster(edges=("edge-a",), workers=1, edge_args=demo_args)
    port = cluster.edge_ports["edge-a"]
    assert "spoke.js" in EDGE_FILES and "demo.html" in EDGE_FILES
    for name in EDGE_FILES:
        check_file(port, f"/{name}", name, EDGE_CSP)
    check_file(port, "/", "demo.html", EDGE_CSP)
    status, _, body = get(port, "/spoke.js?v=1")  # a query does not change the file
    assert status == 200 and body == (REPO / "edge/www/spoke.js").read_bytes()
    for path in ("/nothing.js", "/spoke.js/", "//spoke.js", "/www/spoke.js", "/../spoke.js"):
        status, _, _ = get(port, path)
        assert status == 404, path
    # /ws is still the WebSocket: a plain GET there asks for the upgrade.
    status, _, _ = get(port, "/ws")
    assert status == 426


def test_edge_without_demo_serves_no_demo_file(make_cluster):
    cluster = make_cluster(edges=("edge-a",), workers=1)
    port = cluster.edge_ports["edge-a"]
    for name in EDGE_FILES:
        status, _, _ = get(port, f"/{name}")
        assert status == (404 if name.startswith("demo") else 200), name
    status, _, _ = get(port, "/")
    assert status == 404


def test_edge_refuses_huge_paths_and_headers_as_before(make_cluster):
    cluster = make_cluster(edges=("edge-a",), workers=1, edge_args=demo_args)
    port = cluster.edge_ports["edge-a"]
    status, _, _ = get(port, "/" + "a" * 5000)
    assert status == 404  # over the URL limit: no file is looked up
    status, _, _ = get(port, "/spoke.js", headers=[("X-Pad", "p" * 9000)])
    assert status == 431
    status, _, _ = get(port, "/spoke.js", headers=[("If-None-Match", "e" * 5000)])
    assert status == 400  # a header we read, too long to hold whole


def test_wss_port_serves_the_files_too(make_cluster, dev_certs):
    cert = ["--tls-cert", str(dev_certs.ca1 / "client-facing.pem"),
            "--tls-key", str(dev_certs.ca1 / "client-facing.key")]
    cluster = make_cluster(edges=("edge-a",), workers=1, wss=True,
                           edge_args=lambda name: demo_args(name) + cert)
    ctx = tls_context(dev_certs.ca1 / "ca.pem")
    port = cluster.wss_ports["edge-a"]
    check_file(port, "/spoke.js", "spoke.js", EDGE_CSP, ssl_context=ctx)
    check_file(port, "/", "demo.html", EDGE_CSP, ssl_context=ctx)
    status, _, body = get(port, "/edges.json", ssl_context=ctx)
    assert status == 200 and "edges" in json.loads(body)


def test_hub_serves_its_files_without_a_token(make_cluster):
    cluster = make_cluster(edges=("edge-a",), workers=1, hub_args=["--admin-token", "s3cret"],
                           wait=False)
    port = cluster.http_port
    assert "index.html" in HUB_FILES
    for name in HUB_FILES:
        check_file(port, f"/{name}", name, "default-src 'self'")
    check_file(port, "/", "index.html", "default-src 'self'")
    status, _, _ = get(port, "/nothing.html")
    assert status == 404
    # The API keeps its token.
    status, _ = http_request(port, "GET", "/api/links")
    assert status == 401


def listed(doc):
    return sorted((e["name"], e["url"]) for e in doc["edges"])


def edges_json(port):
    status, h, body = get(port, "/edges.json")
    assert status == 200 and h["content-type"].startswith("application/json"), (status, h)
    assert h["cache-control"] == "no-cache"
    assert h["access-control-allow-origin"] == "*", "any site's page may read it"
    doc = json.loads(body)
    assert set(doc) == {"edges", "generated_ms"}, doc
    for e in doc["edges"]:
        assert set(e) == {"name", "region", "url", "clients"}, e
    return doc


def test_edges_json_lists_ready_edges_and_drops_draining_and_stopped_ones(make_cluster):
    # edge-c has no public URL: never listed.
    cluster = make_cluster(edges=("edge-a", "edge-b", "edge-c"),
                           edge_args=lambda n: [] if n == "edge-c" else demo_args(n))
    both = [("edge-a", public_url("edge-a")), ("edge-b", public_url("edge-b"))]
    hub = cluster.http_port
    assert listed(edges_json(hub)) == both
    assert edges_json(hub)["generated_ms"] > 0
    for name in ("edge-a", "edge-b", "edge-c"):  # every edge gets the hub's copy
        wait_for(lambda: listed(edges_json(cluster.edge_ports[name])) == both, 10,
                 f"{name}'s /edges.json to list edge-a and edge-b")

    async def clients_then_drain():
        # Clients keep edge-b draining (one leaves per step of a long drain).
        for _ in range(6):
            await connect(cluster.url_b)
        wait_for(lambda: [e["clients"] for e in edges_json(hub)["edges"]
                          if e["name"] == "edge-b"] == [6], 10, "edge-b's 6 clients counted")
        status, raw = http_request(hub, "POST", "/api/edges/edge-b/drain",
                                   json.dumps({"period": 60}).encode())
        assert status == 202, raw
        wait_for(lambda: listed(edges_json(hub)) == both[:1], 10, "edge-b off the hub's list")
        assert len(cluster.links_of("edge-b")) == 2, "edge-b should still be linked (draining)"
        wait_for(lambda: listed(edges_json(cluster.edge_ports["edge-a"])) == both[:1], 10,
                 "edge-b off edge-a's copy")
    run(clients_then_drain())
    cluster.edges["edge-b"].exit_expected = True  # drained once its clients went

    cluster.edges["edge-a"].kill()
    wait_for(lambda: listed(edges_json(hub)) == [], 10, "edge-a off the list once it stops")
    wait_for(lambda: listed(edges_json(cluster.edge_ports["edge-c"])) == [], 10,
             "edge-c's copy empty")


@pytest.mark.parametrize("method", ["PUT", "DELETE"])
def test_edges_json_takes_only_get_and_head(make_cluster, method):
    # With a token the hub skips its browser checks (a PUT without JSON is 415 there).
    cluster = make_cluster(edges=("edge-a",), workers=1, hub_args=["--admin-token", "s3cret"],
                           wait=False)
    edge = cluster.edges["edge-a"]
    wait_for(lambda: edge.assert_alive() or edge.ready_file()["accepting"], 10,
             "edge-a accepting clients")
    for port in (cluster.http_port, cluster.edge_ports["edge-a"]):
        status, h, _ = get(port, "/edges.json", method)
        assert status == 405, (port, status)
        status, h, body = get(port, "/edges.json", "HEAD")
        assert status == 200 and body == b""
