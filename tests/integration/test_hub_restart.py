"""When the hub dies, clients stay connected: sends get 503, publishes are held and get 503 once publish_timeout passes without the hub; when it returns on the same ports the edges relink and restore interest without any client action."""
import asyncio
import time

from helpers import (connect, decode, expect, request_until_503, run, scaled, send, subscribe,
                     until_link_down)


def test_while_the_hub_is_down_sends_get_503_and_publishes_wait_for_it(make_cluster):
    cluster = make_cluster(hub_args=["--publish-timeout", "1"])

    async def body():
        a, _ = await connect(cluster.url_a)
        b, bw = await connect(cluster.url_b)
        cluster.kill_hub()
        await request_until_503(a, lambda: {"op": "send", "to": bw["conn"], "data": 1})
        t0 = time.monotonic()
        await send(a, {"op": "pub", "topic": "t", "data": 1, "id": 7})
        err = await expect(a, timeout=5, op="error", id=7)
        waited = time.monotonic() - t0
        assert err["code"] == 503 and "not published" in err["reason"], err
        assert 0.8 <= waited <= scaled(3), f"held {waited:.2f}s for a 1 s publish_timeout"
        assert a.close_code is None and b.close_code is None, "a client was closed"
    run(body())


def test_clients_survive_hub_restart_and_interest_is_restored(cluster):
    async def body():
        sub, sw = await connect(cluster.url_a)
        pub, _ = await connect(cluster.url_b)
        await subscribe(sub, "after/restart")
        await cluster.await_interest(sw["conn"])

        cluster.kill_hub()
        await until_link_down(pub)
        await asyncio.to_thread(cluster.start_hub)
        await asyncio.to_thread(cluster.wait_links, 4)
        assert sub.close_code is None and pub.close_code is None, "a client was closed"

        # The first publishes may race the edges re-sending interest: publish
        # until the subscriber hears one, without it subscribing again. The
        # new hub has none of the old one's history: the subscriber is told
        # (a reset notice) before messages come again.
        deadline = time.monotonic() + scaled(10)
        msg, i, resets = None, 0, []
        while msg is None:
            assert time.monotonic() < deadline, "no delivery 10s after the hub came back"
            await send(pub, {"op": "pub", "topic": "after/restart", "data": i})
            i += 1
            try:
                got = decode(await asyncio.wait_for(sub.recv(), 0.1))
            except asyncio.TimeoutError:
                continue
            if got["op"] == "reset":
                resets.append(got)
            else:
                msg = got
        assert msg["op"] == "msg" and msg["topic"] == "after/restart", msg
        assert len(resets) == 1 and resets[0]["topic"] == "after/restart", resets
        assert msg["seq"] > resets[0]["seq"], (resets, msg)
        assert sub.close_code is None and pub.close_code is None
    run(body())
