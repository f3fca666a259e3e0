"""Shared machinery for spoke's benchmarks: server and load-generator processes
on loopback (servers on port 0, their ports read from what they report),
readiness by polling, CPU and RSS from /proc, the
sub/pub choreography of spoke-loadgen (READY, WARM, go, RESULT), latency
histogram merging, and the machine's description for the results file.

run_bench.py (spoke alone) and compare_nats.py (spoke against nats-server)
both drive their workloads through the functions here, so the two measure
exactly the same way."""
import json
import math
import os
import platform
import signal
import socket
import subprocess
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

HOST = "127.0.0.1"
CLK_TCK = os.sysconf("SC_CLK_TCK")
STOP_TIMEOUT_S = 10
START_TIMEOUT_S = 15
SRC_IPS = "127.0.0.2-127.0.0.60"  # client source addresses: ~28k ephemeral ports each
MAX_CONNS_PER_PROC = 15000  # the open-files limit is 20,000 per process
IDLE_MARGIN_S = 5


class BenchError(Exception):
    """A benchmark could not run as designed (a process died, a deadline passed)."""


def wait_for(pred, timeout, what, interval=0.02, procs=()):
    """Polls pred() until it returns a truthy value, which is returned. Each
    poll first checks that every process in procs is still alive. Raises
    BenchError after timeout seconds, naming what and the last error seen."""
    deadline = time.monotonic() + timeout
    last_exc = None
    while True:
        for p in procs:
            p.check_alive()
        try:
            value = pred()
            if value:
                return value
        except (OSError, ValueError, KeyError) as e:
            last_exc = e
        if time.monotonic() >= deadline:
            extra = f" (last error: {last_exc!r})" if last_exc else ""
            raise BenchError(f"timed out after {timeout}s waiting for {what}{extra}")
        time.sleep(interval)


def tcp_accepts(port):
    """True if something accepts TCP connections on HOST:port."""
    try:
        with socket.create_connection((HOST, port), timeout=1.0):
            return True
    except OSError:
        return False


def read_json_file(path):
    """The decoded JSON file at path, or None while there is none (or while
    a server that does not replace it atomically is still writing it)."""
    try:
        return json.loads(Path(path).read_text())
    except (FileNotFoundError, ValueError):
        return None


def http_json(port, path, timeout=5.0, body=None):
    """GET path (or POST body as JSON) on HOST:port; the decoded answer."""
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(f"http://{HOST}:{port}{path}", data=data,
                                 headers={"Content-Type": "application/json"} if data else {})
    with urllib.request.urlopen(req, timeout=timeout) as r:
        return json.load(r)


def prometheus(port, path="/metrics", timeout=5.0):
    """The samples of a Prometheus text page: {"name{labels}": value}."""
    with urllib.request.urlopen(f"http://{HOST}:{port}{path}", timeout=timeout) as r:
        text = r.read().decode(errors="replace")
    out = {}
    for line in text.splitlines():
        if not line or line[0] == "#":
            continue
        key, _, value = line.rpartition(" ")
        try:
            out[key] = float(value)
        except ValueError:
            continue
    return out


def metric_name(key):
    return key.split("{", 1)[0]


def metric_total(samples, names):
    """The sum over the series of the first metric in names that samples
    has (a name or a predicate on names), and that metric's name; (None,
    None) if none. Names not final yet are looked up by predicate."""
    present = {metric_name(k) for k in samples}
    for n in names:
        found = sorted(m for m in present if (n(m) if callable(n) else m == n))
        if found:
            m = found[0]
            return sum(v for k, v in samples.items() if metric_name(k) == m), m
    return None, None


def metrics_delta(before, after, pred):
    """after - before for the series whose name satisfies pred."""
    return {k: round(v - before.get(k, 0.0), 3) for k, v in sorted(after.items())
            if pred(metric_name(k))}


# ---- /proc

def cpu_seconds(pid):
    """User plus system CPU time of a process (all its threads), in seconds,
    or None if it is gone. Fields 14 and 15 of /proc/PID/stat, in clock ticks."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            stat = f.read()
    except OSError:
        return None
    fields = stat[stat.rindex(")") + 2:].split()  # the command name may hold spaces
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def sched_cpu_seconds(pid):
    """CPU time of a process's live threads from the scheduler's own clock
    (the first field of /proc/PID/task/*/schedstat, nanoseconds), or None.
    Unlike cpu_seconds it is not sampled by the 10 ms tick, so it holds for
    windows well under a second; threads that exited are not counted."""
    total, seen = 0, False
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return None
    for t in tasks:
        try:
            with open(f"/proc/{pid}/task/{t}/schedstat") as f:
                total += int(f.read().split()[0])
                seen = True
        except (OSError, ValueError, IndexError):
            continue
    return total / 1e9 if seen else None


def machine_cpu_seconds():
    """CPU time of the whole machine since boot, all CPUs, from the first line
    of /proc/stat: {"tasks": user + nice + system, "irq": irq + softirq,
    "steal": taken by the hypervisor}, in seconds. This kernel samples
    interrupt time with the tick (no CONFIG_IRQ_TIME_ACCOUNTING): softirq
    work, such as delivering loopback TCP segments, lands in "irq" when a
    tick hits it, and is then missing from every process's own CPU time."""
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:9]]
    user, nice, system, _idle, _iowait, irq, softirq, steal = v
    return {"tasks": (user + nice + system) / CLK_TCK, "irq": (irq + softirq) / CLK_TCK,
            "steal": steal / CLK_TCK}


def self_cpu_seconds():
    t = os.times()
    return t.user + t.system


def rss_bytes(pid):
    """Anonymous resident memory of a process (RssAnon in /proc/PID/status:
    the heap and stacks), or None. VmRSS would also count shared-library
    code pages that the first connections happen to touch (about 2 MB for
    the edge's TLS-less build: OpenSSL's SHA-1, jansson, zstd), which are not
    memory per connection."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("RssAnon:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None


def io_bytes(pid):
    """(rchar, wchar) of a process from /proc/PID/io: bytes passed to read(2),
    write(2), writev(2) and the like (not send/recv), all threads; or None."""
    try:
        with open(f"/proc/{pid}/io") as f:
            d = dict(line.split(": ") for line in f.read().splitlines())
        return int(d["rchar"]), int(d["wchar"])
    except (OSError, KeyError, ValueError):
        return None


def machine():
    """The conditions every result depends on: CPU model, cores, kernel."""
    info = {}
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if not line.strip():
                    break  # the first processor is enough
                key, _, value = line.partition(":")
                info[key.strip()] = value.strip()
    except OSError:
        pass
    model = info.get("model name", "unknown")
    # Virtual machines often hide the marketing name: keep what identifies
    # the part anyway.
    detail = {k: info.get(k) for k in ("vendor_id", "cpu family", "model", "stepping",
                                       "cpu MHz", "cache size")}
    mem = None
    try:
        with open("/proc/meminfo") as f:
            mem = int(f.readline().split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        with open("/proc/loadavg") as f:
            load = f.read().split()[:3]
    except OSError:
        load = None
    return {"cpu_model": model, "cpu": detail, "cpus": os.cpu_count(),
            "kernel": platform.release(),
            "mem_bytes": mem, "python": platform.python_version(), "loadavg": load}


def describe(m):
    """One line naming the machine from machine()'s answer."""
    c = m.get("cpu") or {}
    return (f"{m['cpu_model']} (family {c.get('cpu family')} model {c.get('model')}, "
            f"{c.get('cpu MHz')} MHz), {m['cpus']} CPUs, kernel {m['kernel']}")


def git_commit(repo):
    """(short commit, dirty) of the working tree, or ("unknown", None)."""
    try:
        commit = subprocess.run(["git", "-C", str(repo), "rev-parse", "--short", "HEAD"],
                                capture_output=True, text=True, check=True).stdout.strip()
        status = subprocess.run(["git", "-C", str(repo), "status", "--porcelain",
                                 "--untracked-files=no"],
                                capture_output=True, text=True, check=True).stdout
        return commit, bool(status.strip())
    except (OSError, subprocess.CalledProcessError):
        return "unknown", None


# ---- processes

def tail(path, n=30):
    try:
        text = Path(path).read_text(errors="replace")
    except OSError:
        return ""
    return "\n".join(text.rstrip().splitlines()[-n:])


class Proc:
    """A server process (hub, edge, nats-server) whose output goes to a log file."""

    def __init__(self, name, argv, log_path, env=None):
        self.name, self.argv, self.log_path = name, list(argv), Path(log_path)
        with open(self.log_path, "ab") as log:
            self.p = subprocess.Popen(self.argv, stdout=log, stderr=subprocess.STDOUT,
                                      stdin=subprocess.DEVNULL, env=env)
        self.pid = self.p.pid

    def alive(self):
        return self.p.poll() is None

    def check_alive(self):
        if not self.alive():
            raise BenchError(f"{self.name} exited with {self.p.returncode}; "
                             f"{self.log_path} ends:\n{tail(self.log_path)}")

    def cpu(self):
        return cpu_seconds(self.pid)

    def rss(self):
        return rss_bytes(self.pid)

    def stop(self):
        """SIGTERM, then SIGKILL after STOP_TIMEOUT_S. Returns the exit status."""
        if self.alive():
            self.p.send_signal(signal.SIGTERM)
            try:
                self.p.wait(STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                self.p.kill()
                self.p.wait()
        return self.p.returncode


REDIS_SERVER = "/usr/bin/redis-server"


class RedisServer(Proc):
    """One redis-server for the hub's redis engine: a unix socket only (no
    TCP port: --port 0), nothing persisted (no RDB snapshots, no AOF), its
    files in directory (its own). Starts at once; wait_ready() waits, with a
    deadline, until it answers PING on the socket."""

    def __init__(self, name, directory, binary=REDIS_SERVER):
        self.dir = Path(directory)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.sock = str(self.dir / "redis.sock")
        if len(self.sock.encode()) > 107:  # sun_path
            raise BenchError(f"{self.sock}: too long for a unix socket path")
        if not os.access(binary, os.X_OK):
            raise BenchError(f"{binary} is missing: `make deps` installs redis-server")
        super().__init__(name, [binary, "--port", "0", "--unixsocket", self.sock,
                                "--unixsocketperm", "700", "--save", "", "--appendonly", "no",
                                "--dir", str(self.dir), "--daemonize", "no",
                                "--loglevel", "warning"], self.dir / "redis.log")

    def wait_ready(self):
        wait_for(lambda: self.command("PING") == "PONG", START_TIMEOUT_S,
                 f"{self.name} to answer PING on {self.sock}", procs=[self])
        return self

    def command(self, *args, timeout=5.0):
        """One command over the socket (RESP); its decoded reply: str, int,
        bytes for bulk strings, lists; an error reply raises ValueError."""
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.settimeout(timeout)
            s.connect(self.sock)
            parts = [a if isinstance(a, bytes) else str(a).encode() for a in args]
            s.sendall(b"*%d\r\n" % len(parts) +
                      b"".join(b"$%d\r\n%s\r\n" % (len(a), a) for a in parts))
            with s.makefile("rb") as f:
                return _resp_read(f)

    def info(self, section):
        """INFO section as {key: value} (values as text)."""
        text = self.command("INFO", section).decode(errors="replace")
        out = {}
        for line in text.splitlines():
            if line and not line.startswith("#") and ":" in line:
                k, _, v = line.partition(":")
                out[k] = v
        return out

    def commandstats(self):
        """{command: {"calls": N, "usec": U}} from INFO commandstats (Redis
        counts the commands a script calls as well as the script's own
        EVALSHA, whose time includes theirs)."""
        out = {}
        for k, v in self.info("commandstats").items():
            if not k.startswith("cmdstat_"):
                continue
            d = dict(x.split("=", 1) for x in v.split(",") if "=" in x)
            try:
                out[k[len("cmdstat_"):]] = {"calls": int(d["calls"]), "usec": int(d["usec"])}
            except (KeyError, ValueError):
                continue
        return out


def _resp_read(f):
    line = f.readline()
    if not line.endswith(b"\r\n"):
        raise ValueError(f"short RESP reply {line!r}")
    kind, body = line[:1], line[1:-2]
    if kind == b"+":
        return body.decode()
    if kind == b"-":
        raise ValueError(f"redis error: {body.decode(errors='replace')}")
    if kind == b":":
        return int(body)
    if kind == b"$":
        n = int(body)
        if n < 0:
            return None
        data = f.read(n + 2)
        return data[:-2]
    if kind == b"*":
        n = int(body)
        return None if n < 0 else [_resp_read(f) for _ in range(n)]
    raise ValueError(f"unexpected RESP reply {line!r}")


def commandstats_delta(before, after):
    """after - before of commandstats(), the commands called in between."""
    out = {}
    for cmd, v in after.items():
        b = before.get(cmd, {"calls": 0, "usec": 0})
        calls, usec = v["calls"] - b["calls"], v["usec"] - b["usec"]
        if calls:
            out[cmd] = {"calls": calls, "usec": usec, "usec_per_call": round(usec / calls, 2)}
    return out


class Loadgen:
    """One spoke-loadgen process. A reader thread turns its stdout lines into
    events (READY, WARM, RECOVERED, RESULT) stamped with time.monotonic_ns(); on RESULT it
    also reads the process's CPU time at once, while the process still exists."""

    def __init__(self, name, argv, log_path, cond):
        self.name, self.argv, self.log_path = name, list(argv), Path(log_path)
        self.cond = cond
        self.events = {}
        self.result = None
        self.cpu_at_result = None
        self.other = []
        self.eof = False
        self.started_ns = time.monotonic_ns()
        with open(self.log_path, "ab") as log:
            log.write((" ".join(self.argv) + "\n").encode())
            log.flush()
            self.p = subprocess.Popen(self.argv, stdout=subprocess.PIPE, stderr=log,
                                      stdin=subprocess.PIPE, text=True, bufsize=1)
        self.pid = self.p.pid
        self.thread = threading.Thread(target=self._read, name=f"read-{name}", daemon=True)
        self.thread.start()

    def _read(self):
        for line in self.p.stdout:
            now = time.monotonic_ns()
            line = line.strip()
            word = line.split(" ", 1)[0]
            with self.cond:
                if word == "RESULT":
                    self.cpu_at_result = cpu_seconds(self.pid)
                    try:
                        self.result = json.loads(line[len("RESULT"):])
                    except ValueError:
                        self.other.append(line)
                        continue
                    self.events["RESULT"] = now
                elif word in ("READY", "WARM", "RECOVERED"):
                    self.events[word] = now
                else:
                    self.other.append(line)
                self.cond.notify_all()
        with self.cond:
            self.eof = True
            self.cond.notify_all()

    def send(self, line):
        self.p.stdin.write(line + "\n")
        self.p.stdin.flush()

    def cpu(self):
        return cpu_seconds(self.pid)

    def failure(self, event):
        """A message explaining why this process will never report event, or None."""
        if self.eof and event not in self.events:
            try:
                rc = self.p.wait(2)
            except subprocess.TimeoutExpired:
                rc = "?"
            out = "\n".join(self.other[-10:])
            return (f"{self.name} closed its output (exit {rc}) before {event}; "
                    f"stdout: {out!r}; {self.log_path} ends:\n{tail(self.log_path)}")
        return None

    def stop(self):
        if self.p.poll() is None:
            try:
                self.p.stdin.close()
            except OSError:
                pass
            self.p.send_signal(signal.SIGTERM)
            try:
                self.p.wait(STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                self.p.kill()
                self.p.wait()
        self.thread.join(2)


class Fleet:
    """Every load generator of a run: starts them, waits for their events, and
    stops them (only these processes, by pid)."""

    def __init__(self, loadgen_bin, logdir, src_ips=SRC_IPS):
        self.bin, self.logdir, self.src_ips = str(loadgen_bin), Path(logdir), src_ips
        self.cond = threading.Condition()
        self.procs = []
        self.count = 0

    def start(self, label, role, urls, proto="spoke", encoding="json", **opts):
        """Starts one generator. opts become flags (conns=10 → --conns 10), a
        list or tuple one flag per item; None values are left out."""
        self.count += 1
        name = f"{label}-{role}{self.count}"
        argv = [self.bin, "--role", role, "--proto", proto, "--encoding", encoding]
        for url in urls:
            argv += ["--url", url]
        if self.src_ips:
            argv += ["--src-ips", self.src_ips]
        for key, value in opts.items():
            for v in value if isinstance(value, (list, tuple)) else [value]:
                if v is not None:
                    argv += ["--" + key.replace("_", "-"), str(v)]
        lg = Loadgen(name, argv, self.logdir / f"{name}.log", self.cond)
        self.procs.append(lg)
        return lg

    def wait(self, procs, event, timeout, what=None, servers=(), or_event=None):
        """Waits until every process in procs has reported event (or
        or_event instead). Raises BenchError if one exits first, a server
        dies, or timeout passes. Returns the monotonic_ns at which the last
        one reported it."""
        deadline = time.monotonic() + timeout
        evs = (event, or_event) if or_event else (event,)

        def seen(p):
            return min((p.events[e] for e in evs if e in p.events), default=None)
        with self.cond:
            while True:
                if all(seen(p) is not None for p in procs):
                    return max(seen(p) for p in procs)
                for p in procs:
                    why = None if seen(p) is not None else p.failure(event)
                    if why:
                        raise BenchError(why)
                for s in servers:
                    s.check_alive()
                left = deadline - time.monotonic()
                if left <= 0:
                    missing = [p.name for p in procs if seen(p) is None]
                    raise BenchError(f"timed out after {timeout}s waiting for {event} from "
                                     f"{', '.join(missing)} ({what or 'load generators'})")
                self.cond.wait(min(left, 0.5))

    def stop(self, procs=None):
        for p in list(procs if procs is not None else self.procs):
            p.stop()
            if p in self.procs:
                self.procs.remove(p)


def _rotate(xs, i):
    i %= len(xs)
    return xs[i:] + xs[:i]


def split(total, parts):
    """total split into parts nearly equal positive integers."""
    parts = max(1, min(parts, total))
    base, extra = divmod(total, parts)
    return [base + (1 if i < extra else 0) for i in range(parts)]


def procs_for(conns, per_proc):
    """How many processes hold conns connections, at most per_proc each."""
    per_proc = min(per_proc, MAX_CONNS_PER_PROC)
    return max(1, math.ceil(conns / per_proc))


# ---- latency histograms

def merge_latency(results):
    """Merges the subscribers' histograms ([[upper_bound_ns, count], ...]) by
    summing counts per bucket, then reads percentiles off the merged one. A
    percentile is the upper bound of the bucket holding it (never more than the
    largest sample). Returns microseconds."""
    buckets = {}
    for r in results:
        for ub, n in r.get("hist") or []:
            buckets[ub] = buckets.get(ub, 0) + n
    total = sum(buckets.values())
    max_ns = max((r.get("max_ns") or 0 for r in results), default=0)
    out = {"samples": total, "max_us": round(max_ns / 1000, 1)}
    ordered = sorted(buckets.items())
    for key, q in (("p50_us", 0.50), ("p90_us", 0.90), ("p99_us", 0.99), ("p999_us", 0.999)):
        if not total:
            out[key] = None
            continue
        target = max(1, math.ceil(q * total))
        cum = 0
        for ub, n in ordered:
            cum += n
            if cum >= target:
                out[key] = round(min(ub, max_ns) / 1000, 1) if max_ns else round(ub / 1000, 1)
                break
    return out


# ---- measurement window over server processes and generators

class Window:
    """CPU time of a set of server processes and generators between two
    instants, and the wall time between them."""

    def __init__(self, servers, gens):
        self.servers, self.gens = dict(servers), list(gens)
        self.t0 = time.monotonic_ns()
        self.s0 = {n: p.cpu() for n, p in self.servers.items()}
        self.g0 = {g.name: g.cpu() for g in self.gens}
        self.m0, self.self0 = machine_cpu_seconds(), self_cpu_seconds()

    def close(self, t1=None):
        """Ends the window now (servers) and at each generator's RESULT (or now)."""
        t1 = t1 or time.monotonic_ns()
        self.wall_s = (t1 - self.t0) / 1e9
        self.server_cpu = {n: _delta(p.cpu(), self.s0[n]) for n, p in self.servers.items()}
        self.gen_cpu = {}
        for g in self.gens:
            end = g.cpu_at_result if g.cpu_at_result is not None else g.cpu()
            if end is None and g.result:  # gone already: its own figure (whole run)
                end = g.result.get("cpu_s")
                self.gen_cpu[g.name] = end
            else:
                self.gen_cpu[g.name] = _delta(end, self.g0[g.name])
        # CPU the machine spent on other processes (other users of a shared
        # machine): task time minus what we measured, the harness included.
        m1 = machine_cpu_seconds()
        ours = sum(v or 0.0 for v in self.server_cpu.values()) + self.gens_cpu() + \
            self_cpu_seconds() - self.self0
        self.foreign_cpu = round(max(0.0, m1["tasks"] - self.m0["tasks"] - ours), 3)
        self.irq_cpu = round(m1["irq"] - self.m0["irq"], 3)
        self.steal = round(m1["steal"] - self.m0["steal"], 3)
        return self

    def noisy(self):
        """True when other processes used over 10 % of the machine (and more
        than the 0.2 s that clock-tick rounding can account for)."""
        return self.foreign_cpu > max(0.2, 0.1 * self.wall_s * (os.cpu_count() or 1))

    def cpu(self, *names):
        return sum(self.server_cpu.get(n) or 0.0 for n in names)

    def gens_cpu(self):
        return sum(v or 0.0 for v in self.gen_cpu.values())


def _delta(end, start):
    if end is None or start is None:
        return None
    return round(end - start, 3)


def flags(r):
    """The warnings a run's readable line carries."""
    out = ""
    if r.get("generator_bound"):
        out += " GENERATOR-BOUND"
    if r.get("noisy"):
        out += f" NOISY(+{r['foreign_cpu_s']} CPU-s foreign)"
    return out


def per(n, seconds):
    """n per second, or None when seconds is zero or unknown."""
    if not seconds:
        return None
    return n / seconds


def fmt_rate(x):
    if x is None:
        return "n/a"
    if x >= 1e6:
        return f"{x / 1e6:.2f}M"
    if x >= 1e3:
        return f"{x / 1e3:.1f}k"
    return f"{x:.0f}"


def fmt_us(x):
    """A latency given in µs, in µs below a millisecond and in ms above."""
    if x is None:
        return "n/a"
    if x >= 1000:
        return f"{x / 1000:.1f} ms"
    return f"{x:.0f} µs"


def fmt_bytes(x):
    if x is None:
        return "n/a"
    if abs(x) >= 1 << 20:
        return f"{x / (1 << 20):.1f} MiB"
    if abs(x) >= 1 << 10:
        return f"{x / 1024:.1f} KiB"
    return f"{x:.0f} B"


# ---- the workloads both drivers share

def measure(start_cluster, run, retries=1, stop=None):
    """Calls run(cluster) on a fresh cluster from start_cluster() and stops
    the cluster afterwards (with stop(cluster), or cluster.stop()). A run
    that other processes disturbed (flagged noisy) is repeated up to
    `retries` times and the least disturbed attempt is kept; the result's
    "attempts" says how many there were. Returns (result, cluster)."""
    attempts = []
    for _ in range(1 + retries):
        c = start_cluster()
        try:
            r = run(c)
        finally:
            (stop or (lambda x: x.stop()))(c)
        attempts.append((r, c))
        if not r.get("noisy"):
            break
        again = len(attempts) <= retries
        print(f"  (disturbed: other processes used {r['foreign_cpu_s']} CPU-s; "
              f"{'repeating' if again else 'keeping the least disturbed attempt'})", flush=True)
    r, c = min(attempts, key=lambda a: a[0].get("foreign_cpu_s") or 0)
    r["attempts"] = len(attempts)
    return r, c


def run_fanout(fleet, servers, urls, *, label, subs, sub_per_proc, messages, size, rate,
               window, topic, pubs=1, pub_procs=1, proto="spoke", encoding="json",
               timeout=60, edge_names=(), hub_names=(), corpus=None, topics=None,
               snapshot=None, sub_url_offset=0, sub_opts=None):
    """One message workload, in the loadgen's sequence: subscribers READY,
    publishers READY, subscribers WARM, go, every RESULT.

    `subs` subscriber connections (at most sub_per_proc per process) listen on
    `topic`, or on `topics` topics; pub_procs publisher processes with `pubs`
    connections each send `messages` each (at `rate` per second, or with
    `window` in flight when rate is 0), round-robin over their connections
    and the topics, and listen for their own echoes. Each generator spreads
    its connections round-robin over its urls; process i gets urls rotated by
    i (subscribers by i + sub_url_offset), so publishers alternate between
    the edges. snapshot, if given, is called at go and at the end and its two
    values are returned as "snapshots". sub_opts: more flags for the
    subscribers only (e.g. {"deflate": 1}). Returns the conditions and figures."""
    servers = dict(servers)
    deadline = timeout + 30
    sub_counts = split(subs, procs_for(subs, sub_per_proc))
    common = dict(topic=topic, topics=topics, corpus=corpus, timeout=timeout)
    # Subscriber process i takes the topics from base = the connections of the
    # processes before it, so with --topics K the connections cover the topics
    # evenly; its urls are rotated by i, so that when K is even each topic
    # still has subscribers on both edges.
    sub_procs, base = [], 0
    for i, n in enumerate(sub_counts):
        sub_procs.append(fleet.start(label, "sub", _rotate(urls, i + sub_url_offset), proto,
                                     encoding, conns=n, messages=messages * pub_procs,
                                     topic_base=base if topics else None, **common,
                                     **(sub_opts or {})))
        base += n
    try:
        fleet.wait(sub_procs, "READY", deadline, "subscribers connected",
                   servers=servers.values())
        pubs_ = [fleet.start(label, "pub", _rotate(urls, i), proto, encoding, conns=pubs,
                             messages=messages, size=size, rate=rate, window=window,
                             **common) for i in range(pub_procs)]
        fleet.wait(pubs_, "READY", deadline, "publishers connected",
                   servers=servers.values())
        fleet.wait(sub_procs, "WARM", deadline, "warm-up reached every subscriber",
                   servers=servers.values())
        snap0 = snapshot() if snapshot else None
        win = Window(servers, sub_procs + pubs_)
        go_ns = win.t0
        for p in pubs_:
            p.send("go")
        fleet.wait(sub_procs + pubs_, "RESULT", deadline + timeout, "results",
                   servers=servers.values())
        win.close()
        snap1 = snapshot() if snapshot else None
    finally:
        fleet.stop([p for p in fleet.procs if p.name.startswith(label + "-")])
    sub_res = [p.result for p in sub_procs]
    pub_res = [p.result for p in pubs_]
    expected = sum(r.get("expected", 0) for r in sub_res)
    received = sum(r.get("received", 0) for r in sub_res)
    seq_gaps = sum(r.get("seq_gaps", 0) for r in sub_res)
    last_ns = max((r.get("last_ns") or 0 for r in sub_res), default=0)
    first_ns = min((r.get("first_ns") or 0 for r in sub_res if r.get("first_ns")), default=0)
    # Deliveries per second over go → last delivery (both on CLOCK_MONOTONIC).
    span_s = (last_ns - go_ns) / 1e9 if last_ns > go_ns else win.wall_s
    edge_cpu = win.cpu(*edge_names)
    hub_cpu = win.cpu(*hub_names)
    server_cpu = edge_cpu + hub_cpu
    gen_cpu = win.gens_cpu()
    out = {
        "conditions": {"subscribers": subs, "sub_procs": len(sub_procs),
                       "pub_procs": pub_procs, "pub_conns_per_proc": pubs,
                       "messages_per_pub_proc": messages, "payload_bytes": size,
                       "rate_per_pub_proc": rate, "window": window if not rate else None,
                       "proto": proto, "encoding": encoding, "topics": topics or 1,
                       "corpus": corpus},
        "expected": expected, "received": received, "lost": expected - received,
        "seq_gaps": seq_gaps,
        "closed": sum(r.get("closed", 0) for r in sub_res),
        "timed_out": any(r.get("timed_out") for r in sub_res),
        "errors": sum(r.get("errors", 0) + r.get("proto_errors", 0) for r in sub_res + pub_res),
        "published": sum(r.get("sent", 0) for r in pub_res),
        "echoed": sum(r.get("echoed", 0) for r in pub_res),
        "publish_rate": sum(r.get("rate") or 0 for r in pub_res),
        "span_s": round(span_s, 3), "first_delivery_after_go_us":
            round((first_ns - go_ns) / 1000, 1) if first_ns > go_ns else None,
        "wall_s": round(win.wall_s, 3),
        "deliveries_per_s": per(received, span_s),
        "cpu_s": {"edges": round(edge_cpu, 3), "hub": round(hub_cpu, 3),
                  "generators": round(gen_cpu, 3), "per_process": {**win.server_cpu,
                                                                   **win.gen_cpu}},
        "deliveries_per_edge_cpu_s": per(received, edge_cpu),
        # Softirq time sampled outside every process (mostly loopback
        # delivery, see machine_cpu_seconds), all charged to the edges: a
        # lower bound.
        "irq_cpu_s": win.irq_cpu, "steal_s": win.steal,
        "deliveries_per_edge_cpu_s_with_irq": per(received, edge_cpu + win.irq_cpu),
        "deliveries_per_server_cpu_s": per(received, server_cpu),
        # Every server process counts here (Redis shards too, when there are).
        "machine_busy": round((sum(v or 0.0 for v in win.server_cpu.values()) + gen_cpu) /
                              (win.wall_s * (os.cpu_count() or 1)), 2) if win.wall_s else None,
        "generator_bound": gen_cpu > edge_cpu,
        "foreign_cpu_s": win.foreign_cpu, "noisy": win.noisy(),
        "latency": merge_latency(sub_res),
        # Where latency ends: "kernel_rx" (the kernel's receive timestamp on
        # the subscriber's socket) or "read" (when the generator read it).
        "latency_at": sorted({r.get("latency_at") or "read" for r in sub_res}),
        # With kernel_rx, the subscribers also time their reads; those come
        # without a histogram, so this is the worst process's figure.
        "read_latency_worst_proc": _read_latency(sub_res),
        "snapshots": [snap0, snap1] if snapshot else None,
        "sub_results": [{k: v for k, v in r.items() if k != "hist"} for r in sub_res],
        "pub_results": pub_res,
    }
    for k in ("deliveries_per_s", "deliveries_per_edge_cpu_s", "deliveries_per_server_cpu_s",
              "deliveries_per_edge_cpu_s_with_irq"):
        if out[k] is not None:
            out[k] = round(out[k])
    return out


def run_idle(fleet, servers, edge_urls, *, label, conns, per_proc, hold_s, proto="spoke",
             topic="idle", timeout=120, opts=None, subs=1, topics=1, own_topics=False,
             snapshot=None, marginal=False):
    """Opens conns connections, each subscribed to `subs` of `topics` topics
    named topic.<t> (one: topic itself), or with own_topics to a topic of its
    own (topic.<generator>.<j>), holds them hold_s seconds, and reads each
    server's RSS before the connections and once they are all up, and the
    edges' CPU while they sit idle. opts: more flags for the generators.
    snapshot, if given, is called once every connection is up and its value
    returned as "snapshot" (e.g. the servers' own subscription counts).
    marginal: the connections come in two waves, RSS read after each, and
    "marginal_bytes_per_conn" is what the second wave added per connection:
    the cost of one more, without what a process allocates once whatever
    the count (link buffers grown by the first burst, say)."""
    servers = dict(servers)
    edge_names = list(edge_urls)
    urls = list(edge_urls.values())
    rss0 = {n: p.rss() for n, p in servers.items()}
    counts = split(conns, max(2 if marginal else 1, procs_for(conns, per_proc)))
    # Each generator holds its connections for `duration` after its own
    # READY, which leaves IDLE_MARGIN_S for the others to get ready; the
    # harness measures its window of hold_s after the last READY.
    duration = hold_s + IDLE_MARGIN_S
    def shape(i, n):
        if own_topics:
            return {"topic": f"{topic}.{i}", "topics": n}
        return {"topic": topic, "topics": topics if topics > 1 else None}
    def start(i, n, hold):
        return fleet.start(label, "idle", urls, proto, "json", conns=n, duration=hold,
                           timeout=timeout, subs=None if subs == 1 else subs, **shape(i, n),
                           **(opts or {}))
    first = len(counts) // 2 if marginal else len(counts)
    # The first wave holds longer: its READY comes before the second starts.
    procs = [start(i, n, duration + IDLE_MARGIN_S) for i, n in enumerate(counts[:first])]
    rss_half = None
    try:
        if marginal:
            fleet.wait(procs, "READY", timeout, "idle connections open (first wave)",
                       servers=servers.values())
            rss_half = {n: p.rss() for n, p in servers.items()}
            procs += [start(first + i, n, duration) for i, n in enumerate(counts[first:])]
        t_ready = fleet.wait(procs, "READY", timeout, "idle connections open",
                             servers=servers.values())
        rss1 = {n: p.rss() for n, p in servers.items()}
        snap = snapshot() if snapshot else None
        win = Window(servers, procs)
        # Holding idle connections is the measurement itself, not a readiness
        # wait: sleep through the window, checking the processes on the way.
        end = time.monotonic() + hold_s
        while time.monotonic() < end:
            for s in servers.values():
                s.check_alive()
            time.sleep(min(0.25, max(0.0, end - time.monotonic())))
        win.close()
        rss2 = {n: p.rss() for n, p in servers.items()}
        early = [p.name for p in procs if "RESULT" in p.events]
        setup_s = (t_ready - min(p.started_ns for p in procs)) / 1e9
        alive = None
        results = []
        try:
            fleet.wait(procs, "RESULT", duration + 30, "idle results")
            results = [p.result for p in procs]
            alive = sum(r.get("alive", 0) for r in results)
        except BenchError:
            pass
    finally:
        fleet.stop([p for p in fleet.procs if p.name.startswith(label + "-")])
    per_edge = {}
    for n in edge_names:
        # Each generator spreads its connections round-robin over urls, so an
        # edge holds conns times its share of the urls.
        share = conns * urls.count(edge_urls[n]) / len(urls)
        delta = None if rss1[n] is None or rss0[n] is None else rss1[n] - rss0[n]
        per_edge[n] = {"conns": round(share), "rss_before": rss0[n], "rss_after": rss1[n],
                       "rss_end": rss2[n], "rss_delta": delta,
                       "bytes_per_conn": round(delta / share) if delta is not None and share
                       else None,
                       "cpu_s": win.server_cpu.get(n),
                       "cpu_pct": round(100 * (win.server_cpu.get(n) or 0) / win.wall_s, 2)}
    others = [n for n in servers if n not in edge_names]
    deltas = [rss1[n] - rss0[n] for n in servers if rss1[n] is not None and rss0[n] is not None]
    marginal_out = None
    if rss_half is not None:
        second = sum(counts[first:])
        added = {n: rss1[n] - rss_half[n] for n in servers
                 if rss1[n] is not None and rss_half[n] is not None}
        marginal_out = {"conns": second, "rss_added": added,
                        "bytes_per_conn": round(sum(added.values()) / second),
                        # hub(s) alone: what the second wave added, per connection
                        "others_bytes_per_conn": round(sum(v for n, v in added.items()
                                                           if n in others) / second),
                        "edges_bytes_per_conn": round(sum(v for n, v in added.items()
                                                          if n in edge_names) / second)}
    return {
        "conditions": {"conns": conns, "gen_procs": len(procs), "hold_s": hold_s,
                       "proto": proto, "subs": subs,
                       "topics": "own" if own_topics else topics},
        "alive": alive, "setup_s": round(setup_s, 2),
        # Generators that ended inside the window (it then saw closes too).
        "ended_early": early,
        "edges": per_edge,
        "bytes_per_conn": _mean([e["bytes_per_conn"] for e in per_edge.values()]),
        # Every server process counted (hub too): what compare-nats.sh compares.
        "server_rss_delta": sum(deltas),
        "server_bytes_per_conn": round(sum(deltas) / conns) if conns else None,
        "rss": {n: {"before": rss0[n], "after": rss1[n], "end": rss2[n]} for n in servers},
        "edge_cpu_pct": round(sum(e["cpu_pct"] for e in per_edge.values()), 2),
        "other_cpu_s": {n: win.server_cpu.get(n) for n in others},
        "gen_cpu_s": round(win.gens_cpu(), 3),
        "foreign_cpu_s": win.foreign_cpu, "noisy": win.noisy(), "irq_cpu_s": win.irq_cpu,
        "results": results,
        "snapshot": snap,
        "marginal": marginal_out,
    }


def _read_latency(results):
    out = {}
    for key in ("p50", "p99", "max"):
        vals = [r.get(f"read_{key}_ns") for r in results if r.get(f"read_{key}_ns") is not None]
        out[f"{key}_us"] = round(max(vals) / 1000, 1) if vals else None
    return out


def fmt_latency(r):
    """The readable latency part of a message workload's line."""
    lat, rd = r["latency"], r.get("read_latency_worst_proc") or {}
    text = (f"latency ({'/'.join(r.get('latency_at') or ['?'])}) p50 {fmt_us(lat['p50_us'])} "
            f"p90 {fmt_us(lat['p90_us'])} p99 {fmt_us(lat['p99_us'])} "
            f"p99.9 {fmt_us(lat['p999_us'])} max {fmt_us(lat['max_us'])}")
    if rd.get("p50_us") is not None:
        text += (f"; to the generator's read p50 {fmt_us(rd['p50_us'])} "
                 f"p99 {fmt_us(rd['p99_us'])} max {fmt_us(rd['max_us'])}")
    return text


def _mean(xs):
    xs = [x for x in xs if x is not None]
    return round(sum(xs) / len(xs)) if xs else None


# ---- a spoke cluster: hubs (one by default), two edges, Redis shards if asked

class SpokeCluster:
    """spoke-hub(s) and edges (edge-a, edge-b) on loopback port 0, each edge
    with `workers` workers, their ports read from their ready files. Ready
    when every hub's /readyz says its engine can be reached, each hub's
    /healthz counts the links of the edge workers that link to it, and every
    edge's ready file says it accepts clients.

    hubs: how many hubs; one is named "hub", several "hub0", "hub1", …
    Edge i links to hub i mod hubs (edges here take one --hub address).
    hub_args: extra arguments every hub gets (e.g. --engine memory).
    redis_shards: with N > 0 the cluster first starts N redis-servers
    ("redis0", …; RedisServer: a unix socket each, nothing persisted) and
    every hub gets --engine redis --redis SOCK0[,SOCK1…], so that all the
    hubs share them. They are servers like the others (CPU, liveness) and
    are stopped last."""

    def __init__(self, bin_dir, workdir, workers=1, edge_args=(), edges=("edge-a", "edge-b"),
                 tag="spoke", certs=None, hub_config=None, hubs=1, hub_args=(), redis_shards=0):
        self.bin_dir, self.workdir = Path(bin_dir), Path(workdir)
        # hub_config: the text of an INI file for the hub (-c), or None.
        self.hub_config = hub_config
        self.workers, self.edge_args, self.tag = workers, list(edge_args), tag
        self.edge_names = list(edges)
        self.hub_names = ["hub"] if hubs == 1 else [f"hub{i}" for i in range(hubs)]
        self.hub_args = list(hub_args)
        self.redis_names = [f"redis{i}" for i in range(redis_shards)]
        # The hub each edge links to.
        self.edge_hub = {e: self.hub_names[i % hubs] for i, e in enumerate(self.edge_names)}
        # certs: a deploy/gen-certs.sh directory; the edges then also serve
        # wss, and edge_urls are the wss ones.
        self.certs = Path(certs) if certs else None
        self.tls_ports = {}
        self.redis = {}
        self.hubs = {}
        self.hub_link_ports, self.hub_http_ports = {}, {}
        self.hub = None
        self.edges = {}
        self.edge_ports = {}
        self.admin_ports = {}
        self.hub_port = self.http_port = None  # the first hub's

    def start(self):
        try:
            for name in self.redis_names:
                self.redis[name] = RedisServer(name, self.workdir / f"{self.tag}-{name}")
            for r in self.redis.values():
                r.wait_ready()
            for name in self.hub_names:
                self._start_hub(name)
            for name in self.hub_names:
                port = self.hub_http_ports[name]
                wait_for(lambda: _readyz_ok(port), START_TIMEOUT_S,
                         f"{name}'s engine to be ready (/readyz)", procs=self.procs())
            for name in self.edge_names:
                self._start_edge(name)
            for name in self.edge_names:
                self._wait_edge(name)
            for hub in self.hub_names:
                want = self.workers * sum(1 for e in self.edge_names if self.edge_hub[e] == hub)
                port = self.hub_http_ports[hub]
                wait_for(lambda: http_json(port, "/healthz").get("links") == want,
                         START_TIMEOUT_S, f"{want} edge links on {hub}", procs=self.procs())
        except BaseException:
            self.stop()
            raise
        return self

    @property
    def engine_args(self):
        if not self.redis:
            return []
        return ["--engine", "redis", "--redis", ",".join(r.sock for r in self.redis.values())]

    def _start_hub(self, name):
        ready = self.workdir / f"{self.tag}-{name}.ready.json"
        argv = [str(self.bin_dir / "spoke-hub"), "--listen", f"{HOST}:0", "--http", f"{HOST}:0",
                "--name", name, "--ready-file", str(ready), "--log-level", "warn", *self.hub_args,
                *self.engine_args]
        if self.hub_config is not None:
            conf = self.workdir / f"{self.tag}-hub.ini"
            conf.write_text(self.hub_config)
            argv += ["-c", str(conf)]
        proc = Proc(name, argv, self.workdir / f"{self.tag}-{name}.log")
        self.hubs[name] = proc
        if self.hub is None:
            self.hub = proc
        doc = wait_for(lambda: read_json_file(ready), START_TIMEOUT_S, f"{name}'s ready file",
                       procs=[proc])
        self.hub_link_ports[name], self.hub_http_ports[name] = doc["link"], doc["http"]
        if self.hub_port is None:
            self.hub_port, self.http_port = doc["link"], doc["http"]

    def _start_edge(self, name):
        ready = self.workdir / f"{self.tag}-{name}.ready.json"
        hub_port = self.hub_link_ports[self.edge_hub[name]]
        argv = [str(self.bin_dir / "spoke-edge"), "--name", name, "--listen", f"{HOST}:0",
                "--hub", f"{HOST}:{hub_port}", "--workers", str(self.workers),
                # The harness stops edges with SIGTERM: close any client at once.
                "--drain-period", "0",
                "--admin", f"{HOST}:0", "--ready-file", str(ready),
                "--log-level", "warn", *self.edge_args]
        if self.certs:
            argv += ["--tls-listen", f"{HOST}:0",
                     "--tls-cert", str(self.certs / "client-facing.pem"),
                     "--tls-key", str(self.certs / "client-facing.key")]
        self.edges[name] = Proc(name, argv, self.workdir / f"{self.tag}-{name}.log")
        self.edges[name].ready_path = ready

    def _wait_edge(self, name):
        """Until the edge's ready file says every worker accepts clients."""
        proc = self.edges[name]
        doc = wait_for(lambda: (read_json_file(proc.ready_path) or {}).get("accepting") and
                       read_json_file(proc.ready_path), START_TIMEOUT_S,
                       f"{name} to accept connections", procs=[proc])
        self.edge_ports[name] = doc["ws"]
        self.admin_ports[name] = doc.get("admin")
        if self.certs:
            self.tls_ports[name] = doc["wss"]

    def procs(self):
        return [p for p in [*self.redis.values(), *self.hubs.values(), *self.edges.values()]
                if p is not None]

    @property
    def servers(self):
        """name → Proc for every server process (Redis shards, hubs, edges)."""
        return {**self.redis, **self.hubs, **self.edges}

    @property
    def edge_urls(self):
        if self.certs:
            return {n: f"wss://{HOST}:{self.tls_ports[n]}/ws" for n in self.edge_names}
        return {n: f"ws://{HOST}:{self.edge_ports[n]}/ws" for n in self.edge_names}

    @property
    def urls(self):
        return list(self.edge_urls.values())

    def links(self, hub=None):
        """The open links of one hub (/api/links), or of every hub (each link
        then says which in "hub")."""
        out = []
        for name in [hub] if hub else self.hub_names:
            for link in http_json(self.hub_http_ports[name], "/api/links")["links"]:
                out.append(dict(link, hub=name))
        return out

    def drain(self, edge, period_s):
        """Drains edge through its hub's API (POST /api/edges/NAME/drain):
        it stops accepting, closes its clients with 1001 over period_s
        (0: the edge's own drain_period, 0 here) and exits 0."""
        return http_json(self.hub_http_ports[self.edge_hub[edge]], f"/api/edges/{edge}/drain",
                         body={"period": period_s})

    def hub_metrics(self, hub=None):
        return prometheus(self.hub_http_ports[hub or self.hub_names[0]])

    def edge_metrics(self, name):
        return prometheus(self.admin_ports[name])

    LINK_KEYS = ("publishes_in", "messages_out", "raw_in", "wire_in", "raw_out", "wire_out")

    def link_totals(self):
        """Sums of the hubs' per-link counters over all links."""
        links = self.links()
        return {k: sum(link.get(k, 0) for link in links) for k in self.LINK_KEYS}

    def link_counters(self):
        """The hubs' per-link counters summed per edge name, per hub name
        (with several hubs), plus "all"."""
        names = self.edge_names + (self.hub_names if len(self.hub_names) > 1 else []) + ["all"]
        out = {n: dict.fromkeys(self.LINK_KEYS, 0) for n in names}
        for link in self.links():
            for k in self.LINK_KEYS:
                out[link["edge"]][k] += link.get(k, 0)
                if len(self.hub_names) > 1:
                    out[link["hub"]][k] += link.get(k, 0)
                out["all"][k] += link.get(k, 0)
        return out

    def stop(self):
        """Stops the edges, then the hubs, then Redis. Returns {name: exit status}."""
        status = {}
        for name, p in [*self.edges.items(), *self.hubs.items(), *self.redis.items()]:
            if p is not None:
                status[name] = p.stop()
        return status


def _readyz_ok(port):
    """True once a hub's /readyz answers 200 (its engine's store is reachable)."""
    try:
        return http_json(port, "/readyz").get("status") == "ok"
    except urllib.error.HTTPError as e:
        if e.code == 503:
            return False
        raise
