#!/usr/bin/python3
"""Link compression on a chat-like workload, through a real hub and two edges.

Starts spoke-hub and two spoke-edge processes (1 worker each) on free
loopback ports, subscribes clients on both edges to a set of chat rooms,
publishes a deterministic chat corpus (user names, room topics, texts of
varied length, timestamps) from both edges, waits until every delivery
arrived, then reads the hub's per-link byte counters and prints the ratio of
raw (msgpack) to wire (zstd) bytes in each direction, next to the JSON bytes
the clients sent.

Usage: tests/bench/link_ratio.py [--bin-dir build] [--messages 20000]
"""
import argparse
import asyncio
import json
import os
import random
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

import websockets

WORDS = ("the a to and of you i it is in that for on we this be are have with not just so "
         "can what do at was but get like if all me my your they know will one up go out "
         "about meeting tomorrow deploy build lunch coffee release bug fix thanks ok sure "
         "great maybe later today please review merge ticket call now done yes no").split()


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def corpus(n, rooms, seed=42):
    """Deterministic chat messages: (room, payload dict)."""
    rnd = random.Random(seed)
    users = [f"user{rnd.randrange(100000):05d}" for _ in range(500)]
    t0 = 1_764_000_000_000
    for i in range(n):
        nwords = min(40, int(rnd.paretovariate(1.3) * 3))
        text = " ".join(rnd.choice(WORDS) for _ in range(max(1, nwords)))
        room = rooms[min(len(rooms) - 1, int(rnd.expovariate(0.4)))]
        yield room, {"user": rnd.choice(users), "text": text,
                     "ts": t0 + i * 137 + rnd.randrange(100), "msg_id": f"{rnd.getrandbits(48):012x}"}


def get_links(http_port):
    with urllib.request.urlopen(f"http://127.0.0.1:{http_port}/api/links", timeout=5) as r:
        return json.load(r)["links"]


def wait_until(pred, timeout, what):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if pred():
                return
        except OSError:
            pass
        time.sleep(0.05)
    raise SystemExit(f"timed out waiting for {what}")


async def run_load(urls, rooms, n):
    subs = []
    for i, url in enumerate(urls):
        for room in rooms:
            ws = await websockets.connect(url, max_size=None)
            await ws.recv()  # welcome
            await ws.send(json.dumps({"op": "sub", "topic": room, "id": 1}))
            await ws.recv()  # ack
            subs.append((ws, room))
    pubs = []
    for url in urls:
        ws = await websockets.connect(url)
        await ws.recv()
        pubs.append(ws)
    await asyncio.sleep(0.5)  # let the interest reach the hub

    expected = {room: 0 for room in rooms}
    sent_bytes = 0
    msgs = list(corpus(n, rooms))
    for i, (room, data) in enumerate(msgs):
        frame = json.dumps({"op": "pub", "topic": room, "data": data}, separators=(",", ":"))
        sent_bytes += len(frame)
        await pubs[i % len(pubs)].send(frame)
        expected[room] += 1
        if i % 200 == 0:
            await asyncio.sleep(0)  # keep the publishers' buffers small

    received_bytes = 0

    async def drain(ws, room):
        nonlocal received_bytes
        for _ in range(expected[room]):
            m = await asyncio.wait_for(ws.recv(), 30)
            received_bytes += len(m)

    await asyncio.gather(*(drain(ws, room) for ws, room in subs))
    for ws, _ in subs:
        await ws.close()
    for ws in pubs:
        await ws.close()
    return sent_bytes, received_bytes, sum(expected[r] for _, r in subs)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bin-dir", default="build")
    ap.add_argument("--messages", type=int, default=20000)
    args = ap.parse_args()
    hub_port, http_port = free_port(), free_port()
    edge_ports = [free_port(), free_port()]
    logdir = tempfile.mkdtemp(prefix="spoke-ratio-")
    procs = []

    def start(cmd, name):
        log = open(os.path.join(logdir, name + ".log"), "w")
        procs.append(subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT))

    try:
        start([f"{args.bin_dir}/spoke-hub", "--listen", f"127.0.0.1:{hub_port}",
               "--http", f"127.0.0.1:{http_port}"], "hub")
        wait_until(lambda: get_links(http_port) is not None, 5, "hub")
        for name, port in zip(("edge-a", "edge-b"), edge_ports):
            start([f"{args.bin_dir}/spoke-edge", "--name", name, "--workers", "1",
                   "--listen", f"127.0.0.1:{port}", "--hub", f"127.0.0.1:{hub_port}"], name)
        wait_until(lambda: len(get_links(http_port)) == 2, 5, "two edge links")
        rooms = [f"chat.room.{i}" for i in range(10)]
        urls = [f"ws://127.0.0.1:{p}/ws" for p in edge_ports]
        t0 = time.monotonic()
        sent, received, deliveries = asyncio.run(run_load(urls, rooms, args.messages))
        elapsed = time.monotonic() - t0
        links = get_links(http_port)
        raw_in = sum(l["raw_in"] for l in links)
        wire_in = sum(l["wire_in"] for l in links)
        raw_out = sum(l["raw_out"] for l in links)
        wire_out = sum(l["wire_out"] for l in links)
        result = {
            "messages": args.messages, "deliveries": deliveries, "seconds": round(elapsed, 2),
            "client_json_bytes_sent": sent, "client_json_bytes_received": received,
            "link_edge_to_hub": {"raw": raw_in, "wire": wire_in, "ratio": round(raw_in / wire_in, 2)},
            "link_hub_to_edge": {"raw": raw_out, "wire": wire_out,
                                 "ratio": round(raw_out / wire_out, 2)},
            "json_sent_per_wire_byte_up": round(sent / wire_in, 2),
        }
        print(json.dumps(result))
        print(f"link: edge->hub {raw_in} raw -> {wire_in} wire bytes (ratio {raw_in / wire_in:.2f}); "
              f"hub->edge {raw_out} -> {wire_out} (ratio {raw_out / wire_out:.2f}); "
              f"clients sent {sent} JSON bytes ({sent / wire_in:.2f} per upstream wire byte)")
    finally:
        for p in procs:
            p.send_signal(signal.SIGTERM)
        for p in procs:
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                p.kill()


if __name__ == "__main__":
    sys.exit(main())
