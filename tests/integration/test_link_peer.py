"""Raw link peers against a real hub prove its link rules: each HELLO check refuses a bad hello with its documented ERROR and takes over nothing, a frozen edge is dropped for silence within three heartbeats and relinks when it wakes, a peer that stops reading is dropped as congested while a real edge keeps receiving, and a second link with the same name, worker and boot replaces the first."""
import asyncio
import json
import os
import re
import signal
import time

from helpers import connect, expect, http_get, recv_json, run, send, subscribe, wait_for
from linkpeer import (DIRECT, DIRECT_RESULT, ERROR, HEARTBEAT, INTEREST_ADD, INTEREST_RESULT,
                      MESSAGE, POLICY, PUBLISH, VERSION, LinkPeer, hello_msg)

# A peer that says it heartbeats once a minute: the hub then allows it 3
# minutes of silence, so no test here loses a peer to the silence rule by
# accident (the cluster's own hub and edges beat every 500 ms).
QUIET_MS = 60000


# ---- what the hub says about its links

def links(cluster):
    status, body = http_get(cluster.http_port, "/api/links")
    assert status == 200, status
    return json.loads(body)["links"]


def links_of(cluster, edge):
    return [lk for lk in links(cluster) if lk["edge"] == edge]


# ---- processes, found by their sockets rather than by the fixtures: one
# established TCP connection (both ports) is one socket of one process, even
# when other test runs use the same loopback ports.

def _socket_inode(local_port, remote_port):
    for path in ("/proc/net/tcp", "/proc/net/tcp6"):
        with open(path) as f:
            for row in f.read().splitlines()[1:]:
                fields = row.split()  # sl local rem st ... uid timeout inode
                local = int(fields[1].rsplit(":", 1)[1], 16)
                remote = int(fields[2].rsplit(":", 1)[1], 16)
                if (local, remote, fields[3]) == (local_port, remote_port, "01"):
                    return fields[9]
    raise AssertionError(f"no established connection {local_port} -> {remote_port}")


def pid_of_connection(local_port, remote_port):
    """Our child process holding the connection from local_port to remote_port."""
    target = f"socket:[{_socket_inode(local_port, remote_port)}]"
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            fds = os.listdir(f"/proc/{pid}/fd")
            if any(os.readlink(f"/proc/{pid}/fd/{fd}") == target for fd in fds):
                with open(f"/proc/{pid}/stat") as f:
                    ppid = int(f.read().rsplit(")", 1)[1].split()[1])
                assert ppid == os.getpid(), f"pid {pid} holds it but is not ours"
                return int(pid)
        except (FileNotFoundError, ProcessLookupError, PermissionError):
            continue
    raise AssertionError(f"no process holds {target}")


def edge_and_hub_pids(cluster, edge):
    """(edge pid, hub pid): the two ends of that edge's first link."""
    port = int(links_of(cluster, edge)[0]["addr"].rsplit(":", 1)[1])
    return (pid_of_connection(port, cluster.hub_port),
            pid_of_connection(cluster.hub_port, port))


def log_of(pid):
    """The text of the log file the process writes its stderr to."""
    path = os.readlink(f"/proc/{pid}/fd/2")
    assert os.path.isfile(path), f"pid {pid} logs to {path}, not a file"
    with open(path, errors="replace") as f:
        return f.read()


def hub_log(cluster):
    port = int(links(cluster)[0]["addr"].rsplit(":", 1)[1])
    return log_of(pid_of_connection(cluster.hub_port, port))


def peer(cluster, name, worker=0, boot=0x1234, **kw):
    """A peer past HELLO (the hub answered with its POLICY)."""
    p = LinkPeer(cluster.hub_port)
    answer = p.hello(name, worker, boot, heartbeat_ms=QUIET_MS, **kw)
    assert answer[-1][0] == POLICY, answer
    return p


def refused(cluster, fields):
    """Sends fields as the first message; returns the hub's ERROR after
    checking that the hub then closed the link."""
    p = LinkPeer(cluster.hub_port)
    try:
        p.send_first(fields)
        err = p.recv_until(lambda m: m[0] == ERROR)
        assert p.wait_closed() is None  # nothing after the ERROR but the close
        return err
    finally:
        p.close()


def assert_serves(cluster, topic):
    """A publish on edge-a reaches a subscriber on edge-a through the hub."""
    async def body():
        sub, _ = await connect(cluster.url_a)
        pub, _ = await connect(cluster.url_a)
        await subscribe(sub, topic)
        await send(pub, {"op": "pub", "topic": topic, "data": topic})
        await expect(sub, op="msg", topic=topic, data=topic)
    run(body())


# ---- HELLO checks (a leading dot, a compressed version-1 hello and a name
# outside the link certificate are in test_hostile_links.py and
# test_link_tls.py)

def test_a_hello_of_another_protocol_version_is_refused_426_and_replaces_nothing(make_cluster):
    cluster = make_cluster(edges=("edge-a",), workers=1)
    before = [lk["id"] for lk in links_of(cluster, "edge-a")]
    for version in (0, 1, 2, 3, 4, 5, 6, 8, 2**32 - 1):
        # edge-a's own name and worker: a refused hello must not take its place.
        err = refused(cluster, hello_msg("edge-a", 0, version=version))
        assert err[1:] == [426, f"unsupported link protocol version {version}; "
                                f"this hub speaks {VERSION}"], err
    assert [lk["id"] for lk in links_of(cluster, "edge-a")] == before
    assert_serves(cluster, "after.versions")


def test_hello_names_outside_the_edge_name_alphabet_are_refused(make_cluster):
    cluster = make_cluster(edges=("edge-a",), workers=1)
    # A ':' would make connection ids (NAME:WORKER:BOOT:SEQ) ambiguous; a
    # '/' or a blank breaks log labels and the admin API's edge names.
    for name in ("", "edge:a", "edge/a", "edge a", "\u00e9dge", "a\x00b", "a\nb"):
        err = refused(cluster, hello_msg(name))
        assert err[1:] == [400, "invalid edge name (1..64 bytes of A-Z a-z 0-9 . _ -)"], \
            (name, err)
    err = refused(cluster, hello_msg("x" * 65))  # the link codec's bound comes first
    assert err[1:] == [400, "decode: hello: name: too long (65 > 64 bytes)"], err
    assert {lk["edge"] for lk in links(cluster)} == {"edge-a"}
    # The whole alphabet, and 64 bytes, are names.
    for name in ("Az09._-", "x" * 64):
        p = peer(cluster, name)
        wait_for(lambda: links_of(cluster, name), 5, f"{name} in /api/links")
        p.close()


def test_hello_worker_and_text_fields_are_checked(make_cluster):
    cluster = make_cluster(edges=("edge-a",), workers=1)
    before = [lk["id"] for lk in links_of(cluster, "edge-a")]
    err = refused(cluster, hello_msg("edge-a", 1024))
    assert err[1:] == [400, "invalid worker 1024 (must be below 1024)"], err
    for field, value in (("region", "eu\nwest"), ("software", "v\x7f"),
                         ("public_url", "wss://\u00e9dge.example/ws")):
        err = refused(cluster, hello_msg("edge-a", 0, **{field: value}))
        assert err[1:] == [400, "region, software and public_url must be printable ASCII"], \
            (field, err)
    assert [lk["id"] for lk in links_of(cluster, "edge-a")] == before
    p = peer(cluster, "spare", worker=1023)  # the last worker index
    wait_for(lambda: [lk["worker"] for lk in links_of(cluster, "spare")] == [1023], 5,
             "spare/1023 in /api/links")
    p.close()
    assert_serves(cluster, "after.fields")


def test_the_first_message_must_be_hello_and_the_only_hello(make_cluster):
    cluster = make_cluster(edges=("edge-a",), workers=1)
    err = refused(cluster, [HEARTBEAT, 0, 0])
    assert err[1:] == [400, "decode: expected hello first, got heartbeat"], err
    p = peer(cluster, "twice")
    p.send(hello_msg("twice"))  # again, inside the stream
    err = p.recv_until(lambda m: m[0] == ERROR)
    assert err[1:] == [400, "unexpected hello"], err
    assert p.wait_closed() is None
    p.close()
    wait_for(lambda: not links_of(cluster, "twice"), 5, "twice gone from /api/links")


# ---- silence: a frozen edge process

def test_a_frozen_edge_is_dropped_for_silence_and_relinks_when_it_wakes(make_cluster):
    cluster = make_cluster(edges=("edge-a",), workers=1)  # every side beats each 500 ms
    edge_pid, hub_pid = edge_and_hub_pids(cluster, "edge-a")
    old_id = links_of(cluster, "edge-a")[0]["id"]

    async def body():
        sub, _ = await connect(cluster.url_a)
        await subscribe(sub, "wake")
        os.kill(edge_pid, signal.SIGSTOP)
        t0 = time.monotonic()
        try:
            await asyncio.to_thread(wait_for, lambda: not links_of(cluster, "edge-a"), 6,
                                    "the hub to drop the frozen edge's link")
            took = time.monotonic() - t0
            # Not before 3 heartbeats of silence: at most one passed before the stop.
            assert took >= 1.0, f"dropped {took:.2f}s after the freeze"
            log = log_of(hub_pid)
            assert re.search(r"edge-a/0 link dropped: silent for \d+ ms", log), log[-2000:]
        finally:
            os.kill(edge_pid, signal.SIGCONT)
        # Awake, it links again and sends its interest; its client receives again.
        await asyncio.to_thread(
            wait_for, lambda: [lk["topics"] for lk in links_of(cluster, "edge-a")
                               if lk["id"] != old_id] == [1], 10,
            "edge-a linked again with its topic")
        pub, _ = await connect(cluster.url_a)
        await send(pub, {"op": "pub", "topic": "wake", "data": "after", "id": 1})
        await expect(pub, op="ack", id=1)
        while (m := await recv_json(sub, timeout=5))["data"] != "after":
            assert m["op"] == "msg", m  # nothing but messages published before
        print(f"dropped {took:.2f}s after SIGSTOP (heartbeat 0.5 s)")
    run(body())


# ---- congestion: a peer that never reads

def test_a_peer_that_stops_reading_is_dropped_as_congested_and_others_keep_receiving(
        make_cluster):
    cluster = make_cluster(edges=("edge-a",), workers=1,
                           hub_args=["--link-max-pending", "65536"])  # the smallest bound
    edge_id = links_of(cluster, "edge-a")[0]["id"]
    slow = peer(cluster, "slow")
    slow.send([INTEREST_ADD, "flood", 1])
    assert slow.recv_until(lambda m: m[0] == INTEREST_RESULT)[1:4] == ["flood", 1, 0]
    pub = peer(cluster, "pub")  # from here on, slow reads nothing
    # Incompressible: what is queued for slow is what the hub holds.
    data = [b"\xc5" + (60000).to_bytes(2, "big") + os.urandom(60000) for _ in range(8)]

    async def body():
        sub, _ = await connect(cluster.url_a, proto="spoke.msgpack")
        await subscribe(sub, "flood")
        sent, dropped_at = 0, None
        deadline = time.monotonic() + 30
        while dropped_at is None or sent < dropped_at + 5:  # and a few after the drop
            assert time.monotonic() < deadline, f"slow still linked after {sent} messages"
            pub.send([PUBLISH, "flood", pub.own_conn(1), 1, data[sent % 8], ""])
            sent += 1
            m = await recv_json(sub, timeout=10)
            assert m["op"] == "msg" and m["seq"] == sent, m
            assert m["data"] == data[(sent - 1) % 8][3:]
            if dropped_at is None and not links_of(cluster, "slow"):
                dropped_at = sent
        return sent, dropped_at

    sent, dropped_at = run(body())
    assert re.search(r"slow/0 link dropped: congested: \d+ bytes pending", hub_log(cluster))
    assert slow.wait_closed(timeout=10) is None  # what it had, then the close
    assert [lk["id"] for lk in links_of(cluster, "edge-a")] == [edge_id]
    print(f"slow dropped after {dropped_at} messages of 60 kB; edge-a received all {sent}")
    pub.close()
    slow.close()


# ---- a replaced link

def test_a_second_link_with_the_same_name_worker_and_boot_replaces_the_first(make_cluster):
    cluster = make_cluster(edges=("edge-a",), workers=1)
    first = peer(cluster, "twin", 0, boot=0xB007)
    first.send([INTEREST_ADD, "twin.t", 1])
    first.recv_until(lambda m: m[0] == INTEREST_RESULT)
    old = wait_for(lambda: links_of(cluster, "twin"), 5, "twin in /api/links")[0]["id"]

    second = peer(cluster, "twin", 0, boot=0xB007)
    assert first.wait_closed() is None  # closed by the hub, no ERROR: nothing was wrong
    now = links_of(cluster, "twin")
    assert len(now) == 1 and now[0]["id"] != old, now
    assert re.search(r"twin/0 link replaced by a new link from 127\.0\.0\.1:\d+",
                     hub_log(cluster))

    async def body():
        c, cw = await connect(cluster.url_a)
        # The new link routes: a topic it asks for, and the twin's connection ids.
        second.send([INTEREST_ADD, "twin.t", 2])
        second.recv_until(lambda m: m[0] == INTEREST_RESULT)
        await send(c, {"op": "pub", "topic": "twin.t", "data": "to the new one", "id": 1})
        await expect(c, op="ack", id=1)
        m = await asyncio.to_thread(second.recv_until, lambda m: m[0] == MESSAGE)
        assert m[1] == "twin.t" and m[3] == cw["conn"] and m[5] == b'"to the new one"', m
        await send(c, {"op": "send", "to": second.own_conn(3), "data": 1, "id": 2})
        d = await asyncio.to_thread(second.recv_until, lambda m: m[0] == DIRECT)
        assert d[1:4] == [second.own_conn(3), cw["conn"], 2], d
        second.send([DIRECT_RESULT, cw["conn"], 2, 0, ""])
        await expect(c, op="ack", id=2)
    run(body())
    second.close()
