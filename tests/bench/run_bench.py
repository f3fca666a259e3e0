#!/usr/bin/python3
"""spoke's benchmark suite: starts a hub and two edges on loopback (port 0,
the ports read from their ready files) for each workload, drives them with spoke-loadgen processes, and prints each
workload's figures as one JSON object and one readable line, then a summary
table, and writes every figure with its conditions to
tests/bench/results/<date>-<commit>.json.

Workloads: idle, fanout, broadcast, topics, link, recovery, history,
handshake, churn, wss, deflate, redis, hubcap (see docs/performance.md for what each figure
means and how it is measured).

Usage: tests/bench/run_bench.py [--bin-dir build] [--quick] [--only WORKLOAD[,…]]
                               [--hub-config FILE]
"""
import argparse
import datetime
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.dont_write_bytecode = True  # no __pycache__ next to the scripts
sys.path.insert(0, str(Path(__file__).resolve().parent))
import benchlib as bl  # noqa: E402
from benchlib import fmt_us as us  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
WORKLOADS = ("idle", "fanout", "broadcast", "topics", "link", "recovery", "history", "handshake",
             "churn", "wss", "deflate", "redis", "hooks", "hubcap", "cores")

# The hub's history for the `history` workload, in one place so that it is
# easy to follow the hub's syntax: every topic keeps up to COUNT messages for
# AGE, within history_bytes for the whole hub; room enough that nothing the
# workload publishes is evicted.
HISTORY_INI = """history_bytes = 268435456

[history]
default = 100000 3600s
"""

# The zlib settings deflate-cost (tests/bench/deflate_cost.c) compares the
# edge's own compression (libdeflate, common/pmdcodec.c) with: raw deflate,
# deflateReset + deflate(Z_SYNC_FLUSH) per message.
DEFLATE_LEVEL = 1
DEFLATE_MEM_LEVEL = 8

# What each idle connection holds, as run_idle's (subs, topics, own_topics):
# nothing, one topic all share, five topics all share, a topic of its own
# (user.<id>: per-user notifications). The first is what `idle-wss` runs.
IDLE_SHAPES = (("1 shared topic", 1, 1, False), ("no subscription", 0, 1, False),
               ("5 shared topics", 5, 5, False), ("own topic", 1, 1, True))

# Counts per profile. The standard suite must finish in under 10 minutes on
# the 2-core benchmark machine, the quick one in about a minute.
PROFILES = {
    "standard": {
        # `conns` idle connections in each shape of IDLE_SHAPES, on fresh
        # servers each; the wss suite runs the first shape alone.
        "idle": {"conns": 10000, "per_proc": 10000, "hold_s": 5},
        "fanout": {"subs": 10000, "per_proc": 5000, "timeout": 90,
                   "runs": [  # (label, payload bytes, window, messages, workers, encoding)
                       ("16B-w1", 16, 1, 300, 1, "json"),
                       ("16B-w64", 16, 64, 2000, 1, "json"),
                       ("16B-w64-msgpack", 16, 64, 2000, 1, "msgpack"),
                       ("1KB-w1", 1024, 1, 200, 1, "json"),
                       ("1KB-w16", 1024, 16, 500, 1, "json"),
                       ("16B-w64-2workers", 16, 64, 2000, 2, "json")],
                   "half_load_s": 5,
                   "latency": {"subs": 100, "rates": (1000, 10000), "seconds": 3}},
        "broadcast": {"subs": 10000, "per_proc": 5000, "messages": 5, "rate": 5},
        # permessage-deflate: the chat1k corpus to `subs` subscribers, plain
        # and with --deflate; idle memory with and without it; the per-message
        # compression cost with the edge's library and level (DEFLATE_LEVEL).
        "deflate": {"subs": 5000, "per_proc": 5000, "messages": 300, "window": 16,
                    "timeout": 90, "idle_conns": 5000, "hold_s": 3},
        "topics": {"topics": 5000, "per_proc": 5000, "pubs": 8, "messages": 1000000,
                   "window": 64},
        "link": {"rooms": 10, "subs_per_room": 10, "pubs": 2, "messages": 60000,
                 "window": 64},
        # clients on edge-a over `topics`, a publisher on edge-b at `rate`
        # for `publish_s`; edge-a drained (period 0: every client at once)
        # `steady_s` after go. cold: the publisher holds no subscription, so
        # edge-b has no interest in the topics before the clients come; warm:
        # it is subscribed to them (its echoes).
        "recovery": {"clients": 10000, "per_proc": 5000, "topics": 4, "rate": 200,
                     "size": 100, "publish_s": 4, "steady_s": 1, "drain_period_s": 0,
                     "inflight": 500, "margin_s": 5, "variants": ("cold", "warm")},
        # `messages` of `size` bytes over `topics`, in two halves, with the hub
        # running HISTORY_INI.
        "history": {"messages": 200000, "topics": 100, "size": 100, "pubs": 2, "window": 64},
        "handshake": {"conns": 64, "seconds": 5},
        "churn": {"conns": 64, "seconds": 5},
        # Publishes through a publish hook: `pubs` connections, `window` in
        # flight, `messages` of 100 B.
        "hooks": {"pubs": 8, "window": 64, "messages": 30000},
        "wss": {"idle": {"conns": 10000, "per_proc": 5000, "hold_s": 5},
                "handshake": {"conns": 64, "seconds": 5},
                "fanout": {"subs": 5000, "per_proc": 2500, "timeout": 90,
                           "runs": [("16B-w64", 16, 64, 1000), ("1KB-w16", 1024, 16, 300)]}},

        # The redis engine against memory: a topics-style throughput run
        # (`topics` topics, `pubs` publisher connections with `window` in
        # flight, `messages` publishes; a window of 64 leaves the redis
        # engine bound by its round trip, 256 by the machine) and a latency
        # run (`latency`: subs on one topic, one publisher at `rate` for
        # `seconds`), on one hub with each engine, then on two hubs sharing
        # one Redis (and, with two_shards, two).
        "redis": {"topics": 2000, "per_proc": 2000, "pubs": 8, "messages": 200000,
                  "window": 256, "timeout": 90,
                  "latency": {"subs": 100, "rate": 1000, "seconds": 3},
                  "two_shards": True},
        # The hub alone (spoke-linkgen): receiving links interested in every
        # one of `topics` topics, `message_links` deliveries per cell
        # (messages = message_links / links), 16 B JSON data; cells with more
        # than max_memberships (links x topics) interest records are left out.
        "hubcap": {"links": (1, 10, 100), "topics": (10, 1000, 100000),
                   "message_links": 4000000, "max_memberships": 1000000, "timeout": 60},
        # Scaling with cores: the same fan-out with 1 and 2 workers per edge,
        # alternating, `rounds` times; (label, payload bytes, window, messages).
        "cores": {"subs": 10000, "per_proc": 5000, "timeout": 90, "rounds": 2,
                  "runs": [("16B-w64", 16, 64, 2000), ("1KB-w16", 1024, 16, 500)]},
    },
    "quick": {
        "idle": {"conns": 6000, "per_proc": 6000, "hold_s": 2},
        "fanout": {"subs": 2000, "per_proc": 2000, "timeout": 30,
                   "runs": [("16B-w1", 16, 1, 150, 1, "json"),
                            ("16B-w64", 16, 64, 1000, 1, "json"),
                            ("1KB-w16", 1024, 16, 300, 1, "json")],
                   "half_load_s": 3,
                   "latency": {"subs": 100, "rates": (1000,), "seconds": 2}},
        "broadcast": {"subs": 2000, "per_proc": 2000, "messages": 3, "rate": 5},
        "deflate": {"subs": 1000, "per_proc": 1000, "messages": 150, "window": 16,
                    "timeout": 30, "idle_conns": 1000, "hold_s": 2},
        "topics": {"topics": 1000, "per_proc": 1000, "pubs": 2, "messages": 100000,
                   "window": 64},
        "link": {"rooms": 10, "subs_per_room": 4, "pubs": 2, "messages": 10000, "window": 64},
        "recovery": {"clients": 2000, "per_proc": 2000, "topics": 4, "rate": 200,
                     "size": 100, "publish_s": 2.5, "steady_s": 0.5, "drain_period_s": 0,
                     "inflight": 500, "margin_s": 2, "variants": ("cold",)},
        "history": {"messages": 50000, "topics": 20, "size": 100, "pubs": 2, "window": 64},
        "handshake": {"conns": 32, "seconds": 3},
        "churn": {"conns": 32, "seconds": 3},
        "hooks": {"pubs": 4, "window": 32, "messages": 5000},
        "wss": {"idle": {"conns": 2000, "per_proc": 2000, "hold_s": 2},
                "handshake": {"conns": 32, "seconds": 3},
                "fanout": {"subs": 1000, "per_proc": 1000, "timeout": 30,
                           "runs": [("16B-w64", 16, 64, 500)]}},

        "redis": {"topics": 200, "per_proc": 200, "pubs": 4, "messages": 20000,
                  "window": 256, "timeout": 30,
                  "latency": {"subs": 20, "rate": 500, "seconds": 1},
                  "two_shards": False},
        "hubcap": {"links": (1, 10, 100), "topics": (10, 1000, 100000),
                   "message_links": 2000000, "max_memberships": 100000, "timeout": 30},
        "cores": {"subs": 2000, "per_proc": 2000, "timeout": 30, "rounds": 1,
                  "runs": [("16B-w64", 16, 64, 1000)]},
    },
}


class Bench:
    """One benchmark run: the profile, the generators, the results so far."""

    def __init__(self, args):
        self.args = args
        self.profile = PROFILES["quick" if args.quick else "standard"]
        self.bin_dir = Path(args.bin_dir)
        self.workdir = Path(tempfile.mkdtemp(prefix="spoke-bench-"))
        self.fleet = bl.Fleet(self.bin_dir / "spoke-loadgen", self.workdir)
        self.results = {}
        self.rows = []      # summary table rows
        self.clusters = []
        self.seq = 0
        self.certs_dir = None
        # --hub-config: the INI text every hub gets (the history workload
        # excepted); None: the hub's defaults.
        self.hub_config = Path(args.hub_config).read_text() if args.hub_config else None

    # ---- plumbing
    def certs(self):
        """A development CA and wss certificate (deploy/gen-certs.sh), made once."""
        if self.certs_dir is None:
            self.certs_dir = self.workdir / "certs"
            subprocess.run([str(REPO / "deploy" / "gen-certs.sh"), str(self.certs_dir)],
                           check=True, stdout=subprocess.DEVNULL)
        return self.certs_dir

    def cluster(self, workers=1, tls=False, hub_config=None, **kw):
        """A started cluster; kw go to bl.SpokeCluster (hubs, hub_args,
        redis_shards)."""
        c = bl.SpokeCluster(self.bin_dir, self.workdir, workers=workers,
                            tag=f"c{len(self.clusters) + 1}", certs=self.certs() if tls else None,
                            hub_config=hub_config if hub_config is not None else self.hub_config,
                            **kw)
        self.clusters.append(c)
        return c.start()

    def stop_cluster(self, c):
        status = c.stop()
        bad = {n: rc for n, rc in status.items() if rc not in (0, None)}
        if bad:
            print(f"  warning: server exit status {bad} (logs in {self.workdir})", flush=True)

    def label(self, name):
        self.seq += 1
        return f"{name}{self.seq}"

    def record(self, workload, run, text):
        """Prints one JSON object and one readable line for a run."""
        run = dict(run, workload=workload)
        self.results.setdefault(workload, []).append(run)
        printable = {k: v for k, v in run.items() if k not in ("sub_results", "pub_results",
                                                               "results")}
        print(json.dumps(printable, separators=(",", ":")), flush=True)
        print(f"{workload}: {text}", flush=True)

    def measure(self, run, workers=1, tls=False, hub_config=None, **kw):
        """run(cluster) on a fresh cluster (clients over wss with tls, the hub
        with the INI text hub_config, kw as for cluster()), repeated when
        disturbed (see benchlib.measure). Returns (result, cluster)."""
        return bl.measure(lambda: self.cluster(workers, tls, hub_config, **kw), run,
                          self.args.noisy_retries, stop=self.stop_cluster)

    def stop_all(self):
        self.fleet.stop()
        for c in self.clusters:
            c.stop()

    # ---- workloads
    def idle(self, p=None, tls=False):
        """Idle memory per connection in each of IDLE_SHAPES (wss: the first),
        from the RssAnon of the hub and the edges."""
        p = p or self.profile["idle"]
        shapes = IDLE_SHAPES[:1] if tls else IDLE_SHAPES
        by_shape = {}
        for shape, subs, topics, own in shapes:
            name = "idle-wss" if tls else f"idle, {shape}"
            r, _ = self.measure(lambda c: bl.run_idle(
                self.fleet, c.servers, c.edge_urls, label=self.label("idle"), conns=p["conns"],
                per_proc=p["per_proc"], hold_s=p["hold_s"], topic="user" if own else "idle",
                subs=subs, topics=topics, own_topics=own, marginal=not tls), tls=tls)
            r["name"] = name
            r["conditions"]["workers"] = 1
            r["conditions"]["tls"] = tls
            r["conditions"]["shape"] = shape
            hub = {n: v for n, v in r["rss"].items() if n not in r["edges"]}
            hub_bytes = sum((v["after"] or 0) - (v["before"] or 0) for v in hub.values())
            r["hub_bytes_per_conn"] = round(hub_bytes / p["conns"])
            per_edge = "; ".join(f"{n} {e['conns']} conns {bl.fmt_bytes(e['rss_delta'])} RSS "
                                 f"→ {e['bytes_per_conn']} B/conn, {e['cpu_pct']}% CPU"
                                 for n, e in r["edges"].items())
            early = f"; WARNING: {', '.join(r['ended_early'])} ended inside the window" \
                if r["ended_early"] else ""
            early += bl.flags(r)
            mg = r.get("marginal")
            marg = (f"; one more connection (the second {mg['conns']}): hub and edges "
                    f"{mg['bytes_per_conn']} B (edges {mg['edges_bytes_per_conn']}, hub "
                    f"{mg['others_bytes_per_conn']})") if mg else ""
            self.record("idle", r, f"{name}: {p['conns']} connections ({r['alive']} alive at "
                                   f"the end, opened in {r['setup_s']} s): {per_edge}; hub "
                                   f"{r['hub_bytes_per_conn']} B/conn; hub and edges "
                                   f"{r['server_bytes_per_conn']} B/conn{marg}{early}")
            goal = {"1 shared topic": "goal ≤ 350 B/conn (hub and edges)",
                    "own topic": "goal ≤ 200 B over no subscription"}.get(shape, "")
            self.rows.append((name, f"{p['conns']} conns",
                              f"{r['server_bytes_per_conn']} B/conn hub+edges "
                              f"(edge {r['bytes_per_conn']}, hub {r['hub_bytes_per_conn']})"
                              + (f"; marginal {mg['bytes_per_conn']} B" if mg else ""),
                              f"edge CPU {r['edge_cpu_pct']}%", "",
                              ("" if tls else goal) + bl.flags(r)))
            by_shape[shape] = r
        if "own topic" in by_shape and "no subscription" in by_shape:
            own = (by_shape["own topic"]["server_bytes_per_conn"]
                   - by_shape["no subscription"]["server_bytes_per_conn"])
            shared = (by_shape["1 shared topic"]["server_bytes_per_conn"]
                      - by_shape["no subscription"]["server_bytes_per_conn"])
            print(f"idle: a topic of its own costs {own} B per connection over none (hub and "
                  f"edges), one more subscriber of a shared topic {shared} B", flush=True)
            mg = {k: (v.get("marginal") or {}).get("bytes_per_conn") for k, v in by_shape.items()}
            if None not in mg.values():
                print(f"idle, marginal (one more connection): none {mg['no subscription']} B, "
                      f"one shared topic {mg['1 shared topic']} B, five shared "
                      f"{mg['5 shared topics']} B, own topic {mg['own topic']} B (its topic "
                      f"{mg['own topic'] - mg['no subscription']} B)", flush=True)
        return by_shape[shapes[0][0]]

    def fanout_run(self, name, *, subs, per_proc, size, window, messages, workers=1,
                   rate=0, pubs=1, timeout=90, goal="", encoding="json", tls=False,
                   edges=None):
        r, _ = self.measure(lambda c: bl.run_fanout(
            self.fleet, c.servers, c.urls, label=self.label("fanout"), subs=subs,
            sub_per_proc=per_proc, pubs=pubs, messages=messages, size=size, rate=rate,
            window=None if rate else window, topic="bench.fanout", timeout=timeout,
            encoding=encoding, edge_names=c.edge_names, hub_names=["hub"]), workers, tls,
            **({"edges": edges} if edges else {}))
        r["name"] = name
        r["conditions"]["workers"] = workers
        r["conditions"]["tls"] = tls
        lat = r["latency"]
        flag = bl.flags(r)
        loss = "no loss" if r["lost"] == 0 else f"LOST {r['lost']}"
        self.record("fanout", r,
                    f"{name}: {subs} subs, {messages} × {size} B, "
                    f"{'rate ' + str(rate) + '/s' if rate else 'window ' + str(window)}, "
                    f"{encoding}, "
                    f"{workers} worker(s): {r['received']}/{r['expected']} delivered ({loss}), "
                    f"{bl.fmt_rate(r['deliveries_per_s'])} deliveries/s, "
                    f"{bl.fmt_rate(r['deliveries_per_edge_cpu_s'])}/edge CPU-s "
                    f"({bl.fmt_rate(r['deliveries_per_edge_cpu_s_with_irq'])} with softirq), "
                    f"{bl.fmt_rate(r['deliveries_per_server_cpu_s'])}/server CPU-s; "
                    f"CPU edges {r['cpu_s']['edges']} s hub {r['cpu_s']['hub']} s "
                    f"generators {r['cpu_s']['generators']} s softirq {r['irq_cpu_s']} s{flag}; "
                    f"{bl.fmt_latency(r)}")
        self.rows.append(("fanout " + name,
                          f"{subs} subs, {r['received']}/{r['expected']}",
                          f"{bl.fmt_rate(r['deliveries_per_edge_cpu_s'])}/edge-CPU-s "
                          f"({bl.fmt_rate(r['deliveries_per_edge_cpu_s_with_irq'])})",
                          f"{bl.fmt_rate(r['deliveries_per_s'])}/s",
                          f"p50 {us(lat['p50_us'])} p99 {us(lat['p99_us'])} "
                          f"max {us(lat['max_us'])}",
                          (goal + flag).strip()))
        return r

    def fanout(self):
        p = self.profile["fanout"]
        goals = {"16B-w1": "goal ≥ 1M/edge-CPU-s", "16B-w64": "goal ≥ 5M/edge-CPU-s",
                 "1KB-w1": "goal ≥ 700k/edge-CPU-s", "1KB-w16": "goal ≥ 700k/edge-CPU-s"}
        best = None
        for name, size, window, messages, workers, enc in p["runs"]:
            r = self.fanout_run(name, subs=p["subs"], per_proc=p["per_proc"], size=size,
                                window=window, messages=messages, workers=workers,
                                timeout=p["timeout"], goal=goals.get(name, ""), encoding=enc)
            if size == 16 and workers == 1 and enc == "json" and r["lost"] == 0 and r["span_s"]:
                rate = r["published"] / r["span_s"]
                best = rate if best is None or rate > best else best
        if best:  # p99 at half the maximum sustained publish rate
            rate = max(1, int(best / 2))
            self.fanout_run(f"16B-half-load-{rate}/s", subs=p["subs"], per_proc=p["per_proc"],
                            size=16, window=None, rate=rate,
                            messages=max(10, rate * p["half_load_s"]), timeout=p["timeout"],
                            goal="goal p99 ≤ 1 ms")
        lat = p["latency"]
        for rate in lat["rates"]:
            self.fanout_run(f"16B-{lat['subs']}subs-{rate}/s", subs=lat["subs"],
                            per_proc=lat["subs"], size=16, window=None, rate=rate,
                            messages=rate * lat["seconds"], timeout=p["timeout"],
                            goal="goal p50 ≤ 50 µs, p99 ≤ 200 µs")

    def cores(self):
        """Deliveries per edge CPU-second of one edge with 1 and 2 workers:
        flat means a worker costs what it did alone, so more cores carry
        more (docs/performance.md, "Cores"). One edge, so that 2 workers are
        2 threads on the 2 cores; the generators share them."""
        p = self.profile["cores"]
        for label, size, window, messages in p["runs"]:
            got = {1: [], 2: []}
            for rnd in range(p["rounds"]):
                for workers in (1, 2):
                    r = self.fanout_run(f"cores-{label}-{workers}w-{rnd + 1}", subs=p["subs"],
                                        per_proc=p["per_proc"], size=size, window=window,
                                        messages=messages, workers=workers,
                                        timeout=p["timeout"], edges=("edge-a",))
                    if r["lost"] == 0:
                        got[workers].append(r)
            if got[1] and got[2]:
                def mean(rs, k):
                    return sum(x[k] for x in rs) / len(rs)
                cpu = {w: mean(got[w], "deliveries_per_edge_cpu_s") for w in got}
                rate = {w: mean(got[w], "deliveries_per_s") for w in got}
                print(f"cores: {label}, {p['subs']} subs: 2 workers / 1 worker = "
                      f"{cpu[2] / cpu[1]:.2f}x per edge CPU-second "
                      f"({bl.fmt_rate(cpu[1])} -> {bl.fmt_rate(cpu[2])}), "
                      f"{rate[2] / rate[1]:.2f}x deliveries/s "
                      f"({bl.fmt_rate(rate[1])} -> {bl.fmt_rate(rate[2])}); "
                      f"means of {len(got[1])} and {len(got[2])} runs", flush=True)
                self.rows.append((f"cores {label}", f"{p['subs']} subs, 1 vs 2 workers",
                                  f"{cpu[2] / cpu[1]:.2f}x per edge CPU-s",
                                  f"{rate[2] / rate[1]:.2f}x deliveries/s", "",
                                  "flat per CPU-s: scales with cores"))

    def broadcast(self):
        p = self.profile["broadcast"]
        r, _ = self.measure(lambda c: bl.run_fanout(
            self.fleet, c.servers, c.urls, label=self.label("broadcast"), subs=p["subs"],
            sub_per_proc=p["per_proc"], messages=p["messages"], size=16, rate=p["rate"],
            window=None, topic="bench.broadcast", edge_names=c.edge_names, hub_names=["hub"]))
        r["name"] = "broadcast"
        lat = r["latency"]
        r["time_to_last_delivery_us"] = lat["max_us"]
        loss = "no loss" if r["lost"] == 0 else f"LOST {r['lost']}"
        self.record("broadcast", r,
                    f"{p['messages']} messages at {p['rate']}/s, each to {p['subs']} subscribers "
                    f"({loss}): last delivery after {us(lat['max_us'])} (worst of "
                    f"{p['messages']}); {bl.fmt_latency(r)}")
        self.rows.append(("broadcast", f"{p['subs']} subs, {r['received']}/{r['expected']}",
                          f"last delivery {us(lat['max_us'])}", "",
                          f"p50 {us(lat['p50_us'])} p99 {us(lat['p99_us'])}", bl.flags(r).strip()))

    def topics(self):
        p = self.profile["topics"]
        # Publisher connection j (edge j mod 2) publishes to and listens on the
        # topics t with t mod conns == j; subscriber t sits on the other edge,
        # so both links are interested in every topic.
        r, _ = self.measure(lambda c: bl.run_fanout(
            self.fleet, c.servers, c.urls, label=self.label("topics"), subs=p["topics"],
            sub_per_proc=p["per_proc"], pubs=p["pubs"], messages=p["messages"], size=16,
            rate=0, window=p["window"], topic="bench.t", topics=p["topics"], sub_url_offset=1,
            edge_names=c.edge_names, hub_names=["hub"],
            snapshot=lambda: c.link_counters()["all"]))
        s0, s1 = r.pop("snapshots")
        routed = s1["messages_out"] - s0["messages_out"]
        hub_cpu = r["cpu_s"]["hub"]
        r.update(name="topics", routed_message_links=routed,
                 publishes_in=s1["publishes_in"] - s0["publishes_in"],
                 routed_per_hub_cpu_s=round(routed / hub_cpu) if hub_cpu else None)
        flag = bl.flags(r)
        loss = "no loss" if r["lost"] == 0 else f"LOST {r['lost']}"
        self.record("topics", r,
                    f"{p['topics']} topics, one subscriber each, {p['messages']} messages from "
                    f"{p['pubs']} publisher connections ({loss}): {routed} message-links routed "
                    f"with {hub_cpu} hub CPU-s = {bl.fmt_rate(r['routed_per_hub_cpu_s'])}"
                    f"/hub-CPU-s; {bl.fmt_rate(r['publish_rate'])} publishes/s; CPU edges "
                    f"{r['cpu_s']['edges']} s generators {r['cpu_s']['generators']} s{flag}")
        self.rows.append(("topics", f"{p['topics']} topics, {r['received']}/{r['expected']}",
                          f"{bl.fmt_rate(r['routed_per_hub_cpu_s'])} routed/hub-CPU-s",
                          f"{bl.fmt_rate(routed / r['span_s'] if r['span_s'] else None)}"
                          f" routed/s", "", ("goal ≥ 3M/hub-CPU-s" + flag)))

    def link(self):
        p = self.profile["link"]
        subs = p["rooms"] * p["subs_per_room"]

        def run(c):
            def snapshot():
                return {"links": c.link_counters(),
                        "io": {n: bl.io_bytes(c.edges[n].pid) for n in c.edge_names}}
            # Two subscriber processes with the edges in opposite order put
            # every room's subscribers on both edges; the two publisher
            # connections are on different edges.
            return bl.run_fanout(
                self.fleet, c.servers, c.urls, label=self.label("link"), subs=subs,
                sub_per_proc=(subs + 1) // 2, pubs=p["pubs"], messages=p["messages"],
                size=None, rate=0, window=p["window"], topic="chat.room", topics=p["rooms"],
                corpus="chat", edge_names=c.edge_names, hub_names=["hub"], snapshot=snapshot)
        r, c = self.measure(run)
        s0, s1 = r.pop("snapshots")
        d = {k: s1["links"]["all"][k] - s0["links"]["all"][k] for k in s0["links"]["all"]}
        # The edges read client sockets and the hub link with read(2) and write
        # client sockets with writev(2), but the link with send(2): over the
        # measured phase, an edge's rchar growth minus what the hub sent it is
        # what its clients sent, and its wchar growth is what its clients got.
        ws_in = ws_out = 0
        for n in c.edge_names:
            ws_in += (s1["io"][n][0] - s0["io"][n][0]) - \
                (s1["links"][n]["wire_out"] - s0["links"][n]["wire_out"])
            ws_out += s1["io"][n][1] - s0["io"][n][1]
        # Less the WebSocket framing: at least 6 bytes per client frame (header
        # and mask) and 2 per server frame; exact below 126-byte payloads.
        published = r["published"]
        server_frames = r["received"] + r["echoed"]
        sent_json = ws_in - 6 * published
        recv_json = ws_out - 2 * server_frames
        client_json = sent_json + recv_json
        wire = d["wire_in"] + d["wire_out"]
        server_cpu = r["cpu_s"]["edges"] + r["cpu_s"]["hub"]

        def ratio(a, b, nd=4):
            return round(a / b, nd) if b else None
        r.update(name="link", link=d, client_ws_bytes_in=ws_in, client_ws_bytes_out=ws_out,
                 client_json_bytes_sent=sent_json, client_json_bytes_received=recv_json,
                 link_wire_bytes=wire,
                 link_wire_vs_client_json=ratio(wire, client_json),
                 link_up_wire_vs_json_sent=ratio(d["wire_in"], sent_json),
                 link_compression_in=ratio(d["raw_in"], d["wire_in"], 2),
                 link_compression_out=ratio(d["raw_out"], d["wire_out"], 2),
                 server_cpu_us_per_message=ratio(1e6 * server_cpu, published, 2),
                 hub_cpu_us_per_message=ratio(1e6 * r["cpu_s"]["hub"], published, 2))
        pct = (lambda x: "n/a" if x is None else f"{100 * x:.1f}%")
        loss = "no loss" if r["lost"] == 0 else f"LOST {r['lost']}"
        self.record("link", r,
                    f"chat corpus, {published} messages on {p['rooms']} rooms, {subs} "
                    f"subscribers on both edges ({loss}): link wire {wire} B vs client JSON "
                    f"{client_json} B (sent {sent_json}, received {recv_json}) = "
                    f"{pct(r['link_wire_vs_client_json'])}; upstream link wire vs JSON sent "
                    f"{pct(r['link_up_wire_vs_json_sent'])}; zstd raw/wire in "
                    f"{r['link_compression_in']} out {r['link_compression_out']}; "
                    f"{r['server_cpu_us_per_message']} µs hub+edge CPU per message "
                    f"(hub {r['hub_cpu_us_per_message']} µs)")
        self.rows.append(("link", f"{published} msgs, {r['received']}/{r['expected']}",
                          f"{r['server_cpu_us_per_message']} µs server CPU/msg",
                          f"wire/JSON {pct(r['link_wire_vs_client_json'])} "
                          f"(up {pct(r['link_up_wire_vs_json_sent'])})", "",
                          ("goal ≤ 25%" + bl.flags(r))))

    # ---- recovery and history (issue 12)
    def recovery(self):
        p = self.profile["recovery"]
        for variant in p["variants"]:
            r, _ = self.measure(lambda c: self.recovery_run(c, p, variant))
            self.recovery_report(r, p)

    @staticmethod
    def positions_metrics(c, edge):
        """The hub's /metrics and edge's own, for the history counters
        (empty where a page cannot be read)."""
        out = {}
        for key, get in (("hub", c.hub_metrics), ("edge", lambda: c.edge_metrics(edge))):
            try:
                out[key] = get()
            except (OSError, ValueError, KeyError, TypeError):
                out[key] = {}
        return out

    def recovery_run(self, c, p, variant):
        """Clients subscribed on edge-a, a publisher on edge-b at a steady
        rate; after steady_s edge-a is drained through the hub's API and the
        clients move to edge-b, subscribing with since. Windows: `steady`
        from go to the drain (the cost of the publish rate alone), `win` from
        the drain until every client is back (RECOVERED)."""
        a, b = c.edge_names
        urls = c.edge_urls
        fleet = self.fleet
        label = self.label("recovery")
        n, k = p["clients"], p["topics"]
        messages = int(p["rate"] * p["publish_s"])
        timeout = p["publish_s"] + p["margin_s"]
        after = {name: proc for name, proc in c.servers.items() if name != a}
        subs, base = [], 0
        for cnt in bl.split(n, bl.procs_for(n, p["per_proc"])):
            subs.append(fleet.start(label, "sub", [urls[a]], conns=cnt, topic="bench.recovery",
                                    topics=k, topic_base=base, messages=messages, timeout=timeout,
                                    reconnect="since", reconnect_url=urls[b],
                                    inflight=p["inflight"]))
            base += cnt
        try:
            fleet.wait(subs, "READY", 120, f"clients subscribed on {a}", servers=c.procs())
            pub = fleet.start(label, "pub", [urls[b]], conns=1, topic="bench.recovery", topics=k,
                              messages=messages, rate=p["rate"], size=p["size"],
                              echo=0 if variant == "cold" else 1)
            fleet.wait([pub], "READY", 30, "publisher connected", servers=c.procs())
            fleet.wait(subs, "WARM", 30, "warm-up reached every client", servers=c.procs())
            gens = subs + [pub]
            watched = {name: c.servers[name].pid for name in ("hub", b)}

            def sched():
                return {name: bl.sched_cpu_seconds(pid) for name, pid in watched.items()}
            s0 = sched()
            steady = bl.Window(c.servers, gens)
            for g in gens:
                g.send("go")
            # The steady window is part of the measurement (the hub's CPU at
            # this publish rate without a recovery), not a readiness wait.
            end = time.monotonic() + p["steady_s"]
            while time.monotonic() < end:
                for s in c.procs():
                    s.check_alive()
                time.sleep(min(0.05, max(0.0, end - time.monotonic())))
            steady.close()
            s1 = sched()
            m0 = self.positions_metrics(c, b)
            win = bl.Window(after, gens)
            drain_ns = win.t0
            c.drain(a, p["drain_period_s"])
            # edge-a exits once drained: from here on only the others count.
            fleet.wait(subs, "RECOVERED", p["drain_period_s"] + 60, f"every client back on {b}",
                       servers=after.values(), or_event="RESULT")
            win.close()
            s2 = sched()
            m1 = self.positions_metrics(c, b)
            fleet.wait(gens, "RESULT", timeout + 40, "results", servers=after.values())
        finally:
            fleet.stop([x for x in fleet.procs if x.name.startswith(label + "-")])

        sub_res = [g.result for g in subs]
        res = [x.get("resume") or {} for x in sub_res]

        def tot(key):
            return sum(x.get(key) or 0 for x in res)

        def merged(prefix):
            return bl.merge_latency([{"hist": x.get(prefix + "hist"),
                                      "max_ns": x.get(prefix + "max_ns")} for x in res])

        def reads(side, names):
            v0, name = bl.metric_total(m0[side], names)
            v1, _ = bl.metric_total(m1[side], names)
            return (None, None) if v0 is None or v1 is None else (round(v1 - v0), name)

        def about_history(name):
            return any(w in name for w in ("history", "replay", "recover", "resum", "since"))

        expected = sum(x.get("expected", 0) for x in sub_res)
        received = sum(x.get("received", 0) for x in sub_res)
        # Positions are there once a sub ack carries an epoch.
        supported = tot("acks_with_position") > 0
        # Every client closed and back (else the figure would be of a part).
        all_back = tot("conns_closed") == n and tot("away") == 0
        back_ns = max((x.get("last_back_ns") or 0 for x in res), default=0) if all_back else 0
        closes = [x.get("first_close_ns") for x in res if x.get("first_close_ns")]
        last_closes = [x.get("last_close_ns") for x in res if x.get("last_close_ns")]
        hub_reads, hub_name = reads("hub", ["spoke_hub_history_reads_total",
                                            lambda m: m.startswith("spoke_hub_") and
                                            "history" in m and "read" in m])
        edge_reads, edge_name = reads("edge", ["spoke_edge_history_reads_total",
                                               lambda m: m.startswith("spoke_edge_") and
                                               "history" in m and "read" in m])
        replayed = tot("replayed")
        hub_cpu, edge_cpu = win.cpu("hub"), win.cpu(b)
        per_s = (lambda x, w: round(x / w.wall_s, 3) if w.wall_s else None)
        hub_steady = per_s(steady.cpu("hub"), steady)
        edge_steady = per_s(steady.cpu(b), steady)
        lost = expected - received

        def sched_delta(x, y):
            return {name: None if x[name] is None or y[name] is None
                    else round(y[name] - x[name], 4) for name in x}
        sched_steady, sched_win = sched_delta(s0, s1), sched_delta(s1, s2)

        def above(name):
            if sched_steady[name] is None or sched_win[name] is None or not steady.wall_s:
                return None
            return round(sched_win[name] - sched_steady[name] / steady.wall_s * win.wall_s, 4)
        return {
            "name": f"recovery-{variant}",
            "conditions": {"clients": n, "sub_procs": len(subs), "topics": k, "rate": p["rate"],
                           "payload_bytes": p["size"], "messages": messages,
                           "publish_s": p["publish_s"], "steady_s": p["steady_s"],
                           "drain_period_s": p["drain_period_s"],
                           "reconnect_inflight_per_proc": p["inflight"], "variant": variant,
                           "publisher_subscribed_on_b": variant != "cold", "workers": 1,
                           "hub_config": self.hub_config},
            "supported": supported,
            "expected": expected, "received": received,
            # Without positions in the binaries the clients resubscribe
            # without since and lose what was published meanwhile: that is
            # reported, not counted as a failure of the run.
            "lost": lost if supported else None,
            "lost_without_positions": None if supported else lost,
            "seq_missing": tot("seq_missing"), "seq_dups": tot("seq_dups"),
            "seq_missing_before_close": tot("seq_missing_before_close"),
            "seq_dups_before_close": tot("seq_dups_before_close"),
            "resets": sum(x.get("resets") or 0 for x in sub_res),
            "closed_for_good": sum(x.get("closed") or 0 for x in sub_res),
            "timed_out": any(x.get("timed_out") for x in sub_res),
            "errors": sum((x.get("errors") or 0) + (x.get("proto_errors") or 0)
                          for x in sub_res + [pub.result]),
            "published": pub.result.get("sent"),
            **{key: tot(key) for key in (
                "conns_closed", "away", "reconnects", "connect_failures", "acks_with_position",
                "recovered", "not_recovered", "unanswered", "without_position",
                "resubscribe_errors", "replayed", "missed_told", "epoch_changes",
                "msgs_before_ack")},
            "first_not_recovered_reason": next((x["first_not_recovered_reason"] for x in res
                                                if x.get("first_not_recovered_reason")), None),
            # Wall time from the drain request to the last client caught up
            # (harness and generators share CLOCK_MONOTONIC).
            "all_back_after_drain_s": round((back_ns - drain_ns) / 1e9, 3)
            if back_ns > drain_ns else None,
            "first_close_after_drain_ms": round((min(closes) - drain_ns) / 1e6, 1)
            if closes else None,
            "closes_spread_ms": round((max(last_closes) - min(closes)) / 1e6, 1)
            if closes else None,
            "to_ack": merged("ack_"), "to_caught_up": merged("caught_up_"),
            "to_first_live": merged("live_"),
            "window_s": round(win.wall_s, 3),
            "cpu_s": {"hub": round(hub_cpu, 3), b: round(edge_cpu, 3),
                      "generators": round(win.gens_cpu(), 3),
                      "per_process": {**win.server_cpu, **win.gen_cpu}},
            # The same from the scheduler's clock (schedstat): precise where
            # the tick-sampled figures above are coarse.
            "sched_cpu_s": {"steady": sched_steady, "recovery": sched_win,
                            "recovery_above_steady": {name: above(name) for name in sched_win}},
            "hub_cpu_steady_per_s": hub_steady, "edge_b_cpu_steady_per_s": edge_steady,
            # The recovery's own share: the window's CPU less what the steady
            # publish rate costs over the same time (coarse: 10 ms ticks).
            "hub_cpu_above_steady_s": round(hub_cpu - hub_steady * win.wall_s, 3)
            if hub_steady is not None else None,
            "edge_b_cpu_above_steady_s": round(edge_cpu - edge_steady * win.wall_s, 3)
            if edge_steady is not None else None,
            "history_reads": {"hub": hub_reads, "hub_metric": hub_name,
                              "edge": edge_reads, "edge_metric": edge_name},
            "replayed_per_hub_read": round(replayed / hub_reads, 1) if hub_reads else None,
            "metrics_delta": {"hub": bl.metrics_delta(m0["hub"], m1["hub"], about_history),
                              b: bl.metrics_delta(m0["edge"], m1["edge"], about_history)},
            "irq_cpu_s": win.irq_cpu, "steal_s": win.steal,
            "foreign_cpu_s": win.foreign_cpu, "noisy": win.noisy(),
            "sub_results": [{key: v for key, v in x.items() if key != "hist" and key != "resume"}
                            | {"resume": {key: v for key, v in (x.get("resume") or {}).items()
                                          if not key.endswith("hist")}} for x in sub_res],
            "pub_results": [pub.result],
        }

    def recovery_report(self, r, p):
        cond = r["conditions"]
        where = ("publisher on edge-b not subscribed (edge-b cold)" if cond["variant"] == "cold"
                 else "publisher on edge-b subscribed to the topics (edge-b warm)")
        head = (f"{r['name']}: {cond['clients']} clients on edge-a over {cond['topics']} topics, "
                f"{cond['rate']} msg/s × {cond['payload_bytes']} B, {where}; edge-a drained "
                f"(period {cond['drain_period_s']} s) {cond['steady_s']} s after go")
        back, ack, live = r["to_caught_up"], r["to_ack"], r["to_first_live"]
        hr = r["history_reads"]
        reads = (f"history reads hub {'n/a' if hr['hub'] is None else hr['hub']}, edge-b "
                 f"{'n/a' if hr['edge'] is None else hr['edge']}")
        sc = r["sched_cpu_s"]
        cpu = (f"CPU over the {r['window_s']} s recovery window (scheduler clock; ticks in "
               f"brackets): hub {sc['recovery']['hub']} s ({r['cpu_s']['hub']}), "
               f"{sc['recovery_above_steady']['hub']} s above the steady rate; edge-b "
               f"{sc['recovery']['edge-b']} s ({r['cpu_s']['edge-b']}), "
               f"{sc['recovery_above_steady']['edge-b']} s above steady; generators "
               f"{r['cpu_s']['generators']} s, softirq {r['irq_cpu_s']} s{bl.flags(r)}")
        times = (f"close → caught up p50 {us(back['p50_us'])} p99 {us(back['p99_us'])} max "
                 f"{us(back['max_us'])}; → ack p50 {us(ack['p50_us'])} p99 {us(ack['p99_us'])}; "
                 f"→ first live p50 {us(live['p50_us'])} p99 {us(live['p99_us'])}")
        every = (f"{r['all_back_after_drain_s']} s" if r["all_back_after_drain_s"] is not None else
                 f"NEVER ({cond['clients'] - r['conns_closed'] + r['away']} of {cond['clients']} "
                 f"not back at the end)")
        if not r["supported"]:
            self.record("recovery", r,
                        f"{head}: UNSUPPORTED by these binaries (no sub ack carried an epoch): "
                        f"the clients resubscribed without since and lost "
                        f"{r['lost_without_positions']} of {r['expected']} "
                        f"({r['seq_missing']} seqs missing across the move, {r['seq_dups']} at "
                        f"or below the last seq: a restarted numbering); all back "
                        f"{every} after the drain; {times}; {reads}; {cpu}")
            self.rows.append((r["name"], f"{cond['clients']} clients", "", "", "",
                              "UNSUPPORTED: no positions in the acks"))
            return
        bad = r["lost"] or r["seq_missing"] or r["seq_dups"] or r["resets"]
        loss = (f"lost {r['lost']}, missing {r['seq_missing']}, duplicated {r['seq_dups']}, "
                f"resets {r['resets']}")
        self.record("recovery", r,
                    f"{head}: {r['received']}/{r['expected']} delivered ({loss}"
                    f"{'' if not bad else ' — MUST BE 0'}); recovered {r['recovered']}/"
                    f"{r['reconnects']} (not {r['not_recovered']}, unanswered {r['unanswered']}), "
                    f"{r['replayed']} replayed; all back {every} after the drain; {times}; "
                    f"{reads}; {cpu}")
        self.rows.append((r["name"], f"{cond['clients']} clients, {r['received']}/{r['expected']}",
                          f"hub {sc['recovery']['hub']} CPU-s, edge-b {sc['recovery']['edge-b']} s",
                          f"all back {every}",
                          f"p50 {us(back['p50_us'])} p99 {us(back['p99_us'])} "
                          f"max {us(back['max_us'])}",
                          (f"recovered {r['recovered']}/{r['reconnects']}, {reads}"
                           + (" LOSS" if bad else "") + bl.flags(r))))

    def history(self):
        p = self.profile["history"]
        try:
            r, _ = self.measure(lambda c: self.history_run(c, p), hub_config=HISTORY_INI)
        except bl.BenchError as e:
            if "[history]" not in str(e):
                raise
            # A hub without history refuses the section: say so, do not fail.
            said = next((line.strip() for line in str(e).splitlines() if "[history]" in line),
                        "")
            r = {"name": "history", "supported": False, "hub_said": said,
                 "conditions": {"hub_config": HISTORY_INI, **p}}
            self.record("history", r, f"UNSUPPORTED: the hub refused run_bench.py's HISTORY_INI "
                                      f"({said})")
            self.rows.append(("history", "", "", "", "", "UNSUPPORTED: hub refused [history]"))
            return
        self.history_report(r, p)

    def history_run(self, c, p):
        """Publishes p["messages"] (in two halves, one publisher process each)
        to p["topics"] topics through edge-a with the hub running
        HISTORY_INI, and reads the hub's RssAnon and /metrics before, between
        and after."""
        a = c.edge_names[0]
        label = self.label("history")
        half = p["messages"] // 2

        def sample(held):
            try:
                metrics = c.hub_metrics()
            except (OSError, ValueError):
                metrics = {}
            return {"held": held, "rss": {n: s.rss() for n, s in c.servers.items()},
                    "metrics": metrics}
        marks = [sample(0)]
        pubs, cpu, held, foreign, noisy = [], {}, 0, 0.0, False
        try:
            for _ in range(2):
                g = self.fleet.start(label, "pub", [c.edge_urls[a]], conns=p["pubs"],
                                     topic="bench.history", topics=p["topics"], messages=half,
                                     size=p["size"], window=p["window"])
                self.fleet.wait([g], "READY", 30, "publisher connected", servers=c.procs())
                win = bl.Window(c.servers, [g])
                g.send("go")
                self.fleet.wait([g], "RESULT", 120, "publisher result", servers=c.procs())
                win.close()
                foreign += win.foreign_cpu
                noisy = noisy or win.noisy()
                pubs.append(g.result)
                for n, v in win.server_cpu.items():
                    cpu[n] = round(cpu.get(n, 0.0) + (v or 0.0), 3)
                # Warm-ups are published to the topics too, and held.
                held += g.result.get("sent", 0) + g.result.get("warm_sent", 0)
                self.fleet.stop([g])
                marks.append(sample(held))
        finally:
            self.fleet.stop([x for x in self.fleet.procs if x.name.startswith(label + "-")])
        return {"marks": marks, "pubs": pubs, "cpu_s": cpu, "edge": a,
                "foreign_cpu_s": round(foreign, 3), "noisy": noisy}

    def history_report(self, raw, p):
        m0, m1, m2 = raw["marks"]
        held1, held2 = m1["held"], m2["held"]

        def grow(name, x, y):
            if x["rss"].get(name) is None or y["rss"].get(name) is None:
                return None
            return y["rss"][name] - x["rss"][name]

        def per(v, n):
            return round(v / n, 1) if v is not None and n else None
        not_limits = (lambda m: not any(w in m for w in ("limit", "max", "budget", "config")))
        hb, hb_name = bl.metric_total(m2["metrics"], [
            "spoke_hub_history_bytes",
            lambda m: m.startswith("spoke_hub_") and "history" in m and "bytes" in m
            and not_limits(m)])
        hm, hm_name = bl.metric_total(m2["metrics"], [
            "spoke_hub_history_messages",
            lambda m: m.startswith("spoke_hub_") and "history" in m and
            ("messages" in m or "entries" in m) and not_limits(m)])
        a = raw["edge"]
        lost = sum(x.get("sent", 0) - x.get("echoed", 0) for x in raw["pubs"])
        r = {"name": "history", "supported": True,
             "conditions": {"hub_config": HISTORY_INI, "messages": p["messages"],
                            "topics": p["topics"], "payload_bytes": p["size"],
                            "pub_conns": p["pubs"], "window": p["window"], "phases": 2,
                            "publisher_edge": a, "workers": 1},
             "held": held2, "held_first_half": held1,
             "hub_rss": [m["rss"].get("hub") for m in raw["marks"]],
             "hub_bytes_per_message": per(grow("hub", m0, m2), held2),
             # The second half alone: fixed per-topic costs taken out.
             "hub_bytes_per_message_marginal": per(grow("hub", m1, m2), held2 - held1),
             "hub_history_bytes_metric": hb, "hub_history_bytes_metric_name": hb_name,
             "hub_metric_bytes_per_message": per(hb, held2),
             "hub_history_messages_metric": hm, "hub_history_messages_metric_name": hm_name,
             f"{a}_bytes_per_message": per(grow(a, m0, m2), held2),
             "lost": lost, "cpu_s": raw["cpu_s"],
             "metrics": {k: v for k, v in m2["metrics"].items() if "history" in k},
             "foreign_cpu_s": raw["foreign_cpu_s"], "noisy": raw["noisy"],
             "pub_results": raw["pubs"]}
        metric = ("hub metric n/a" if hb is None else
                  f"hub's {hb_name} {bl.fmt_bytes(hb)} = {r['hub_metric_bytes_per_message']} B/msg")
        held_note = ("" if hm is None or hm == held2 else
                     f"; WARNING: the hub says it holds {hm:.0f} ({hm_name}), not {held2}")
        self.record("history", r,
                    f"{held2} messages × {p['size']} B on {p['topics']} topics held by the hub "
                    f"(HISTORY_INI; {lost} not echoed): hub RssAnon "
                    f"+{bl.fmt_bytes(grow('hub', m0, m2))} = {r['hub_bytes_per_message']} B per "
                    f"message held (second half alone {r['hub_bytes_per_message_marginal']} B); "
                    f"{metric}; {a} +{r[a + '_bytes_per_message']} B/msg; CPU hub "
                    f"{raw['cpu_s'].get('hub')} s{held_note}{bl.flags(r)}")
        self.rows.append(("history", f"{held2} msgs × {p['size']} B, {p['topics']} topics",
                          f"{r['hub_bytes_per_message']} B/msg (RssAnon)",
                          f"marginal {r['hub_bytes_per_message_marginal']} B/msg", "",
                          metric + held_note + bl.flags(r)))

    def connect_loop(self, role, p=None, tls=False, hub_config=None, name=None):
        p = p or self.profile[role]
        name = name or (f"{role}-wss" if tls else role)

        def run(c):
            label = self.label(role)
            try:
                g = self.fleet.start(label, role, c.urls, conns=p["conns"],
                                     duration=p["seconds"], topic=f"bench.{role}", timeout=30)
                # These roles start at once and print READY as they begin.
                self.fleet.wait([g], "READY", 30, f"{role} generator", servers=c.procs())
                win = bl.Window(c.servers, [g])
                self.fleet.wait([g], "RESULT", p["seconds"] + 60, f"{role} result",
                                servers=c.procs())
                win.close()
            finally:
                self.fleet.stop([x for x in self.fleet.procs if x.name.startswith(label + "-")])
            res = g.result
            edges_cpu = win.cpu(*c.edge_names)
            done = res.get("completed", 0)
            return {"name": name, "conditions": {"concurrency": p["conns"],
                                                 "seconds": p["seconds"], "workers": 1,
                                                 "tls": tls},
                    "completed": done, "failed": res.get("failed"),
                    "elapsed_s": res.get("elapsed_s"), "rate": res.get("rate"),
                    "cpu_s": {"edges": round(edges_cpu, 3), "hub": round(win.cpu("hub"), 3),
                              "generator": round(win.gens_cpu(), 3)},
                    "per_edge_cpu_s": round(done / edges_cpu) if edges_cpu else None,
                    "generator_bound": win.gens_cpu() > edges_cpu,
                    "foreign_cpu_s": win.foreign_cpu, "noisy": win.noisy(),
                    "irq_cpu_s": win.irq_cpu,
                    "per_edge_cpu_s_with_irq": round(done / (edges_cpu + win.irq_cpu))
                    if edges_cpu + win.irq_cpu else None, "result": res}
        r, _ = self.measure(run, tls=tls, hub_config=hub_config)
        done = r["completed"]
        flag = bl.flags(r)
        what = "upgrades" if role == "handshake" else "loops"
        self.record(role, r, f"{name}: {done} {what} ({r['failed']} failed) in {r['elapsed_s']} s = "
                             f"{bl.fmt_rate(r['rate'])}/s, {bl.fmt_rate(r['per_edge_cpu_s'])} per "
                             f"edge CPU-s ({bl.fmt_rate(r['per_edge_cpu_s_with_irq'])} with "
                             f"softirq); CPU edges {r['cpu_s']['edges']} s hub "
                             f"{r['cpu_s']['hub']} s generator {r['cpu_s']['generator']} s "
                             f"softirq {r['irq_cpu_s']} s{flag}")
        self.rows.append((name, f"{done} {what}, {r['failed']} failed",
                          f"{bl.fmt_rate(r['per_edge_cpu_s'])}/edge-CPU-s "
                          f"({bl.fmt_rate(r['per_edge_cpu_s_with_irq'])})",
                          f"{bl.fmt_rate(r['rate'])}/s", "",
                          ("goal ≥ 40k/edge-CPU-s" if role == "handshake" and not tls else "")
                          + flag))
        return r

    def handshake(self):
        self.connect_loop("handshake")

    def churn(self):
        self.connect_loop("churn")

    def hooks(self):
        """Upgrades per edge CPU-second with a connect hook (a local Python
        backend answering at once) against none, and the time the hook adds
        per upgrade (concurrency / rate, both runs at the same concurrency)."""
        sys.path.insert(0, str(REPO / "tests" / "integration"))
        from hookbackend import Backend
        backend = Backend()
        try:
            ini = f"[hooks]\nurl = {backend.url}\nconnect = closed\ntimeout = 2\n"
            p = self.profile["handshake"]
            off = self.connect_loop("handshake", p, name="hooks-connect-off")
            on = self.connect_loop("handshake", p, hub_config=ini, name="hooks-connect-on")
            pini = (f"[hooks]\nurl = {backend.url}\npublish = closed\n"
                    f"publish_topics = bench.*\ntimeout = 2\n")
            pub_off = self.hook_publish_run(None)
            pub_on = self.hook_publish_run(pini)
        finally:
            backend.stop()
        self.hook_publish_report(pub_off, pub_on, len(backend.of("publish")))
        calls = len(backend.of("connect"))
        a, b = off.get("per_edge_cpu_s"), on.get("per_edge_cpu_s")
        lat = {k: round(1e6 * p["conns"] / r["rate"], 1) if r.get("rate") else None
               for k, r in (("off", off), ("on", on))}
        out = {"name": "hooks-connect", "conditions": {"concurrency": p["conns"],
                                                        "seconds": p["seconds"],
                                                        "backend": "Python ThreadingHTTPServer"},
               "per_edge_cpu_s": {"off": a, "on": b},
               "ratio": round(b / a, 3) if a and b else None,
               "us_per_upgrade": lat, "backend_calls": calls,
               "added_us_per_upgrade": round(lat["on"] - lat["off"], 1)
               if lat["on"] and lat["off"] else None}
        self.record("hooks", out,
                    f"connect hook: {bl.fmt_rate(a)} → {bl.fmt_rate(b)} upgrades per edge CPU-s "
                    f"({out['ratio']}×); {lat['off']} → {lat['on']} µs per upgrade at "
                    f"{p['conns']} in flight; {calls} backend calls")
        self.rows.append(("hooks connect", f"{p['conns']} in flight",
                          f"{bl.fmt_rate(a)} → {bl.fmt_rate(b)}/edge-CPU-s",
                          f"{lat['off']} → {lat['on']} µs/upgrade", "", ""))

    def hook_publish_run(self, hub_config):
        """Publishes through edge-a as fast as a window allows, with the hub
        running hub_config (a publish hook on bench.*, or None), and measures
        publishes per second and per edge CPU-second."""
        p = self.profile["hooks"]

        def run(c):
            label = self.label("hookpub")
            try:
                g = self.fleet.start(label, "pub", [c.edge_urls[c.edge_names[0]]],
                                     conns=p["pubs"], topic="bench.hook", topics=p["pubs"],
                                     messages=p["messages"], size=100, window=p["window"])
                self.fleet.wait([g], "READY", 30, "publisher connected", servers=c.procs())
                win = bl.Window(c.servers, [g])
                g.send("go")
                self.fleet.wait([g], "RESULT", 120, "publisher result", servers=c.procs())
                win.close()
            finally:
                self.fleet.stop([x for x in self.fleet.procs if x.name.startswith(label + "-")])
            res = g.result
            edges_cpu = win.cpu(*c.edge_names)
            sent = res.get("sent", 0)

            def us(ns):
                return round(ns / 1000, 1) if ns else None
            return {"sent": sent, "echoed": res.get("echoed"), "errors": res.get("errors"),
                    "rate": res.get("rate"), "elapsed_s": res.get("elapsed_s"),
                    "echo_p50_us": us(res.get("echo_p50_ns")), "echo_p99_us": us(res.get("echo_p99_ns")),
                    "cpu_s": {"edges": round(edges_cpu, 3), "hub": round(win.cpu("hub"), 3),
                              "generator": round(win.gens_cpu(), 3)},
                    "per_edge_cpu_s": round(sent / edges_cpu) if edges_cpu else None,
                    "foreign_cpu_s": win.foreign_cpu, "noisy": win.noisy()}
        r, _ = self.measure(run, hub_config=hub_config)
        return r

    def hook_publish_report(self, off, on, calls):
        p = self.profile["hooks"]
        out = {"name": "hooks-publish",
               "conditions": {"publishers": p["pubs"], "window": p["window"],
                              "messages": p["messages"], "size": 100,
                              "backend": "Python ThreadingHTTPServer"},
               "off": off, "on": on, "backend_calls": calls,
               "rate_ratio": round(on["rate"] / off["rate"], 3)
               if on.get("rate") and off.get("rate") else None}
        self.record("hooks", out,
                    f"publish hook: {bl.fmt_rate(off['rate'])}/s → {bl.fmt_rate(on['rate'])}/s "
                    f"publishes ({out['rate_ratio']}×), {bl.fmt_rate(off['per_edge_cpu_s'])} → "
                    f"{bl.fmt_rate(on['per_edge_cpu_s'])} per edge CPU-s; echo p50 "
                    f"{off.get('echo_p50_us')} → {on.get('echo_p50_us')} µs, p99 "
                    f"{off.get('echo_p99_us')} → {on.get('echo_p99_us')} µs at {p['window']} in "
                    f"flight; {calls} backend calls, {on.get('errors')} errors"
                    f"{bl.flags(on)}")
        self.rows.append(("hooks publish", f"{p['pubs']} pubs, window {p['window']}",
                          f"{bl.fmt_rate(off['rate'])} → {bl.fmt_rate(on['rate'])}/s",
                          f"{bl.fmt_rate(off['per_edge_cpu_s'])} → "
                          f"{bl.fmt_rate(on['per_edge_cpu_s'])}/edge-CPU-s", "", bl.flags(on)))

    def wss(self):
        """The cost of TLS: idle memory, full handshakes, and fan-out over wss
        against the same fan-out over ws, run back to back."""
        p = self.profile["wss"]
        self.idle(p["idle"], tls=True)
        self.connect_loop("handshake", p["handshake"], tls=True)
        f = p["fanout"]
        for name, size, window, messages in f["runs"]:
            runs = {}
            for tls in (False, True):
                runs[tls] = self.fanout_run(
                    f"{name}-{'wss' if tls else 'ws'}", subs=f["subs"], per_proc=f["per_proc"],
                    size=size, window=window, messages=messages, timeout=f["timeout"], tls=tls)
            ws, wss = (runs[t]["deliveries_per_edge_cpu_s"] for t in (False, True))
            if ws and wss:
                self.record("wss", {"name": f"cost-{name}", "conditions": {"subs": f["subs"]},
                                    "wss_over_ws": round(wss / ws, 3)},
                            f"{name}: wss delivers {wss / ws:.2f}× the ws deliveries per edge "
                            f"CPU-second ({bl.fmt_rate(wss)} vs {bl.fmt_rate(ws)})")
                self.rows.append((f"wss cost {name}", f"{f['subs']} subs",
                                  f"wss/ws {wss / ws:.2f}", "", "", ""))

    # ---- the redis engine
    def deflate_cost(self):
        """The per-message compression cost, measured by deflate-cost on the
        same corpus with the edge's own code (and zlib's, for comparison)."""
        exe = self.bin_dir / "deflate-cost"
        if not exe.exists():
            raise bl.BenchError(f"{exe} missing: build it with make bench")
        out = subprocess.run([str(exe), "--level", str(DEFLATE_LEVEL),
                              "--mem-level", str(DEFLATE_MEM_LEVEL),
                              "--iterations", "20000" if self.args.quick else "200000"],
                             capture_output=True, text=True, timeout=120, check=True)
        return json.loads(out.stdout)

    @staticmethod
    def deflate_totals(results):
        """Sums the subscribers' "deflate" objects."""
        t = {"accepted": 0, "declined": 0, "wire_payload_bytes": 0, "inflated_bytes": 0,
             "compressed_msgs": 0}
        for r in results:
            d = r.get("deflate") or {}
            for k in t:
                t[k] += d.get(k, 0)
        return t

    def deflate(self):
        p = self.profile["deflate"]
        cost = self.deflate_cost()
        runs = {}
        for mode in ("plain", "deflate"):
            opts = {"deflate": 1} if mode == "deflate" else None
            r, _ = self.measure(lambda c: bl.run_fanout(
                self.fleet, c.servers, c.urls, label=self.label("deflate"), subs=p["subs"],
                sub_per_proc=p["per_proc"], messages=p["messages"], size=0, rate=0,
                window=p["window"], topic="bench.chat", timeout=p["timeout"],
                corpus="chat1k", edge_names=c.edge_names, hub_names=["hub"], sub_opts=opts))
            t = self.deflate_totals(r["sub_results"])
            deliveries = r["received"] + sum(x.get("warm_msgs", 0) for x in r["sub_results"])
            t["deliveries"] = deliveries
            t["wire_bytes_per_delivery"] = round(t["wire_payload_bytes"] / deliveries, 1) \
                if deliveries else None
            t["inflated_bytes_per_delivery"] = round(t["inflated_bytes"] / deliveries, 1) \
                if deliveries else None
            r["deflate"] = t
            r["edge_cpu_ns_per_delivery"] = round(1e9 * r["cpu_s"]["edges"] / r["received"], 1) \
                if r["received"] else None
            r["name"] = f"deflate-{mode}"
            runs[mode] = r
        idle = {}
        for mode in ("plain", "deflate"):
            ir, _ = self.measure(lambda c: bl.run_idle(
                self.fleet, c.servers, c.edge_urls, label=self.label("deflate-idle"),
                conns=p["idle_conns"], per_proc=p["idle_conns"], hold_s=p["hold_s"],
                opts={"deflate": 1} if mode == "deflate" else None))
            ir["deflate"] = self.deflate_totals(ir["results"])
            idle[mode] = ir
        plain, comp = runs["plain"], runs["deflate"]
        negotiated = comp["deflate"]["accepted"] > 0 and comp["deflate"]["declined"] == 0
        pw, cw = plain["deflate"]["wire_bytes_per_delivery"], \
            comp["deflate"]["wire_bytes_per_delivery"]
        pc, cc = plain["edge_cpu_ns_per_delivery"], comp["edge_cpu_ns_per_delivery"]
        out = {
            "name": "deflate",
            "conditions": {"subscribers": p["subs"], "messages": p["messages"],
                           "window": p["window"], "corpus": "chat1k", "encoding": "json",
                           "extension": "permessage-deflate; client_no_context_takeover; "
                                        "server_no_context_takeover",
                           "idle_conns": p["idle_conns"]},
            "negotiated": negotiated,
            "compression_cost": cost,
            "wire_bytes_per_delivery": {"plain": pw, "deflate": cw},
            "wire_ratio": round(pw / cw, 2) if pw and cw else None,
            "edge_cpu_ns_per_delivery": {"plain": pc, "deflate": cc},
            "edge_cpu_ratio": round(cc / pc, 3) if pc and cc else None,
            # What compressing each subscriber's copy would cost instead of
            # once per message: the plain path plus one compression.
            "per_connection_compression_ns_per_delivery":
                round(pc + cost["ns_per_msg"], 1) if pc else None,
            "idle_bytes_per_conn": {m: idle[m]["bytes_per_conn"] for m in idle},
            "idle_deflate_accepted": idle["deflate"]["deflate"]["accepted"],
            "lost": plain["lost"] + comp["lost"],
            "runs": {m: {k: v for k, v in r.items() if k not in ("sub_results", "pub_results")}
                     for m, r in runs.items()},
            "idle": {m: {k: v for k, v in r.items() if k != "results"} for m, r in idle.items()},
        }
        if not negotiated:
            note = "deflate not negotiated by the edge"
        else:
            note = (f"wire {pw} → {cw} B/delivery ({out['wire_ratio']}×, goal ≥ 3×), edge CPU "
                    f"{pc} → {cc} ns/delivery ({out['edge_cpu_ratio']}×, goal < 1.10×)")
        self.record("deflate", out,
                    f"deflate: {p['subs']} subs, {p['messages']} chat1k messages "
                    f"({plain['deflate']['inflated_bytes_per_delivery']} B), {note}; "
                    f"compression {cost['ns_per_msg']} ns/msg ({cost['library']}, "
                    f"{cost['bytes_in']} → {cost['bytes_out']} B, {cost['ratio']}×; zlib "
                    f"{cost['zlib']['ns_per_msg']} ns/msg, {cost['zlib']['ratio']}×; zlib with "
                    f"context takeover {cost['zlib_context_takeover']['ratio']}×), "
                    f"per-connection compression would be "
                    f"{out['per_connection_compression_ns_per_delivery']} ns/delivery; idle "
                    f"{out['idle_bytes_per_conn']['plain']} B/conn plain, "
                    f"{out['idle_bytes_per_conn']['deflate']} B/conn with --deflate "
                    f"({out['idle_deflate_accepted']} accepted)")
        self.rows.append(("deflate chat1k", f"{p['subs']} subs",
                          f"{pw} → {cw} B/delivery" if negotiated else f"{pw} B/delivery",
                          f"edge {pc} → {cc} ns/delivery" if negotiated else f"edge {pc} ns",
                          f"idle {out['idle_bytes_per_conn']['plain']} / "
                          f"{out['idle_bytes_per_conn']['deflate']} B/conn",
                          "goal ≥ 3× fewer bytes, < +10% CPU" if negotiated
                          else "deflate not negotiated by the edge"))
        return out

    def redis(self):
        """The redis engine against the memory engine: the same topics-style
        publish load and the same fixed-rate latency run on one hub with
        each, then the throughput run on two hubs sharing one Redis (and two
        shards), and a run where both hubs publish to one topic and every
        subscriber must see one order."""
        p = self.profile["redis"]
        mem = {"hub_args": ["--engine", "memory"]}
        red = {"redis_shards": 1}
        runs = {
            "topics-memory": self.engine_topics("topics-memory", p, **mem),
            "topics-redis": self.engine_topics("topics-redis", p, **red),
            "latency-memory": self.engine_latency("latency-memory", p, **mem),
            "latency-redis": self.engine_latency("latency-redis", p, **red),
            "topics-redis-2hubs": self.engine_topics("topics-redis-2hubs", p, hubs=2, **red),
        }
        if p["two_shards"]:
            runs["topics-redis-2hubs-2shards"] = self.engine_topics(
                "topics-redis-2hubs-2shards", p, hubs=2, redis_shards=2)
        runs["order-redis-2hubs"] = self.engine_latency("order-redis-2hubs", p, hubs=2,
                                                        pub_procs=2, **red)
        self.engine_compare(runs)

    @staticmethod
    def engine_snapshot(c):
        """What the engine figures are read from, at go and at the end: the
        hubs' link counters, each Redis shard's INFO commandstats, and the
        scheduler's CPU clock of the hubs and shards (a cross-check of the
        tick-sampled figures)."""
        return {"links": c.link_counters(),
                "redis": {n: r.commandstats() for n, r in c.redis.items()},
                "sched": {n: bl.sched_cpu_seconds(x.pid) for n, x in {**c.redis, **c.hubs}.items()}}

    def engine_measure(self, name, run_fanout, hubs=1, hub_args=(), redis_shards=0):
        """run_fanout(cluster, snapshot) on a fresh cluster of `hubs` hubs
        (edge i on hub i mod hubs) with the engine given; the engine figures
        added to its result."""
        def run(c):
            r = run_fanout(c, lambda: self.engine_snapshot(c))
            r = self.engine_figures(r, c)
            r["conditions"]["redis"] = {
                "version": next(iter(c.redis.values())).info("server").get("redis_version"),
                "argv": next(iter(c.redis.values())).argv[1:]} if c.redis else None
            return r
        r, _ = self.measure(run, hubs=hubs, hub_args=hub_args, redis_shards=redis_shards)
        r["name"] = name
        r["conditions"].update(workers=1, hubs=hubs, redis_shards=redis_shards,
                               engine="redis" if redis_shards else "memory",
                               edge_hub=r.pop("edge_hub"))
        return r

    @staticmethod
    def engine_figures(r, c):
        s0, s1 = r.pop("snapshots")
        d = {k: {x: s1["links"][k][x] - s0["links"][k][x] for x in s0["links"][k]}
             for k in s0["links"]}
        cpu = r["cpu_s"]["per_process"]
        multi = len(c.hub_names) > 1
        publishes, routed = d["all"]["publishes_in"], d["all"]["messages_out"]

        def us(seconds, n):
            return round(1e6 * seconds / n, 2) if n and seconds is not None else None
        hub_cpu = {h: cpu.get(h) or 0.0 for h in c.hub_names}
        hub_routed = {h: d[h if multi else "all"]["messages_out"] for h in c.hub_names}
        hub_pubs = {h: d[h if multi else "all"]["publishes_in"] for h in c.hub_names}
        redis_cpu = {n: cpu.get(n) or 0.0 for n in c.redis_names}
        cmds = {n: bl.commandstats_delta(s0["redis"][n], s1["redis"][n]) for n in c.redis_names}
        # The publish script PUBLISHes every message on its topic's channel
        # (the hubs' heartbeats add about one a second per hub).
        shard_pubs = {n: cmds[n].get("publish", {}).get("calls", 0) for n in c.redis_names}
        total_hub, total_redis = sum(hub_cpu.values()), sum(redis_cpu.values())
        sched = {n: None if s0["sched"][n] is None or s1["sched"][n] is None
                 else round(s1["sched"][n] - s0["sched"][n], 4) for n in s0["sched"]}
        span = r["span_s"]
        r.update(
            edge_hub=dict(c.edge_hub), links_delta=d,
            publishes=publishes, routed_message_links=routed,
            publishes_per_s=round(publishes / span) if span else None,
            routed_per_s=round(routed / span) if span else None,
            hub_cpu_s={h: round(v, 3) for h, v in hub_cpu.items()},
            hub_publishes=hub_pubs, hub_routed=hub_routed,
            hub_cpu_us_per_publish=us(total_hub, publishes),
            hub_cpu_us_per_routed={**{h: us(hub_cpu[h], hub_routed[h]) for h in c.hub_names},
                                   "total": us(total_hub, routed)},
            routed_per_hub_cpu_s=round(routed / total_hub) if total_hub else None,
            redis_cpu_s={n: round(v, 3) for n, v in redis_cpu.items()},
            redis_cpu_us_per_publish=us(total_redis, publishes) if c.redis_names else None,
            redis_shard_publishes=shard_pubs,
            redis_shard_cpu_share={n: round(v / total_redis, 3) if total_redis else None
                                   for n, v in redis_cpu.items()},
            redis_shard_cpu_us_per_publish={n: us(redis_cpu[n], shard_pubs[n])
                                            for n in c.redis_names},
            redis_commands=cmds,
            # From the scheduler's clock (ns), not the 10 ms tick.
            sched_cpu_s=sched,
            sched_hub_cpu_us_per_publish=us(sum(sched[h] or 0 for h in c.hub_names), publishes),
            sched_redis_cpu_us_per_publish=us(sum(sched[n] or 0 for n in c.redis_names),
                                              publishes) if c.redis_names else None)
        # Every subscriber connection of one topic must have seen one order
        # (the loadgen's digests); those that saw another are counted.
        orders = {}
        for res in r["sub_results"]:
            for topic, digest, n in res.get("orders") or []:
                orders.setdefault(topic, {}).setdefault(digest, 0)
                orders[topic][digest] += n
        r["orders"] = {str(t): v for t, v in sorted(orders.items())} if orders else None
        r["order_mismatch"] = sum(sum(v.values()) - max(v.values()) for v in orders.values())
        r["check_failures"] = r["seq_gaps"] + r["order_mismatch"] + r["errors"] + r["closed"]
        return r

    def engine_topics(self, name, p, **kw):
        """The `topics` load (publisher connection j on edge j mod 2 publishes
        to and listens on the topics t with t mod pubs == j; subscriber t on
        the other edge), with the engine and hubs of kw."""
        r = self.engine_measure(name, lambda c, snap: bl.run_fanout(
            self.fleet, c.servers, c.urls, label=self.label("redis"), subs=p["topics"],
            sub_per_proc=p["per_proc"], pubs=p["pubs"], messages=p["messages"], size=16,
            rate=0, window=p["window"], topic="bench.r", topics=p["topics"], sub_url_offset=1,
            timeout=p["timeout"], edge_names=c.edge_names, hub_names=c.hub_names,
            snapshot=snap), **kw)
        self.engine_line(r, f"{p['topics']} topics, one subscriber each, {p['messages']} "
                            f"messages from {p['pubs']} publisher connections, window "
                            f"{p['window']}")
        return r

    def engine_latency(self, name, p, pub_procs=1, **kw):
        """`subs` subscribers of one topic over both edges and pub_procs
        publishers (process i on edge i mod 2) at `rate` in all."""
        lat = p["latency"]
        rate = lat["rate"] / pub_procs
        r = self.engine_measure(name, lambda c, snap: bl.run_fanout(
            self.fleet, c.servers, c.urls, label=self.label("redis"), subs=lat["subs"],
            sub_per_proc=lat["subs"], pubs=1, pub_procs=pub_procs,
            messages=int(rate * lat["seconds"]), size=16, rate=rate, window=None,
            topic="bench.rlat", timeout=p["timeout"], edge_names=c.edge_names,
            hub_names=c.hub_names, snapshot=snap), **kw)
        self.engine_line(r, f"{lat['subs']} subscribers of one topic, {pub_procs} publisher(s) "
                            f"at {lat['rate']} msg/s in all for {lat['seconds']} s")
        return r

    def engine_line(self, r, what):
        cond = r["conditions"]
        hubs = cond["hubs"]
        where = (f"engine {cond['engine']}"
                 + (f", {cond['redis_shards']} Redis shard(s)" if cond["redis_shards"] else "")
                 + f", {hubs} hub(s)" + (" (edge-a → hub0, edge-b → hub1)" if hubs > 1 else ""))
        lat = r["latency"]
        checks = (f"{r['received']}/{r['expected']} delivered"
                  + ("" if r["lost"] == 0 else f", LOST {r['lost']}")
                  + f", {r['seq_gaps']} seq gaps")
        if r["orders"] is not None:
            n = sum(sum(v.values()) for v in r["orders"].values())
            ds = sum(len(v) for v in r["orders"].values())
            checks += (f", one order: {n} connections, {ds} digest(s) over {len(r['orders'])} "
                       f"topic(s)" + (f" — {r['order_mismatch']} SAW ANOTHER ORDER"
                                      if r["order_mismatch"] else ""))
        if r["check_failures"]:
            checks += f" — CHECKS FAILED ({r['check_failures']}: gaps, errors, closes, orders)"
        hub_part = ", ".join(f"{h} {r['hub_cpu_s'][h]} s ({r['hub_routed'][h]} routed, "
                             f"{r['hub_cpu_us_per_routed'][h]} µs each)" for h in r["hub_cpu_s"])
        text = (f"{r['name']}: {what}; {where}: {checks}; {r['publishes']} publishes in "
                f"{r['span_s']} s = {bl.fmt_rate(r['publishes_per_s'])} publishes/s, "
                f"{bl.fmt_rate(r['routed_per_s'])} routed/s; hub CPU {hub_part}: "
                f"{r['hub_cpu_us_per_publish']} µs per publish (scheduler clock "
                f"{r['sched_hub_cpu_us_per_publish']}), "
                f"{r['hub_cpu_us_per_routed']['total']} µs per routed message-link")
        if cond["redis_shards"]:
            shards = ", ".join(f"{n} {r['redis_cpu_s'][n]} s for {r['redis_shard_publishes'][n]} "
                               f"PUBLISH ({r['redis_shard_cpu_us_per_publish'][n]} µs each, "
                               f"{r['redis_shard_cpu_share'][n]:.0%} of Redis CPU)"
                               if r["redis_shard_cpu_share"][n] is not None else f"{n} 0 s"
                               for n in r["redis_cpu_s"])
            text += (f"; Redis CPU {shards}: {r['redis_cpu_us_per_publish']} µs per publish "
                     f"(scheduler clock {r['sched_redis_cpu_us_per_publish']})")
        text += (f"; CPU edges {r['cpu_s']['edges']} s generators {r['cpu_s']['generators']} s "
                 f"softirq {r['irq_cpu_s']} s, machine busy {r['machine_busy']}{bl.flags(r)}; "
                 f"{bl.fmt_latency(r)}")
        self.record("redis", r, text)

    def engine_compare(self, runs):
        """Ratios redis/memory, the summary rows."""
        def ratio(a, b, nd=2):
            return round(a / b, nd) if a is not None and b else None
        tm, tr = runs["topics-memory"], runs["topics-redis"]
        lm, lr = runs["latency-memory"], runs["latency-redis"]
        cmp = {"name": "redis-vs-memory", "conditions": {
            "throughput": "topics-redis / topics-memory", "latency": "latency-redis / "
            "latency-memory"},
            "publishes_per_s": ratio(tr["publishes_per_s"], tm["publishes_per_s"]),
            "hub_cpu_us_per_publish": ratio(tr["hub_cpu_us_per_publish"],
                                            tm["hub_cpu_us_per_publish"]),
            "window_latency_p50": ratio(tr["latency"]["p50_us"], tm["latency"]["p50_us"]),
            "window_latency_p99": ratio(tr["latency"]["p99_us"], tm["latency"]["p99_us"]),
            "latency_p50": ratio(lr["latency"]["p50_us"], lm["latency"]["p50_us"]),
            "latency_p99": ratio(lr["latency"]["p99_us"], lm["latency"]["p99_us"]),
            "latency_max": ratio(lr["latency"]["max_us"], lm["latency"]["max_us"]),
            "latency_p50_added_us": round(lr["latency"]["p50_us"] - lm["latency"]["p50_us"], 1)
            if lr["latency"]["p50_us"] is not None and lm["latency"]["p50_us"] is not None
            else None,
            "latency_p99_added_us": round(lr["latency"]["p99_us"] - lm["latency"]["p99_us"], 1)
            if lr["latency"]["p99_us"] is not None and lm["latency"]["p99_us"] is not None
            else None}
        two = runs["topics-redis-2hubs"]
        cmp["two_hubs_publishes_per_s_vs_one"] = ratio(two["publishes_per_s"],
                                                       tr["publishes_per_s"])
        cmp["two_hubs_hub_cpu_per_routed_vs_one"] = ratio(
            two["hub_cpu_us_per_routed"]["total"], tr["hub_cpu_us_per_routed"]["total"])
        self.record("redis", cmp,
                    f"redis/memory: throughput {cmp['publishes_per_s']}× "
                    f"({bl.fmt_rate(tr['publishes_per_s'])} vs "
                    f"{bl.fmt_rate(tm['publishes_per_s'])} publishes/s), hub CPU per publish "
                    f"{cmp['hub_cpu_us_per_publish']}× ({tr['hub_cpu_us_per_publish']} vs "
                    f"{tm['hub_cpu_us_per_publish']} µs); at "
                    f"{lr['conditions']['rate_per_pub_proc']:.0f} msg/s latency p50 {cmp['latency_p50']}× ({us(lr['latency']['p50_us'])} vs "
                    f"{us(lm['latency']['p50_us'])}, +{cmp['latency_p50_added_us']} µs), p99 "
                    f"{cmp['latency_p99']}× ({us(lr['latency']['p99_us'])} vs "
                    f"{us(lm['latency']['p99_us'])}), max {cmp['latency_max']}×; two hubs on one "
                    f"Redis: throughput {cmp['two_hubs_publishes_per_s_vs_one']}× one hub's, hub "
                    f"CPU per routed message {cmp['two_hubs_hub_cpu_per_routed_vs_one']}×")

        for key, r in runs.items():
            cond = r["conditions"]
            lat = r["latency"]
            per_cpu = f"hub {r['hub_cpu_us_per_routed']['total']} µs/routed"
            if cond["hubs"] > 1:
                per_cpu += " (" + ", ".join(f"{h} {r['hub_cpu_us_per_routed'][h]}"
                                            for h in r["hub_cpu_s"]) + ")"
            if cond["redis_shards"]:
                per_cpu += f", Redis {r['redis_cpu_us_per_publish']} µs/publish"
                if cond["redis_shards"] > 1:
                    per_cpu += " (" + "/".join(f"{100 * (v or 0):.0f}%" for v in
                                               r["redis_shard_cpu_share"].values()) + ")"
            note = ""
            if key == "topics-redis":
                note = f"redis/memory throughput {cmp['publishes_per_s']}"
            elif key == "latency-redis":
                note = f"redis/memory p50 {cmp['latency_p50']}, p99 {cmp['latency_p99']}"
            elif r["orders"] is not None and key.startswith("order"):
                note = "one order" if not r["order_mismatch"] else \
                    f"{r['order_mismatch']} conns SAW ANOTHER ORDER"
            if r["check_failures"]:
                note += " CHECKS FAILED"
            self.rows.append((f"redis {key}",
                              f"{cond['topics']} topic(s), {cond['hubs']} hub(s), "
                              f"{r['received']}/{r['expected']}",
                              per_cpu, f"{bl.fmt_rate(r['publishes_per_s'])} publishes/s",
                              f"p50 {us(lat['p50_us'])} p99 {us(lat['p99_us'])} "
                              f"max {us(lat['max_us'])}", (note + bl.flags(r)).strip()))

    # ---- the hub alone (issue 17)
    def hubcap_run(self, links, topics, messages, timeout):
        """One cell of the hubcap matrix on a hub of its own: spoke-linkgen
        with `links` receiving links interested in all `topics` topics and
        one publishing link replaying pre-compressed PUBLISHes."""
        def run(c):
            name = f"{self.label('hubcap')}-linkgen"
            argv = [str(self.bin_dir / "spoke-linkgen"), "--hub", f"{bl.HOST}:{c.hub_port}",
                    "--rx-links", str(links), "--topics", str(topics),
                    "--messages", str(messages), "--timeout", str(timeout)]
            lg = bl.Loadgen(name, argv, self.workdir / f"{name}.log", self.fleet.cond)
            self.fleet.procs.append(lg)
            try:
                self.fleet.wait([lg], "READY", bl.START_TIMEOUT_S + topics * links / 50000,
                                "linkgen's interest", servers=c.procs())
                before = c.link_totals()
                hub_sched0 = bl.sched_cpu_seconds(c.hub.pid)
                win = bl.Window(c.servers, [lg])
                lg.send("go")
                self.fleet.wait([lg], "RESULT", timeout + 10, "linkgen's deliveries",
                                servers=c.procs())
                win.close(lg.events["RESULT"])
                hub_sched1 = bl.sched_cpu_seconds(c.hub.pid)
                after = c.link_totals()
            finally:
                self.fleet.stop([lg])
            res = lg.result
            hub_cpu = win.server_cpu.get("hub")
            routed = after["messages_out"] - before["messages_out"]
            # What was asked for, not what the generator says it sent: a
            # run that timed out or sent short is a loss, a copy too many
            # a duplicate, and the hub's own count must agree.
            expected = messages * links
            dups = max(0, res["received"] - expected)
            short = res.get("timed_out", False) or res["messages"] != messages
            sched = round(hub_sched1 - hub_sched0, 4) if hub_sched0 is not None and \
                hub_sched1 is not None else None
            return {
                "conditions": {"links": links, "topics": topics, "messages": messages,
                               "size": 16, "pub_links": 1},
                "expected": expected, "received": res["received"],
                "lost": max(0, expected - res["received"]), "duplicates": dups,
                "seq_gaps": res["seq_gaps"], "timed_out": res.get("timed_out", False),
                # A seq gap, a duplicate, a short run or a hub count that
                # differs fails the run as a loss does (main's exit status).
                "check_failures": res["seq_gaps"] + dups + int(short) +
                int(routed != res["received"]),
                "routed_message_links": routed,
                "publishes_in": after["publishes_in"] - before["publishes_in"],
                "hub_cpu_s": hub_cpu, "hub_sched_cpu_s": sched,
                "per_hub_cpu_s": round(res["received"] / hub_cpu) if hub_cpu else None,
                "per_hub_sched_cpu_s": round(res["received"] / sched) if sched else None,
                "per_s": round(res["received"] / res["go_to_done_s"])
                if res["go_to_done_s"] else None,
                "wall_s": res["go_to_done_s"], "gen_cpu_s": round(win.gens_cpu(), 3),
                "setup_s": res["setup_s"], "raw_out": after["raw_out"] - before["raw_out"],
                "wire_out": after["wire_out"] - before["wire_out"],
                "wire_in": after["wire_in"] - before["wire_in"],
                "foreign_cpu_s": win.foreign_cpu, "noisy": win.noisy(), "irq_cpu_s": win.irq_cpu,
                "generator_bound": (win.gens_cpu() or 0) > (hub_cpu or 0),
                "linkgen": res,
            }
        r, _ = self.measure(run, edges=())
        return r

    def hubcap(self):
        p = self.profile["hubcap"]
        if not os.access(self.bin_dir / "spoke-linkgen", os.X_OK):
            raise bl.BenchError(f"{self.bin_dir / 'spoke-linkgen'} is missing: "
                                f"`make build/spoke-linkgen`")
        skipped = []
        for topics in p["topics"]:
            for links in p["links"]:
                if links * topics > p["max_memberships"]:
                    skipped.append(f"{links}x{topics}")
                    continue
                messages = max(topics, p["message_links"] // links)
                r = self.hubcap_run(links, topics, messages, p["timeout"])
                key = f"{links}links-{topics}topics"
                r["name"] = key
                flag = bl.flags(r)
                loss = "no loss" if r["lost"] == 0 else f"LOST {r['lost']}"
                gaps = f", {r['seq_gaps']} SEQ GAPS" if r["seq_gaps"] else ""
                if r["check_failures"] > r["seq_gaps"]:
                    gaps += (f", CHECKS FAILED (duplicates {r['duplicates']}, timed out "
                             f"{r['timed_out']}, hub routed {r['routed_message_links']})")
                self.record("hubcap", r,
                            f"{key}: {messages} messages to {links} interested link(s) each "
                            f"({loss}{gaps}): {r['received']} message-links with "
                            f"{r['hub_cpu_s']} hub CPU-s = "
                            f"{bl.fmt_rate(r['per_hub_cpu_s'])}/hub-CPU-s (schedstat "
                            f"{bl.fmt_rate(r['per_hub_sched_cpu_s'])}); "
                            f"{bl.fmt_rate(r['per_s'])} message-links/s; linkgen CPU "
                            f"{r['gen_cpu_s']} s; link raw/wire out "
                            f"{r['raw_out'] / r['wire_out'] if r['wire_out'] else 0:.1f}{flag}")
                self.rows.append((f"hubcap {key}", f"{r['received']}/{r['expected']}",
                                  f"{bl.fmt_rate(r['per_hub_cpu_s'])}/hub-CPU-s",
                                  f"{bl.fmt_rate(r['per_s'])} message-links/s", "",
                                  ("goal ≥ 3M/hub-CPU-s" + flag)))
        if skipped:
            print(f"hubcap: left out (links x topics above {p['max_memberships']} interest "
                  f"records): {', '.join(skipped)}", flush=True)

    # ---- output
    def summary(self):
        head = ("workload", "conditions", "per CPU-second", "throughput", "latency", "note")
        rows = [head] + [tuple(str(x) for x in r) for r in self.rows]
        widths = [max(len(r[i]) for r in rows) for i in range(len(head))]
        lines = ["", "Summary"]
        for i, r in enumerate(rows):
            lines.append("  ".join(x.ljust(w) for x, w in zip(r, widths)).rstrip())
            if i == 0:
                lines.append("  ".join("-" * w for w in widths))
        return "\n".join(lines)

    def write(self, started, elapsed, errors):
        commit, dirty = bl.git_commit(REPO)
        date = datetime.date.today().isoformat()
        suffix = ""
        if self.args.quick:
            suffix += "-quick"
        if self.args.only:
            suffix += "-" + "-".join(self.args.only)
        out = Path(self.args.out) if self.args.out else \
            REPO / "tests" / "bench" / "results" / f"{date}-{commit}{suffix}.json"
        out.parent.mkdir(parents=True, exist_ok=True)
        doc = {"date": date, "started": started, "commit": commit, "dirty": dirty,
               "profile": "quick" if self.args.quick else "standard",
               "only": self.args.only, "elapsed_s": round(elapsed, 1),
               "machine": bl.machine(), "conditions": {"profile": self.profile,
                                                       "edge_workers": 1,
                                                       "src_ips": bl.SRC_IPS,
                                                       "hub_config": self.hub_config},
               "workloads": self.results, "errors": errors, "summary": self.rows}
        out.write_text(json.dumps(doc, indent=1) + "\n")
        return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bin-dir", default="build")
    ap.add_argument("--quick", action="store_true", help="a one-minute subset")
    ap.add_argument("--only", type=lambda s: [w for w in s.split(",") if w], default=None,
                    help=f"comma-separated workloads out of {', '.join(WORKLOADS)}")
    ap.add_argument("--out", help="results file (default tests/bench/results/DATE-COMMIT.json)")
    ap.add_argument("--hub-config", metavar="FILE",
                    help="an INI file for every hub (default: none, the hub's defaults, "
                         "history included); the history workload always uses HISTORY_INI")
    ap.add_argument("--noisy-retries", type=int, default=1,
                    help="repeat a run disturbed by other processes up to N times (default 1)")
    args = ap.parse_args()
    for w in args.only or ():
        if w not in WORKLOADS:
            ap.error(f"unknown workload {w!r} (one of {', '.join(WORKLOADS)})")
    for b in ("spoke-hub", "spoke-edge", "spoke-loadgen"):
        if not os.access(Path(args.bin_dir) / b, os.X_OK):
            ap.error(f"{Path(args.bin_dir) / b} is missing: run `make bench` or `make all "
                     f"build/spoke-loadgen`")
    bench = Bench(args)
    m = bl.machine()
    print(f"spoke benchmarks ({'quick' if args.quick else 'standard'}): {bl.describe(m)}; "
          f"logs in {bench.workdir}", flush=True)
    started = datetime.datetime.now().isoformat(timespec="seconds")
    t0 = time.monotonic()
    errors = {}
    try:
        for w in WORKLOADS:
            if args.only and w not in args.only:
                continue
            try:
                getattr(bench, w)()
            except bl.BenchError as e:
                errors[w] = str(e)
                print(f"{w}: FAILED: {e}", flush=True)
                bench.rows.append((w, "FAILED", "", "", "", str(e).splitlines()[0][:60]))
                bench.fleet.stop()
    except KeyboardInterrupt:
        errors["interrupted"] = True
        print("interrupted", flush=True)
    finally:
        bench.stop_all()
    elapsed = time.monotonic() - t0
    print(bench.summary())
    out = bench.write(started, elapsed, errors)
    shown = out.relative_to(REPO) if out.is_relative_to(REPO) else out
    print(f"\n{elapsed:.0f} s; results in {shown}")
    # recovery: a duplicated message is as bad as a lost one (where the
    # binaries have positions: without, a topic's numbering may restart).
    # redis: a sequence gap, an error or a second order fails the run too.
    lost = sum((r.get("lost") or 0) + (r.get("seq_dups") or 0 if r.get("supported", True) else 0)
               + (r.get("check_failures") or 0)
               for runs in bench.results.values() for r in runs)
    return 1 if errors or lost else 0


if __name__ == "__main__":
    sys.exit(main())
