"""An edge's --tls-listen serves wss on /ws beside its plain listener (TLS 1.2 and 1.3, ALPN http/1.1), carries messages end to end in a fully secured deployment (wss clients, mTLS links), takes a new certificate on SIGHUP without dropping open connections, and refuses to start (exit 2, one line naming the file) with a bad certificate or key."""
import json
import shutil
import signal
import ssl
import struct
import time

import pytest

from helpers import (HOST, await_for, connect, expect, parse_conn, parse_frames, ping_pong,
                     raw_upgrade, read_http_head, recv_json, run, scaled, send, subscribe,
                     tls_connect, tls_context, upgrade_request)


def wss_args(certs_dir):
    return ["--tls-cert", str(certs_dir / "client-facing.pem"),
            "--tls-key", str(certs_dir / "client-facing.key")]


def link_args(certs_dir, name):
    return ["--link-ca", str(certs_dir / "ca.pem"),
            "--link-cert", str(certs_dir / f"edge-{name}.pem"),
            "--link-key", str(certs_dir / f"edge-{name}.key")]


def hub_link_args(certs_dir):
    return ["--link-ca", str(certs_dir / "ca.pem"), "--link-cert", str(certs_dir / "hub.pem"),
            "--link-key", str(certs_dir / "hub.key")]


def upgrade_over(sock):
    """Upgrades an open (TLS) socket on /ws; returns the decoded welcome."""
    req, _ = upgrade_request()
    sock.sendall(req.encode())
    status, _, rest = read_http_head(sock)
    assert status == 101, f"upgrade over TLS answered {status}"
    while not parse_frames(rest):
        chunk = sock.recv(65536)
        assert chunk, "connection closed before the welcome"
        rest += chunk
    return json.loads(parse_frames(rest)[0][1])


@pytest.mark.parametrize("version, name", [(ssl.TLSVersion.TLSv1_2, "TLSv1.2"),
                                           (ssl.TLSVersion.TLSv1_3, "TLSv1.3")])
def test_wss_listener_speaks_tls_version_with_alpn_http11(make_cluster, dev_certs, version, name):
    cluster = make_cluster(edges=("edge-a",), wss=True, edge_args=wss_args(dev_certs.ca1))
    ctx = tls_context(dev_certs.ca1 / "ca.pem", alpn=["h2", "http/1.1"], version=version)
    with tls_connect(cluster.wss_ports["edge-a"], ctx) as sock:
        assert sock.version() == name
        assert sock.selected_alpn_protocol() == "http/1.1"
        welcome = upgrade_over(sock)
    assert welcome["op"] == "welcome" and welcome["edge"] == "edge-a", welcome


def test_wss_and_plain_ws_serve_side_by_side(make_cluster, dev_certs):
    cluster = make_cluster(edges=("edge-a",), wss=True, edge_args=wss_args(dev_certs.ca1))
    ctx = tls_context(dev_certs.ca1 / "ca.pem")

    async def body():
        secure, sw = await connect(cluster.wss_url("edge-a"), ssl=ctx)
        # the certificate names localhost too
        named, _ = await connect(cluster.wss_url("edge-a", host="localhost"), ssl=ctx)
        plain, pw = await connect(cluster.url_a)
        await subscribe(secure, "both.ways")
        await cluster.await_interest(sw["conn"])
        await send(plain, {"op": "pub", "topic": "both.ways", "data": "over ws", "id": 1})
        await expect(plain, op="ack", id=1)
        await expect(secure, op="msg", topic="both.ways", seq=1, data="over ws",
                     **{"from": pw["conn"]})
        await ping_pong(named, 2)
    run(body())


def test_secure_deployment_carries_messages_end_to_end(make_cluster, dev_certs):
    ca1 = dev_certs.ca1
    cluster = make_cluster(hub_args=hub_link_args(ca1), wss=True,
                           edge_args=lambda name: [*wss_args(ca1), *link_args(ca1, name)])
    ctx = tls_context(ca1 / "ca.pem")
    big = "".join(chr(ord("a") + i % 26) for i in range(60_000))  # below max_message_bytes

    async def body():
        a, aw = await connect(cluster.wss_url("edge-a"), ssl=ctx)
        b, bw = await connect(cluster.wss_url("edge-b"), ssl=ctx)
        await subscribe(a, "vault")
        await cluster.await_interest(aw["conn"])
        await send(b, {"op": "pub", "topic": "vault", "data": {"text": "hi"}, "id": 1})
        await expect(b, op="ack", id=1)
        await expect(a, op="msg", topic="vault", seq=1, data={"text": "hi"},
                     **{"from": bw["conn"]})
        await send(b, {"op": "pub", "topic": "vault", "data": big, "id": 2})
        await expect(b, op="ack", id=2)
        msg = await recv_json(a)
        assert (msg["op"], msg["seq"], msg["from"]) == ("msg", 2, bw["conn"])
        assert msg["data"] == big, f"60 KB payload changed (got {len(msg['data'])} chars)"
    run(body())
    assert {(lk["edge"], lk["worker"]) for lk in cluster.hub_links()} == {
        ("edge-a", 0), ("edge-a", 1), ("edge-b", 0), ("edge-b", 1)}


def test_sighup_reloads_the_wss_certificate_and_keeps_open_connections(make_cluster, dev_certs,
                                                                       tmp_path):
    cert, key = tmp_path / "wss.pem", tmp_path / "wss.key"
    shutil.copyfile(dev_certs.ca1 / "client-facing.pem", cert)
    shutil.copyfile(dev_certs.ca1 / "client-facing.key", key)
    ini = tmp_path / "edge.ini"  # the INI keys, not the flags
    ini.write_text(f"tls_cert = {cert}\ntls_key = {key}\n")
    cluster = make_cluster(edges=("edge-a",), wss=True, edge_args=["-c", str(ini)])
    port = cluster.wss_ports["edge-a"]
    trusts_ca1 = tls_context(dev_certs.ca1 / "ca.pem")
    trusts_ca2 = tls_context(dev_certs.ca2 / "ca.pem")

    def verifies(ctx):
        tls_connect(port, ctx, timeout=2).close()
        return True

    def worker_verified_by(ctx):
        """The worker whose welcome came over a handshake ctx verified."""
        with tls_connect(port, ctx, timeout=2) as sock:
            return parse_conn(upgrade_over(sock)["conn"])[1]

    async def body():
        c1, w1 = await connect(cluster.wss_url("edge-a"), ssl=trusts_ca1)
        await subscribe(c1, "rotation")
        await cluster.await_interest(w1["conn"])
        with pytest.raises(ssl.SSLCertVerificationError):
            verifies(trusts_ca2)  # before the reload, CA2 does not vouch for the edge

        shutil.copyfile(dev_certs.ca2 / "client-facing.pem", cert)  # in place
        shutil.copyfile(dev_certs.ca2 / "client-facing.key", key)
        cluster.edges["edge-a"].signal(signal.SIGHUP)
        await await_for(lambda: verifies(trusts_ca2), 5, "a handshake verified by CA2")
        seen = set()  # new handshakes on every worker get the new certificate
        for _ in range(40):
            seen.add(worker_verified_by(trusts_ca2))
            with pytest.raises(ssl.SSLCertVerificationError):
                verifies(trusts_ca1)
            if seen == {0, 1}:
                break
        assert seen == {0, 1}, f"only workers {seen} were reached"

        c2, w2 = await connect(cluster.wss_url("edge-a"), ssl=trusts_ca2)
        await send(c2, {"op": "pub", "topic": "rotation", "data": "after", "id": 1})
        await expect(c2, op="ack", id=1)
        await expect(c1, op="msg", topic="rotation", seq=1, data="after",
                     **{"from": w2["conn"]})
        await ping_pong(c1, 2)  # and it still talks
    run(body())


def bad_file_cases(ca1, ca2, tmp):
    garbage = tmp / "garbage.pem"
    garbage.write_text("this is not a certificate\n")
    cert, key = ca1 / "client-facing.pem", ca1 / "client-facing.key"
    missing = tmp / "missing.pem"
    return {
        "missing cert": (missing, key, [missing]),
        "missing key": (cert, missing, [missing]),
        "cert not PEM": (garbage, key, [garbage]),
        "key not PEM": (cert, garbage, [garbage]),
        "key of another cert": (cert, ca2 / "client-facing.key", [cert, ca2 / "client-facing.key"]),
        "directory as key": (cert, tmp, [tmp]),
    }


@pytest.mark.parametrize("case", ["missing cert", "missing key", "cert not PEM", "key not PEM",
                                  "key of another cert", "directory as key"])
def test_edge_exits_2_naming_a_bad_wss_cert_or_key(launch, dev_certs, tmp_path, case):
    cert, key, named = bad_file_cases(dev_certs.ca1, dev_certs.ca2, tmp_path)[case]
    edge = launch("spoke-edge", [
        "--name", "edge-a", "--listen", f"{HOST}:0", "--tls-listen", f"{HOST}:0",
        "--tls-cert", str(cert), "--tls-key", str(key), "--admin", f"{HOST}:0", "--workers", "1"])
    assert edge.outcome() == "exited", f"edge started with {case}"
    assert edge.p.returncode == 2, f"exit status {edge.p.returncode}:\n{edge.output()}"
    lines = [line for line in edge.stderr().splitlines() if line.strip()]
    assert len(lines) == 1, f"expected one line on stderr, got:\n{edge.stderr()}"
    assert any(str(path) in lines[0] for path in named), (
        f"stderr does not name {' or '.join(map(str, named))}: {lines[0]!r}")


def test_plain_http_on_the_wss_port_gets_a_readable_400(make_cluster, dev_certs):
    """A ws:// client pointed at the wss port is told so in plain HTTP, and
    the port still serves wss afterwards."""
    cluster = make_cluster(edges=("edge-a",), wss=True, edge_args=wss_args(dev_certs.ca1))
    status, _headers, body = raw_upgrade(cluster.wss_ports["edge-a"])
    assert status == 400 and "use wss://" in str(body), (status, body)
    ctx = tls_context(dev_certs.ca1 / "ca.pem")
    with tls_connect(cluster.wss_ports["edge-a"], ctx) as sock:
        assert upgrade_over(sock)["op"] == "welcome"


def test_stalled_wss_client_is_cut_and_others_get_everything(make_cluster, dev_certs):
    """Over wss a client that stops reading is closed as a slow consumer (1008)
    once its queue passes send_queue_bytes (encrypted records waiting for its
    socket included), while a reading wss subscriber gets every message."""
    import socket
    # close_timeout_ms: long enough for the close frame to wait until the
    # stalled client reads again.
    cluster = make_cluster(wss=True, hub_args=["--send-queue-bytes", "65536"],
                           edge_args=wss_args(dev_certs.ca1) + ["--client-sndbuf", "4096",
                                                               "--close-timeout-ms", "600000"])
    ctx = tls_context(dev_certs.ca1 / "ca.pem")
    raw = socket.socket()
    raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    raw.settimeout(scaled(5))
    raw.connect((HOST, cluster.wss_ports["edge-a"]))
    stalled = ctx.wrap_socket(raw, server_hostname=HOST)
    try:
        conn = upgrade_over(stalled)["conn"]
        req = json.dumps({"op": "sub", "topic": "flood", "id": 1}).encode()
        stalled.sendall(bytes([0x81, 0x80 | len(req)]) + b"\0\0\0\0" + req)
        cluster.wait_interest(conn)

        async def body():
            good, gw = await connect(cluster.wss_url("edge-a"), ssl=ctx)
            await subscribe(good, "flood")
            await cluster.await_interest(gw["conn"])
            pub, _ = await connect(cluster.wss_url("edge-b"), ssl=ctx)
            got = []
            for i in range(600):
                while i - len(got) >= 16:
                    got.append(await recv_json(good))
                await send(pub, {"op": "pub", "topic": "flood", "data": {"i": i, "pad": "p" * 1000}})
            while len(got) < 600:
                got.append(await recv_json(good))
            assert [m["data"]["i"] for m in got] == list(range(600))
            await await_for(lambda: f"conn {conn}: closed: slow consumer" in
                            cluster.edge_log("edge-a"), 5, "the stalled client cut in the log")
        run(body())
        # Reading now gets what the edge had written, then its close frame and the end.
        data = read_tls_until_eof(stalled, 10)
        frames = parse_frames(data)
        msgs = [p for op, p in frames if op in (1, 2)]
        assert len(msgs) < 600, "the stalled wss client got every message: never cut off"
        assert frames and frames[-1][0] == 8, f"no close frame last: {frames[-3:]!r}"
        assert frames[-1][1] == struct.pack("!H", 1008) + b"slow consumer", frames[-1]
    finally:
        stalled.close()


def read_tls_until_eof(sock, timeout):
    """Everything a TLS socket delivers until the peer ends the connection."""
    deadline = time.monotonic() + scaled(timeout)
    data = b""
    while True:
        sock.settimeout(max(0.01, deadline - time.monotonic()))
        try:
            chunk = sock.recv(65536)
        except (ssl.SSLEOFError, ssl.SSLZeroReturnError, ConnectionResetError):
            return data
        except TimeoutError:
            raise AssertionError(f"the edge did not end the connection within {timeout}s "
                                 f"({len(data)} bytes read)") from None
        if not chunk:
            return data
        data += chunk
