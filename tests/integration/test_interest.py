"""Subscriptions decide delivery: unsub stops it for that connection, and the hub sends a topic only over links whose edge worker has a subscriber."""
from helpers import await_for, connect, expect, recv_json, run, send, subscribe


def messages_out(cluster, edge):
    """Topic messages the hub has sent over all of edge's links."""
    return sum(link["messages_out"] for link in cluster.links_of(edge))


def test_unsub_stops_delivery_to_that_connection_only(cluster):
    async def body():
        a, aw = await connect(cluster.url_a)
        other, ow = await connect(cluster.url_a)
        pub, _ = await connect(cluster.url_b)
        await subscribe(a, "t")
        await subscribe(a, "sentinel")
        await subscribe(other, "t")
        await cluster.await_interest(aw["conn"], topics=2)
        await cluster.await_interest(ow["conn"])

        await send(pub, {"op": "pub", "topic": "t", "data": "before"})
        await expect(a, op="msg", topic="t", data="before")
        await expect(other, op="msg", topic="t", data="before")

        await send(a, {"op": "unsub", "topic": "t", "id": 5})
        await expect(a, op="ack", id=5)
        for i in range(5):
            await send(pub, {"op": "pub", "topic": "t", "data": i})
        # Same publisher, same path: the sentinel arrives after the five t messages
        # would have, so it bounds the wait for anything that should not come.
        await send(pub, {"op": "pub", "topic": "sentinel", "data": "end"})
        msg = await recv_json(a)
        assert msg.get("topic") == "sentinel", f"got {msg!r} after unsub"
        for i in range(5):  # the other subscriber of t is unaffected
            await expect(other, op="msg", topic="t", data=i)
    run(body())


def test_topic_is_sent_only_to_edges_with_subscribers(cluster):
    n = 20
    topic = "only/edge-a"

    async def body():
        sub, sw = await connect(cluster.url_a)
        pub, _ = await connect(cluster.url_b)  # the publisher's own edge has no subscriber
        await subscribe(sub, topic)
        await cluster.await_interest(sw["conn"])
        a0, b0 = messages_out(cluster, "edge-a"), messages_out(cluster, "edge-b")
        for i in range(n):
            await send(pub, {"op": "pub", "topic": topic, "data": i})
        for i in range(n):
            await expect(sub, op="msg", topic=topic, data=i)
        a1, b1 = messages_out(cluster, "edge-a"), messages_out(cluster, "edge-b")
        assert a1 - a0 >= n, f"edge-a links' messages_out grew by {a1 - a0}, expected >= {n}"
        assert b1 == b0, f"edge-b links' messages_out grew by {b1 - b0}: it has no subscriber"
    run(body())


def test_interest_is_withdrawn_after_unsub_and_disconnect(cluster):
    def link_topics(conn):
        return cluster.link_of(conn)["topics"]

    async def body():
        a, aw = await connect(cluster.url_a)
        watcher, ww = await connect(cluster.url_b)
        pub, _ = await connect(cluster.url_b)
        await subscribe(a, "gone/1")
        await subscribe(a, "gone/2")
        await subscribe(watcher, "sentinel")
        await cluster.await_interest(aw["conn"], topics=2)
        await cluster.await_interest(ww["conn"])

        await send(a, {"op": "unsub", "topic": "gone/1", "id": 1})
        await expect(a, op="ack", id=1)
        await await_for(lambda: link_topics(aw["conn"]) == 1, 5, "hub to drop gone/1")
        await a.close()
        await await_for(lambda: link_topics(aw["conn"]) == 0, 5, "hub to drop gone/2")

        before = messages_out(cluster, "edge-a")
        for t in ("gone/1", "gone/2"):
            await send(pub, {"op": "pub", "topic": t, "data": 0})
        await send(pub, {"op": "pub", "topic": "sentinel", "data": "end"})
        await expect(watcher, op="msg", topic="sentinel")  # the hub has routed all three
        assert messages_out(cluster, "edge-a") == before, "withdrawn topics still go to edge-a"
    run(body())
