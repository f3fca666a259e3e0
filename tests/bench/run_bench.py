#!/usr/bin/python3
"""spoke's benchmark suite: starts a hub and two edges on loopback (port 0,
the ports read from their ready files) for each workload, drives them with spoke-loadgen processes, and prints each
workload's figures as one JSON object and one readable line, then a summary
table, and writes every figure with its conditions to
tests/bench/results/<date>-<commit>.json.

Workloads: idle, fanout, broadcast, topics, link, handshake, churn (see
docs/performance.md for what each figure means and how it is measured).

Usage: tests/bench/run_bench.py [--bin-dir build] [--quick] [--only WORKLOAD[,…]]
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
WORKLOADS = ("idle", "fanout", "broadcast", "topics", "link", "handshake", "churn", "wss")

# Counts per profile. The standard suite must finish in under 10 minutes on
# the 2-core benchmark machine, the quick one in about a minute.
PROFILES = {
    "standard": {
        "idle": {"conns": 20000, "per_proc": 10000, "hold_s": 10},
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
        "topics": {"topics": 5000, "per_proc": 5000, "pubs": 8, "messages": 1000000,
                   "window": 64},
        "link": {"rooms": 10, "subs_per_room": 10, "pubs": 2, "messages": 60000,
                 "window": 64},
        "handshake": {"conns": 64, "seconds": 5},
        "churn": {"conns": 64, "seconds": 5},
        "wss": {"idle": {"conns": 10000, "per_proc": 5000, "hold_s": 5},
                "handshake": {"conns": 64, "seconds": 5},
                "fanout": {"subs": 5000, "per_proc": 2500, "timeout": 90,
                           "runs": [("16B-w64", 16, 64, 1000), ("1KB-w16", 1024, 16, 300)]}},
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
        "topics": {"topics": 1000, "per_proc": 1000, "pubs": 2, "messages": 100000,
                   "window": 64},
        "link": {"rooms": 10, "subs_per_room": 4, "pubs": 2, "messages": 10000, "window": 64},
        "handshake": {"conns": 32, "seconds": 3},
        "churn": {"conns": 32, "seconds": 3},
        "wss": {"idle": {"conns": 2000, "per_proc": 2000, "hold_s": 2},
                "handshake": {"conns": 32, "seconds": 3},
                "fanout": {"subs": 1000, "per_proc": 1000, "timeout": 30,
                           "runs": [("16B-w64", 16, 64, 500)]}},
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

    # ---- plumbing
    def certs(self):
        """A development CA and wss certificate (deploy/gen-certs.sh), made once."""
        if self.certs_dir is None:
            self.certs_dir = self.workdir / "certs"
            subprocess.run([str(REPO / "deploy" / "gen-certs.sh"), str(self.certs_dir)],
                           check=True, stdout=subprocess.DEVNULL)
        return self.certs_dir

    def cluster(self, workers=1, tls=False):
        c = bl.SpokeCluster(self.bin_dir, self.workdir, workers=workers,
                            tag=f"c{len(self.clusters) + 1}", certs=self.certs() if tls else None)
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

    def measure(self, run, workers=1, tls=False):
        """run(cluster) on a fresh cluster (clients over wss with tls),
        repeated when disturbed (see benchlib.measure). Returns (result, cluster)."""
        return bl.measure(lambda: self.cluster(workers, tls), run, self.args.noisy_retries,
                          stop=self.stop_cluster)

    def stop_all(self):
        self.fleet.stop()
        for c in self.clusters:
            c.stop()

    # ---- workloads
    def idle(self, p=None, tls=False):
        p = p or self.profile["idle"]
        name = "idle-wss" if tls else "idle"
        r, _ = self.measure(lambda c: bl.run_idle(
            self.fleet, c.servers, c.edge_urls, label=self.label("idle"), conns=p["conns"],
            per_proc=p["per_proc"], hold_s=p["hold_s"]), tls=tls)
        r["name"] = name
        r["conditions"]["workers"] = 1
        r["conditions"]["tls"] = tls
        per_edge = "; ".join(f"{n} {e['conns']} conns {bl.fmt_bytes(e['rss_delta'])} RSS "
                             f"→ {e['bytes_per_conn']} B/conn, {e['cpu_pct']}% CPU"
                             for n, e in r["edges"].items())
        early = f"; WARNING: {', '.join(r['ended_early'])} ended inside the window" \
            if r["ended_early"] else ""
        early += bl.flags(r)
        self.record("idle", r, f"{name}: {p['conns']} connections ({r['alive']} alive at the "
                               f"end, opened in {r['setup_s']} s): {per_edge}{early}")
        self.rows.append((name, f"{p['conns']} conns", f"{r['bytes_per_conn']} B/conn",
                          f"edge CPU {r['edge_cpu_pct']}%", "",
                          ("" if tls else "goal ≤ 512 B/conn") + bl.flags(r)))
        return r

    def fanout_run(self, name, *, subs, per_proc, size, window, messages, workers=1,
                   rate=0, pubs=1, timeout=90, goal="", encoding="json", tls=False):
        r, _ = self.measure(lambda c: bl.run_fanout(
            self.fleet, c.servers, c.urls, label=self.label("fanout"), subs=subs,
            sub_per_proc=per_proc, pubs=pubs, messages=messages, size=size, rate=rate,
            window=None if rate else window, topic="bench.fanout", timeout=timeout,
            encoding=encoding, edge_names=c.edge_names, hub_names=["hub"]), workers, tls)
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

    def connect_loop(self, role, p=None, tls=False):
        p = p or self.profile[role]
        name = f"{role}-wss" if tls else role

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
        r, _ = self.measure(run, tls=tls)
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
                                                       "src_ips": bl.SRC_IPS},
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
    lost = sum(r.get("lost", 0) or 0 for runs in bench.results.values() for r in runs)
    return 1 if errors or lost else 0


if __name__ == "__main__":
    sys.exit(main())
