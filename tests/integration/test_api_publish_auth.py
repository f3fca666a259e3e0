"""The hub's admin API publishes for an app backend (POST /api/publish, answered with its seq and epoch like any publish, kept in the history even without subscribers), and requires its admin token on /api/ when one is set, refusing to serve a non-loopback address without one."""
import json
import os
import re
import subprocess
import urllib.request

from conftest import CHILD_ENV, binary
from helpers import HOST, connect, http_get, http_request, recv_json, run, scaled, subscribe


def post(port, path, obj=None, raw=None, headers=None):
    body = raw if raw is not None else json.dumps(obj).encode()
    return http_request(port, "POST", path, body)


def test_api_publish_reaches_subscribers_on_every_edge_with_a_seq(cluster):
    async def body():
        a, wa = await connect(cluster.url_a)
        b, wb = await connect(cluster.url_b, "spoke.msgpack")
        await subscribe(a, "news.1")
        await subscribe(b, "news.1")
        await cluster.await_interest(wa["conn"])
        await cluster.await_interest(wb["conn"])
        epochs = set()
        for n in (1, 2):
            status, raw = post(cluster.http_port, "/api/publish",
                               {"topic": "news.1", "data": {"headline": "hi", "n": n}})
            assert status == 200, raw
            answer = json.loads(raw)
            assert (answer["topic"], answer["seq"]) == ("news.1", n), answer
            assert re.fullmatch(r"[0-9a-z]{8}", answer["epoch"]), answer
            epochs.add(answer["epoch"])
            for ws in (a, b):
                m = await recv_json(ws)
                assert m == {"op": "msg", "topic": "news.1", "seq": n,
                             "data": {"headline": "hi", "n": n}, "from": "hub:api"}
        assert len(epochs) == 1
        # Nobody anywhere on this topic: it is ordered all the same, and kept.
        status, raw = post(cluster.http_port, "/api/publish", {"topic": "nobody", "data": 1})
        assert status == 200 and json.loads(raw)["seq"] == 1, raw
    run(body())


def test_api_publish_refuses_bad_requests(cluster):
    bad = [
        (b"not json", 400), (b"[1,2]", 400), (json.dumps({"data": 1}).encode(), 400),
        (json.dumps({"topic": "bad topic", "data": 1}).encode(), 400),
        (json.dumps({"topic": "t"}).encode(), 400),
        (json.dumps({"topic": "t", "data": "x" * 70000}).encode(), 413),
    ]
    for raw, want in bad:
        status, body = post(cluster.http_port, "/api/publish", raw=raw)
        assert status == want, (raw[:40], status, body)
        assert "error" in json.loads(body)
    status, _ = http_get(cluster.http_port, "/api/publish")
    assert status == 405


def start_hub(launch, *args):
    """A hub alone on port 0; returns (Launch, its HTTP port from the ready file)."""
    hub = launch("spoke-hub", ["--listen", f"{HOST}:0", "--http", f"{HOST}:0", *args])
    return hub, hub.wait_ready_file()["http"]


def stop_hub(hub):
    """SIGTERM; asserts a clean exit 0 without sanitizer reports; returns the output."""
    problems = hub.stop()
    assert not problems and hub.p.returncode == 0, (hub.p.returncode, problems)
    return hub.output()


def auth_request(port, method, path, token=None, body=None):
    req = urllib.request.Request(f"http://127.0.0.1:{port}{path}", data=body, method=method)
    if token is not None:
        req.add_header("Authorization", token)
    try:
        with urllib.request.build_opener(urllib.request.ProxyHandler({})).open(
                req, timeout=scaled(2)) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def test_admin_token_is_required_on_api_paths_only(launch):
    hub, http = start_hub(launch, "--admin-token", "s3cret-token")
    assert auth_request(http, "GET", "/api/policy")[0] == 401
    assert auth_request(http, "GET", "/api/policy", "Bearer wrong-token!")[0] == 401
    assert auth_request(http, "GET", "/api/policy", "Bearer s3cret-toke")[0] == 401
    assert auth_request(http, "GET", "/api/policy", "Basic s3cret-token")[0] == 401
    status, body = auth_request(http, "GET", "/api/policy", "Bearer s3cret-token")
    assert status == 200 and "idle_timeout" in json.loads(body)
    status, _ = auth_request(http, "PUT", "/api/policy", None, b'{"idle_timeout": 5}')
    assert status == 401
    status, body = auth_request(http, "PUT", "/api/policy", "Bearer s3cret-token",
                                b'{"idle_timeout": 5}')
    assert status == 200 and json.loads(body)["idle_timeout"] == 5
    assert auth_request(http, "GET", "/healthz")[0] == 200  # health stays open
    text = stop_hub(hub)
    assert "s3cret-token" not in text  # secrets never reach the log


def test_hub_refuses_a_public_admin_address_without_a_token():
    r = subprocess.run([binary("spoke-hub"), "--listen", f"{HOST}:0", "--http", "0.0.0.0:0"],
                       capture_output=True, text=True, timeout=scaled(10),
                       env=dict(os.environ, **CHILD_ENV))
    assert r.returncode == 2
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "admin_token" in lines[0], r.stderr
