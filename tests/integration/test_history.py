"""The hub keeps each topic's history within the [history] bounds of its
pattern (count and age) and all topics within history_bytes, evicting the
hub's oldest message first; a topic nobody wants is forgotten topic_linger
after its history empties; GET /api/topics shows each topic's epoch, seq and
history, /metrics the totals and evictions by reason, and SIGHUP applies new
rules to what is stored from then on."""
import json
import re

from helpers import http_get, http_request, wait_for


def publish(cluster, topic, data=1):
    """POST /api/publish; returns the answer ({"topic", "seq", "epoch"})."""
    status, raw = http_request(cluster.http_port, "POST", "/api/publish",
                               json.dumps({"topic": topic, "data": data}).encode())
    assert status == 200, raw
    return json.loads(raw)


def topics(cluster):
    status, raw = http_get(cluster.http_port, "/api/topics")
    assert status == 200, raw
    doc = json.loads(raw)
    return {t["topic"]: t for t in doc["topics"]}


def metric(cluster, name, labels=""):
    status, body = http_get(cluster.http_port, "/metrics")
    assert status == 200
    m = re.search(rf"^{re.escape(name + labels)} (\d+)$", body.decode(), re.M)
    return int(m.group(1)) if m else None


def hub_only(make_cluster, **kw):
    return make_cluster(edges=(), workers=1, **kw)


def test_history_keeps_each_pattern_s_count_seen_in_api_topics(make_cluster):
    cluster = hub_only(make_cluster, hub_args=["--topic-linger", "0"], hub_config=(
        "[history]\ndefault = 5\nchat.* = 3 300s\nchat.vip = 8\nticker.* = 0\n"))
    answers = [publish(cluster, "chat.room") for _ in range(10)]
    assert [a["seq"] for a in answers] == list(range(1, 11))
    assert len({a["epoch"] for a in answers}) == 1
    for _ in range(10):
        publish(cluster, "chat.vip")
        publish(cluster, "other")
    ticks = [publish(cluster, "ticker.eur") for _ in range(3)]
    # No history and no interest: the state goes at once, each tick a new epoch.
    assert [t["seq"] for t in ticks] == [1, 1, 1] and len({t["epoch"] for t in ticks}) == 3

    shown = topics(cluster)
    room = shown["chat.room"]
    assert (room["seq"], room["history_messages"], room["history_first_seq"]) == (10, 3, 8)
    assert room["epoch"] == answers[0]["epoch"] and room["links"] == 0
    assert room["history_bytes"] > 3 * 20  # what three messages really hold
    assert (shown["chat.vip"]["history_messages"], shown["chat.vip"]["history_first_seq"]) == (8, 3)
    assert shown["other"]["history_messages"] == 5
    assert "ticker.eur" not in shown
    assert metric(cluster, "spoke_hub_history_messages") == 3 + 8 + 5
    assert metric(cluster, "spoke_hub_history_bytes") == sum(
        t["history_bytes"] for t in shown.values())
    assert metric(cluster, "spoke_hub_history_evictions_total", '{reason="count"}') == 7 + 2 + 5
    assert metric(cluster, "spoke_hub_topics") == 3


def test_history_ages_out_and_the_state_goes_with_it(make_cluster):
    cluster = hub_only(make_cluster, hub_args=["--topic-linger", "0.2"],
                       hub_config="[history]\nshort.* = 100 300ms\n")
    first = publish(cluster, "short.t")
    publish(cluster, "short.t")
    wait_for(lambda: topics(cluster)["short.t"]["history_messages"] == 0, 5, "short.t to age out")
    assert metric(cluster, "spoke_hub_history_evictions_total", '{reason="age"}') == 2
    shown = topics(cluster)["short.t"]  # its state lingers a while, position and all
    assert (shown["seq"], shown["epoch"]) == (2, first["epoch"])
    wait_for(lambda: "short.t" not in topics(cluster), 5, "short.t to be forgotten")
    again = publish(cluster, "short.t")  # a new state: a new epoch, from 1
    assert again["seq"] == 1 and again["epoch"] != first["epoch"]


def test_the_byte_budget_evicts_the_hub_s_oldest_message_first(make_cluster):
    cluster = hub_only(make_cluster, hub_args=["--history-bytes", "16KiB", "--topic-linger", "0"])
    assert metric(cluster, "spoke_hub_history_budget_bytes") == 16384
    big = "x" * 500
    for _ in range(40):  # 40 of 500 bytes and more: over the budget by itself
        publish(cluster, "a.t", big)
    held_a = topics(cluster)["a.t"]
    assert 10 < held_a["history_messages"] < 40, held_a
    assert held_a["history_first_seq"] + held_a["history_messages"] - 1 == 40
    for _ in range(40):
        publish(cluster, "b.t", big)
    shown = topics(cluster)
    assert metric(cluster, "spoke_hub_history_bytes") <= 16384
    assert "a.t" not in shown  # its messages were the oldest: all gone, and its state
    b = shown["b.t"]
    assert b["history_first_seq"] + b["history_messages"] - 1 == 40  # a suffix, up to the last
    assert metric(cluster, "spoke_hub_history_evictions_total", '{reason="budget"}') == \
        80 - b["history_messages"]


def test_sighup_applies_new_history_rules_from_then_on(make_cluster):
    cluster = hub_only(make_cluster, hub_config="[history]\nr.* = 3\n")
    for _ in range(5):
        publish(cluster, "r.t")
    assert topics(cluster)["r.t"]["history_messages"] == 3
    cluster.write_hub_config("[history]\nr.* = 6\n")
    cluster.reload_hub()
    wait_for(lambda: "history rules reloaded" in cluster.hubs[-1].log(), 5, "the reload")
    for _ in range(5):
        publish(cluster, "r.t")
    shown = topics(cluster)["r.t"]
    assert (shown["history_messages"], shown["history_first_seq"], shown["seq"]) == (6, 5, 10)
    # A file the hub refuses keeps the rules it has.
    cluster.write_hub_config("[history]\nr.* = lots\n")
    cluster.reload_hub()
    wait_for(lambda: "policy reload failed" in cluster.hubs[-1].log(), 5, "the refusal")
    publish(cluster, "r.t")
    assert topics(cluster)["r.t"]["history_messages"] == 6
