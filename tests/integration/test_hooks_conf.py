"""The backend hooks configuration goes from the hub's [hooks] section to every edge worker: pushed at link time and on change (PUT /api/hooks, SIGHUP), shown by GET /api/hooks with the secret hidden, a bad PUT or a broken section changing nothing, and a hub with a broken [hooks] refusing to start."""
import json
import os
import subprocess

from conftest import CHILD_ENV, binary
from helpers import (HOST, connect, http_get, http_request, metric, recv_json, run, scaled, send,
                     wait_for)

HOOKS = """[hooks]
url = http://127.0.0.1:9/hooks
secret = sekrit-123
timeout = 0.5
connect = open
subscribe = on
subscribe_topics = private.* chat
forward_headers = Cookie User-Agent
"""


def get_hooks(cluster):
    status, body = http_get(cluster.http_port, "/api/hooks")
    assert status == 200, body
    return json.loads(body)


def put_hooks(cluster, doc):
    body = doc if isinstance(doc, bytes) else json.dumps(doc).encode()
    status, answer = http_request(cluster.http_port, "PUT", "/api/hooks", body)
    return status, json.loads(answer)


def wait_edges_version(cluster, version, timeout=5.0):
    """Until every edge's spoke_edge_hooks_version is `version`."""
    for name in cluster.edge_ports:
        port = cluster.edge_admin_port(name)
        wait_for(lambda: metric(port, "spoke_edge_hooks_version") == version, scaled(timeout),
                 f"hooks version {version} on {name}")


def test_the_sections_hooks_reach_the_edges_and_show_without_the_secret(make_cluster):
    cluster = make_cluster(hub_config=HOOKS)
    doc = get_hooks(cluster)
    assert doc["version"] == 1
    assert doc["secret"] == "(set)", doc
    assert "sekrit" not in json.dumps(doc)
    assert doc["url"] == "http://127.0.0.1:9/hooks"
    assert doc["timeout_ms"] == 500
    assert doc["forward_headers"] == ["Cookie", "User-Agent"]
    assert doc["events"] == {"connect": {"fail": "open"},
                             "subscribe": {"fail": "closed", "topics": ["private.*", "chat"]}}
    wait_edges_version(cluster, 1)


def test_put_changes_the_hooks_and_the_edges_get_the_new_version(make_cluster):
    cluster = make_cluster(hub_config=HOOKS)
    wait_edges_version(cluster, 1)
    doc = get_hooks(cluster)
    doc["events"]["rpc"] = {"url": "http://127.0.0.1:9/call"}
    del doc["version"]  # optional in a PUT: the hub numbers its versions
    status, answer = put_hooks(cluster, doc)  # "secret": "(set)" keeps the secret
    assert status == 200, answer
    assert answer["version"] == 2 and answer["secret"] == "(set)"
    assert answer["events"]["rpc"] == {"fail": "closed", "url": "http://127.0.0.1:9/call"}
    wait_edges_version(cluster, 2)

    # The same document again changes nothing: no new version.
    status, again = put_hooks(cluster, doc)
    assert status == 200 and again["version"] == 2, again

    # Every event off, the secret removed: a change the edges get too.
    status, off = put_hooks(cluster, {"secret": ""})
    assert status == 200, off
    assert off["version"] == 3 and off["events"] == {} and off["secret"] == ""
    wait_edges_version(cluster, 3)


def test_a_bad_put_is_400_and_changes_nothing(make_cluster):
    cluster = make_cluster(hub_config=HOOKS)
    wait_edges_version(cluster, 1)
    before = get_hooks(cluster)
    for doc, needle in (
            ({"events": {"connect": {"fail": "sometimes"}}}, "events.connect.fail"),
            ({"timeout_ms": 0}, "timeout_ms"),
            ({"url": "ftp://x"}, "url"),
            ({"events": {"bogus": {}}}, "bogus"),
            ({"forward_headers": ["Bad Header"]}, "forward_headers"),
            ({"unknown": 1}, "unknown"),
            (b"not json", ""),
            (b"[1, 2]", "")):
        status, answer = put_hooks(cluster, doc)
        assert status == 400, (doc, status, answer)
        assert needle in answer["error"], (doc, answer)
    assert get_hooks(cluster) == before
    assert all(metric(cluster.edge_admin_port(n), "spoke_edge_hooks_version") == 1
               for n in cluster.edge_ports)


def reload_and_wait(cluster):
    """SIGHUP, then waits until the hub has read the whole file (its policy
    line comes after the hooks are read), so that the next write of the
    file cannot race this reload."""
    def done():
        log = cluster.hub_proc().log()
        return log.count("history rules reloaded") + log.count("policy reload failed")
    before = done()
    cluster.reload_hub()
    wait_for(lambda: done() > before, scaled(5), "the hub's reload")


def test_sighup_bumps_the_version_and_a_broken_section_keeps_the_old_hooks(make_cluster):
    cluster = make_cluster(hub_config=HOOKS)
    wait_edges_version(cluster, 1)

    # Unchanged file: no new version.
    reload_and_wait(cluster)
    assert get_hooks(cluster)["version"] == 1
    cluster.write_hub_config(HOOKS.replace("timeout = 0.5", "timeout = 1.5"))
    reload_and_wait(cluster)
    wait_edges_version(cluster, 2)
    assert get_hooks(cluster)["timeout_ms"] == 1500

    # A broken section: logged, the hooks in force stay, and the policy in
    # the same file still reloads.
    cluster.write_hub_config(HOOKS.replace("connect = open", "connect = sometimes")
                             + "[policy]\nmax_subscriptions = 77\n")
    reload_and_wait(cluster)
    assert "hooks reload failed" in cluster.hub_proc().log()
    assert "connect: 'sometimes' is not off, on, closed or open" in cluster.hub_proc().log()
    wait_for(lambda: cluster.policy()["max_subscriptions"] == 77, scaled(5), "the new policy")
    doc = get_hooks(cluster)
    assert doc["version"] == 2 and doc["timeout_ms"] == 1500, doc
    assert all(metric(cluster.edge_admin_port(n), "spoke_edge_hooks_version") == 2
               for n in cluster.edge_ports)

    # The section removed: every hook off, pushed as a new version.
    cluster.write_hub_config("[policy]\nmax_subscriptions = 77\n")
    reload_and_wait(cluster)
    wait_edges_version(cluster, 3)
    assert get_hooks(cluster)["events"] == {}


def test_an_edge_linking_later_gets_the_hooks(make_cluster):
    cluster = make_cluster(hub_config=HOOKS, edges=("edge-a",), workers=2)
    wait_edges_version(cluster, 1)
    cluster.start_edge("edge-late")
    cluster.wait_edge_ready("edge-late")
    port = cluster.edge_admin_port("edge-late")
    wait_for(lambda: metric(port, "spoke_edge_hooks_version") == 1, scaled(5),
             "hooks on the late edge")


def test_without_a_section_every_hook_is_off_and_edges_are_told_so(make_cluster):
    cluster = make_cluster()
    doc = get_hooks(cluster)
    assert doc["events"] == {} and doc["secret"] == "" and doc["version"] == 1
    wait_edges_version(cluster, 1)


def test_a_hub_restarted_without_hooks_turns_them_off_on_the_edges(make_cluster):
    """The edges keep their clients across the restart and relink: the new
    hub's empty [hooks] must replace what they held, or they would go on
    refusing subscriptions to a backend that is no longer configured."""
    cluster = make_cluster(hub_config=HOOKS.replace("subscribe = on", "subscribe = closed"))
    wait_edges_version(cluster, 1)

    async def subscribe_answer(topic, id_):
        ws, _ = await connect(cluster.url_a)
        await send(ws, {"op": "sub", "topic": topic, "id": id_})
        msg = await recv_json(ws)
        await ws.close()
        return msg

    # The backend (port 9) is down and subscribe fails closed: refused.
    refused = run(subscribe_answer("private.x", 1))
    assert refused["op"] == "error" and refused["id"] == 1, refused

    cluster.write_hub_config("[policy]\nmax_subscriptions = 77\n")
    cluster.kill_hub()
    cluster.start_hub()
    cluster.wait_links(len(cluster.names) * cluster.workers)
    wait_for(lambda: cluster.policy()["max_subscriptions"] == 77, scaled(5), "the new hub's policy")
    # The link is up, but the edge may not have read the new hooks yet.
    answers = []
    wait_for(lambda: answers.append(run(subscribe_answer("private.x", 2))) or
             answers[-1]["op"] == "ack", scaled(5), "a subscription allowed without hooks")
    assert answers[-1]["id"] == 2, answers


def test_a_hub_with_a_broken_hooks_section_refuses_to_start(tmp_path):
    for text, needle in (
            ("[hooks]\nconnect = sometimes\n", "connect: 'sometimes'"),
            ("[hooks]\nnope = 1\n", "'nope' is not a [hooks] key"),
            ("[hooks]\nsubscribe = on\n", "subscribe is on but neither url"),
            ("[hooks]\nurl = http://h\ntimeout = 99\n", "timeout: out of range")):
        ini = tmp_path / "hub.ini"
        ini.write_text(text)
        r = subprocess.run([binary("spoke-hub"), "--listen", f"{HOST}:0", "--http", f"{HOST}:0",
                            "-c", str(ini)], capture_output=True, text=True,
                           timeout=scaled(10), env=dict(os.environ, **CHILD_ENV))
        assert r.returncode == 2, (text, r.stderr)
        assert needle in r.stderr and "[hooks]" in r.stderr, (text, r.stderr)
