"""The hub's operator views follow the edges: /api/edges sums each edge's workers' statistics (sent over the link about every second), /api/topics lists topics with their seq and interested links, and /metrics exposes the same in the Prometheus text format."""
import asyncio
import json
import re

import websockets

from helpers import (await_for, connect, http_get, http_request, recv_json, run, scaled, send,
                     subscribe)
from linkpeer import KICK, POLICY, LinkPeer


def edges(cluster):
    status, body = http_get(cluster.http_port, "/api/edges")
    assert status == 200
    return {e["name"]: e for e in json.loads(body)["edges"]}


def test_edges_sum_worker_statistics_per_edge(make_cluster):
    cluster = make_cluster(edge_args=["--public-url", "wss://edge.example/ws"])

    async def body():
        clients = [await connect(cluster.url_a) for _ in range(3)]
        b, wb = await connect(cluster.url_b)
        for ws, _ in clients:
            await subscribe(ws, "ops.room")
        await cluster.await_interest(clients[0][1]["conn"])
        await await_for(lambda: edges(cluster).get("edge-a", {}).get("clients") == 3 and
                        edges(cluster).get("edge-b", {}).get("clients") == 1, 5,
                        "edge statistics to reach the hub")
        e = edges(cluster)
        assert set(e) == {"edge-a", "edge-b"}
        a = e["edge-a"]
        assert a["workers"] == 2 and a["region"] == "test" and a["state"] == "up"
        assert a["subscriptions"] == 3 and a["topics"] >= 1
        assert a["link_raw_in"] > 0 and a["link_wire_out"] > 0 and a["link_ratio"] > 0
        assert a["public_url"] == "wss://edge.example/ws"
        assert len(a["addresses"]) == 2 and all(x.startswith("127.0.0.1:") for x in a["addresses"])
        # Heartbeats (every 0.5 s here) come back echoed: the link RTT is measured.
        await await_for(lambda: edges(cluster)["edge-a"]["rtt_ms"] > 0, 5, "a link RTT")
        assert set(a["closes"]) == {"idle", "dead_peer", "slow_consumer", "protocol",
                                   "rate_limit", "other"}
        # Traffic shows up in the counters.
        before = a["msgs_out"]
        await send(b, {"op": "pub", "topic": "ops.room", "data": 1})
        for ws, _ in clients:
            assert (await recv_json(ws))["op"] == "msg"
        await await_for(lambda: edges(cluster)["edge-a"]["msgs_out"] >= before + 3, 5,
                        "delivery counters to grow")
    run(body())


def test_topics_list_seq_and_interested_links(cluster):
    async def body():
        a, wa = await connect(cluster.url_a)
        b, wb = await connect(cluster.url_b)
        await subscribe(a, "ops.t1")
        await subscribe(b, "ops.t1")
        await cluster.await_interest(wa["conn"])
        await cluster.await_interest(wb["conn"])
        for _ in range(3):
            await send(a, {"op": "pub", "topic": "ops.t1", "data": "x"})
        for _ in range(3):
            await recv_json(b)
        status, raw = http_get(cluster.http_port, "/api/topics")
        assert status == 200
        doc = json.loads(raw)
        topics = {t["topic"]: t for t in doc["topics"]}
        t = topics["ops.t1"]
        assert (t["topic"], t["seq"], t["links"]) == ("ops.t1", 3, 2)
        assert isinstance(t["rate"], float) and t["rate"] > 0  # 3 messages since it appeared
        assert doc["total"] == len(doc["topics"])
    run(body())


def test_metrics_are_prometheus_text(cluster):
    async def body():
        _, w = await connect(cluster.url_a)
        await await_for(lambda: edges(cluster).get("edge-a", {}).get("clients") == 1, 5,
                        "edge statistics")
    run(body())
    status, raw = http_get(cluster.http_port, "/metrics")
    assert status == 200
    text = raw.decode()
    assert "# TYPE spoke_hub_links gauge" in text
    assert re.search(r"^spoke_hub_links 4$", text, re.M)
    assert re.search(r'^spoke_edge_clients\{edge="edge-a"\} 1$', text, re.M)
    assert re.search(r'^spoke_edge_closes_total\{edge="edge-b",reason="idle"\} 0$', text, re.M)
    assert "# TYPE spoke_hub_route_seconds histogram" in text
    assert re.search(r'^spoke_hub_route_seconds_bucket\{le="\+Inf"\} \d+$', text, re.M)
    for line in text.splitlines():  # every sample line is NAME{labels} VALUE or NAME VALUE
        if not line.startswith("#"):
            assert re.match(r'^[a-z_]+(\{[a-z_]+="[^"]*"(,[a-z_]+="[^"]*")*\})? [0-9.e+-]+$', line), line


def test_disconnect_closes_one_connection_with_the_given_code(cluster):
    async def body():
        victim, wv = await connect(cluster.url_b)
        other, _ = await connect(cluster.url_b)
        req = {"conn": wv["conn"], "code": 4001, "reason": "bye"}
        status, raw = http_request(cluster.http_port, "POST", "/api/disconnect",
                                   json.dumps(req).encode())
        assert status == 202 and json.loads(raw) == {"conn": wv["conn"], "status": "sent"}
        try:
            await asyncio.wait_for(victim.recv(), scaled(5))
            raise AssertionError("the connection stayed open")
        except websockets.ConnectionClosed:
            pass
        assert victim.close_code == 4001 and victim.close_reason == "bye"
        await send(other, {"op": "ping", "id": 1})
        assert await recv_json(other) == {"op": "pong", "id": 1}  # the neighbour stays
    run(body())
    for req, want in [({"conn": "edge-b:0:deadbeef:1"}, 404), ({"conn": "nonsense"}, 400),
                      ({"conn": "edge-a:0:1:1", "code": 1006}, 400), ({}, 400),
                      ({"conn": "x", "reason": "r" * 200}, 400)]:
        status, raw = http_request(cluster.http_port, "POST", "/api/disconnect",
                                   json.dumps(req).encode())
        assert status == want, (req, status, raw)


def test_disconnect_refuses_an_id_the_edge_would_not_recognise(cluster):
    # The edge knows its connections by the one spelling it writes (BOOT as 8
    # lower-case hex digits, no leading zeros): any other spelling is 400 with
    # the part at fault, never 202 for a kick the edge would then ignore.
    peer = LinkPeer(cluster.hub_port)
    try:
        assert peer.hello("kickme", 0, 0xabc)[-1][0] == POLICY
        for conn, part in [("kickme:0:00000ABC:1", "boot"), ("kickme:0:abc:1", "boot"),
                           ("kickme:00:00000abc:1", "worker"), ("kickme:0:00000abc:01", "sequence"),
                           ("kickme:0:00000abc:1:", "NAME:WORKER:BOOT:SEQ")]:
            status, raw = http_request(cluster.http_port, "POST", "/api/disconnect",
                                       json.dumps({"conn": conn}).encode())
            assert status == 400, (conn, status, raw)
            assert part in json.loads(raw)["error"], (conn, raw)
        good = "kickme:0:00000abc:1"
        status, raw = http_request(cluster.http_port, "POST", "/api/disconnect",
                                   json.dumps({"conn": good, "reason": "bye"}).encode())
        assert status == 202, raw
        # The first KICK the edge worker gets is this one: none went out before.
        assert peer.recv_until(lambda m: m[0] == KICK) == [KICK, good, 4001, "bye"]
    finally:
        peer.close()
