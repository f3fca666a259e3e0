#!/usr/bin/python3
"""spoke side by side with nats-server in the same topology and the same run:
a hub and two edges (spoke: spoke-hub and two spoke-edge; NATS: a hub server
and two leaf-node servers with WebSocket listeners), the same spoke-loadgen
fanout and idle workloads (clients speak the NATS text protocol over
WebSocket to the leaves), all server processes' CPU and RSS counted, and
spoke's figures printed as ratios to NATS's.

Usage: tests/bench/compare_nats.py [--bin-dir build] [--nats-server PATH] [--quick]
(tests/bench/compare-nats.sh installs nats-server and builds first.)
"""
import argparse
import datetime
import json
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
                 "rates": (20, 200), "rate_seconds": 10, "idle_conns": 10000, "hold_s": 5},
    "quick": {"subs": 2000, "size": 100, "max_messages": 300, "window": 64,
              "rates": (20, 200), "rate_seconds": 3, "idle_conns": 6000, "hold_s": 2},
}


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
            m = re.search(r"Listening for leafnode connections on [0-9.]+:(\d+)",
                          self.hub.log_path.read_text(errors="replace"))
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

    def stop(self):
        status = {}
        for name, p in list(self.edges.items()) + [("hub", self.hub)]:
            if p is not None:
                status[name] = p.stop()
        return status


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

    out["idle"], _ = bl.measure(start, lambda c: bl.run_idle(
        fleet, c.servers, c.edge_urls, label=f"{system}-idle", conns=prof["idle_conns"],
        per_proc=10000, hold_s=prof["hold_s"], proto=proto), retries)
    i = out["idle"]
    print(f"{system} idle: {prof['idle_conns']} conns, {i['alive']} alive; server RSS "
          f"{bl.fmt_bytes(i['server_rss_delta'])} = {i['server_bytes_per_conn']} B/conn "
          f"(edges {i['bytes_per_conn']} B/conn), edge CPU {i['edge_cpu_pct']}%{bl.flags(i)}",
          flush=True)
    runs = [("max", 0, prof["max_messages"])] + \
           [(f"{r}/s", r, r * prof["rate_seconds"]) for r in prof["rates"]]
    for name, rate, messages in runs:
        r, _ = bl.measure(start, lambda c: bl.run_fanout(
            fleet, c.servers, c.urls, label=f"{system}-fanout", subs=prof["subs"],
            sub_per_proc=prof["subs"], messages=messages, size=prof["size"], rate=rate,
            window=None if rate else prof["window"], topic="bench.fanout", proto=proto,
            timeout=60, edge_names=c.edge_names, hub_names=["hub"]), retries)
        out[f"fanout {name}"] = r
        print(f"{system} fanout {name}: {r['received']}/{r['expected']} delivered, "
              f"{bl.fmt_rate(r['deliveries_per_s'])}/s, "
              f"{bl.fmt_rate(r['deliveries_per_server_cpu_s'])}/server-CPU-s "
              f"(edges {r['cpu_s']['edges']} s, hub {r['cpu_s']['hub']} s, generators "
              f"{r['cpu_s']['generators']} s, softirq {r['irq_cpu_s']} s){bl.flags(r)}; "
              f"{bl.fmt_latency(r)}", flush=True)
    return out


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
    key = "server bytes per idle connection"
    x, y = s["idle"]["server_bytes_per_conn"], n["idle"]["server_bytes_per_conn"]
    rows.append((key, fig(x), fig(y), fig(ratio(x, y)), "≤ 0.02"))
    comparison[key] = {"spoke": x, "nats": y, "ratio": ratio(x, y)}
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
    print("loss: " + (", ".join(f"{k} lost {v}" for k, v in lost.items()) if lost else
                      "none (received == expected in every run)"))
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
    out.write_text(json.dumps({"date": date, "commit": commit, "dirty": dirty,
                               "machine": m, "nats_server": nver, "profile": prof,
                               "spoke_workers": 1, "comparison": comparison,
                               "results": res, "elapsed_s": round(time.monotonic() - t0, 1)},
                              indent=1) + "\n")
    print(f"{time.monotonic() - t0:.0f} s; results in {out}")
    return 1 if lost else 0


if __name__ == "__main__":
    sys.exit(main())
