"""Each edge process serves /healthz (alive), /readyz (ready only with a policy and a hub link on every worker, and not draining: what a load balancer should check) and /metrics (Prometheus text) on its --admin address."""
import asyncio
import json
import re
import signal

from helpers import connect, http_get, run, scaled, wait_for


def ready(port):
    status, body = http_get(port, "/readyz")
    return status, json.loads(body)


def test_readyz_follows_the_hub_link(cluster):
    port = cluster.edge_admin_port("edge-a")
    assert http_get(port, "/healthz") == (200, b'{"status":"ok"}\n')
    wait_for(lambda: ready(port)[0] == 200, 5, "edge-a ready")
    assert ready(port)[1] == {"ready": True, "reasons": []}
    cluster.kill_hub()
    wait_for(lambda: ready(port)[0] == 503, 5, "edge-a not ready without its hub")
    status, doc = ready(port)
    assert doc["ready"] is False and any("hub link down" in r for r in doc["reasons"]), doc
    assert http_get(port, "/healthz")[0] == 200  # alive all the same
    cluster.start_hub()
    wait_for(lambda: ready(port)[0] == 200, 10, "edge-a ready again")


def test_readyz_is_503_before_any_policy(make_cluster):
    cluster = make_cluster(start_hub=False)
    port = cluster.edge_admin_port("edge-a")
    status, doc = ready(port)
    assert status == 503 and any("no policy" in r for r in doc["reasons"]), doc
    assert http_get(port, "/nope")[0] == 404


def test_metrics_count_clients_and_readiness(cluster):
    port = cluster.edge_admin_port("edge-a")

    async def body():
        await connect(cluster.url_a)
        await connect(cluster.url_a)

        # Each worker publishes its figures four times a second, on its own
        # timer: wait until both workers' latest show what the test did.
        def counted():
            text = http_get(port, "/metrics")[1].decode()
            m = re.search(r'^spoke_edge_clients\{edge="edge-a"\} (\d+)$', text, re.M)
            return (m and int(m.group(1)) == 2 and
                    re.search(r'^spoke_edge_workers_ready\{edge="edge-a"\} 2$', text, re.M)
                    and text)
        text = await asyncio.to_thread(wait_for, counted, 5,
                                       "edge-a's metrics to count 2 clients and 2 workers ready")
        assert re.search(r'^spoke_edge_closes_total\{edge="edge-a",reason="idle"\} 0$', text, re.M)
    run(body())


def test_readyz_is_503_while_draining(make_cluster):
    cluster = make_cluster(edge_args=["--drain-period", "3"])
    port = cluster.edge_admin_port("edge-a")
    edge = cluster.edges["edge-a"]
    edge.exit_expected = True

    def draining():
        # /readyz reads snapshots the workers publish four times a second:
        # a 503 alone may still be a snapshot from before the edge was
        # ready, so the answer must name the drain.
        status, answer = ready(port)
        return status == 503 and any("draining" in r for r in answer["reasons"])

    async def body():
        ws, _ = await connect(cluster.url_a)
        await asyncio.to_thread(wait_for, lambda: ready(port)[0] == 200, scaled(5), "ready")
        edge.signal(signal.SIGTERM)
        await asyncio.to_thread(wait_for, draining, scaled(5), "503 naming the drain")
        # The drain closes the client with 1001, within the drain period.
        await asyncio.wait_for(ws.wait_closed(), scaled(5))
        assert ws.close_code == 1001, ws.close_code
    run(body())
