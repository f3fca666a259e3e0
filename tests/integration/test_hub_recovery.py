"""Link peers playing edge workers prove the hub's recovery contract
(docs/protocol.md, "After HELLO"), with the memory engine, the
memory-deferred one, whose every call completes on a later loop turn, and
the redis engine over a real redis-server (whose calls complete when Redis
answers, and whose live messages come over pub/sub apart from them): an
INTEREST_ADD with a position gets its INTEREST_RESULT, the missed messages and
then the live ones with no gap and no duplicate, even while publishes keep
coming; other epochs, positions too old or ahead are not recovered; a
HISTORY_READ replays MESSAGEs tagged with its id; a PUBLISH sent again on a new
link of the same worker run gets its first result and is in the topic once; and
a hub restart mints new epochs (memory engines; with redis it keeps them:
test_redis_engine.py)."""
import re

import pytest

from helpers import http_get, scaled, wait_for
from linkpeer import (ERROR, HISTORY_READ, HISTORY_RESULT, INTEREST_ADD, INTEREST_REMOVE,
                      INTEREST_RESULT, MESSAGE, POLICY, PUBLISH, PUBLISH_RESULT, LinkPeer)

ENGINES = ["memory", "memory-deferred", "redis"]
QUIET_MS = 60000  # the peers' heartbeat period: the hub allows them minutes of silence
EPOCH_RE = re.compile(r"^[0-9a-z]{8}$")


@pytest.fixture
def hub_only(make_cluster, request):
    """Factory: hub_only(engine, hub_args=(), hub_config=None) -> a hub without
    edges (link peers are its edge workers); with engine "redis", over a
    redis-server of its own."""
    def make(engine, hub_args=(), hub_config=None):
        store = []
        if engine == "redis":
            store = ["--redis", request.getfixturevalue("redis")("r0").sock]
        return make_cluster(edges=(), workers=1,
                            hub_args=["--engine", engine, *store, *hub_args],
                            hub_config=hub_config)
    return make


def peer(cluster, name, worker=0, boot=0x1234):
    p = LinkPeer(cluster.hub_port)
    answer = p.hello(name, worker, boot, heartbeat_ms=QUIET_MS)
    assert answer[-1][0] == POLICY, answer
    return p


def publish(p, topic, data, pub_id):
    """A PUBLISH from p's connection 1; returns its PUBLISH_RESULT."""
    p.send([PUBLISH, topic, p.own_conn(1), 0, data, "", pub_id])
    return p.recv_until(lambda m: m[0] == PUBLISH_RESULT and m[1] == pub_id)


def results(p, first_pub_id, n):
    """The PUBLISH_RESULTs of pub_ids first_pub_id .. + n - 1, in that order."""
    want = range(first_pub_id, first_pub_id + n)
    got = {}
    while len(got) < n:
        m = p.recv_until(lambda m: m[0] == PUBLISH_RESULT and m[1] in want)
        got[m[1]] = m
    return [got[i] for i in want]


def publish_many(p, topic, n, first_pub_id):
    """n publishes in one write; returns their PUBLISH_RESULTs (seqs in order)."""
    p.send(*[[PUBLISH, topic, p.own_conn(1), 0, b'"%d"' % i, "", first_pub_id + i]
             for i in range(n)])
    return results(p, first_pub_id, n)


def interest(p, topic, req_id, since=None):
    """INTEREST_ADD (with since = (seq, epoch)); returns the INTEREST_RESULT."""
    seq, epoch = since if since else (0, "")
    p.send([INTEREST_ADD, topic, req_id, seq, epoch])
    return p.recv_until(lambda m: m[0] == INTEREST_RESULT and m[2] == req_id)


def messages(p, topic, last_seq, timeout=5.0):
    """The MESSAGEs of topic p receives until seq last_seq: [(seq, replay)]."""
    got = []
    while not got or got[-1][0] < last_seq:
        m = p.recv_until(lambda m: m[0] == MESSAGE and m[1] == topic, timeout)
        got.append((m[2], m[7]))
    return got


def metric(cluster, name, labels=""):
    status, body = http_get(cluster.http_port, "/metrics")
    assert status == 200
    m = re.search(rf"^{re.escape(name + labels)} (\d+)$", body.decode(), re.M)
    return int(m.group(1)) if m else None


@pytest.mark.parametrize("engine", ENGINES)
def test_interest_with_a_position_replays_what_was_missed_then_goes_live(hub_only, engine):
    cluster = hub_only(engine)
    pub = peer(cluster, "pub")
    first = publish_many(pub, "r.t", 5, 1)  # nobody interested: ordered and kept all the same
    assert [r[4] for r in first] == [1, 2, 3, 4, 5] and {r[2] for r in first} == {0}
    epoch = first[0][5]
    assert EPOCH_RE.match(epoch) and {r[5] for r in first} == {epoch}

    sub = peer(cluster, "sub")
    r = interest(sub, "r.t", 1)  # no position: where the topic stands, nothing replayed
    assert r[3:] == [0, "", 5, epoch, 0], r
    publish_many(pub, "r.t", 2, 6)
    assert messages(sub, "r.t", 7) == [(6, 0), (7, 0)]
    sub.close()

    publish_many(pub, "r.t", 3, 8)  # 8, 9, 10 while the worker is away
    back = peer(cluster, "sub")
    r = interest(back, "r.t", 2, since=(7, epoch))
    assert r[3:] == [0, "", 10, epoch, 1], r
    publish_many(pub, "r.t", 1, 11)
    assert messages(back, "r.t", 11) == [(8, 0), (9, 0), (10, 0), (11, 0)]
    assert metric(cluster, "spoke_hub_history_reads_total", '{kind="interest"}') >= 1
    assert metric(cluster, "spoke_hub_messages_replayed_total") >= 3


@pytest.mark.parametrize("engine", ENGINES)
def test_a_resume_during_a_burst_of_publishes_has_no_gap_and_no_duplicate(hub_only, engine):
    cluster = hub_only(engine)
    pub, other, sub = peer(cluster, "pub"), peer(cluster, "other"), peer(cluster, "sub")
    interest(other, "b.t", 1)  # the hub already receives the topic live
    epoch = publish_many(pub, "b.t", 10, 1)[0][5]
    last, pub_id = 10, 100
    # Rounds of: the worker resumes from a position while 40 more publishes
    # race it through the hub (and, with memory-deferred, through the
    # engine's later turns, which alternate between answering the read
    # before and after the live copies it covers); then it withdraws.
    for rnd in range(6):
        since = last - 6
        burst = [[PUBLISH, "b.t", pub.own_conn(1), 0, b"1", "", pub_id + i] for i in range(40)]
        pub_id += 40
        resume = [INTEREST_ADD, "b.t", rnd, since, epoch]
        if rnd % 2:
            pub.send(*burst)
            sub.send(resume)
        else:
            sub.send(resume)
            pub.send(*burst)
        r = sub.recv_until(lambda m: m[0] == INTEREST_RESULT and m[2] == rnd)
        assert (r[3], r[6], r[7]) == (0, epoch, 1), r
        assert last <= r[5] <= last + 40, r
        last += 40
        got = messages(sub, "b.t", last)
        assert [s for s, _ in got] == list(range(since + 1, last + 1)), (rnd, got)
        assert {replay for _, replay in got} == {0}
        sub.send([INTEREST_REMOVE, "b.t"])
    assert [s for s, _ in messages(other, "b.t", last)] == list(range(1, last + 1))


@pytest.mark.parametrize("engine", ENGINES)
def test_live_copies_of_an_ended_epoch_never_follow_a_new_position(hub_only, engine):
    """A topic without history is forgotten when its last link withdraws;
    copies of its messages still on their way from the engine belong to
    that ended epoch and must not reach the link that wants it again."""
    cluster = hub_only(engine, hub_args=["--topic-linger", "0"],
                       hub_config="[history]\ngone.* = 0\n")
    pub, sub = peer(cluster, "pub"), peer(cluster, "sub")
    interest(sub, "gone.t", 0)
    pub_id = 1
    for rnd in range(1, 5):
        pub.send(*[[PUBLISH, "gone.t", pub.own_conn(1), 0, b"1", "", pub_id + i]
                   for i in range(30)])
        pub_id += 30
        sub.send([INTEREST_REMOVE, "gone.t"], [INTEREST_ADD, "gone.t", rnd, 0, ""])
        r = sub.recv_until(lambda m: m[0] == INTEREST_RESULT and m[2] == rnd)
        assert r[3] == 0 and EPOCH_RE.match(r[6]), r
        results(pub, pub_id - 30, 30)
        tail = publish_many(pub, "gone.t", 3, pub_id)
        pub_id += 3
        if tail[0][5] != r[6]:
            continue  # the burst outlived the state: a newer epoch than the answer's
        got = messages(sub, "gone.t", tail[-1][4])
        assert [s for s, _ in got] == list(range(r[5] + 1, tail[-1][4] + 1)), (rnd, r, got)


@pytest.mark.parametrize("engine", ENGINES)
def test_a_topic_nothing_was_published_on_keeps_its_epoch_over_a_relink(hub_only, engine):
    """While an edge worker's link is down, the topic it alone wanted has no
    interest and no history: it lingers, so the worker resumes in the same
    epoch and gets what was published meanwhile."""
    cluster = hub_only(engine)
    sub = peer(cluster, "sub")
    r = interest(sub, "quiet.t", 1)
    assert r[3:6] == [0, "", 0] and EPOCH_RE.match(r[6]), r
    epoch = r[6]
    sub.close()
    wait_for(lambda: len(cluster.hub_links()) == 0, 5, "the hub to see the link go")
    pub = peer(cluster, "pub")
    assert [p[4] for p in publish_many(pub, "quiet.t", 3, 1)] == [1, 2, 3]
    back = peer(cluster, "sub")
    r = interest(back, "quiet.t", 2, since=(0, epoch))
    assert r[3:] == [0, "", 3, epoch, 1], r
    assert messages(back, "quiet.t", 3) == [(1, 0), (2, 0), (3, 0)]


@pytest.mark.parametrize("engine", ENGINES)
def test_another_epoch_a_position_too_old_or_ahead_is_not_recovered(hub_only, engine):
    cluster = hub_only(engine, hub_config="[history]\nold.* = 3\n")
    pub = peer(cluster, "pub")
    epoch = publish_many(pub, "old.t", 10, 1)[0][5]  # the history keeps 8..10
    sub = peer(cluster, "sub")
    cases = [
        ((2, epoch), "too old: the history now starts after seq 7"),
        ((11, epoch), "position ahead of the topic"),
        ((5, "zzzzzzzz"), "epoch changed: the topic's numbering restarted"),
    ]
    for i, (since, reason) in enumerate(cases):
        r = interest(sub, "old.t", 10 + i, since=since)
        assert r[3:] == [0, reason, 10, epoch, 0], (since, r)
        sub.send([INTEREST_REMOVE, "old.t"])
    r = interest(sub, "old.t", 20, since=(7, epoch))  # 8 onwards is all there
    assert r[3:] == [0, "", 10, epoch, 1], r
    assert messages(sub, "old.t", 10) == [(8, 0), (9, 0), (10, 0)]


@pytest.mark.parametrize("engine", ENGINES)
def test_a_history_read_replays_messages_tagged_with_its_id(hub_only, engine):
    cluster = hub_only(engine)
    pub, sub = peer(cluster, "pub"), peer(cluster, "sub")
    interest(sub, "h.t", 1)
    epoch = publish_many(pub, "h.t", 6, 1)[0][5]
    assert messages(sub, "h.t", 6) == [(s, 0) for s in range(1, 7)]
    sub.send([HISTORY_READ, "h.t", 9, 3, epoch])
    r = sub.recv_until(lambda m: m[0] == HISTORY_RESULT and m[2] == 9)
    assert r[3:] == [0, "", 6, epoch, 1], r
    assert messages(sub, "h.t", 6) == [(4, 9), (5, 9), (6, 9)]
    publish_many(pub, "h.t", 1, 7)
    assert messages(sub, "h.t", 7) == [(7, 0)]  # live again, once
    assert metric(cluster, "spoke_hub_history_reads_total", '{kind="history_read"}') == 1
    # A topic this link is not interested in: 404, and the link stays.
    sub.send([HISTORY_READ, "h.other", 10, 0, epoch])
    r = sub.recv_until(lambda m: m[0] == HISTORY_RESULT and m[2] == 10)
    assert r[3] == 404, r
    # id 0 would tag its messages as live ones: a protocol error.
    sub.send([HISTORY_READ, "h.t", 0, 3, epoch])
    err = sub.recv_until(lambda m: m[0] == ERROR)
    assert err[1] == 400 and "must be above 0" in err[2], err


def test_history_reads_beyond_the_cap_wait_no_more_than_it(hub_only):
    """With the engine answering on later turns, reads stay waiting; past
    link_max_history_reads they are refused with 429, the link stays."""
    cluster = hub_only("memory-deferred", hub_args=["--link-max-history-reads", "3"])
    pub, sub = peer(cluster, "pub"), peer(cluster, "sub")
    interest(sub, "c.t", 1)
    epoch = publish_many(pub, "c.t", 2, 1)[0][5]
    sub.send(*[[HISTORY_READ, "c.t", 100 + i, 0, epoch] for i in range(8)])
    codes = {}
    while len(codes) < 8:
        m = sub.recv_until(lambda m: m[0] == HISTORY_RESULT)
        codes[m[2]] = m[3]
    assert sorted(codes.values()) == [0, 0, 0, 429, 429, 429, 429, 429], codes
    assert metric(cluster, "spoke_hub_history_reads_refused_total") == 5
    interest(sub, "c.t", 2)  # the link is still served


@pytest.mark.parametrize("engine", ENGINES)
def test_a_publish_sent_again_on_a_new_link_gets_its_first_result_once(hub_only, engine):
    cluster = hub_only(engine)
    sub = peer(cluster, "sub")
    interest(sub, "p.t", 1)
    a = peer(cluster, "edge-x", worker=1, boot=0xabcd)
    first = publish(a, "p.t", b'"once"', 1)
    assert first[2] == 0 and first[4] == 1, first
    a.close()  # the link broke before the edge knew the answer, say
    again = peer(cluster, "edge-x", worker=1, boot=0xabcd)  # same run of the worker
    assert publish(again, "p.t", b'"once"', 1)[1:] == first[1:]
    assert publish(again, "p.t", b'"next"', 2)[4] == 2  # a new pub_id is ordered
    assert messages(sub, "p.t", 2) == [(1, 0), (2, 0)]  # the first one only once
    assert metric(cluster, "spoke_hub_publishes_retransmitted_total",
                  '{outcome="answered"}') == 1
    # Another run of the worker (a new boot) starts its pub_ids afresh.
    reborn = peer(cluster, "edge-x", worker=1, boot=0xbeef)
    assert publish(reborn, "p.t", b'"new run"', 1)[4] == 3


@pytest.mark.parametrize("engine", ["memory", "memory-deferred"])
def test_a_hub_restart_mints_new_epochs(hub_only, engine):
    cluster = hub_only(engine)
    pub = peer(cluster, "pub")
    before = publish_many(pub, "e.t", 3, 1)[-1]
    cluster.kill_hub()
    cluster.start_hub()
    pub = peer(cluster, "pub")
    after = publish(pub, "e.t", b"1", 1)  # pub_ids start over with the hub too
    assert after[4] == 1 and EPOCH_RE.match(after[5]) and after[5] != before[5], (before, after)
    sub = peer(cluster, "sub")
    r = interest(sub, "e.t", 1, since=(3, before[5]))
    assert r[3:] == [0, "epoch changed: the topic's numbering restarted", 1, after[5], 0], r


def test_a_replay_longer_than_the_congestion_bound_drops_the_link(hub_only):
    """A read costs at most one link's congestion bound of output: asking
    for more history than link_max_pending drops the link as congested,
    and the hub goes on serving others."""
    cluster = hub_only("memory", hub_args=["--link-max-pending", "65536"],
                       hub_config="[history]\nbig.* = 1000\n")
    pub = peer(cluster, "pub")
    data = b'"' + b"x" * 2000 + b'"'
    pub.send(*[[PUBLISH, "big.t", pub.own_conn(1), 0, data, "", 1 + i] for i in range(100)])
    results = [pub.recv_until(lambda m: m[0] == PUBLISH_RESULT) for _ in range(100)]
    epoch = results[0][5]
    evil = peer(cluster, "evil")
    interest(evil, "big.t", 1)
    evil.send([HISTORY_READ, "big.t", 7, 0, epoch])  # 200 KB of replay
    wait_for(lambda: not [lk for lk in cluster.hub_links() if lk["edge"] == "evil"], 5,
             "the hub to drop the link")
    log = cluster.hubs[-1].log()
    assert "congested: a replay longer than link_max_pending" in log, log[-2000:]
    sub = peer(cluster, "sub")
    assert interest(sub, "big.t", 1)[3] == 0
