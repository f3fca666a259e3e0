"""When the hub dies, clients stay connected and get 503 for pub/send; when it returns on the same ports the edges relink and restore interest without any client action."""
import asyncio
import time

from helpers import connect, decode, request_until_503, run, scaled, send, subscribe


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
        deadline = time.monotonic() + scaled(10)
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
