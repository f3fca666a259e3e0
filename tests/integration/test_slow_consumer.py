"""A client that stops reading is closed as a slow consumer (1008) once its queued output passes the hub's send_queue_bytes, while other subscribers on the same edge receive every message."""
import asyncio
import struct

from helpers import (OP_BIN, OP_CLOSE, OP_TEXT, RawWS, await_for, connect, parse_frames,
                     recv_json, run, send, subscribe)

N_MESSAGES = 600        # ~600 KB: far beyond the 64 KB queue plus kernel buffers
WINDOW = 16             # messages the publisher may run ahead of the healthy reader
TOPIC = "flood"


def test_stalled_client_is_closed_and_others_get_everything(make_cluster):
    # close_timeout_ms: the edge waits that long for its close frame to get
    # out to a client that is not reading; long enough for this test to
    # start reading.
    cluster = make_cluster(hub_args=["--send-queue-bytes", "65536"],
                           edge_args=["--client-sndbuf", "4096", "--close-timeout-ms", "600000"])

    # The stalled client: a small receive buffer, and it never reads after its ack.
    stalled = RawWS(cluster.edge_ports["edge-a"], rcvbuf=4096)
    stalled_conn = stalled.read_welcome()["conn"]
    stalled.send_json({"op": "sub", "topic": TOPIC, "id": 1})
    ack = stalled.recv_json()
    assert (ack["op"], ack["id"]) == ("ack", 1) and "epoch" in ack, ack
    cluster.wait_interest(stalled_conn)

    async def body():
        good, gw = await connect(cluster.url_a)
        await subscribe(good, TOPIC)
        await cluster.await_interest(gw["conn"])
        pub, _ = await connect(cluster.url_b)

        # Pace the publisher by the healthy reader's progress so that only the
        # stalled client can fall behind.
        got = []
        for i in range(N_MESSAGES):
            while i - len(got) >= WINDOW:
                got.append(await recv_json(good))
            await send(pub, {"op": "pub", "topic": TOPIC, "data": {"i": i, "pad": "p" * 1000}})
        while len(got) < N_MESSAGES:
            got.append(await recv_json(good))

        assert [m["data"]["i"] for m in got] == list(range(N_MESSAGES))
        seqs = [m["seq"] for m in got]
        assert seqs == list(range(seqs[0], seqs[0] + N_MESSAGES)), "healthy reader missed seqs"
        assert good.close_code is None
        await await_for(lambda: f"conn {stalled_conn}: closed: slow consumer" in
                        cluster.edge_log("edge-a"), 5, "the stalled client cut in edge-a's log")

        # Reading now drains what the edge had written, then its close frame and EOF.
        rest = await asyncio.to_thread(stalled.read_until_eof, 10)
        frames = parse_frames(rest)
        msgs = [p for op, p in frames if op in (OP_TEXT, OP_BIN)]
        assert len(msgs) < N_MESSAGES, "the stalled client got every message: never cut off"
        assert frames and frames[-1][0] == OP_CLOSE, f"no close frame last: {frames[-3:]!r}"
        close = frames[-1][1]
        assert (struct.unpack("!H", close[:2])[0], close[2:]) == (1008, b"slow consumer"), close
    run(body())
