"""Hubs on one Redis are one cluster: a direct from a client of one hub's edge
reaches a connection on another hub's edge and its sender gets the answer
(delivered, not found, or 503 at once while Redis is down); a policy change
through any hub's API, or a changed file on SIGHUP, is enforced by the edges
of every hub, and a hub that starts finds the cluster's policy in force;
every hub lists every edge with the hubs its workers are linked to, and the
hubs themselves, until a killed one's registration lapses; kicks and drains
reach an edge linked to another hub; a second live hub of the same name stays
out of the cluster until the name is free; and garbage in Redis is dropped
and counted, never trusted."""
import asyncio
import json
import re
import time

import pytest

from conftest import HUB_STARTED_RE
from helpers import (await_for, connect, expect, http_get, http_request, parse_conn, recv_json,
                     run, scaled, send, wait_for)
from test_spokectl import ctl

REFRESH, TTL = 0.2, 1.5  # seconds: fast for tests (the defaults are 1 and 5)


def redis_args(sock, *extra):
    return ["--engine", "redis", "--redis", sock, "--cluster-refresh", str(REFRESH),
            "--cluster-ttl", str(TTL), *extra]


def edges_at(c, i):
    """{name: entry} of hub i's /api/edges, and the answer's "cluster" part."""
    status, body = http_get(c.http_ports[i], "/api/edges")
    assert status == 200, body
    doc = json.loads(body)
    return {e["name"]: e for e in doc["edges"]}, doc.get("cluster")


def hubs_at(c, i):
    status, body = http_get(c.http_ports[i], "/api/hubs")
    assert status == 200, body
    return json.loads(body)


def metric(port, name, labels=""):
    status, body = http_get(port, "/metrics")
    assert status == 200
    m = re.search(rf"^{re.escape(name)}{re.escape('{' + labels + '}') if labels else ''} (\S+)$",
                  body.decode(), re.M)
    assert m, f"{name}{{{labels}}} not in /metrics"
    return float(m.group(1))


def ready(port):
    status, body = http_get(port, "/readyz")
    return status, json.loads(body)


def wait_views(c, want, hubs=(0, 1), timeout=10):
    """Until every hub in hubs lists each edge of want ({name: (workers, {hub names})})."""
    def seen():
        for i in hubs:
            edges, _ = edges_at(c, i)
            for name, (workers, names) in want.items():
                e = edges.get(name)
                if not e or e["workers"] != workers or set(e.get("hubs", [])) != names:
                    return False
        return True
    wait_for(seen, timeout, f"every hub listing {want}")


def cluster_of(make_cluster, redis, split=False, hub_config=None, extra=()):
    """Two hubs (hub-0, hub-1) on one redis-server, edge-a and edge-b of 2
    workers each: pinned to hub-0 and hub-1 (split=False), or each worker i
    on hub i (split=True). Returns (cluster, redis server), once both hubs
    list both edges."""
    r = redis("r0")
    c = make_cluster(hubs=2, edges=(), workers=2, hub_args=lambda i: redis_args(r.sock, *extra),
                     hub_config=hub_config)
    for i, name in enumerate(("edge-a", "edge-b")):
        c.start_edge(name, hubs=None if split else [c.hub_addr(i)])
    for name in ("edge-a", "edge-b"):
        c.wait_edge_ready(name)
    both = {"hub-0", "hub-1"}
    wait_views(c, {"edge-a": (2, both if split else {"hub-0"}),
                   "edge-b": (2, both if split else {"hub-1"})})
    return c, r


async def send_until(ws, make, accept, timeout=10.0):
    """Sends make(i) with fresh ids until accept(reply) holds; returns that reply."""
    deadline = time.monotonic() + scaled(timeout)
    for i in range(1000, 100000):
        await send(ws, dict(make(), id=i))
        reply = await recv_json(ws, timeout=timeout)
        while reply.get("id") != i:
            reply = await recv_json(ws, timeout=timeout)
        if accept(reply):
            return reply
        assert time.monotonic() < deadline, f"still {reply} after {timeout}s"
        await asyncio.sleep(0.05)


def test_a_direct_crosses_hubs_and_its_sender_gets_the_answer(make_cluster, redis):
    c, _ = cluster_of(make_cluster, redis)

    async def body():
        a, aw = await connect(c.url_a)  # edge-a: hub-0
        b, bw = await connect(c.url_b, "spoke.msgpack")  # edge-b: hub-1
        await send(a, {"op": "send", "to": bw["conn"], "data": {"hi": "b"}, "id": 9})
        await expect(a, op="ack", id=9)
        await expect(b, op="direct", data={"hi": "b"}, **{"from": aw["conn"]})
        await send(b, {"op": "send", "to": aw["conn"], "data": [1, "back"], "id": 10})
        await expect(b, op="ack", id=10)
        await expect(a, op="direct", data=[1, "back"], **{"from": bw["conn"]})
        await send(b, {"op": "send", "to": aw["conn"], "data": "no id"})
        msg = await expect(a, op="direct", data="no id")
        assert "id" not in msg
        # A connection that does not exist on edge-b's worker (hub-1 asks the
        # edge, which says so), and an edge no hub knows.
        edge, worker = parse_conn(bw["conn"])
        boot = bw["conn"].split(":")[2]
        for i, to in enumerate([f"{edge}:{worker}:{boot}:99999", "edge-z:0:deadbeef:1"]):
            await send(a, {"op": "send", "to": to, "data": 1, "id": 20 + i})
            err = await expect(a, op="error", id=20 + i, code=404)
            assert "unknown connection" in err["reason"], err
    run(body(), timeout=30)
    assert metric(c.http_ports[0], "spoke_hub_cluster_directs_total", 'direction="sent"') >= 2
    assert metric(c.http_ports[1], "spoke_hub_cluster_directs_total", 'direction="received"') >= 2
    assert metric(c.http_ports[0], "spoke_hub_cluster_direct_results_total",
                  'direction="received"') >= 2
    assert metric(c.http_ports[0], "spoke_hub_cluster_dropped_total", 'what="result"') == 0


def test_with_redis_down_a_cross_hub_direct_is_refused_at_once(make_cluster, redis):
    c, r = cluster_of(make_cluster, redis)

    async def body():
        a, _ = await connect(c.url_a)
        b, bw = await connect(c.url_b)
        await send(a, {"op": "send", "to": bw["conn"], "data": 1, "id": 1})
        await expect(a, op="ack", id=1)
        await expect(b, op="direct", data=1)
        r.kill()
        for port in c.http_ports:
            doc = (await await_for(lambda p=port: ready(p)[0] == 503 and ready(p), 10,
                                   "/readyz 503 once Redis is gone"))[1]
            assert doc["cluster"]["state"] == "redis_down", doc
        t0 = time.monotonic()
        await send(a, {"op": "send", "to": bw["conn"], "data": 2, "id": 2})
        err = await expect(a, op="error", id=2, code=503, timeout=3)
        assert time.monotonic() - t0 < scaled(2), "a refusal, not a send_timeout (10 s)"
        assert "Redis" in err["reason"], err
        assert metric(c.http_ports[0], "spoke_hub_cluster_directs_refused_total",
                      'reason="redis_down"') >= 1
        # The hub says what is degraded.
        _, doc = ready(c.http_ports[0])
        assert "refused" in doc["reason"] and "this hub only" in doc["reason"], doc
        r.start()  # empty: every hub registers again
        for port in c.http_ports:
            await await_for(lambda p=port: ready(p)[0] == 200, 15, "/readyz 200 again")
        await send_until(a, lambda: {"op": "send", "to": bw["conn"], "data": 3},
                         lambda m: m["op"] == "ack")
        await expect(b, op="direct", data=3, timeout=10)
    run(body(), timeout=60)


def test_a_policy_put_through_one_hub_is_enforced_by_the_other_hubs_edges(make_cluster, redis):
    c, _ = cluster_of(make_cluster, redis)
    status, answer = http_request(c.http_ports[0], "PUT", "/api/policy",
                                  json.dumps({"max_subscriptions": 1}).encode())
    assert status == 200 and answer and json.loads(answer)["max_subscriptions"] == 1, answer

    async def body():
        # A client of edge-b, whose workers are linked to hub-1, hits the limit.
        deadline = time.monotonic() + scaled(5)
        while True:
            ws, _ = await connect(c.url_b)
            await send(ws, {"op": "sub", "topic": "p.1", "id": 1})
            await expect(ws, op="ack", id=1)
            await send(ws, {"op": "sub", "topic": "p.2", "id": 2})
            m = await recv_json(ws)
            await ws.close()
            if m["op"] == "error":
                assert m["code"] == 429 and m["id"] == 2, m
                return time.monotonic()
            assert time.monotonic() < deadline, "hub-1's edges never got the new policy"
            await asyncio.sleep(0.05)
    run(body(), timeout=30)
    assert json.loads(http_get(c.http_ports[1], "/api/policy")[1])["max_subscriptions"] == 1
    v0 = metric(c.http_ports[0], "spoke_hub_cluster_policy_version")
    assert v0 >= 2 and metric(c.http_ports[1], "spoke_hub_cluster_policy_version") == v0
    assert re.search(r"policy \(cluster version \d+, set on hub-0 by API\): max_subscriptions "
                     r"1000 -> 1", c.hub_proc(1).log())
    # A bad change is refused everywhere alike, and changes nothing.
    status, answer = http_request(c.http_ports[1], "PUT", "/api/policy",
                                  json.dumps({"max_subscriptions": 0}).encode())
    assert status == 400, answer
    assert metric(c.http_ports[1], "spoke_hub_cluster_policy_version") == v0


POLICY_FILE = "[policy]\nidle_timeout = 300\n"


def test_sighup_on_one_hub_reaches_the_edges_of_the_other(make_cluster, redis):
    c, _ = cluster_of(make_cluster, redis, hub_config=POLICY_FILE)
    c.write_hub_config("[policy]\nidle_timeout = 7\n\n[edge.edge-a]\nmax_message_bytes = 4096\n")
    c.reload_hub(1)

    async def body():
        # edge-a is linked to hub-0, which was not signalled.
        async def welcome():
            ws, w = await connect(c.url_a)
            await ws.close()
            return w["policy"]
        deadline = time.monotonic() + scaled(5)
        while (p := await welcome()) != {"idle_timeout_ms": 7000, "ping_interval_ms": 25000,
                                          "max_message_bytes": 4096}:
            assert time.monotonic() < deadline, f"edge-a still enforces {p}"
            await asyncio.sleep(0.05)
    run(body(), timeout=30)
    # A SIGHUP that changes nothing in the file (certificates rotated, say)
    # leaves a later API change alone.
    status, _ = http_request(c.http_ports[0], "PUT", "/api/policy",
                             json.dumps({"idle_timeout": 9}).encode())
    assert status == 200
    c.reload_hub(1)
    wait_for(lambda: "are as they were when last read" in c.hub_proc(1).log(), 5,
             "hub-1 to log that its file did not change")
    for port in c.http_ports:
        assert json.loads(http_get(port, "/api/policy")[1])["idle_timeout"] == 9


def test_a_hub_that_starts_takes_the_cluster_s_policy_over_its_file(make_cluster, redis):
    c, _ = cluster_of(make_cluster, redis, hub_config=POLICY_FILE)
    status, _ = http_request(c.http_ports[0], "PUT", "/api/policy",
                             json.dumps({"idle_timeout": 42}).encode())
    assert status == 200
    wait_for(lambda: json.loads(http_get(c.http_ports[1], "/api/policy")[1])["idle_timeout"] == 42,
             5, "hub-1 to apply the change")
    c.kill_hub(1)
    c.start_hub(1)  # its file still says 300
    wait_for(lambda: json.loads(http_get(c.http_ports[1], "/api/policy")[1])["idle_timeout"] == 42,
             5, "the restarted hub-1 to take the cluster's policy")
    log = c.hub_proc(1).log()
    assert "takes precedence over this hub's file" in log, log[-2000:]
    assert re.search(r"policy \(cluster version \d+, set on hub-0 by API; read at startup\): "
                     r"idle_timeout 300 -> 42", log), log[-2000:]


def test_every_hub_lists_every_edge_and_hub_until_one_is_killed(make_cluster, redis):
    c, _ = cluster_of(make_cluster, redis, split=True)
    for i in (0, 1):
        r = ctl(c.http_ports[i], "edges")
        assert r.returncode == 0, r.stderr
        rows = r.stdout.strip().splitlines()
        assert rows[0].split()[-1] == "HUB", r.stdout
        by_name = {row.split()[0]: row.split() for row in rows[1:]}
        assert set(by_name) == {"edge-a", "edge-b"}, r.stdout
        for cols in by_name.values():
            assert cols[2] == "2", cols  # workers, summed over both hubs
            assert set(cols[-1].split(",")) == {"hub-0", "hub-1"}, cols
            assert cols[-1].split(",")[0] == f"hub-{i}", "this hub's part first"
        doc = hubs_at(c, i)
        assert [h["name"] for h in doc["hubs"]] == [f"hub-{i}", f"hub-{1 - i}"], doc
        assert all(h["fresh"] and h["state"] in ("ok", "up") for h in doc["hubs"]), doc
        assert doc["hubs"][1]["http"].endswith(f":{c.http_ports[1 - i]}"), doc
        assert doc["hubs"][1]["links"] == 2 and doc["hubs"][1]["edges"] == 2, doc
        r = ctl(c.http_ports[i], "hubs")
        assert r.returncode == 0, r.stderr
        assert f"hub-{i}*" in r.stdout and f"hub-{1 - i} " in r.stdout, r.stdout
    assert metric(c.http_ports[0], "spoke_hub_cluster_hubs") == 2

    t0 = time.monotonic()
    c.kill_hub(1)  # no clean shutdown: its registration lapses after cluster_ttl
    wait_for(lambda: [h["name"] for h in hubs_at(c, 0)["hubs"]] == ["hub-0"], TTL + 5,
             "hub-1 to leave hub-0's /api/hubs")
    assert time.monotonic() - t0 >= TTL * 0.8, "gone only after its TTL"
    # Its edges' workers failed over to hub-0, which now lists them all.
    wait_views(c, {"edge-a": (2, {"hub-0"}), "edge-b": (2, {"hub-0"})}, hubs=(0,))
    assert metric(c.http_ports[0], "spoke_hub_cluster_hubs") == 1


def test_kick_and_drain_through_one_hub_of_edges_on_the_other(make_cluster, redis):
    c, _ = cluster_of(make_cluster, redis)

    async def body():
        b, bw = await connect(c.url_b)  # edge-b: hub-1
        status, raw = http_request(c.http_ports[0], "POST", "/api/disconnect",
                                   json.dumps({"conn": bw["conn"], "code": 4003,
                                               "reason": "kicked via hub-0"}).encode())
        assert status == 202, raw
        assert json.loads(raw) == {"conn": bw["conn"], "status": "sent", "hub": "hub-1"}
        with pytest.raises(Exception) as closed:
            await asyncio.wait_for(b.recv(), scaled(5))
        assert closed.value.rcvd.code == 4003 and closed.value.rcvd.reason == "kicked via hub-0"
    run(body(), timeout=30)
    edge, worker = "edge-b", 0
    status, raw = http_request(c.http_ports[0], "POST", "/api/disconnect",
                               json.dumps({"conn": f"{edge}:{worker}:deadbeef:1"}).encode())
    assert status == 404, raw

    # edge-b, all of it on hub-1, drained through hub-0.
    c.edges["edge-b"].exit_expected = True
    status, raw = http_request(c.http_ports[0], "POST", "/api/edges/edge-b/drain",
                               json.dumps({"period": 0.2}).encode())
    assert status == 202, raw
    assert json.loads(raw) == {"edge": "edge-b", "workers": 2, "hubs": ["hub-1"],
                               "status": "draining"}
    wait_for(lambda: c.edges["edge-b"].p.poll() is not None, 10, "edge-b to drain and exit")
    assert c.edges["edge-b"].p.returncode == 0

    # An edge split over both hubs: both parts drain.
    c.start_edge("edge-c")
    c.wait_edge_ready("edge-c")
    wait_views(c, {"edge-c": (2, {"hub-0", "hub-1"})}, hubs=(0,))
    c.edges["edge-c"].exit_expected = True
    status, raw = http_request(c.http_ports[0], "POST", "/api/edges/edge-c/drain",
                               json.dumps({"period": 0.2}).encode())
    assert status == 202, raw
    assert json.loads(raw) == {"edge": "edge-c", "workers": 2, "hubs": ["hub-0", "hub-1"],
                               "status": "draining"}
    wait_for(lambda: c.edges["edge-c"].p.poll() is not None, 10, "edge-c to drain and exit")
    assert c.edges["edge-c"].p.returncode == 0
    status, _ = http_request(c.http_ports[1], "POST", "/api/edges/nobody/drain")
    assert status == 404


def test_a_second_live_hub_of_one_name_stays_out_until_the_name_is_free(make_cluster, launch,
                                                                        redis):
    r = redis("r0")
    first = make_cluster(edges=("edge-a",), workers=1,
                         hub_args=redis_args(r.sock, "--name", "hub-x"))
    wait_for(lambda: ready(first.http_port)[0] == 200, 10, "the first hub-x ready")
    boot = hubs_at(first, 0)["hubs"][0]["boot"]
    second = launch("spoke-hub", ["--listen", "127.0.0.1:0", "--http", "127.0.0.1:0",
                                  *redis_args(r.sock, "--name", "hub-x")])
    port = second.wait_ready_file()["http"]

    def refused():
        # 503 while it is still joining too: wait until it has decided.
        status, doc = ready(port)
        return status == 503 and doc.get("cluster", {}).get("state") != "joining" and doc
    doc = wait_for(refused, 10, "the second hub-x to say it is out")
    assert doc["cluster"]["state"] == "name_taken", doc
    assert "held by another process" in doc["reason"] and boot in doc["reason"], doc
    wait_for(lambda: metric(port, "spoke_hub_cluster_name_conflict") == 1, 5, "the conflict metric")
    wait_for(lambda: "is registered in Redis by another process" in second.output(), 5,
             "the second hub's error")
    wait_for(lambda: "is trying to register as 'hub-x'" in first.hub_proc().log(), 5,
             "the first hub's warning")
    # The first is undisturbed: one hub-x, its own.
    assert ready(first.http_port)[0] == 200
    hubs = hubs_at(first, 0)["hubs"]
    assert [(h["name"], h["boot"]) for h in hubs] == [("hub-x", boot)], hubs
    # The first dies without a goodbye: the name is free after its TTL.
    first.kill_hub()
    wait_for(lambda: ready(port)[0] == 200, TTL + 5, "the second hub-x to take the name")
    assert metric(port, "spoke_hub_cluster_name_conflict") == 0
    assert "registered as hub-x" in second.output()


def test_garbage_in_redis_is_dropped_and_counted(make_cluster, redis):
    c, r = cluster_of(make_cluster, redis)
    far = int(time.time() * 1000) + 3_600_000
    # A hub entry with a boot that is no boot, one whose documents are not
    # JSON, an envelope that is no envelope, and a policy that is no policy.
    assert r.command("ZADD", "spoke:hubs", far, "evil", far, "junk") == ":2"
    assert r.command("HSET", "spoke:hub:evil", "boot", "zz", "reg", "{}", "view", "{}") == ":3"
    assert r.command("HSET", "spoke:hub:junk", "boot", "00000000000000aa", "reg", "{[",
                     "view", "[1,2") == ":3"
    assert r.command("PEXPIRE", "spoke:hub:junk", 60000) == ":1"
    assert r.command("PUBLISH", "spoke:hub:hub-0", "\x93\x01\x02") == ":1"
    version = metric(c.http_ports[0], "spoke_hub_cluster_policy_version")
    assert r.command("HSET", "spoke:policy", "v", 999, "doc", '{"v":1,"base":{"idle_timeout":-5}}')
    assert r.command("PUBLISH", "spoke:policy", 999) in (":2", ":4")

    wait_for(lambda: metric(c.http_ports[0], "spoke_hub_cluster_dropped_total",
                            'what="envelope"') == 1, 5, "the bad envelope counted")
    wait_for(lambda: metric(c.http_ports[1], "spoke_hub_cluster_dropped_total",
                            'what="document"') >= 2, 5, "the bad documents counted")
    wait_for(lambda: metric(c.http_ports[1], "spoke_hub_cluster_policy_versions_total",
                            'outcome="rejected"') == 1, 5, "the bad policy refused")
    assert metric(c.http_ports[1], "spoke_hub_cluster_policy_version") == version
    for i in (0, 1):
        names = [h["name"] for h in hubs_at(c, i)["hubs"]]
        assert "evil" not in names, names  # no boot: not a hub
        edges, view = edges_at(c, i)
        assert set(edges) == {"edge-a", "edge-b"} and not view["local_only"], (edges, view)
        assert ready(c.http_ports[i])[0] == 200
    assert "is not usable" in c.hub_proc(1).log()

    async def body():  # directs still cross
        a, _ = await connect(c.url_a)
        b, bw = await connect(c.url_b)
        await send(a, {"op": "send", "to": bw["conn"], "data": 1, "id": 1})
        await expect(a, op="ack", id=1)
    run(body(), timeout=20)


def test_a_memory_hub_lists_only_itself(cluster):
    status, body = http_get(cluster.http_port, "/api/hubs")
    assert status == 200
    doc = json.loads(body)
    assert [h["name"] for h in doc["hubs"]] == ["hub"] and doc["cluster"] is None, doc
    edges = json.loads(http_get(cluster.http_port, "/api/edges")[1])
    assert "cluster" not in edges and all("hubs" not in e for e in edges["edges"]), edges
    r = ctl(cluster.http_port, "edges")
    assert r.returncode == 0 and all(row.split()[-1] == "-" for row in
                                     r.stdout.strip().splitlines()[1:]), r.stdout


@pytest.mark.parametrize("args, says", [
    (["--cluster-refresh", "1", "--cluster-ttl", "1.5"], "at least twice cluster_refresh"),
    (["--cluster-refresh", "0.01"], "out of range"),
])
def test_bad_cluster_settings_stop_the_hub_at_startup(launch, args, says):
    hub = launch("spoke-hub", ["--listen", "127.0.0.1:0", "--http", "127.0.0.1:0",
                               "--engine", "redis", "--redis", "/nowhere.sock", *args])
    assert hub.outcome(HUB_STARTED_RE) == "exited"
    assert hub.p.returncode == 2 and says in hub.stderr(), hub.stderr()
