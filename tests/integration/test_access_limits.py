"""--allowed-origins refuses upgrades from unlisted browser origins with 403 (requests without Origin pass), and --max-conns-per-ip caps one address's concurrent connections across all of an edge's workers with 429, freeing a place when a connection closes."""
import asyncio
import time

import pytest
import websockets

from helpers import (RawWS, await_for, connect, parse_conn, ping_pong, raw_upgrade, run, scaled,
                     wait_closed)

ORIGINS = "https://app.example.com,https://other.example"


@pytest.fixture
def origin_cluster(make_cluster):
    return make_cluster(edges=("edge-a",), edge_args=["--allowed-origins", ORIGINS])


@pytest.mark.parametrize("origin", ["https://evil.example", "https://app.example.com.evil.example",
                                    "http://app.example.com", "https://app.example.com:8443",
                                    "null"])
def test_unlisted_origin_is_refused_with_403(origin_cluster, origin):
    status, _, body = raw_upgrade(origin_cluster.edge_ports["edge-a"], headers=[("Origin", origin)])
    assert (status, body.strip()) == (403, b"origin not allowed"), (
        f"Origin {origin!r} answered {status} {body!r}")


def test_listed_origins_and_no_origin_are_admitted(origin_cluster):
    async def body():
        for origin in ("https://app.example.com", "https://other.example",
                       "HTTPS://App.Example.COM", None):  # matching ignores ASCII case
            ws, welcome = await connect(origin_cluster.url_a, origin=origin)
            await ping_pong(ws, 1)
    run(body())
    port = origin_cluster.edge_ports["edge-a"]
    assert raw_upgrade(port, headers=[("Origin", "https://other.example")])[0] == 101
    assert raw_upgrade(port)[0] == 101


def test_max_conns_per_ip_counts_across_workers_and_frees_on_close(make_cluster):
    limit = 4
    cluster = make_cluster(edges=("edge-a",), workers=2,
                           edge_args=["--max-conns-per-ip", str(limit)])
    port = cluster.edge_ports["edge-a"]

    def refused_with_429():
        status, _, body = raw_upgrade(port, timeout=2)
        assert status == 429, f"connection over the limit answered {status} {body!r}"

    def workers_of(clients):
        return {parse_conn(w["conn"])[1] for _, w in clients}

    async def body():
        clients = [await connect(cluster.url_a) for _ in range(limit)]
        # The kernel spreads connections over the workers by a hash: swap one
        # connection for a new one until both workers hold some. Then each
        # worker holds fewer than the limit, and per-worker counting would
        # admit the next connection.
        for _ in range(40):
            if workers_of(clients) == {0, 1}:
                break
            ws, _ = clients.pop(0)
            await ws.close()
            clients.append(await connect_once_admitted(cluster.url_a))
        assert workers_of(clients) == {0, 1}, "all connections stayed on one worker"
        for _ in range(3):
            refused_with_429()
        await ping_pong(clients[0][0], 1)  # the admitted ones are untouched

        ws, _ = clients.pop()
        await ws.close()
        await await_for(lambda: RawWS(port, timeout=2), 5, "a new connection after one closed")
        refused_with_429()  # and the place is taken again
    run(body())


async def connect_once_admitted(url, timeout=5.0):
    """connect(url), retried while the edge answers 429: a place freed by a
    close is free once the edge has seen the close, a moment later."""
    deadline = time.monotonic() + scaled(timeout)
    while True:
        try:
            return await connect(url)
        except websockets.InvalidStatusCode as e:
            if e.status_code != 429 or time.monotonic() > deadline:
                raise
        await asyncio.sleep(0.02)


def test_max_conns_per_ip_frees_a_place_when_the_edge_closes_a_connection(make_cluster):
    cluster = make_cluster(edges=("edge-a",), workers=1, edge_args=["--max-conns-per-ip", "1"],
                           hub_args=["--idle-timeout", "0.5"])
    port = cluster.edge_ports["edge-a"]

    async def body():
        ws, _ = await connect(cluster.url_a)
        assert raw_upgrade(port)[0] == 429
        code, _, _ = await wait_closed(ws, 5)  # idle timeout: the edge closes it
        assert code == 4000
        await await_for(lambda: RawWS(port, timeout=2), 5, "a new connection after the close")
    run(body())
