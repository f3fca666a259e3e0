"""A client that pings far faster than it reads holds a bounded amount of the edge's memory: pongs that pile up are answered for the latest ping only, and queued output counts what its frames really hold. Other clients of the same worker keep receiving throughout."""
import asyncio
import re
import socket
import time

import pytest

from helpers import (OP_PING, OP_PONG, RawWS, client_frame, connect, expect, parse_frames, run,
                     scaled, send, subscribe)


def rss_anon_kb(pid):
    with open(f"/proc/{pid}/status") as f:
        return int(re.search(r"RssAnon:\s+(\d+) kB", f.read()).group(1))


PINGS = 400_000  # 2.4 MB of 6-byte ping frames: 400,000 pongs if each were answered


@pytest.mark.timeout(scaled(180), func_only=True)  # run() below allows 120 s
def test_ping_flood_holds_little_memory_and_spares_the_others(make_cluster):
    cluster = make_cluster(edges=("edge-a", "edge-b"), workers=1,
                           edge_args=["--client-sndbuf", "4096"])
    pid = cluster.edges["edge-a"].p.pid
    attacker = RawWS(cluster.edge_ports["edge-a"], rcvbuf=4096)
    attacker.read_welcome()

    async def body():
        sub, _ = await connect(cluster.url_a)  # same worker as the attacker
        await subscribe(sub, "news")
        pub, _ = await connect(cluster.url_b)
        rss0 = rss_anon_kb(pid)
        ping = client_frame(OP_PING, b"")
        chunk = ping * 10_000
        sent, i = 0, 0

        def flood():
            nonlocal sent
            attacker.sock.settimeout(scaled(30))
            for _ in range(PINGS // 10_000):
                attacker.sock.sendall(chunk)
                sent += 10_000
        flooding = asyncio.create_task(asyncio.to_thread(flood))
        # The other client on that worker hears every message meanwhile.
        while not flooding.done() or i < 20:
            await send(pub, {"op": "pub", "topic": "news", "data": i})
            await expect(sub, timeout=10, op="msg", topic="news", data=i)
            i += 1
            await asyncio.sleep(0.01)
        await flooding
        assert sent == PINGS
        # All pings in: the edge is done with them once an app-level ping
        # sent after them is answered (in order, on this connection).
        attacker.sock.sendall(client_frame(1, b'{"op":"ping","id":1}'))
        grew = rss_anon_kb(pid) - rss0
        data = await asyncio.to_thread(read_until_pong)
        return grew, i, data

    def read_until_pong():
        """Reads: a few pongs (one per write the socket took), not 400,000."""
        data = attacker.buf
        deadline = time.monotonic() + scaled(10)
        while b'"pong"' not in data and time.monotonic() < deadline:
            attacker.sock.settimeout(max(0.01, deadline - time.monotonic()))
            try:
                chunk = attacker.sock.recv(65536)
            except socket.timeout:
                break
            if not chunk:
                break
            data += chunk
        return data
    grew, delivered, data = run(body(), timeout=120)
    frames = parse_frames(data)
    pongs = sum(1 for op, _ in frames if op == OP_PONG)
    assert b'"pong"' in data, "the app-level ping after the flood was never answered"
    assert pongs < 2000, f"{pongs} pongs for {PINGS} pings: they are not coalesced"
    assert grew < 16 * 1024, f"edge RssAnon grew by {grew} kB during the flood"
    cluster.edges["edge-a"].assert_alive()
    print(f"{PINGS} pings -> {pongs} pongs; edge RssAnon +{grew} kB; "
          f"{delivered} messages delivered to a neighbour meanwhile")
