"""An edge whose --hub lists several hubs spreads its workers over them (worker index modulo the list), and a worker whose hub is lost or unreachable moves to the next one within a few seconds, without closing a client, without going back when the old hub returns, and with link TLS checking each hub against the address dialled (or link_server_name); /metrics, /readyz and the logs say which hub each worker is on."""
import asyncio
import re
import subprocess
import time

from helpers import (HOST, PortHold, await_for, connect, expect, http_get, parse_conn, run,
                     scaled, send, subscribe, wait_for)

SECOND_HOST = "127.0.0.2"  # a second loopback address, for hubs that need their own name


def hub_links_by_worker(cluster, edge="edge-a"):
    """{worker: (hub address, 1 or 0)} from the edge's spoke_edge_hub_link samples."""
    status, body = http_get(cluster.edge_admin_port(edge), "/metrics")
    assert status == 200
    found = re.findall(rf'^spoke_edge_hub_link{{edge="{edge}",worker="(\d+)",hub="([^"]+)"}} (\d)$',
                       body.decode(), re.M)
    return {int(w): (hub, int(v)) for w, hub, v in found}


def failovers(cluster, edge="edge-a"):
    status, body = http_get(cluster.edge_admin_port(edge), "/metrics")
    m = re.search(rf'^spoke_edge_hub_failovers_total{{edge="{edge}"}} (\d+)$', body.decode(), re.M)
    assert status == 200 and m, body[:300]
    return int(m.group(1))


def workers_at(cluster, i, edge="edge-a"):
    """The workers of `edge` that hub i lists a link from, sorted."""
    return sorted(lk["worker"] for lk in cluster.links_of(edge, i))


async def connect_on_worker(url, worker, tries=200):
    """A client of `worker` (the kernel spreads connections over the
    workers: connect until one lands there, closing the others)."""
    for _ in range(tries):
        ws, welcome = await connect(url)
        if parse_conn(welcome["conn"])[1] == worker:
            return ws, welcome
        await ws.close()
    raise AssertionError(f"no connection landed on worker {worker} in {tries} tries")


def two_hub_cluster(make_cluster, **kw):
    return make_cluster(hubs=2, edges=("edge-a",), workers=2, **kw)


def test_workers_spread_over_the_hubs_and_metrics_say_which(make_cluster):
    cluster = two_hub_cluster(make_cluster)
    assert workers_at(cluster, 0) == [0] and workers_at(cluster, 1) == [1]
    wait_for(lambda: hub_links_by_worker(cluster) == {0: (cluster.hub_addr(0), 1),
                                                      1: (cluster.hub_addr(1), 1)},
             5, "the edge's metrics to show worker i linked to hub i")
    assert failovers(cluster) == 0
    wait_for(lambda: cluster.edge_ready("edge-a") == (200, {"ready": True, "reasons": []}), 5,
             "edge-a ready")
    log = cluster.edge_log("edge-a")
    # The hub's HELLO carries its name: the edge logs it with the address.
    for w in (0, 1):
        assert re.search(rf"edge-a/w{w}: linked to hub {re.escape(cluster.hub_addr(w))} "
                         rf"\(name hub-{w}, software ", log), log


def test_killed_hub_workers_move_on_clients_stay_and_get_a_reset(make_cluster):
    cluster = two_hub_cluster(make_cluster)
    moved = cluster.hub_addr(0)

    async def body():
        sub, sw = await connect_on_worker(cluster.url_a, 0)  # on hub 0
        local, _ = await connect_on_worker(cluster.url_a, 0)
        pub, _ = await connect_on_worker(cluster.url_a, 1)  # on hub 1
        await send(sub, {"op": "sub", "topic": "fo.t", "id": 1})
        ack = await expect(sub, op="ack", id=1)
        await send(local, {"op": "pub", "topic": "fo.t", "data": "before", "id": 2})
        await expect(local, op="ack", id=2)
        await expect(sub, op="msg", topic="fo.t", seq=1, data="before")

        t0 = time.monotonic()
        cluster.kill_hub(0)
        await await_for(lambda: workers_at(cluster, 1) == [0, 1], 5,
                        "both workers linked to hub 1")
        took = time.monotonic() - t0
        assert took <= scaled(3), f"worker 0 took {took:.2f}s to move to hub 1"
        # A memory engine of its own: hub 1 cannot go on from hub 0's
        # position, and the subscriber is told before messages come again.
        reset = await expect(sub, op="reset", topic="fo.t")
        assert reset["epoch"] != ack["epoch"], (ack, reset)
        await send(pub, {"op": "pub", "topic": "fo.t", "data": "after", "id": 3})
        await expect(pub, op="ack", id=3)
        await expect(sub, op="msg", topic="fo.t", seq=reset["seq"] + 1, data="after")
        for ws in (sub, local, pub):
            assert ws.close_code is None, "a client was closed"
    run(body())
    # The edge publishes its figures a few times a second.
    wait_for(lambda: failovers(cluster) == 1
             and hub_links_by_worker(cluster)[0] == (cluster.hub_addr(1), 1), 5,
             "one failover, and worker 0 shown on hub 1")
    log = cluster.edge_log("edge-a")
    assert re.search(rf"edge-a/w0: hub {re.escape(moved)} lost: .*; clients stay connected, "
                     rf"trying {re.escape(cluster.hub_addr(1))}", log), log
    assert f"failed over from {moved}" in log


def test_a_hub_that_comes_back_is_not_needed_and_gets_no_link_back(make_cluster):
    cluster = two_hub_cluster(make_cluster)
    cluster.kill_hub(0)
    wait_for(lambda: workers_at(cluster, 1) == [0, 1], 5, "both workers linked to hub 1")
    wait_for(lambda: failovers(cluster) == 1, 5, "the failover counted")

    async def body():
        # Hub 1 alone serves the whole edge, across its workers.
        sub, sw = await connect_on_worker(cluster.url_a, 1)
        pub, _ = await connect_on_worker(cluster.url_a, 0)
        await subscribe(sub, "fo.alone")
        await cluster.await_interest(sw["conn"])
        await send(pub, {"op": "pub", "topic": "fo.alone", "data": 1, "id": 1})
        await expect(pub, op="ack", id=1)
        await expect(sub, op="msg", topic="fo.alone", seq=1, data=1)
    run(body())

    cluster.start_hub(0)
    # Several heartbeat periods (500 ms) and reconnect delays: nothing moves back.
    deadline = time.monotonic() + 2.0
    while time.monotonic() < deadline:
        assert workers_at(cluster, 0) == [] and workers_at(cluster, 1) == [0, 1]
        time.sleep(0.1)
    assert failovers(cluster) == 1


def test_an_unreachable_first_address_is_skipped(make_cluster):
    cluster = make_cluster(edges=())
    with PortHold() as nothing:  # bound, never listening: connections are refused
        dead = f"{HOST}:{nothing.port}"
        t0 = time.monotonic()
        cluster.start_edge("edge-a", hubs=[dead, cluster.hub_addr(0)])
        cluster.wait_edge_ready("edge-a")
        took = time.monotonic() - t0
        assert took <= scaled(5), f"linked after {took:.2f}s"
        assert workers_at(cluster, None) == [0, 1]
        log = cluster.edge_log("edge-a")
        assert re.search(rf"edge-a/w0: hub link to {re.escape(dead)}: .*refused.* \(attempt 1\); "
                         rf"retrying with {re.escape(cluster.hub_addr(0))}", log), log
        assert f"edge-a/w1: hub link to {dead}" not in log  # worker 1 starts at the live hub
        wait_for(lambda: hub_links_by_worker(cluster) == {w: (cluster.hub_addr(0), 1)
                                                          for w in (0, 1)}, 5, "both on the hub")
        assert failovers(cluster) == 0  # a first link is no failover


def test_with_no_hub_each_worker_goes_round_the_list_and_readyz_names_it(make_cluster):
    cluster = make_cluster(hubs=2, edges=("edge-a",), workers=2, start_hub=False, wait=False,
                           edge_args=["--reconnect-min-ms", "40", "--reconnect-max-ms", "400"])
    hubs = [cluster.hub_addr(0), cluster.hub_addr(1)]
    attempt = re.compile(r"edge-a/w(\d): hub link: next attempt in (\d+) ms, to (\S+)")

    def attempts():
        per = {0: [], 1: []}
        for w, ms, to in attempt.findall(cluster.edge_log("edge-a")):
            per[int(w)].append((int(ms), to))
        return per
    wait_for(lambda: min(len(a) for a in attempts().values()) >= 10, 10,
             "10 failed attempts per worker")
    for w, tries in attempts().items():
        # Round robin from the worker's own offset: the attempt after the
        # first (at hub w) is at the other hub, and so on.
        assert [to for _, to in tries[:10]] == [hubs[(w + 1 + k) % 2] for k in range(10)], tries
        # One delay per round of both hubs (jitter: half to all of it),
        # doubling from 40 ms up to the 400 ms cap.
        for k, (ms, _) in enumerate(tries[:10]):
            level = min(40 * 2 ** (k // 2), 400)
            assert level // 2 - 1 <= ms <= level, (k, ms, tries)
    status, doc = cluster.edge_ready("edge-a")
    assert status == 503, doc
    for w, reason in enumerate(sorted(doc["reasons"])):
        assert re.fullmatch(rf"w{w}: no policy from the hub yet; hub link down, trying "
                            rf"({re.escape(hubs[0])}|{re.escape(hubs[1])})", reason), doc
    assert {v for _, v in hub_links_by_worker(cluster).values()} == {0}
    # Hub 1 alone comes: both workers end there, hub 0 still refusing.
    cluster.start_hub(1)
    cluster.wait_edge_ready("edge-a")
    assert workers_at(cluster, 1) == [0, 1]
    wait_for(lambda: cluster.edge_ready("edge-a") == (200, {"ready": True, "reasons": []}), 5,
             "edge-a ready")


# ---- link TLS with several hubs

def hub_tls(cert_dir, ca, name):
    return ["--link-ca", str(ca / "ca.pem"), "--link-cert", str(cert_dir / f"{name}.pem"),
            "--link-key", str(cert_dir / f"{name}.key")]


def edge_tls(ca, name="edge-a"):
    return ["--link-ca", str(ca / "ca.pem"), "--link-cert", str(ca / f"edge-{name}.pem"),
            "--link-key", str(ca / f"edge-{name}.key")]


def issue_hub_cert(ca, out, name, san):
    """A hub link certificate from the dev CA in `ca` naming only `san`
    (e.g. IP:127.0.0.2): out/NAME.pem and out/NAME.key."""
    ext = out / f"{name}.ext"
    ext.write_text("basicConstraints = critical, CA:FALSE\nkeyUsage = critical, digitalSignature\n"
                   f"extendedKeyUsage = serverAuth\nsubjectAltName = {san}\n")
    for argv in (
            ["openssl", "req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
             "-nodes", "-subj", f"/CN={name}", "-keyout", str(out / f"{name}.key"),
             "-out", str(out / f"{name}.csr")],
            ["openssl", "x509", "-req", "-in", str(out / f"{name}.csr"),
             "-CA", str(ca / "ca.pem"), "-CAkey", str(ca / "ca.key"), "-set_serial",
             str(int(time.time() * 1000)), "-days", "2", "-extfile", str(ext),
             "-out", str(out / f"{name}.pem")]):
        r = subprocess.run(argv, capture_output=True, text=True, timeout=scaled(30))
        assert r.returncode == 0, f"{argv[1]} failed:\n{r.stderr}"


def test_tls_each_attempt_checks_the_name_of_the_address_it_dials(make_cluster, dev_certs,
                                                                   tmp_path):
    ca = dev_certs.ca1
    issue_hub_cert(ca, tmp_path, "hub-0", f"IP:{HOST}")
    issue_hub_cert(ca, tmp_path, "hub-1", f"IP:{SECOND_HOST}")
    # Each hub's certificate names its own address only: both links come up
    # only if each attempt expects the host it dialled.
    cluster = two_hub_cluster(make_cluster, hub_hosts=(HOST, SECOND_HOST),
                              hub_args=lambda i: hub_tls(tmp_path, ca, f"hub-{i}"),
                              edge_args=edge_tls(ca))
    assert workers_at(cluster, 0) == [0] and workers_at(cluster, 1) == [1]
    assert all(lk["tls"] for lk in cluster.hub_links())
    cluster.kill_hub(1)  # worker 1 now dials 127.0.0.1, and expects that name
    wait_for(lambda: workers_at(cluster, 0) == [0, 1], 5, "both workers linked to hub 0")
    assert "certificate verify failed" not in cluster.edge_log("edge-a")


def test_tls_link_server_name_is_expected_of_every_hub(make_cluster, dev_certs):
    ca = dev_certs.ca1  # hub.pem names spoke-hub, localhost, 127.0.0.1 and ::1; not 127.0.0.2
    cluster = make_cluster(hubs=2, hub_hosts=(HOST, SECOND_HOST), wait=False,
                           hub_args=lambda i: hub_tls(ca, ca, "hub"),
                           edge_extra={"edge-a": [*edge_tls(ca, "edge-a"),
                                                  "--link-server-name", "spoke-hub"],
                                       "edge-b": edge_tls(ca, "edge-b")})
    # edge-a expects spoke-hub of both hubs, which both certificates name.
    cluster.wait_edge_ready("edge-a")
    assert workers_at(cluster, 0, "edge-a") == [0] and workers_at(cluster, 1, "edge-a") == [1]
    # edge-b expects the address dialled: 127.0.0.2 is not in hub 1's
    # certificate, so its worker 1 goes on to hub 0 and links there.
    cluster.wait_edge_ready("edge-b")
    assert workers_at(cluster, 0, "edge-b") == [0, 1]
    assert workers_at(cluster, 1, "edge-b") == []
    log = cluster.edge_log("edge-b")
    assert re.search(rf"edge-b/w1: hub link to {re.escape(cluster.hub_addr(1))}: .*certificate "
                     rf"verify failed", log), log
    assert "certificate verify failed" not in cluster.edge_log("edge-a")
