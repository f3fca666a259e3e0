"""Every listener of hub and edge takes port 0 ("any free port"), and each process reports the ports it bound in one log line per listener and in its --ready-file (also an INI key): a JSON object replaced whole, written by the hub once it listens and by the edge once bound ("accepting": false), rewritten when every edge worker accepts clients and again when a drain starts, and removed at a clean exit. The edge's workers share the one port the first of them was given."""
import json
import re
import signal
import socket

import pytest

from helpers import HOST, PortHold, await_for, connect, http_get, run, wait_for, wait_welcomes


def test_hub_reports_the_ports_it_bound(launch, tmp_path):
    ready = tmp_path / "hub.json"
    hub = launch("spoke-hub", ["--listen", f"{HOST}:0", "--http", f"{HOST}:0",
                               "--ready-file", str(ready)])
    doc = hub.wait_ready_file()
    assert hub.ready_path == ready
    assert set(doc) == {"pid", "link", "http", "https"}, doc
    assert doc["pid"] == hub.p.pid and doc["https"] is False, doc
    assert 0 < doc["link"] < 65536 and 0 < doc["http"] < 65536 and doc["link"] != doc["http"]
    assert json.loads(http_get(doc["http"], "/healthz")[1])["status"] == "ok"
    with socket.create_connection((HOST, doc["link"])) as s:
        s.settimeout(5)
        assert s.recv(8) == b"SPOKELNK"  # the link protocol's preamble: the link port
    out = hub.output()
    assert f"listening for edge links on {HOST}:{doc['link']} " in out, out
    assert f"admin HTTP on {HOST}:{doc['http']} " in out, out
    assert ready.read_text().endswith("}\n") and not list(tmp_path.glob("hub.json.*"))
    assert hub.stop() == [] and hub.p.returncode == 0
    assert not ready.exists(), "the ready file outlived a clean exit"


def test_hub_ready_file_says_https(launch, dev_certs):
    certs = dev_certs.ca1
    hub = launch("spoke-hub", ["--listen", f"{HOST}:0", "--http", f"{HOST}:0",
                               "--http-tls-cert", str(certs / "client-facing.pem"),
                               "--http-tls-key", str(certs / "client-facing.key")])
    assert hub.wait_ready_file()["https"] is True


def test_edge_reports_its_ports_then_when_it_accepts_clients(make_cluster, dev_certs):
    certs = dev_certs.ca1
    cluster = make_cluster(start_hub=False, wss=True, edges=("edge-a",), workers=2,
                           edge_args=["--tls-cert", str(certs / "client-facing.pem"),
                                      "--tls-key", str(certs / "client-facing.key"),
                                      "--drain-period", "30"])
    edge = cluster.edges["edge-a"]
    doc = edge.ready_file()
    assert set(doc) == {"pid", "name", "workers", "ws", "wss", "admin", "accepting"}, doc
    assert (doc["pid"], doc["name"], doc["workers"]) == (edge.p.pid, "edge-a", 2), doc
    assert doc["accepting"] is False, "accepting clients without a policy"
    ports = (doc["ws"], doc["wss"], doc["admin"])
    assert len(set(ports)) == 3 and all(0 < p < 65536 for p in ports), doc
    # Bound, not listening: clients are refused until the hub's policy comes.
    for port in ports[:2]:
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection((HOST, port), timeout=2).close()
    assert http_get(doc["admin"], "/readyz")[0] == 503
    log = cluster.edge_log("edge-a")
    assert f"serving ws://{HOST}:{doc['ws']}/ws and wss://{HOST}:{doc['wss']}/ws " in log, log
    assert f"admin HTTP on {HOST}:{doc['admin']} " in log, log

    cluster.start_hub()
    cluster.wait_ready()
    now = edge.ready_file()
    assert now == dict(doc, accepting=True), (doc, now)
    # Both workers took the one port the first was given.
    assert set(wait_welcomes(doc["ws"], 2, lambda w: True, 5, "both workers on the ws port")) \
        == {0, 1}

    async def body():
        await connect(cluster.url_a)  # something to drain: the drain lasts
        edge.signal(signal.SIGTERM)
        draining = await await_for(lambda: (edge.ready_file() or {}).get("accepting") is False
                                   and edge.ready_file(), 5, "accepting false once draining")
        assert draining == dict(doc, accepting=False), draining
    edge.exit_expected = True  # its last client gone, the drain ends and so does the edge
    run(body())
    wait_for(lambda: edge.p.poll() is not None, 10, "edge-a to exit after the drain")
    assert edge.p.returncode == 0
    assert edge.ready_file() is None, "the ready file outlived a clean exit"


def test_ready_file_is_an_ini_key_for_both(launch, tmp_path):
    hub_ini, edge_ini = tmp_path / "hub.ini", tmp_path / "edge.ini"
    hub_ready, edge_ready = tmp_path / "hub.ready", tmp_path / "edge.ready"
    hub_ini.write_text(f"listen = {HOST}:0\nhttp = {HOST}:0\nready_file = {hub_ready}\n")
    hub = launch("spoke-hub", ["-c", str(hub_ini)], ready_file=hub_ready)
    link = hub.wait_ready_file()["link"]
    edge_ini.write_text(f"name = edge-i\nlisten = {HOST}:0\nadmin = {HOST}:0\n"
                        f"hub = {HOST}:{link}\nworkers = 1\nready_file = {edge_ready}\n")
    edge = launch("spoke-edge", ["-c", str(edge_ini)], ready_file=edge_ready)
    doc = edge.wait_ready_file(lambda d: d["accepting"])
    assert doc["name"] == "edge-i" and doc["wss"] is None and doc["workers"] == 1, doc


@pytest.mark.parametrize("binary_name", ["spoke-hub", "spoke-edge"])
def test_an_unwritable_ready_file_stops_the_process(launch, tmp_path, binary_name):
    path = tmp_path / "no" / "such" / "dir" / "ready.json"
    with PortHold() as no_hub:  # the edge links nowhere
        args = {"spoke-hub": ["--listen", f"{HOST}:0", "--http", f"{HOST}:0"],
                "spoke-edge": ["--name", "edge-a", "--listen", f"{HOST}:0", "--admin", f"{HOST}:0",
                               "--workers", "1", "--hub", f"{HOST}:{no_hub.port}"]}[binary_name]
        proc = launch(binary_name, [*args, "--ready-file", str(path)])
        assert proc.outcome() == "exited"
    assert proc.p.returncode == 1, proc.output()
    assert re.search(rf"ready file {re.escape(str(path))}\.tmp: No such file or directory",
                     proc.output()), proc.output()
