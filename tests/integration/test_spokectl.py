"""spokectl drives a live hub's admin API: it lists the edges, shows and changes the policy, publishes to WebSocket subscribers, sends the admin token, and fails with one clear line and a non-zero exit when the hub is unreachable, refuses the token, or the usage is wrong."""
import asyncio
import json
import os
import re
import signal
import subprocess

import websockets

from conftest import CHILD_ENV, binary
from helpers import PortHold, connect, http_get, recv_json, run, scaled, subscribe, wait_for
from test_api_publish_auth import start_hub, stop_hub


def ctl(hub_port, *args, env=None, timeout=20):
    """Runs spokectl against the hub's admin port; returns the CompletedProcess."""
    full_env = dict(os.environ, **CHILD_ENV)
    full_env.pop("SPOKE_TOKEN", None)
    full_env["SPOKE_HUB"] = f"http://127.0.0.1:{hub_port}"
    full_env.update(env or {})
    return subprocess.run([binary("spokectl"), *args], capture_output=True, text=True,
                          timeout=scaled(timeout), env=full_env)


def one_line(stderr):
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, f"want one line on stderr, got {stderr!r}"
    return lines[0]


def test_edges_table_and_json_list_both_edges(cluster):
    r = ctl(cluster.http_port, "edges")
    assert r.returncode == 0, r.stderr
    rows = r.stdout.strip().splitlines()
    assert rows[0].split()[:3] == ["NAME", "REGION", "WORKERS"], r.stdout
    by_name = {row.split()[0]: row.split() for row in rows[1:]}
    assert set(by_name) == {"edge-a", "edge-b"}, r.stdout
    for cols in by_name.values():
        assert cols[1] == "test" and cols[2] == "2", cols  # region, workers

    r = ctl(cluster.http_port, "edges", "--json")
    assert r.returncode == 0, r.stderr
    edges = json.loads(r.stdout)["edges"]
    assert sorted(e["name"] for e in edges) == ["edge-a", "edge-b"]
    assert all(e["workers"] == 2 and e["region"] == "test" for e in edges), edges


def test_edges_watch_shows_rates_and_stops_on_ctrl_c(cluster, tmp_path):
    out = tmp_path / "watch.out"
    env = dict(os.environ, **CHILD_ENV, SPOKE_HUB=f"http://127.0.0.1:{cluster.http_port}")
    with open(out, "w") as f:
        p = subprocess.Popen([binary("spokectl"), "edges", "--watch"], stdout=f,
                             stderr=subprocess.STDOUT, env=env)
    try:
        wait_for(lambda: "edge-b" in out.read_text(), 10, "a --watch frame")
        p.send_signal(signal.SIGINT)
        assert p.wait(scaled(10)) == 0, out.read_text()
    finally:
        if p.poll() is None:  # a failed wait: never leave it running
            p.kill()
            p.wait()
    text = out.read_text()
    assert text.startswith("\033[H\033[2J") and "IN/S" in text and "edge-a" in text, text


def test_policy_shows_and_sets_keys(cluster):
    r = ctl(cluster.http_port, "policy")
    assert r.returncode == 0, r.stderr
    shown = dict(line.split(" = ", 1) for line in r.stdout.strip().splitlines())
    shown = {k.strip(): v for k, v in shown.items()}
    assert shown["idle_timeout"] == str(cluster.policy()["idle_timeout"]), r.stdout

    r = ctl(cluster.http_port, "policy", "set", "idle_timeout=5")
    assert r.returncode == 0, r.stderr
    assert any(line.split() == ["idle_timeout", "=", "5"] for line in r.stdout.splitlines())
    assert cluster.policy()["idle_timeout"] == 5

    # A non-number is refused before anything is sent; an unknown key by the hub.
    r = ctl(cluster.http_port, "policy", "set", "idle_timeout=soon")
    assert r.returncode == 2 and "not a number" in one_line(r.stderr)
    r = ctl(cluster.http_port, "policy", "set", "no_such_key=1")
    assert r.returncode == 1 and "no_such_key" in one_line(r.stderr)
    assert cluster.policy()["idle_timeout"] == 5


def test_publish_reaches_a_subscriber_and_prints_the_seq(cluster):
    async def body():
        ws, welcome = await connect(cluster.url_b)
        await subscribe(ws, "ops.news")
        await cluster.await_interest(welcome["conn"])
        r = ctl(cluster.http_port, "publish", "ops.news", '{"hello": [1, 2]}')
        assert r.returncode == 0, r.stderr
        assert re.fullmatch(r"published on ops\.news as seq 1 in epoch [0-9a-z]{8}",
                            r.stdout.strip()), r.stdout
        m = await recv_json(ws)
        assert m == {"op": "msg", "topic": "ops.news", "seq": 1, "data": {"hello": [1, 2]},
                     "from": "hub:api"}
    run(body())
    # Without a subscriber the message is still ordered and kept in the history.
    r = ctl(cluster.http_port, "publish", "nobody.here", "3")
    assert r.returncode == 0 and "published on nobody.here as seq 1 in epoch" in r.stdout
    r = ctl(cluster.http_port, "publish", "ops.news", "{not json")
    assert r.returncode == 2 and "not valid JSON" in one_line(r.stderr)


def test_unreachable_hub_is_one_line_and_non_zero():
    with PortHold() as closed:  # held, never listening: connections are refused
        port = closed.port
        r = ctl(port, "edges")
    assert r.returncode != 0 and r.stdout == ""
    assert one_line(r.stderr) == (f"spokectl: cannot reach the hub at http://127.0.0.1:{port}: "
                                  "Connection refused")


def test_help_and_usage_errors():
    with PortHold() as closed:  # none of these may reach a hub: there is none
        for args in (["--help"], ["edges", "--help"], ["policy", "--help"],
                     ["publish", "--help"], ["kick", "--help"], ["drain", "--help"],
                     ["topics", "--help"]):
            r = ctl(closed.port, *args)
            assert r.returncode == 0 and r.stdout.startswith("usage: spokectl"), (args, r)
        r = ctl(closed.port, "frobnicate")
        assert r.returncode == 2 and "unknown command" in one_line(r.stderr)
        r = ctl(closed.port, "--bogus", "edges")
        assert r.returncode == 2 and "unknown option" in one_line(r.stderr)
        r = ctl(closed.port, "--hub", "ftp://127.0.0.1:1", "edges")
        assert r.returncode == 2 and "http:// or https://" in one_line(r.stderr)


def test_admin_token_is_sent_from_flag_or_environment(launch):
    hub, http = start_hub(launch, "--admin-token", "ctl-s3cret")
    r = ctl(http, "policy")
    assert r.returncode == 1
    assert one_line(r.stderr).startswith("spokectl: auth refused: set --token or SPOKE_TOKEN")
    r = ctl(http, "--token", "wrong", "policy")
    assert r.returncode == 1 and "auth refused" in one_line(r.stderr)
    r = ctl(http, "policy", env={"SPOKE_TOKEN": "ctl-s3cret"})
    assert r.returncode == 0 and "idle_timeout" in r.stdout, r.stderr
    r = ctl(http, "--token", "ctl-s3cret", "edges", "--json")
    assert r.returncode == 0 and json.loads(r.stdout)["edges"] == [], r.stderr
    stop_hub(hub)


def test_edges_counts_clients_right(cluster):
    async def body():
        for _ in range(3):
            await connect(cluster.url_a)
        await connect(cluster.url_b)

        def counted():
            rows = ctl(cluster.http_port, "edges", "--json")
            edges = {e["name"]: e for e in json.loads(rows.stdout)["edges"]}
            return edges["edge-a"]["clients"] == 3 and edges["edge-b"]["clients"] == 1
        await asyncio.to_thread(wait_for, counted, 5, "spokectl edges to count the clients")
    run(body())


def test_kick_closes_the_named_connection(cluster):
    async def body():
        ws, w = await connect(cluster.url_a)
        r = await asyncio.to_thread(ctl, cluster.http_port, "kick", w["conn"], "--reason", "bye")
        assert r.returncode == 0, r.stderr
        try:
            await asyncio.wait_for(ws.recv(), scaled(5))
            raise AssertionError("the kicked connection stayed open")
        except websockets.ConnectionClosed:
            pass
        assert ws.close_code == 4001 and ws.close_reason == "bye"
        r = await asyncio.to_thread(ctl, cluster.http_port, "kick", "edge-a:0:deadbeef:1")
        assert r.returncode != 0 and "unknown connection" in one_line(r.stderr)
    run(body())


def test_drain_turns_the_edge_not_ready_moves_clients_off_and_exits_0(make_cluster):
    cluster = make_cluster(edge_args=["--drain-period", "1"])
    edge = cluster.edges["edge-b"]
    edge.exit_expected = True
    admin = cluster.edge_admin_port("edge-b")

    async def body():
        clients = [(await connect(cluster.url_b))[0] for _ in range(3)]
        r = await asyncio.to_thread(ctl, cluster.http_port, "drain", "edge-b")
        assert r.returncode == 0, r.stderr
        await asyncio.to_thread(wait_for, lambda: http_get(admin, "/readyz")[0] == 503, 5,
                                "edge-b not ready")
        for ws in clients:
            await asyncio.wait_for(ws.wait_closed(), scaled(10))
            assert ws.close_code == 1001
    run(body())
    wait_for(lambda: edge.p.poll() is not None, 10, "edge-b to exit")
    assert edge.p.returncode == 0


def test_topics_lists_subscribed_topics_with_their_seq(cluster):
    async def body():
        ws, w = await connect(cluster.url_a)
        await subscribe(ws, "ctl.topic")
        await cluster.await_interest(w["conn"])
        r = await asyncio.to_thread(ctl, cluster.http_port, "publish", "ctl.topic", '"x"')
        assert r.returncode == 0, r.stderr
        await recv_json(ws)
        r = await asyncio.to_thread(ctl, cluster.http_port, "topics", "--json")
        assert r.returncode == 0, r.stderr
        topics = {t["topic"]: t for t in json.loads(r.stdout)["topics"]}
        assert topics["ctl.topic"]["seq"] == 1 and topics["ctl.topic"]["links"] == 1
        r = await asyncio.to_thread(ctl, cluster.http_port, "topics")
        assert r.returncode == 0 and "ctl.topic" in r.stdout, r.stdout
    run(body())
