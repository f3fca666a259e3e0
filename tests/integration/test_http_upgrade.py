"""The edge's HTTP upgrade answers a good handshake with 101 and refuses wrong paths (404), bad keys (400) and other WebSocket versions (426), without disturbing other clients."""
from helpers import raw_http, run, subscribe, connect, upgrade_request, ws_accept


def assert_edge_serves(cluster):
    async def body():
        ws, _ = await connect(cluster.url_a)
        await subscribe(ws, "health/check")
    run(body())


def test_good_handshake_is_101_with_accept_and_protocol(cluster):
    req, key = upgrade_request(protocol="spoke.msgpack")
    status, headers, _ = raw_http(cluster.edge_ports["edge-a"], req)
    assert status == 101
    assert headers.get("sec-websocket-accept") == ws_accept(key)
    assert headers.get("sec-websocket-protocol") == "spoke.msgpack"
    assert headers.get("upgrade", "").lower() == "websocket"


def test_other_paths_are_404(cluster):
    port = cluster.edge_ports["edge-a"]
    for path in ("/", "/wss", "/ws/extra", "/nope"):
        status, _, _ = raw_http(port, upgrade_request(path=path)[0])
        assert status == 404, f"{path}: {status}"
    status, _, _ = raw_http(port, "GET /index.html HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
    assert status == 404, f"plain GET: {status}"
    assert_edge_serves(cluster)


def test_bad_key_is_400(cluster):
    port = cluster.edge_ports["edge-a"]
    for key in ("not-base64!!", "c2hvcnQ=", ""):  # "c2hvcnQ=" decodes to 5 bytes, not 16
        status, _, _ = raw_http(port, upgrade_request(key=key)[0])
        assert status == 400, f"key {key!r}: {status}"
    no_key = "\r\n".join(line for line in upgrade_request()[0].split("\r\n")
                         if not line.startswith("Sec-WebSocket-Key"))
    status, _, _ = raw_http(port, no_key)
    assert status == 400, f"missing key: {status}"
    assert_edge_serves(cluster)


def test_other_versions_are_426_naming_13(cluster):
    port = cluster.edge_ports["edge-a"]
    for version in ("8", "12", "14"):
        status, headers, _ = raw_http(port, upgrade_request(version=version)[0])
        assert status == 426, f"version {version}: {status}"
        assert headers.get("sec-websocket-version") == "13", headers
    assert_edge_serves(cluster)
