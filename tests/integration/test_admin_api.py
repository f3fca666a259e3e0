"""The hub's admin API reports health and one entry per edge worker link, with counters that follow the traffic on that link."""
import json

from helpers import connect, expect, http_get, run, send, subscribe

LINK_FIELDS = {"id", "edge", "region", "worker", "software", "addr", "topics", "publishes_in",
               "messages_out", "directs_in", "directs_out", "raw_in", "wire_in", "raw_out",
               "wire_out"}


def test_healthz_and_links_list_every_edge_worker(cluster):
    status, body = http_get(cluster.http_port, "/healthz")
    assert status == 200
    assert json.loads(body) == {"status": "ok", "links": 4}

    links = cluster.hub_links()
    for link in links:
        assert LINK_FIELDS <= set(link), f"missing {LINK_FIELDS - set(link)} in {link}"
        assert link["region"] == "test" and link["software"], link
        assert link["addr"].startswith("127.0.0.1:"), link
    assert sorted((lk["edge"], lk["worker"]) for lk in links) == [
        ("edge-a", 0), ("edge-a", 1), ("edge-b", 0), ("edge-b", 1)]
    assert len({lk["id"] for lk in links}) == 4

    status, _ = http_get(cluster.http_port, "/api/nope")
    assert status == 404


def test_link_counters_follow_publishes_and_directs(cluster):
    async def body():
        sub, sw = await connect(cluster.url_a)
        pub, pw = await connect(cluster.url_b)
        await subscribe(sub, "count/me")
        await cluster.await_interest(sw["conn"])
        p0, s0 = cluster.link_of(pw["conn"]), cluster.link_of(sw["conn"])
        for i in range(5):
            await send(pub, {"op": "pub", "topic": "count/me", "data": i})
            await expect(sub, op="msg", data=i)
        await send(pub, {"op": "send", "to": sw["conn"], "data": "d", "id": 1})
        await expect(pub, op="ack", id=1)
        await expect(sub, op="direct", data="d")
        p1, s1 = cluster.link_of(pw["conn"]), cluster.link_of(sw["conn"])
        assert p1["publishes_in"] - p0["publishes_in"] == 5
        assert s1["messages_out"] - s0["messages_out"] == 5
        assert p1["directs_in"] - p0["directs_in"] == 1
        assert s1["directs_out"] - s0["directs_out"] == 1
        for k in ("raw_in", "wire_in"):
            assert p1[k] > p0[k], f"publisher link {k} did not grow"
        for k in ("raw_out", "wire_out"):
            assert s1[k] > s0[k], f"subscriber link {k} did not grow"
    run(body())
