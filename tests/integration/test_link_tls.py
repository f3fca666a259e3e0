"""Edge-to-hub links with mutual TLS come up only between an edge and a hub that trust each other's CA, with the edge's name in its own certificate and TLS on both ends; and neither binary starts with plain TCP links to or on a non-loopback address unless allow_insecure_links is set."""
import os
import re
import subprocess

import pytest

from conftest import CHILD_ENV, binary
from helpers import HOST, connect, expect, run, scaled, send, subscribe, wait_for


def hub_tls(certs):
    return ["--link-ca", str(certs / "ca.pem"), "--link-cert", str(certs / "hub.pem"),
            "--link-key", str(certs / "hub.key")]


def edge_tls(trust, certs, name):
    """Link flags for an edge trusting trust/ca.pem and presenting certs/edge-NAME.pem."""
    return ["--link-ca", str(trust / "ca.pem"), "--link-cert", str(certs / f"edge-{name}.pem"),
            "--link-key", str(certs / f"edge-{name}.key")]


def retries(cluster, name):
    """How many times edge `name`'s workers have scheduled a new link attempt."""
    return len(re.findall(rf"{name}/w\d+: hub link: next attempt", cluster.edge_log(name)))


def assert_never_links(cluster, name, log_pred, what):
    """Waits until `name`'s failure shows in the logs (log_pred(hub_log, edge_log))
    and its workers have failed at least 3 attempts, then checks the hub lists
    no link of that edge and its /readyz stays 503."""
    wait_for(lambda: log_pred(cluster.hubs[-1].log(), cluster.edge_log(name)), 5, what)
    wait_for(lambda: retries(cluster, name) >= 3, 5, f"3 failed link attempts of {name}")
    assert cluster.links_of(name) == [], f"{name} is linked: {cluster.links_of(name)}"
    status, doc = cluster.edge_ready(name)
    assert status == 503 and doc["ready"] is False, doc


def test_mtls_links_come_up_and_route_between_edges(make_cluster, dev_certs):
    ca1 = dev_certs.ca1
    cluster = make_cluster(hub_args=hub_tls(ca1),
                           edge_extra={n: edge_tls(ca1, ca1, n) for n in ("edge-a", "edge-b")})

    async def body():
        sub, sw = await connect(cluster.url_a)
        pub, pw = await connect(cluster.url_b)
        await subscribe(sub, "over.tls")
        await cluster.await_interest(sw["conn"])
        await send(pub, {"op": "pub", "topic": "over.tls", "data": [1, 2], "id": 1})
        await expect(pub, op="ack", id=1)
        await expect(sub, op="msg", topic="over.tls", seq=1, data=[1, 2], **{"from": pw["conn"]})
        await send(pub, {"op": "send", "to": sw["conn"], "data": "psst", "id": 2})
        await expect(pub, op="ack", id=2)
        await expect(sub, op="direct", data="psst", **{"from": pw["conn"]})
    run(body())
    wire_in = sum(lk["wire_in"] for lk in cluster.hub_links())
    raw_in = sum(lk["raw_in"] for lk in cluster.hub_links())
    # Certificates and handshakes on the wire: these links are TLS, not plain TCP.
    assert wire_in > raw_in + 1000, f"wire {wire_in} vs raw {raw_in} bytes from the edges"
    links = cluster.hub_links()
    assert len(links) == 4, links
    for lk in links:
        assert lk["tls"] is True and f"DNS:{lk['edge']}" in lk["peer_cert"], lk
    env = dict(os.environ, **CHILD_ENV, SPOKE_HUB=f"http://127.0.0.1:{cluster.http_port}")
    out = subprocess.run([binary("spokectl"), "edges"], capture_output=True, text=True,
                         timeout=scaled(20), env=env)
    assert out.returncode == 0, out.stderr
    head, *rows = out.stdout.split("\n")
    link_col = head.split().index("LINK")
    assert sorted(r.split()[link_col] for r in rows if r.strip()) == ["tls", "tls"], out.stdout


def test_edge_presenting_another_edges_certificate_is_refused(make_cluster, dev_certs):
    ca1 = dev_certs.ca1
    cluster = make_cluster(hub_args=hub_tls(ca1), wait=False, edge_extra={
        "edge-a": edge_tls(ca1, ca1, "edge-a"),
        "edge-b": edge_tls(ca1, ca1, "edge-a")})  # edge-b wearing edge-a's certificate
    cluster.wait_edge_ready("edge-a")
    cluster.wait_links(2)
    assert_never_links(
        cluster, "edge-b",
        lambda hub, edge: ("edge name 'edge-b' is not in this link's certificate" in hub
                           and "hub refused the link: 403" in edge),
        "the hub's refusal of edge-b in both logs")
    assert {lk["edge"] for lk in cluster.hub_links()} == {"edge-a"}


def test_certificates_from_another_ca_fail_the_handshake(make_cluster, dev_certs):
    ca1, ca2 = dev_certs.ca1, dev_certs.ca2
    cluster = make_cluster(edges=("edge-a", "edge-b", "edge-c"), hub_args=hub_tls(ca1),
                           wait=False, edge_extra={
                               "edge-a": edge_tls(ca1, ca1, "edge-a"),
                               # trusts the hub, but its own certificate is from CA2
                               "edge-b": edge_tls(ca1, ca2, "edge-b"),
                               # all CA2: the hub's certificate is foreign to it
                               "edge-c": edge_tls(ca2, ca2, "edge-c")})
    cluster.wait_edge_ready("edge-a")
    assert_never_links(cluster, "edge-b",
                       lambda hub, edge: "certificate verify failed" in hub,
                       "'certificate verify failed' in the hub's log")
    assert_never_links(cluster, "edge-c",
                       lambda hub, edge: "certificate verify failed" in edge,
                       "'certificate verify failed' in edge-c's log")
    assert {lk["edge"] for lk in cluster.hub_links()} == {"edge-a"}


def test_edge_checks_the_hub_certificate_names_link_server_name(make_cluster, dev_certs):
    ca1 = dev_certs.ca1
    cluster = make_cluster(hub_args=hub_tls(ca1), wait=False, edge_extra={
        "edge-a": [*edge_tls(ca1, ca1, "edge-a"), "--link-server-name", "spoke-hub"],
        "edge-b": [*edge_tls(ca1, ca1, "edge-b"), "--link-server-name", "not-the-hub.example"]})
    cluster.wait_edge_ready("edge-a")
    assert_never_links(cluster, "edge-b",
                       lambda hub, edge: "certificate verify failed" in edge,
                       "'certificate verify failed' in edge-b's log")


def test_tls_edge_cannot_link_to_a_plain_hub(make_cluster, dev_certs):
    ca1 = dev_certs.ca1
    cluster = make_cluster(wait=False, edge_extra={"edge-b": edge_tls(ca1, ca1, "edge-b")})
    cluster.wait_edge_ready("edge-a")  # a plain edge links to it
    assert_never_links(cluster, "edge-b", lambda hub, edge: "retrying" in edge,
                       "edge-b's first failed attempt")


def test_plain_edge_cannot_link_to_a_tls_hub(make_cluster, dev_certs):
    ca1 = dev_certs.ca1
    cluster = make_cluster(hub_args=hub_tls(ca1), wait=False,
                           edge_extra={"edge-a": edge_tls(ca1, ca1, "edge-a")})
    cluster.wait_edge_ready("edge-a")
    assert_never_links(cluster, "edge-b", lambda hub, edge: "retrying" in edge,
                       "edge-b's first failed attempt")


@pytest.mark.parametrize("bind", ["0.0.0.0", "[::]"])
def test_hub_refuses_plain_links_on_a_non_loopback_address(launch, bind):
    hub = launch("spoke-hub", ["--listen", f"{bind}:0", "--http", f"{HOST}:0"])
    assert hub.outcome() == "exited", "the hub started with plain public links"
    assert hub.p.returncode == 2, f"exit status {hub.p.returncode}:\n{hub.output()}"
    lines = [line for line in hub.stderr().splitlines() if line.strip()]
    assert len(lines) == 1 and "allow_insecure_links" in lines[0], hub.stderr()


def test_hub_allows_insecure_links_when_told_and_warns(launch, tmp_path):
    ini = tmp_path / "hub.ini"  # the INI key, not the flag
    ini.write_text(f"listen = 0.0.0.0:0\nhttp = {HOST}:0\n"
                   "allow_insecure_links = true\n")
    hub = launch("spoke-hub", ["-c", str(ini)])
    assert hub.outcome() == "started", f"the hub did not start:\n{hub.output()}"
    assert "NOT encrypted" in hub.output()
    hub.stop()
    assert hub.p.returncode == 0, hub.output()


def test_edge_refuses_a_plain_link_to_a_non_loopback_hub(launch):
    edge = launch("spoke-edge", ["--name", "edge-a", "--listen", f"{HOST}:0",
                                 "--hub", "10.255.255.1:7400", "--admin", f"{HOST}:0",
                                 "--workers", "1"])
    assert edge.outcome() == "exited", "the edge started with a plain public link"
    assert edge.p.returncode == 2, f"exit status {edge.p.returncode}:\n{edge.output()}"
    lines = [line for line in edge.stderr().splitlines() if line.strip()]
    assert len(lines) == 1 and "allow_insecure_links" in lines[0], edge.stderr()


def test_edge_allows_an_insecure_link_when_told_and_warns(launch):
    edge = launch("spoke-edge", ["--name", "edge-a", "--listen", f"{HOST}:0",
                                 "--hub", "10.255.255.1:7400", "--admin", f"{HOST}:0",
                                 "--workers", "1", "--drain-period", "0",
                                 "--allow-insecure-links", "true"])
    assert edge.outcome() == "started", f"the edge did not start:\n{edge.output()}"
    assert "NOT encrypted" in edge.output()
    edge.stop()
    assert edge.p.returncode == 0, edge.output()

