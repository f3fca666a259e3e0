"""Backend hooks (docs/hooks.md) against a real HTTP backend: connect
allowed with a user, auto-subscriptions and welcome data, or denied with a
status; subscribe and publish denied, publish data replaced; an rpc round
trip; every call signed; a backend that hangs (the client gets its error in
time, other clients are unaffected), one that is down (fail open and fail
closed), the breaker opening and closing; disconnects reported in batches."""
import asyncio
import json
import socket
import time

import pytest
import websockets

from helpers import (connect, expect, http_request, metric, open_ws, recv_json, run, scaled, send,
                     subscribe,
                     wait_for)
from hookbackend import Backend


@pytest.fixture
def backend():
    b = Backend()
    yield b
    b.stop()


def hooks_ini(url, **extra):
    keys = {"url": url, "secret": "s3cret", "timeout": "1", "connect": "closed",
            "subscribe": "closed", "subscribe_topics": "private.*", "publish": "closed",
            "publish_topics": "moderated.*", "rpc": "closed", "disconnect": "on",
            "disconnect_interval": "0.1", "disconnect_batch": "3",
            "forward_headers": "X-Session", "breaker_failures": "3",
            "breaker_cooldown": "1"}
    keys.update(extra)
    return "[hooks]\n" + "".join(f"{k} = {v}\n" for k, v in keys.items() if v is not None)


def started(make_cluster, ini, workers=1):
    cluster = make_cluster(hub_config=ini, workers=workers)
    for name in ("edge-a", "edge-b"):
        wait_for(lambda: metric(cluster.edge_admin_port(name), "spoke_edge_hooks_version") >= 1,
                 scaled(5), f"{name} to get the hooks")
    return cluster


def closed_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def test_connect_allowed_with_user_subscriptions_and_data_every_call_signed(make_cluster,
                                                                              backend):
    backend.answer["connect"] = lambda b: (200, {"user": "alice", "subscribe": ["news.alice"],
                                                 "data": {"plan": "pro"}})
    cluster = started(make_cluster, hooks_ini(backend.url))

    async def body():
        ws, welcome = await connect(cluster.url_a + "?room=7",
                                    extra_headers={"X-Session": "abc123"})
        assert welcome["user"] == "alice" and welcome["data"] == {"plan": "pro"}, welcome
        await cluster.await_interest(welcome["conn"])
        status, _ = await asyncio.to_thread(
            lambda: http_request(
                cluster.http_port, "POST", "/api/publish",
                json.dumps({"topic": "news.alice", "data": "hi"}).encode()))
        assert status == 200
        msg = await expect(ws, op="msg", topic="news.alice")
        assert msg["data"] == "hi"
        return welcome
    welcome = run(body())
    (event, headers, req, signed), = backend.of("connect")
    assert signed, headers
    assert headers["X-Spoke-Event"] == "connect"
    assert req["conn"] == welcome["conn"] and req["user"] is None
    assert req["headers"] == {"X-Session": "abc123"} and req["target"] == "/ws?room=7"
    assert req["remote"].startswith("127.0.0.1:") and req["protocol"] == "spoke.json"
    assert req["edge"] == "edge-a"


def test_connect_denied_gets_the_backends_status(make_cluster, backend):
    backend.answer["connect"] = lambda b: (401, {"reason": "log in first"})
    cluster = started(make_cluster, hooks_ini(backend.url))

    async def body():
        with pytest.raises(websockets.InvalidStatusCode) as e:
            await open_ws(cluster.url_a)
        assert e.value.status_code == 401
    run(body())
    backend.answer["connect"] = lambda b: (200, {"deny": {"code": 403, "reason": "banned"}})

    async def again():
        with pytest.raises(websockets.InvalidStatusCode) as e:
            await open_ws(cluster.url_a)
        assert e.value.status_code == 403
    run(again())


def test_subscribe_and_publish_decided_and_publish_data_replaced(make_cluster, backend):
    backend.answer["subscribe"] = lambda b: (
        (200, {}) if b["topic"] == "private.ok" else (403, {"reason": "not yours"}))
    backend.answer["publish"] = lambda b: (
        (200, {"data": {"clean": b["data"]["text"].replace("darn", "****")}})
        if b["data"].get("text") else (200, {"deny": {"code": 400, "reason": "no text"}}))
    cluster = started(make_cluster, hooks_ini(backend.url))

    async def body():
        ws, w = await connect(cluster.url_a)
        await send(ws, {"op": "sub", "topic": "private.no", "id": 1})
        err = await expect(ws, op="error", id=1)
        assert err["code"] == 403 and err["reason"] == "not yours"
        await subscribe(ws, "private.ok")
        await subscribe(ws, "moderated.room")  # not a subscribe-hook topic: no call
        await cluster.await_interest(w["conn"], 2)
        pub, _ = await connect(cluster.url_b)
        await send(pub, {"op": "pub", "topic": "moderated.room", "data": {"text": "darn it"},
                         "id": 2})
        await expect(pub, op="ack", id=2)
        msg = await expect(ws, op="msg", topic="moderated.room")
        assert msg["data"] == {"clean": "**** it"}
        await send(pub, {"op": "pub", "topic": "moderated.room", "data": {"x": 1}, "id": 3})
        err = await expect(pub, op="error", id=3)
        assert err["code"] == 400 and err["reason"] == "no text"
        # Outside the hook's topics nothing is asked.
        await send(pub, {"op": "pub", "topic": "free.room", "data": 1, "id": 4})
        await expect(pub, op="ack", id=4)
    run(body())
    assert [c[2]["topic"] for c in backend.of("subscribe")] == ["private.no", "private.ok"]
    assert all(c[3] for c in backend.calls), "a call was not signed"


def test_rpc_round_trip_in_both_encodings(make_cluster, backend):
    backend.answer["rpc"] = lambda b: (
        (200, {"data": {"sum": sum(b["data"])}}) if b["method"] == "add"
        else (404, {"reason": "no such method"}))
    cluster = started(make_cluster, hooks_ini(backend.url))

    async def body():
        ws, _ = await connect(cluster.url_a)
        await send(ws, {"op": "rpc", "method": "add", "data": [1, 2, 3], "id": 5})
        assert await expect(ws, op="rpc", id=5) == {"op": "rpc", "id": 5, "data": {"sum": 6}}
        await send(ws, {"op": "rpc", "method": "nope", "id": 6})
        err = await expect(ws, op="error", id=6)
        assert err["code"] == 404 and err["reason"] == "no such method"
        await send(ws, {"op": "rpc", "method": "add", "data": [1]})  # no id
        err = await expect(ws, op="error")
        assert err["code"] == 400 and "id" in err["reason"]
        mp, _ = await connect(cluster.url_b, "spoke.msgpack")
        await send(mp, {"op": "rpc", "method": "add", "data": [4, 5], "id": 7})
        assert (await expect(mp, op="rpc", id=7))["data"] == {"sum": 9}
    run(body())
    assert [c[2]["method"] for c in backend.of("rpc")] == ["add", "nope", "add"]


def test_a_hanging_backend_times_out_and_others_go_on(make_cluster, backend):
    backend.answer["subscribe"] = "hang"
    cluster = started(make_cluster, hooks_ini(backend.url, timeout="0.7"))

    async def body():
        slow, _ = await connect(cluster.url_a)
        other, _ = await connect(cluster.url_a)  # the same worker (workers=1)
        t0 = time.monotonic()
        await send(slow, {"op": "sub", "topic": "private.slow", "id": 1})
        # Meanwhile the worker serves the other client at once.
        for i in range(5):
            await send(other, {"op": "ping", "id": 10 + i})
            await expect(other, timeout=0.5, op="pong", id=10 + i)
            assert time.monotonic() - t0 < 0.6
        err = await expect(slow, timeout=5, op="error", id=1)
        took = time.monotonic() - t0
        assert err["code"] == 503, err  # fail closed
        assert 0.6 < took < scaled(3), took
    run(body())
    backend.release()
    port = cluster.edge_admin_port("edge-a")
    wait_for(lambda: metric(port, "spoke_edge_hook_calls_total",
                            'event="subscribe",outcome="failed"') == 1, scaled(5), "the failure")


def test_a_backend_that_is_down_fails_open_or_closed_as_configured(make_cluster, backend):
    down = f"http://127.0.0.1:{closed_port()}/hooks"
    cluster = started(make_cluster, hooks_ini(down, connect="open", subscribe="closed",
                                              breaker_failures="100"))

    async def body():
        ws, welcome = await connect(cluster.url_a)  # connect fails open
        assert welcome["op"] == "welcome"
        await send(ws, {"op": "sub", "topic": "private.x", "id": 1})
        err = await expect(ws, op="error", id=1)  # subscribe fails closed
        assert err["code"] == 503
    run(body())


def test_the_breaker_opens_on_a_dead_backend_and_closes_when_it_is_back(make_cluster, backend):
    backend.answer["subscribe"] = lambda b: (500, {})
    cluster = started(make_cluster, hooks_ini(backend.url, breaker_failures="3",
                                              breaker_cooldown="1"))
    port = cluster.edge_admin_port("edge-a")

    async def body():
        ws, _ = await connect(cluster.url_a)
        for i in range(6):
            await send(ws, {"op": "sub", "topic": f"private.t{i}", "id": i})
            assert (await expect(ws, op="error", id=i))["code"] == 503
        # Three calls reached the backend; then the breaker kept it out.
        assert len(backend.of("subscribe")) == 3
        await asyncio.to_thread(wait_for, lambda: metric(
            port, "spoke_edge_hook_breaker_opened_total") == 1, scaled(5), "the breaker open")
        assert metric(port, "spoke_edge_hook_calls_total",
                      'event="subscribe",outcome="breaker_refused"') == 3
        backend.answer["subscribe"] = lambda b: (200, {})
        # While the breaker is open subscribes are refused without a call;
        # once the cooldown is over one goes through and closes it.
        deadline = time.monotonic() + scaled(5)
        for n in range(1000):
            await send(ws, {"op": "sub", "topic": "private.back", "id": 100 + n})
            reply = await recv_json(ws)
            if reply["op"] == "ack":
                break
            assert reply["code"] == 503 and time.monotonic() < deadline, reply
            await asyncio.sleep(0.05)
        assert len(backend.of("subscribe")) == 4
        await subscribe(ws, "private.again")
        assert len(backend.of("subscribe")) == 5
    run(body())


def test_disconnects_are_reported_in_batches(make_cluster, backend):
    cluster = started(make_cluster, hooks_ini(backend.url, disconnect_batch="3"))

    async def body():
        conns = []
        for _ in range(5):
            ws, w = await connect(cluster.url_a)
            conns.append(w["conn"])
            await ws.close()
        return conns
    conns = run(body())

    def reported():
        got = [d["conn"] for c in backend.of("disconnect") for d in c[2]["disconnects"]]
        return sorted(got) == sorted(conns) and got
    wait_for(reported, scaled(5), "all five disconnects reported")
    batches = [len(c[2]["disconnects"]) for c in backend.of("disconnect")]
    assert max(batches) <= 3 and sum(batches) == 5, batches
    assert all(c[3] for c in backend.of("disconnect"))
