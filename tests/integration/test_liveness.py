"""Edges enforce the hub's liveness policy on time: a client silent for idle_timeout is closed with 4000 while active ones stay, pings keep answering peers alive (but not active) and find peers that never answer, slow upgrades are cut off after handshake_timeout, and app-level pings get pongs."""
import asyncio
import select
import socket
import time

import msgpack

from helpers import (HOST, OP_CLOSE, OP_PING, OP_PONG, RawWS, assert_elapsed,
                     assert_silent, await_for, connect, expect, parse_frames, ping_pong,
                     recv_raw, remaining, run, scaled, send, wait_closed)

IDLE = 1.0
PING, PONG = 0.5, 0.5


def one_edge(make_cluster, *hub_args):
    """A hub with the given policy flags and one single-worker edge, so that
    every client of a test shares one worker (and its timer lists)."""
    return make_cluster(hub_args=list(hub_args), edges=("edge-a",), workers=1)


def test_idle_client_closed_with_4000_while_active_client_stays(make_cluster):
    cluster = one_edge(make_cluster, "--idle-timeout", str(IDLE), "--ping-interval", "0")

    async def body():
        active, _ = await connect(cluster.url_a, ping_interval=None)
        t0 = time.monotonic()
        idle, welcome = await connect(cluster.url_a, ping_interval=None)  # sends nothing
        t1 = time.monotonic()
        assert welcome["policy"]["idle_timeout_ms"] == 1000, welcome
        closed = asyncio.create_task(wait_closed(idle, IDLE + 3))

        # The active client sends an app-level ping every quarter timeout, for
        # 2.5 idle timeouts in all: it must outlive the idle one by far.
        i = 0
        while time.monotonic() < t0 + 2.5 * IDLE:
            i += 1
            await ping_pong(active, i)
            await asyncio.wait([closed], timeout=IDLE / 4)
        code, reason, t_closed = await closed
        assert (code, reason) == (4000, "idle timeout")
        assert_elapsed("idle client closed", t0, t_closed, IDLE)
        assert t_closed - t1 >= 0.8 * IDLE, "closed before the idle timeout"
        await ping_pong(active, i + 1)
        assert active.close_code is None, "the active client was closed"
    run(body())


def test_pongs_keep_a_peer_alive_but_do_not_make_it_active(make_cluster):
    """A raw client that answers every edge ping with a pong and sends nothing
    else: never dropped as a dead peer, still closed as idle."""
    idle, ping, pong = 1.5, 0.3, 0.3
    cluster = one_edge(make_cluster, "--idle-timeout", str(idle), "--ping-interval", str(ping),
                       "--pong-timeout", str(pong))
    t0 = time.monotonic()
    raw = RawWS(cluster.edge_ports["edge-a"])
    welcome = raw.read_welcome()
    t1 = time.monotonic()
    assert welcome["policy"] == {"idle_timeout_ms": 1500, "ping_interval_ms": 300,
                                 "max_message_bytes": 65536}, welcome

    pings, close = [], None
    deadline = t0 + idle + scaled(2)
    while close is None:
        try:
            _, op, payload = raw.recv_frame(remaining(deadline))
        except EOFError:
            raise AssertionError(f"dropped without a close frame after {len(pings)} pings "
                                 f"({time.monotonic() - t0:.3f}s): taken for a dead peer") from None
        if op == OP_PING:
            pings.append(time.monotonic())
            raw.send_frame(OP_PONG, payload)
        elif op == OP_CLOSE:
            close = (int.from_bytes(payload[:2], "big"), payload[2:].decode(), time.monotonic())
        else:
            raise AssertionError(f"unexpected frame op={op} payload={payload!r}")
    code, reason, t_closed = close
    assert (code, reason) == (4000, "idle timeout")
    assert_elapsed("idle close", t0, t_closed, idle)
    assert t_closed - t1 >= 0.8 * idle
    # Pings every ping_interval of silence: the first one not early, and enough
    # of them that the peer lived well past ping_interval + pong_timeout.
    assert pings and pings[0] - t1 >= 0.8 * ping, f"first ping after {pings[0] - t1:.3f}s"
    assert len(pings) >= 2, f"{len(pings)} pings in {t_closed - t0:.3f}s"


def test_peer_that_never_answers_pings_is_dropped(make_cluster):
    cluster = one_edge(make_cluster, "--ping-interval", str(PING), "--pong-timeout", str(PONG))

    async def body():
        # A websockets client answers pings by itself: alive, though it never sends a message.
        alive, welcome = await connect(cluster.url_a, ping_interval=None)
        assert welcome["policy"]["ping_interval_ms"] == 500, welcome
        t_alive = time.monotonic()

        t0 = time.monotonic()
        dead = RawWS(cluster.edge_ports["edge-a"])
        dead.read_welcome()
        t1 = time.monotonic()
        rest = await asyncio.to_thread(dead.read_until_eof, PING + PONG + 3)  # reads, never answers
        t_dropped = time.monotonic()
        frames = parse_frames(rest)
        assert OP_PING in [op for op, _ in frames], f"no ping before the drop: {frames!r}"
        assert OP_CLOSE not in [op for op, _ in frames], "a dead peer gets no close frame"
        assert_elapsed("dead peer dropped", t0, t_dropped, PING + PONG)
        assert t_dropped - t1 >= 0.8 * (PING + PONG), "dropped before ping_interval + pong_timeout"
        await await_for(lambda: "dead peer" in cluster.edge_log("edge-a"), 5,
                        "'dead peer' in edge-a's log")

        # The answering client has been through several ping rounds by now.
        await assert_silent(alive, max(0.0, t_alive + 2 * (PING + PONG) - time.monotonic()))
        await ping_pong(alive, 1)
        assert alive.close_code is None
    run(body())


def test_slowloris_upgrade_is_cut_off_after_handshake_timeout(make_cluster):
    timeout = 0.5
    cluster = one_edge(make_cluster, "--handshake-timeout", str(timeout))
    port = cluster.edge_ports["edge-a"]

    async def body():
        upgraded, _ = await connect(cluster.url_a, ping_interval=None)
        await asyncio.to_thread(slowloris, port, timeout)
        await await_for(lambda: "no WebSocket upgrade within" in cluster.edge_log("edge-a"), 5,
                        "'no WebSocket upgrade within' in edge-a's log")
        # A completed upgrade is not subject to the handshake timeout.
        await ping_pong(upgraded, 1)
        assert upgraded.close_code is None
    run(body())


def slowloris(port, timeout):
    """One client trickles request headers a byte at a time, another sends
    nothing at all: both are closed, unanswered, after the handshake timeout."""
    trickle = socket.create_connection((HOST, port), timeout=scaled(5))
    silent = socket.create_connection((HOST, port), timeout=scaled(5))
    t0 = time.monotonic()
    try:
        trickle.sendall(b"GET /ws HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
        closed = {}
        deadline = t0 + timeout + scaled(2)
        while len(closed) < 2 and time.monotonic() < deadline:
            open_ = [s for s in (trickle, silent) if s not in closed]
            readable, _, _ = select.select(open_, [], [], 0.05)
            for s in readable:
                try:
                    data = s.recv(4096)
                except ConnectionResetError:
                    data = b""
                assert data == b"", f"the edge answered an incomplete upgrade: {data!r}"
                closed[s] = time.monotonic()
            if trickle not in closed:
                try:
                    trickle.sendall(b"a")
                except (BrokenPipeError, ConnectionResetError):
                    closed[trickle] = time.monotonic()
        assert trickle in closed, f"trickling client still open after {deadline - t0:.1f}s"
        assert silent in closed, f"silent client still open after {deadline - t0:.1f}s"
        for name, s in (("trickling client", trickle), ("silent client", silent)):
            assert_elapsed(f"{name} closed", t0, closed[s], timeout)
    finally:
        trickle.close()
        silent.close()


def test_app_ping_is_answered_with_pong_echoing_its_id(cluster):
    async def body():
        ws, _ = await connect(cluster.url_a)
        await send(ws, {"op": "ping", "id": 42})
        assert await expect(ws) == {"op": "pong", "id": 42}
        await send(ws, {"op": "ping"})
        assert await expect(ws) == {"op": "pong"}

        mp, _ = await connect(cluster.url_b, "spoke.msgpack")
        await mp.send(msgpack.packb({"op": "ping", "id": -7}))
        frame = await recv_raw(mp)
        assert isinstance(frame, bytes), frame
        assert msgpack.unpackb(frame, raw=False) == {"op": "pong", "id": -7}
    run(body())
