#!/usr/bin/python3
"""spoke side by side with nats-server in the same topology and the same run:
a hub and two edges (spoke: spoke-hub and two spoke-edge; NATS: a hub server
and two leaf-node servers with WebSocket listeners), the same spoke-loadgen
fanout and idle workloads (clients speak the NATS text protocol over
WebSocket to the leaves), all server processes' CPU and RSS counted, and
spoke's figures printed as ratios to NATS's. At the highest fixed rate it
also runs one subscriber per edge (the hops alone) and spoke-sendfloor (one
write per subscriber from one thread, the floor), and splits the latency of
each message into hops, queueing and fan-out span (breakdown()).

Usage: tests/bench/compare_nats.py [--bin-dir build] [--nats-server PATH] [--quick]
(tests/bench/compare-nats.sh installs nats-server and builds first.)
"""
import argparse
import datetime
import json
import math
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.dont_write_bytecode = True  # no __pycache__ next to the scripts
sys.path.insert(0, str(Path(__file__).resolve().parent))
import benchlib as bl  # noqa: E402

REPO = Path(__file__).resolve().parents[2]

PROFILES = {
    "standard": {"subs": 2000, "size": 100, "max_messages": 5000, "window": 64,
                 "rates": (20, 200), "rate_seconds": 10, "idle_conns": 10000, "hold_s": 5,
                 "floor_messages_all": 500},
    "quick": {"subs": 2000, "size": 100, "max_messages": 300, "window": 64,
              "rates": (20, 200), "rate_seconds": 3, "idle_conns": 6000, "hold_s": 2,
              "floor_messages_all": 200},
}
# The subscribers of the hop runs: one per edge (connections alternate over
# the edges), so each message crosses publisher -> edge -> hub -> edge with
# no fan-out to wait for.
HOP_SUBS = 2


class NatsCluster:
    """A NATS hub server with a leaf-node listener and two leaf servers
    (leaf-a, leaf-b) that connect to it, each with a plain WebSocket listener.
    Every listener takes a port of the kernel's choosing (nats-server's port
    -1), which each server reports in its ports file (ports_file_dir), or,
    for the leaf-node listener the file leaves out, in its log. Ready when
    the hub's /varz counts both leaf nodes and each leaf's WebSocket port
    accepts connections."""

    def __init__(self, nats_bin, workdir, leaves=("leaf-a", "leaf-b")):
        self.bin, self.workdir = str(nats_bin), Path(workdir)
        self.edge_names = list(leaves)
        self.hub = None
        self.edges = {}
        self.ws_ports = {}
        self.http_ports = {}

    def _start(self, name, text):
        """Starts one server with config text (every port -1); returns
        (Proc, its ports file decoded: {"nats": [url], "monitoring": ...})."""
        conf = self.workdir / f"nats-{name}.conf"
        conf.write_text(text + f'ports_file_dir: "{self.workdir}"\n')
        proc = bl.Proc(name, [self.bin, "-c", str(conf)], self.workdir / f"nats-{name}.log")
        ports_file = self.workdir / f"{Path(self.bin).name}_{proc.pid}.ports"
        try:
            ports = bl.wait_for(lambda: bl.read_json_file(ports_file), bl.START_TIMEOUT_S,
                                f"NATS {name}'s ports file", procs=[proc])
        except BaseException:
            proc.stop()
            raise
        return proc, ports

    @staticmethod
    def _port(urls):
        """The port of the first URL in a ports file entry ("nats://127.0.0.1:4222")."""
        return int(urls[0].rsplit(":", 1)[1].rstrip("/"))

    def start(self):
        try:
            self._start_hub()
            for name in self.edge_names:
                self.edges[name] = self._start_leaf(name)
            bl.wait_for(lambda: bl.http_json(self.hub_http, "/varz").get("leafnodes") == 2,
                        bl.START_TIMEOUT_S, "both leaf nodes on the NATS hub", procs=self.procs())
        except BaseException:
            self.stop()
            raise
        return self

    def _start_hub(self):
        self.hub, ports = self._start("hub", f"""
server_name: hub
listen: "{bl.HOST}:-1"
http: "{bl.HOST}:-1"
leafnodes {{ listen: "{bl.HOST}:-1" }}
""")
        self.hub_port, self.hub_http = self._port(ports["nats"]), self._port(ports["monitoring"])

        def leaf_port_logged():
            # The log is appended to by every attempt (bl.measure repeats a
            # disturbed run): only this process's line ([pid]) counts.
            m = re.search(rf"\[{self.hub.pid}\] .*Listening for leafnode connections on "
                          r"[0-9.]+:(\d+)", self.hub.log_path.read_text(errors="replace"))
            return m and int(m.group(1))
        self.leaf_port = bl.wait_for(leaf_port_logged, bl.START_TIMEOUT_S,
                                     "the NATS hub's leaf-node port in its log", procs=[self.hub])

    def _start_leaf(self, name):
        proc, ports = self._start(name, f"""
server_name: {name}
listen: "{bl.HOST}:-1"
http: "{bl.HOST}:-1"
websocket {{ listen: "{bl.HOST}:-1", no_tls: true }}
leafnodes {{ remotes = [ {{ url: "nats-leaf://{bl.HOST}:{self.leaf_port}" }} ] }}
""")
        ws, http = self._port(ports["websocket"]), self._port(ports["monitoring"])
        self.ws_ports[name] = ws
        self.http_ports[name] = http
        try:
            bl.wait_for(lambda: bl.tcp_accepts(ws) and
                        bl.http_json(http, "/varz").get("leafnodes") == 1,
                        bl.START_TIMEOUT_S, f"NATS {name} WebSocket listener and leaf link",
                        procs=[proc])
        except BaseException:
            proc.stop()
            raise
        return proc

    def procs(self):
        return [p for p in [self.hub, *self.edges.values()] if p is not None]

    @property
    def servers(self):
        return {"hub": self.hub, **self.edges}

    @property
    def edge_urls(self):
        return {n: f"ws://{bl.HOST}:{self.ws_ports[n]}/" for n in self.edge_names}

    @property
    def urls(self):
        return list(self.edge_urls.values())

    def subscriptions(self):
        """Each leaf's own count of subscriptions (/varz): its clients' and
        49 more that are not (with 5,000 clients per leaf)."""
        return {n: bl.http_json(self.http_ports[n], "/varz").get("subscriptions")
                for n in self.edge_names}

    def stop(self):
        status = {}
        for name, p in list(self.edges.items()) + [("hub", self.hub)]:
            if p is not None:
                status[name] = p.stop()
        return status


def spoke_subscriptions(cluster):
    """Each edge's spoke_edge_subscriptions gauge (its clients' subscriptions)."""
    out = {}
    for name in cluster.edge_names:
        port = cluster.admin_ports.get(name)
        out[name] = bl.metric_total(bl.prometheus(port), ["spoke_edge_subscriptions"])[0] \
            if port else None
    return out


def settled_subscriptions(get, conns, timeout=5.0):
    """get()'s per-server counts once they add up to conns (spoke's gauges
    are snapshots taken every 0.25 s), or as they are after timeout."""
    last = {}

    def complete():
        last.clear()
        last.update(get())
        return sum(v or 0 for v in last.values()) >= conns
    try:
        bl.wait_for(complete, timeout, "the servers' subscription counts")
    except bl.BenchError:
        pass
    return dict(last)


def nats_version(path):
    try:
        return subprocess.run([path, "--version"], capture_output=True, text=True,
                              timeout=10).stdout.strip()
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"


def run_system(system, make_cluster, fleet, prof, retries):
    """Runs idle, fanout at max rate and at each fixed rate, each on fresh
    servers (repeated when disturbed by other processes, see bl.measure)."""
    proto = "spoke" if system == "spoke" else "nats"
    out = {}

    def start():
        return make_cluster().start()

    # Every idle connection holds one subscription (to the shared topic
    # "idle"); the servers' own counts, read while the connections are up,
    # confirm it ("subscriptions").
    out["idle"], _ = bl.measure(start, lambda c: bl.run_idle(
        fleet, c.servers, c.edge_urls, label=f"{system}-idle", conns=prof["idle_conns"],
        per_proc=10000, hold_s=prof["hold_s"], proto=proto,
        snapshot=lambda: settled_subscriptions(
            (lambda: spoke_subscriptions(c)) if system == "spoke" else c.subscriptions,
            prof["idle_conns"])),
        retries)
    i = out["idle"]
    i["subscriptions"] = i.pop("snapshot")
    # Fewer than one per connection: the memory figure is not of subscribed
    # connections, and the run fails (main's exit status).
    i["subscriptions_short"] = sum(v or 0 for v in i["subscriptions"].values()) < \
        prof["idle_conns"]
    print(f"{system} idle: {prof['idle_conns']} conns, {i['alive']} alive, subscriptions "
          f"{i['subscriptions']}{' SHORT' if i['subscriptions_short'] else ''}; server RSS "
          f"{bl.fmt_bytes(i['server_rss_delta'])} = {i['server_bytes_per_conn']} B/conn "
          f"(edges {i['bytes_per_conn']} B/conn), edge CPU {i['edge_cpu_pct']}%{bl.flags(i)}",
          flush=True)
    top = max(prof["rates"])
    runs = [("max", 0, prof["max_messages"], prof["subs"])] + \
           [(f"{r}/s", r, r * prof["rate_seconds"], prof["subs"]) for r in prof["rates"]] + \
           [(f"{top}/s {HOP_SUBS} subs", top, top * prof["rate_seconds"], HOP_SUBS)]
    for name, rate, messages, subs in runs:
        def run(c, rate=rate, messages=messages, subs=subs):
            r = bl.run_fanout(
                fleet, c.servers, c.urls, label=f"{system}-fanout", subs=subs,
                sub_per_proc=prof["subs"], messages=messages, size=prof["size"], rate=rate,
                window=None if rate else prof["window"], topic="bench.fanout", proto=proto,
                timeout=60, edge_names=c.edge_names, hub_names=["hub"],
                sub_opts={"spread": 1} if rate else None)
            if rate:
                r["spread"] = spread_summary(r, c.edge_names)
            return r
        r, _ = bl.measure(start, run, retries)
        out[f"fanout {name}"] = r
        print(f"{system} fanout {name}: {r['received']}/{r['expected']} delivered, "
              f"{bl.fmt_rate(r['deliveries_per_s'])}/s, "
              f"{bl.fmt_rate(r['deliveries_per_server_cpu_s'])}/server-CPU-s "
              f"(edges {r['cpu_s']['edges']} s, hub {r['cpu_s']['hub']} s, generators "
              f"{r['cpu_s']['generators']} s, softirq {r['irq_cpu_s']} s){bl.flags(r)}; "
              f"{bl.fmt_latency(r)}", flush=True)
    return out


def _q(xs, q):
    """The q-quantile (nearest rank) of xs, None when empty."""
    if not xs:
        return None
    xs = sorted(xs)
    return xs[min(len(xs) - 1, max(0, math.ceil(q * len(xs)) - 1))]


def _stats_us(xs_ns):
    """mean, p50, p99 and max of nanosecond values, in µs."""
    if not xs_ns:
        return {"mean_us": None, "p50_us": None, "p99_us": None, "max_us": None}
    return {"mean_us": round(sum(xs_ns) / len(xs_ns) / 1000, 1),
            "p50_us": round(_q(xs_ns, 0.5) / 1000, 1),
            "p99_us": round(_q(xs_ns, 0.99) / 1000, 1),
            "max_us": round(max(xs_ns) / 1000, 1)}


def spread_summary(r, edge_names):
    """Merges the subscribers' --spread records (per measured message and
    per URL: connections, first and last arrival after the send) into one
    record per message and edge, and summarises them per edge: the time to
    the first arrival (hops, plus queueing behind earlier messages), the
    fan-out span (first to last arrival on that edge) and the time to the
    last arrival. Takes the records out of the sub results (they are large);
    the merged ones stay under "_msgs" for breakdown() and are not saved."""
    nu = len(edge_names)
    msgs = {}  # send time -> {edge: [n, first, last]}
    dropped = 0
    for i, sr in enumerate(r["sub_results"]):
        dropped += sr.get("spread_dropped") or 0
        for rec in sr.pop("spread", None) or []:
            m = msgs.setdefault(rec[0], {})
            for u in range(nu):
                n, first, last = rec[1 + 3 * u:4 + 3 * u]
                if not n:
                    continue
                # Process i's URLs are the edges rotated by i (run_fanout).
                e = edge_names[(u + i) % nu]
                if e in m:
                    m[e] = [m[e][0] + n, min(m[e][1], first), max(m[e][2], last)]
                else:
                    m[e] = [n, first, last]
    per_edge = {}
    for e in edge_names:
        recs = [m[e] for m in msgs.values() if e in m]
        # Messages that reached one connection in one segment share its
        # kernel timestamp: distinct first arrivals count the writes that
        # began the fan-outs, so messages per such write say how much the
        # server coalesced (1: one write per message and subscriber).
        firsts = {t + m[e][1] for t, m in msgs.items() if e in m}
        per_edge[e] = {"messages": len(recs),
                       "messages_per_first_write": round(len(recs) / len(firsts), 2)
                       if firsts else None,
                       "subscribers_per_message": round(sum(x[0] for x in recs) / len(recs), 1)
                       if recs else None,
                       "first": _stats_us([x[1] for x in recs]),
                       "span": _stats_us([x[2] - x[1] for x in recs]),
                       "last": _stats_us([x[2] for x in recs])}
    return {"messages": len(msgs), "dropped": dropped, "per_edge": per_edge,
            "first": _stats_us([min(x[1] for x in m.values()) for m in msgs.values()]),
            "last": _stats_us([max(x[2] for x in m.values()) for m in msgs.values()]),
            "_msgs": msgs}


def frame_bytes(r):
    """Bytes per delivered frame on the subscribers' sockets: their read
    bytes over every message they received, warm-ups included (the upgrade
    answers and acks add well under a byte per frame)."""
    sr = r["sub_results"]
    frames = sum((x.get("received") or 0) + (x.get("warm_msgs") or 0) for x in sr)
    return round(sum(x.get("read_bytes") or 0 for x in sr) / frames) if frames else None


def run_sendfloor(bin_dir, subs, frame, messages, rate):
    """One spoke-sendfloor run (tests/bench/sendfloor.c): its JSON object."""
    argv = [str(Path(bin_dir) / "spoke-sendfloor"), "--subs", str(subs), "--frame", str(frame),
            "--messages", str(messages), "--rate", str(rate)]
    p = subprocess.run(argv, capture_output=True, text=True, timeout=300)
    if p.returncode != 0:
        raise bl.BenchError(f"{' '.join(argv)} failed: {p.stderr.strip()}")
    return json.loads(p.stdout)


def breakdown(run, hops, floor, rate):
    """Where the latency of run (a fixed-rate fan-out with --spread) goes,
    per message and edge: hops (the median first arrival on that edge in
    the hop run, one subscriber per edge), queueing (the first arrival less
    the hops: the message waited for earlier fan-outs or other work before
    its first write) and the fan-out span (first to last arrival on that
    edge). "tail" averages them over the messages whose last delivery is at
    or above the deliveries' p99 (the top 1 % of messages if none is), on
    the edge that delivered last; "mean" over every message and edge.
    floor: spoke-sendfloor with the same subscribers per edge and frame."""
    msgs = run["spread"]["_msgs"]
    hop = {e: (v["first"]["p50_us"] or 0) * 1000
           for e, v in hops["spread"]["per_edge"].items()}
    comps = []  # per message: the components on its slowest edge
    every = []
    for m in msgs.values():
        slow = None
        for e, (_, first, last) in m.items():
            h = hop.get(e, 0)
            c = (h, max(0, first - h), last - first, last)
            every.append(c)
            if slow is None or last > slow[3]:
                slow = c
        comps.append(slow)
    p99 = (run["latency"]["p99_us"] or 0) * 1000
    tail = [c for c in comps if c[3] >= p99]
    if not tail:
        tail = sorted(comps, key=lambda c: c[3])[-max(1, len(comps) // 100):]

    def avg(cs):
        if not cs:
            return None
        return {k: round(sum(c[i] for c in cs) / len(cs) / 1000, 1)
                for i, k in enumerate(("hops_us", "queueing_us", "span_us", "total_us"))}
    spans = [v["span"]["mean_us"] for v in run["spread"]["per_edge"].values()
             if v["span"]["mean_us"] is not None]
    span_mean = sum(spans) / len(spans) if spans else None
    rho = rate * span_mean / 1e6 if span_mean is not None else None
    subs_edge = max((v["subscribers_per_message"] or 0)
                    for v in run["spread"]["per_edge"].values())
    # How much of a core each edge got over the run, and its CPU per
    # delivery: a span longer than the floor is either more CPU per
    # delivery or an edge waiting for a core (the machine has two, shared
    # with the other edge, the hub, the generators and softirq).
    wall = run["wall_s"] or 0
    per_proc = run["cpu_s"]["per_process"]
    cpu_share = {e: round((per_proc.get(e) or 0) / wall, 2) if wall else None
                 for e in run["spread"]["per_edge"]}
    delivered = {e: (v["subscribers_per_message"] or 0) * v["messages"]
                 for e, v in run["spread"]["per_edge"].items()}
    cpu_per_delivery = {e: round(1e6 * (per_proc.get(e) or 0) / delivered[e], 2)
                        if delivered[e] else None for e in delivered}
    return {
        "rate": rate, "p99_us": run["latency"]["p99_us"], "p50_us": run["latency"]["p50_us"],
        "tail_messages": len(tail), "tail": avg(tail), "mean": avg(every),
        "hops_per_edge": {e: hops["spread"]["per_edge"][e]["first"]
                          for e in hops["spread"]["per_edge"]},
        "span_per_edge": {e: v["span"] for e, v in run["spread"]["per_edge"].items()},
        "messages_per_first_write": {e: v["messages_per_first_write"]
                                     for e, v in run["spread"]["per_edge"].items()},
        "edge_cpu_share": cpu_share, "edge_cpu_per_delivery_us": cpu_per_delivery,
        # The CPU one span holds (its writes carry messages_per_first_write
        # messages each, at the edge's CPU per delivery) and what the rest of
        # the span is: the edge waiting for a core. Estimates.
        "span_cpu_us": {e: round(subs_edge * cpu_per_delivery[e] *
                                 (run["spread"]["per_edge"][e]["messages_per_first_write"] or 1),
                                 1) if cpu_per_delivery[e] else None for e in cpu_per_delivery},
        "subscribers_per_edge": subs_edge,
        # The share of time an edge spends spanning fan-outs, and the wait
        # an M/D/1 queue with that service time would add on average.
        "utilisation": round(rho, 3) if rho is not None else None,
        "md1_wait_us": round(rho * span_mean / (2 * (1 - rho)), 1)
        if rho is not None and rho < 1 else None,
        "span_per_delivery_us": round(span_mean / subs_edge, 2)
        if span_mean is not None and subs_edge else None,
        "floor": floor,
    }


def ratio(a, b):
    return round(a / b, 3) if a is not None and b else None


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bin-dir", default="build")
    ap.add_argument("--nats-server", default=shutil.which("nats-server") or
                    shutil.which("nats-server", path="/usr/sbin:/usr/bin"))
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--noisy-retries", type=int, default=1,
                    help="repeat a run disturbed by other processes up to N times (default 1)")
    ap.add_argument("--out", help="results file (default tests/bench/results/"
                                  "DATE-COMMIT-nats.json)")
    args = ap.parse_args()
    if not args.nats_server:
        ap.error("nats-server not found (tests/bench/compare-nats.sh installs it)")
    prof = PROFILES["quick" if args.quick else "standard"]
    workdir = Path(tempfile.mkdtemp(prefix="spoke-vs-nats-"))
    fleet = bl.Fleet(Path(args.bin_dir) / "spoke-loadgen", workdir)
    m = bl.machine()
    nver = nats_version(args.nats_server)
    print(f"spoke vs {nver}: {bl.describe(m)}; logs in {workdir}", flush=True)
    t0 = time.monotonic()
    res = {}
    try:
        res["spoke"] = run_system(
            "spoke", lambda: bl.SpokeCluster(args.bin_dir, workdir, workers=1), fleet, prof,
            args.noisy_retries)
        res["nats"] = run_system(
            "nats", lambda: NatsCluster(args.nats_server, workdir), fleet, prof,
            args.noisy_retries)
    finally:
        fleet.stop()
    s, n = res["spoke"], res["nats"]
    # The floor: one write per subscriber from one thread, with no server
    # around it (spoke-sendfloor), for each system's frame and subscribers
    # per edge at the top rate, and for all subscribers from one thread.
    top = max(prof["rates"])
    floors, breakdowns = {}, {}
    for sysname, runs in res.items():
        run, hops = runs[f"fanout {top}/s"], runs[f"fanout {top}/s {HOP_SUBS} subs"]
        frame = frame_bytes(run)
        per_edge = round(max(v["subscribers_per_message"] or 0
                             for v in run["spread"]["per_edge"].values()))
        if not frame or not per_edge:
            continue
        fl = run_sendfloor(args.bin_dir, per_edge, frame, top * prof["rate_seconds"], top)
        floors[sysname] = fl
        if sysname == "spoke":
            floors["spoke, all subscribers"] = run_sendfloor(
                args.bin_dir, prof["subs"], frame, prof["floor_messages_all"], top)
        breakdowns[sysname] = breakdown(run, hops, fl, top)
    for name, fl in floors.items():
        print(f"floor ({name}): {fl['subs']} sends of {fl['frame_bytes']} B per message at "
              f"{fl['rate']:g}/s: {fl['per_send_cpu_ns'] / 1000:.2f} µs CPU per send, span "
              f"p50 {bl.fmt_us(fl['span_p50_us'])} p99 {bl.fmt_us(fl['span_p99_us'])}, "
              f"busy {fl['busy']:.0%}", flush=True)
    for sysname, b in breakdowns.items():
        t, mn = b["tail"], b["mean"]
        print(f"{sysname} at {top}/s: deliveries p50 {bl.fmt_us(b['p50_us'])} p99 "
              f"{bl.fmt_us(b['p99_us'])}; the {b['tail_messages']} tail messages: hops "
              f"{bl.fmt_us(t['hops_us'])} + queueing {bl.fmt_us(t['queueing_us'])} + span "
              f"{bl.fmt_us(t['span_us'])} = {bl.fmt_us(t['total_us'])}; mean over messages: "
              f"hops {bl.fmt_us(mn['hops_us'])} + queueing {bl.fmt_us(mn['queueing_us'])} + "
              f"span {bl.fmt_us(mn['span_us'])}; {b['subscribers_per_edge']:.0f} subscribers "
              f"per edge, {b['span_per_delivery_us']} µs per delivery in the span (floor "
              f"{b['floor']['per_send_wall_ns'] / 1000:.2f}), utilisation "
              f"{b['utilisation']}; messages per first write {b['messages_per_first_write']}, "
              f"edge CPU per delivery {b['edge_cpu_per_delivery_us']} µs, share of a core "
              f"{b['edge_cpu_share']}", flush=True)
    rows = [("figure", "spoke", "NATS", "spoke/NATS", "goal")]

    def fig(x):
        return "n/a" if x is None else (f"{x:,.0f}" if isinstance(x, (int, float)) and x >= 100
                                        else str(x))
    comparison = {}
    for name in ["max"] + [f"{r}/s" for r in prof["rates"]]:
        a, b = s[f"fanout {name}"], n[f"fanout {name}"]
        if name == "max":
            key = "deliveries per server CPU-second (max rate)"
            x, y = a["deliveries_per_server_cpu_s"], b["deliveries_per_server_cpu_s"]
            rows.append((key, fig(x), fig(y), fig(ratio(x, y)), "≥ 3"))
            comparison[key] = {"spoke": x, "nats": y, "ratio": ratio(x, y)}
            key = "deliveries per (server CPU + softirq) second (max rate)"
            x = round(a["received"] / (a["cpu_s"]["edges"] + a["cpu_s"]["hub"] + a["irq_cpu_s"]))
            y = round(b["received"] / (b["cpu_s"]["edges"] + b["cpu_s"]["hub"] + b["irq_cpu_s"]))
            rows.append((key, fig(x), fig(y), fig(ratio(x, y)), ""))
            comparison[key] = {"spoke": x, "nats": y, "ratio": ratio(x, y)}
            key = "deliveries per second (max rate)"
            x, y = a["deliveries_per_s"], b["deliveries_per_s"]
            rows.append((key, fig(x), fig(y), fig(ratio(x, y)), ""))
            comparison[key] = {"spoke": x, "nats": y, "ratio": ratio(x, y)}
        else:
            for q, goal in (("p50_us", ""), ("p99_us", "≤ 0.1")):
                key = f"{q[:-3]} latency µs at {name} ({'/'.join(a['latency_at'])})"
                x, y = a["latency"][q], b["latency"][q]
                rows.append((key, fig(x), fig(y), fig(ratio(x, y)), goal))
                comparison[key] = {"spoke": x, "nats": y, "ratio": ratio(x, y)}
            # The same to the subscriber generator's read (worst process).
            key = f"p99 µs to the generator's read at {name}"
            x = a["read_latency_worst_proc"]["p99_us"]
            y = b["read_latency_worst_proc"]["p99_us"]
            if x is not None and y is not None:
                rows.append((key, fig(x), fig(y), fig(ratio(x, y)), ""))
                comparison[key] = {"spoke": x, "nats": y, "ratio": ratio(x, y)}
            key = f"server CPU-s per 1M deliveries at {name}"
            x = 1e6 * (a["cpu_s"]["edges"] + a["cpu_s"]["hub"]) / a["received"] \
                if a["received"] else None
            y = 1e6 * (b["cpu_s"]["edges"] + b["cpu_s"]["hub"]) / b["received"] \
                if b["received"] else None
            x, y = (round(v, 2) if v is not None else None for v in (x, y))
            rows.append((key, fig(x), fig(y), fig(ratio(x, y)), ""))
            comparison[key] = {"spoke": x, "nats": y, "ratio": ratio(x, y)}
    key = "server bytes per idle subscribed connection"
    x, y = s["idle"]["server_bytes_per_conn"], n["idle"]["server_bytes_per_conn"]
    rows.append((key, fig(x), fig(y), fig(ratio(x, y)), "≤ 0.02"))
    comparison[key] = {"spoke": x, "nats": y, "ratio": ratio(x, y)}
    brows = [("at %d/s (µs)" % top, "spoke", "NATS", "spoke/NATS")]
    for label, part, k in (("p99 of deliveries", None, "p99_us"),
                           ("tail messages: hops", "tail", "hops_us"),
                           ("tail messages: queueing", "tail", "queueing_us"),
                           ("tail messages: fan-out span", "tail", "span_us"),
                           ("tail messages: last delivery", "tail", "total_us"),
                           ("mean: hops", "mean", "hops_us"),
                           ("mean: queueing", "mean", "queueing_us"),
                           ("mean: fan-out span", "mean", "span_us")):
        vals = []
        for sysname in ("spoke", "nats"):
            b = breakdowns.get(sysname)
            vals.append(None if b is None else (b[k] if part is None else b[part][k]))
        brows.append((label, fig(vals[0]), fig(vals[1]), fig(ratio(*vals))))
        comparison[f"{label} at {top}/s (µs)"] = {"spoke": vals[0], "nats": vals[1],
                                                  "ratio": ratio(*vals)}

    def edges_mean(b, k):
        vals = [v for v in (b or {}).get(k, {}).values() if v is not None]
        return round(sum(vals) / len(vals), 2) if vals else None
    for label, k in (("messages per first write (edges' mean)", "messages_per_first_write"),
                     ("edge CPU µs per delivery", "edge_cpu_per_delivery_us"),
                     ("CPU in one span, µs (estimate)", "span_cpu_us"),
                     ("edge's share of a core", "edge_cpu_share")):
        vals = [edges_mean(breakdowns.get(x), k) for x in ("spoke", "nats")]
        brows.append((label, fig(vals[0]), fig(vals[1]), fig(ratio(*vals))))
        comparison[f"{label} at {top}/s"] = {"spoke": vals[0], "nats": vals[1],
                                             "ratio": ratio(*vals)}
    vals = [round(floors[x]["per_send_cpu_ns"] / 1000, 2) if x in floors else None
            for x in ("spoke", "nats")]
    brows.append(("floor: µs CPU per write", fig(vals[0]), fig(vals[1]), ""))
    for sysname in ("spoke", "nats"):
        fl = floors.get(sysname)
        if fl:
            brows.append((f"floor span p50/p99, {fl['subs']} writes of {fl['frame_bytes']} B",
                          f"{fl['span_p50_us']:,.0f}/{fl['span_p99_us']:,.0f}"
                          if sysname == "spoke" else "", "" if sysname == "spoke" else
                          f"{fl['span_p50_us']:,.0f}/{fl['span_p99_us']:,.0f}", ""))
    lost = {f"{sysname} {k}": r["lost"] for sysname, runs in res.items()
            for k, r in runs.items() if k.startswith("fanout") and r["lost"]}
    gen_bound = [f"{sysname} {k}" for sysname, runs in res.items()
                 for k, r in runs.items() if k.startswith("fanout") and r["generator_bound"]]
    widths = [max(len(r[i]) for r in rows) for i in range(5)]
    print(f"\nspoke vs NATS ({prof['subs']} subscribers over two edges/leaves, "
          f"{prof['size']} B payloads, {prof['idle_conns']} idle connections)")
    for i, r in enumerate(rows):
        print("  ".join(x.ljust(w) for x, w in zip(r, widths)).rstrip())
        if i == 0:
            print("  ".join("-" * w for w in widths))
    bw = [max(len(r[i]) for r in brows) for i in range(4)]
    print(f"\nwhere the p99 at {top}/s goes (per message, on the edge that delivered last)")
    for i, r in enumerate(brows):
        print("  ".join(x.ljust(w) for x, w in zip(r, bw)).rstrip())
        if i == 0:
            print("  ".join("-" * w for w in bw))
    print("loss: " + (", ".join(f"{k} lost {v}" for k, v in lost.items()) if lost else
                      "none (received == expected in every run)"))
    short = [s for s, runs in res.items() if runs["idle"].get("subscriptions_short")]
    if short:
        print("subscriptions short of one per idle connection: " + ", ".join(short))
    if gen_bound:
        print("generator-bound (the load generators used more CPU than the edges): "
              + ", ".join(gen_bound))
    noisy = [f"{sysname} {k} ({r['foreign_cpu_s']} CPU-s)" for sysname, runs in res.items()
             for k, r in runs.items() if r.get("noisy")]
    if noisy:
        print("noisy (other processes on the machine used over 10 % of it): " + ", ".join(noisy))
    commit, dirty = bl.git_commit(REPO)
    date = datetime.date.today().isoformat()
    out = Path(args.out) if args.out else \
        REPO / "tests" / "bench" / "results" / \
        f"{date}-{commit}-nats{'-quick' if args.quick else ''}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    for runs in res.values():
        for r in runs.values():
            if r.get("spread"):
                r["spread"].pop("_msgs", None)
    out.write_text(json.dumps({"date": date, "commit": commit, "dirty": dirty,
                               "machine": m, "nats_server": nver, "profile": prof,
                               "spoke_workers": 1, "comparison": comparison,
                               "floors": floors, "breakdowns": breakdowns,
                               "results": res, "elapsed_s": round(time.monotonic() - t0, 1)},
                              indent=1) + "\n")
    print(f"{time.monotonic() - t0:.0f} s; results in {out}")
    return 1 if lost or short else 0


if __name__ == "__main__":
    sys.exit(main())
