"""Draining an edge (SIGTERM, or POST /api/edges/NAME/drain from the hub) stops it accepting, closes its clients with 1001 spread over the drain period rather than all at once, and then exits 0; a second SIGTERM stops it at once, closing the clients still open with 1001 too."""
import asyncio
import errno
import json
import signal
import socket
import time

from helpers import HOST, await_for, connect, http_request, run, scaled, wait_for


async def close_times(clients, timeout):
    """Waits for every client to be closed by the edge; returns (code, time) pairs."""
    async def one(ws):
        try:
            await asyncio.wait_for(ws.wait_closed(), scaled(timeout))
        except asyncio.TimeoutError:
            raise AssertionError("a client was not closed by the drain")
        return ws.close_code, time.monotonic()
    return await asyncio.gather(*(one(ws) for ws in clients))


def refused(port):
    s = socket.socket()
    try:
        s.settimeout(scaled(1))
        return s.connect_ex((HOST, port)) in (errno.ECONNREFUSED,)
    finally:
        s.close()


def test_sigterm_drains_clients_gradually_then_exits(make_cluster):
    cluster = make_cluster(edge_args=["--drain-period", "1.5"])
    edge = cluster.edges["edge-a"]
    edge.exit_expected = True  # it exits by itself once drained

    async def body():
        clients = [(await connect(cluster.url_a))[0] for _ in range(12)]
        t0 = time.monotonic()
        edge.signal(signal.SIGTERM)
        await asyncio.to_thread(wait_for, lambda: refused(cluster.edge_ports["edge-a"]), 5,
                                "edge-a to stop accepting")
        result = await close_times(clients, 10)
        assert {code for code, _ in result} == {1001}
        times = sorted(t - t0 for _, t in result)
        # Spread over the period: not all in the first instant, all within it (+ slack).
        assert times[-1] - times[0] >= 0.5, times
        assert times[-1] <= 1.5 + scaled(2.0), times
    run(body())
    wait_for(lambda: edge.p.poll() is not None, 10, "edge-a to exit after the drain")
    assert edge.p.returncode == 0
    assert "drain complete" in cluster.edge_log("edge-a")


def test_hub_api_drains_one_edge_and_the_other_keeps_serving(cluster):
    cluster.edges["edge-b"].exit_expected = True  # it exits by itself once drained

    async def body():
        a, _ = await connect(cluster.url_a)
        b, _ = await connect(cluster.url_b)
        status, raw = http_request(cluster.http_port, "POST", "/api/edges/edge-b/drain",
                                   json.dumps({"period": 0.3}).encode())
        assert status == 202, raw
        assert json.loads(raw) == {"edge": "edge-b", "workers": 2, "status": "draining"}
        (code, _), = await close_times([b], 10)
        assert code == 1001
        await a.send(json.dumps({"op": "ping", "id": 1}))
        assert json.loads(await a.recv()) == {"op": "pong", "id": 1}
    run(body())
    edge = cluster.edges["edge-b"]
    wait_for(lambda: edge.p.poll() is not None, 10, "edge-b to exit after the drain")
    assert edge.p.returncode == 0
    status, _ = http_request(cluster.http_port, "POST", "/api/edges/nobody/drain")
    assert status == 404


def test_second_sigterm_stops_at_once(make_cluster):
    # One worker and an hour's drain: the first tick closes one client (its
    # share, rounded up), the next would come after 15 minutes.
    cluster = make_cluster(edges=("edge-a",), workers=1, edge_args=["--drain-period", "3600"])
    edge = cluster.edges["edge-a"]
    edge.exit_expected = True

    async def body():
        clients = [(await connect(cluster.url_a))[0] for _ in range(4)]
        edge.signal(signal.SIGTERM)
        await await_for(lambda: any(ws.close_code is not None for ws in clients), 5,
                        "the drain to close its first client")
        still_open = [ws for ws in clients if ws.close_code is None]
        assert len(still_open) == 3, [ws.close_code for ws in clients]
        t0 = time.monotonic()
        edge.signal(signal.SIGTERM)
        await asyncio.to_thread(wait_for, lambda: edge.p.poll() is not None, 10,
                                "edge-a to stop")
        took = time.monotonic() - t0
        assert took < scaled(2), f"the second SIGTERM took {took:.2f}s to stop the edge"
        codes = await close_times(still_open, 5)
        assert [code for code, _ in codes] == [1001] * 3, codes
    run(body())
    assert edge.p.returncode == 0
