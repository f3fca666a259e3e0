"""When the hub dies, clients stay connected and get 503 for pub/send; when it returns on the same ports the edges relink and restore interest without any client action."""
import asyncio
import time

from helpers import connect, decode, recv_json, run, send, subscribe


async def request_until_503(ws, make_request, timeout=5.0):
    """Sends requests with fresh ids until one is refused with 503; returns that error.

    The edge notices the dead link asynchronously, so the first requests may
    still be accepted (acked or answered otherwise); after timeout, fail.
    """
    deadline = time.monotonic() + timeout
    for i in range(10_000, 20_000):
        await send(ws, dict(make_request(), id=i))
        reply = await recv_json(ws)
        while reply.get("id") != i:  # skip replies to earlier requests
            reply = await recv_json(ws)
        if reply.get("op") == "error" and reply.get("code") == 503:
            return reply
        assert time.monotonic() < deadline, f"no 503 within {timeout}s; last reply {reply!r}"
        await asyncio.sleep(0.05)


def test_pub_and_send_get_503_while_hub_down(cluster):
    async def body():
        a, _ = await connect(cluster.url_a)
        b, bw = await connect(cluster.url_b)
        cluster.kill_hub()
        err = await request_until_503(a, lambda: {"op": "pub", "topic": "t", "data": 1})
        assert isinstance(err.get("reason"), str) and err["reason"], err
        await request_until_503(a, lambda: {"op": "send", "to": bw["conn"], "data": 1})
        assert a.close_code is None and b.close_code is None, "a client was closed"
    run(body())


def test_clients_survive_hub_restart_and_interest_is_restored(cluster):
    async def body():
        sub, sw = await connect(cluster.url_a)
        pub, _ = await connect(cluster.url_b)
        await subscribe(sub, "after/restart")
        await cluster.await_interest(sw["conn"])

        cluster.kill_hub()
        await request_until_503(pub, lambda: {"op": "pub", "topic": "x", "data": 0})
        await asyncio.to_thread(cluster.start_hub)
        await asyncio.to_thread(cluster.wait_links, 4)
        assert sub.close_code is None and pub.close_code is None, "a client was closed"

        # The first publishes may race the edges re-sending interest: publish
        # until the subscriber hears one, without it subscribing again.
        deadline = time.monotonic() + 10
        msg, i = None, 0
        while msg is None:
            assert time.monotonic() < deadline, "no delivery 10s after the hub came back"
            await send(pub, {"op": "pub", "topic": "after/restart", "data": i})
            i += 1
            try:
                msg = await asyncio.wait_for(sub.recv(), 0.1)
            except asyncio.TimeoutError:
                pass
        msg = decode(msg)
        assert msg["op"] == "msg" and msg["topic"] == "after/restart", msg
        assert sub.close_code is None and pub.close_code is None
    run(body())
