"""Fixtures that run real spoke-hub and spoke-edge processes on loopback,
every listener on port 0 and its port read from the process's ready file; log
each process to the test's temp dir, wait for readiness by polling, bound
every test by a timeout, and stop everything afterwards, failing the test on
sanitizer reports or an unclean exit."""
import json
import os
import re
import shutil
import signal
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
import helpers  # noqa: E402
from helpers import (HOST, Abort, PortHold, close_all, http_get, http_request,  # noqa: E402
                     parse_conn, scaled, wait_for)
from linkpeer import close_all_peers  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
CHILD_ENV = {
    "ASAN_OPTIONS": "detect_leaks=1:abort_on_error=0",
    "UBSAN_OPTIONS": "print_stacktrace=1:halt_on_error=1",
}
SANITIZER_MARKS = ("ERROR: AddressSanitizer", "runtime error:", "ERROR: LeakSanitizer")
STOP_TIMEOUT_S = 10   # these two are scaled where used, as every timeout (helpers.scaled)
START_TIMEOUT_S = 10
# Every test's own deadline (pytest-timeout, signal method so that teardown
# still stops the processes); a test needing more says so with
# @pytest.mark.timeout(scaled(SECONDS), func_only=True).
TEST_TIMEOUT_S = 90


def in_ci():
    """True under CI (CI=true, as .ci/run sets): a missing tool is then a failure."""
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


def require_tool(found, what):
    """Skips the test when a tool it needs is missing, except under CI, where
    `make deps` installs every tool a test needs: there it fails."""
    if found:
        return
    if in_ci():
        pytest.fail(f"{what} is missing under CI: `make deps` should have installed it",
                    pytrace=False)
    pytest.skip(f"{what} is missing (`make deps` installs it)")


def pytest_configure(config):
    if not config.pluginmanager.hasplugin("timeout"):
        raise pytest.UsageError("python3-pytest-timeout is missing: run `make deps`")


# Modules whose every test runs twice: with python3-websockets' default
# permessage-deflate offer (negotiated: the edge compresses what it sends,
# websockets what it sends) and with compression=None (plain frames).
BOTH_COMPRESSIONS = {"test_pubsub", "test_limits", "test_hostile_payloads", "test_direct"}


def pytest_generate_tests(metafunc):
    if metafunc.module.__name__ in BOTH_COMPRESSIONS:
        metafunc.parametrize("client_compression", ["deflate", "plain"], indirect=True)


@pytest.fixture(autouse=True)
def client_compression(request):
    """For BOTH_COMPRESSIONS: "deflate" or "plain", what helpers.connect then
    offers and checks the edge answered (helpers.CLIENT_COMPRESSION)."""
    helpers.CLIENT_COMPRESSION = getattr(request, "param", None)
    yield helpers.CLIENT_COMPRESSION
    helpers.CLIENT_COMPRESSION = None


def pytest_collection_modifyitems(items):
    for item in items:
        if item.get_closest_marker("timeout") is None:
            item.add_marker(pytest.mark.timeout(scaled(TEST_TIMEOUT_S), method="signal",
                                                func_only=True))


def read_ready_file(path):
    """The decoded ready file at path, or None while there is none (it is
    replaced atomically: never half written) or no path."""
    if path is None:
        return None
    try:
        return json.loads(Path(path).read_text())
    except FileNotFoundError:
        return None


def bin_dir():
    return Path(os.environ.get("SPOKE_BIN_DIR", REPO / "build" / "asan"))


def binary(name):
    path = bin_dir() / name
    if not os.access(path, os.X_OK):
        pytest.fail(f"{path} is missing: run `make asan` or set SPOKE_BIN_DIR")
    return str(path)


def tail(text, n=40):
    return "\n".join(text.rstrip().splitlines()[-n:])


class Proc:
    """One child process whose stdout and stderr go to a log file, started
    with --ready-file ready_path among its argv if it has one."""

    def __init__(self, name, argv, log_path, ready_path=None):
        self.name, self.argv, self.log_path = name, argv, Path(log_path)
        self.ready_path = ready_path
        self.exit_expected = False  # SIGKILLed by the test, or it exits by design
        with open(self.log_path, "ab") as log:
            self.p = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT,
                                      stdin=subprocess.DEVNULL, env=dict(os.environ, **CHILD_ENV))

    def alive(self):
        return self.p.poll() is None

    def log(self):
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def assert_alive(self):
        """Raises Abort (ends any wait_for at once) if the process has exited."""
        if not self.alive():
            raise Abort(f"{self.name} exited with {self.p.returncode}:\n{tail(self.log())}")

    def ready_file(self):
        """The process's ready file, decoded (None while it has written none)."""
        return read_ready_file(self.ready_path)

    def wait_ready_file(self, timeout=START_TIMEOUT_S):
        """Waits until the process has written its ready file; returns it."""
        return wait_for(lambda: self.assert_alive() or self.ready_file(), timeout,
                        f"{self.name}'s ready file {self.ready_path}")

    def signal(self, sig):
        self.assert_alive()
        self.p.send_signal(sig)

    def kill(self):
        self.exit_expected = True
        self.p.kill()
        self.p.wait(scaled(STOP_TIMEOUT_S))

    def stop(self):
        """SIGTERM, wait, SIGKILL fallback. Returns a list of problems found."""
        problems = []
        if self.alive():
            self.p.send_signal(signal.SIGTERM)
            try:
                rc = self.p.wait(scaled(STOP_TIMEOUT_S))
                if rc != 0:
                    problems.append(f"{self.name} exited with {rc} on SIGTERM")
            except subprocess.TimeoutExpired:
                self.p.kill()
                self.p.wait()
                problems.append(f"{self.name} ignored SIGTERM for {scaled(STOP_TIMEOUT_S):g}s "
                                "(SIGKILLed)")
        elif not self.exit_expected:
            problems.append(f"{self.name} exited on its own with {self.p.returncode}")
        text = self.log()
        marks = [m for m in SANITIZER_MARKS if m in text]
        if marks:
            problems.append(f"{self.name} log has a sanitizer report ({', '.join(marks)})")
        if marks:  # show the report itself, which may be far from the end
            start = min(text.index(m) for m in marks)
            report = "\n".join(text[text.rfind("\n", 0, start) + 1:].splitlines()[:80])
            problems[-1] += f"\n--- {self.log_path} (sanitizer report) ---\n{report}"
        elif problems:
            problems[-1] += f"\n--- {self.log_path} (tail) ---\n{tail(text)}"
        return problems


class Cluster:
    """One hub (or several) and a set of edges (edge-a, edge-b by default),
    every listener on port 0: each process reports the ports it got in its
    ready file (--ready-file, docs/operations.md), which is where hub_port,
    http_port, edge_ports, wss_ports and edge_admin_port() come from.

    The hub owns the policy: hub_args are extra hub flags (--idle-timeout 1),
    and hub_config, if given, is the text of an INI file passed with -c (its
    [policy] and [edge.NAME] sections; rewrite it with write_hub_config and
    apply it with reload_hub). A hub started again (after kill_hub, or first
    started after the edges) listens on the ports the edges know: they are
    held by a PortHold while no hub has them.

    Several hubs (hubs=N, for failover): hub i (0 to N-1) is a spoke-hub of
    its own named hub-i (own engine, own policy), its link address
    hub_addr(i) on hub_hosts[i] (default HOST; another IPv4 loopback address
    such as 127.0.0.2 works too) and its ports in hub_ports[i] and
    http_ports[i]; hub_port and http_port are hub 0's. start_hub(i),
    kill_hub(i) and reload_hub(i) act on one hub (0 by default), hub_proc(i)
    is its current process, and hub_args may be a function of i. Every edge
    gets --hub with every hub's address in order (start_edge(name,
    hubs=[...]) gives another list). hub_links(), links_of(), link_of() and
    wait_links() look at every hub that runs (hub_links(i): hub i only);
    policy() and put_policy() at hub 0. With one hub all of this is the
    single hub, as before.

    Edge flags: edge_args go to every edge, or, if callable, edge_args(name)
    gives each edge's list; edge_extra = {name: [...]} adds flags for one
    edge (e.g. its own link certificate). With wss=True every edge also gets
    --tls-listen on port 0 (see wss_url); the test passes --tls-cert and
    --tls-key."""

    def __init__(self, workdir, edge_args=(), workers=2, edges=("edge-a", "edge-b"),
                 hub_args=(), hub_config=None, edge_extra=None, wss=False, hubs=1,
                 hub_hosts=None):
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.edge_args = edge_args if callable(edge_args) else list(edge_args)
        self.edge_extra = {name: list(args) for name, args in (edge_extra or {}).items()}
        unknown = set(self.edge_extra) - set(edges)
        assert not unknown, f"edge_extra names edges that are not started: {unknown}"
        self.workers = workers
        self.wss = wss
        self.hub_args = hub_args if callable(hub_args) else list(hub_args)
        assert hubs >= 1 and (hub_hosts is None or len(hub_hosts) == hubs), (hubs, hub_hosts)
        self.hub_hosts = list(hub_hosts) if hub_hosts else [HOST] * hubs
        self.hub_config_path = None
        if hub_config is not None:
            self.hub_config_path = self.workdir / "hub.ini"
            self.write_hub_config(hub_config)
        self.names = list(edges)  # every edge this cluster runs, in start order
        # Per hub: its ports, known once its first process has reported them,
        # and its current process.
        self.hub_ports, self.http_ports = [None] * hubs, [None] * hubs
        self.hub_procs = [None] * hubs
        self.edge_ports, self.wss_ports, self.admin_ports = {}, {}, {}  # name -> port
        self.holds = {}   # hub index -> PortHolds keeping its ports while it does not run
        self.hubs = []    # every hub process started, the latest one last
        self.edges = {}   # name -> Proc
        self.retired = []  # edge processes replaced by a start_edge of the same name

    # hub 0's ports, as with a single hub
    @property
    def hub_port(self):
        return self.hub_ports[0]

    @property
    def http_port(self):
        return self.http_ports[0]

    def hub_addr(self, i=0):
        """hub i's link address as the edges' --hub takes it."""
        host = self.hub_hosts[i]
        return f"[{host}]:{self.hub_ports[i]}" if ":" in host else f"{host}:{self.hub_ports[i]}"

    def hub_proc(self, i=0):
        """hub i's current process (None before its first start)."""
        return self.hub_procs[i]

    # ---- lifecycle
    def start(self, hub=True, wait=True):
        """Starts the hubs, then the edges, and waits until all serve clients.

        With hub=False only the edges start, linking to ports held for the
        hubs (they have no policy yet, so they refuse clients); start_hub()
        later, then wait_ready(). With wait=False nothing waits for the edges
        (for edges that must not link: the test waits with wait_edge_ready for
        those that should)."""
        for i in range(len(self.hub_ports)):
            if hub:
                self.start_hub(i)
            else:
                self.holds[i] = [PortHold(host=self.hub_hosts[i])]
                self.hub_ports[i] = self.holds[i][0].port
        for name in list(self.names):
            self.start_edge(name)
        if hub and wait:
            self.wait_ready()
        return self

    def wait_ready(self):
        for name in self.names:
            self.wait_edge_ready(name)
        self.wait_links(len(self.names) * self.workers)

    def start_hub(self, i=0):
        """Starts hub i and waits for its ready file. Its first process gets
        any free ports; later ones (and a hub started after its edges) the
        ports the edges were given."""
        n = len(self.hubs) + 1
        stem = f"hub-{n}" if len(self.hub_ports) == 1 else f"hub{i}-{n}"
        ready = self.workdir / f"{stem}.ready.json"
        args = self.hub_args(i) if callable(self.hub_args) else self.hub_args
        name = [] if len(self.hub_ports) == 1 else ["--name", f"hub-{i}"]
        argv = [binary("spoke-hub"), "--listen", f"{self.hub_hosts[i]}:{self.hub_ports[i] or 0}",
                "--http", f"{HOST}:{self.http_ports[i] or 0}", "--ready-file", str(ready),
                "--heartbeat-ms", "500", "--log-level", "debug", *name, *args]
        if self.hub_config_path:
            argv += ["-c", str(self.hub_config_path)]
        label = f"hub#{n}" if len(self.hub_ports) == 1 else f"hub{i}#{n}"
        hub = Proc(label, argv, self.workdir / f"{stem}.log", ready)
        self.hubs.append(hub)
        self.hub_procs[i] = hub
        doc = hub.wait_ready_file()
        self.hub_ports[i], self.http_ports[i] = doc["link"], doc["http"]
        self._release_holds(i)  # the hub holds its ports itself now
        return hub

    def kill_hub(self, i=0):
        """SIGKILL hub i (no clean shutdown, as in a crash); its ports stay
        held for the next start_hub(i)."""
        self.hub_procs[i].kill()
        self.holds[i] = [PortHold(self.hub_ports[i], self.hub_hosts[i]),
                         PortHold(self.http_ports[i])]

    def _release_holds(self, i=None):
        for j in list(self.holds) if i is None else [i]:
            for hold in self.holds.pop(j, []):
                hold.release()

    def write_hub_config(self, text):
        """Rewrites the hub's INI file (takes effect on reload_hub or a restart)."""
        assert self.hub_config_path, "this cluster's hub was started without hub_config"
        self.hub_config_path.write_text(text)

    def reload_hub(self, i=0):
        """SIGHUP: hub i re-reads [policy] and [edge.*] from its file."""
        self.hub_procs[i].signal(signal.SIGHUP)

    def args_for(self, name):
        """The test's extra flags for edge `name` (edge_args, then edge_extra)."""
        common = self.edge_args(name) if callable(self.edge_args) else self.edge_args
        return [*common, *self.edge_extra.get(name, [])]

    def start_edge(self, name, hubs=None):
        """Starts edge `name` (one more edge if the cluster has none of that
        name) and waits until it has bound its ports (see wait_edge_ready for
        serving). hubs: the HOST:PORT list for its --hub (default: every
        hub's hub_addr, in order)."""
        assert all(self.hub_ports), "the hubs' link ports are not known yet"
        hub_list = ",".join(hubs or [self.hub_addr(i) for i in range(len(self.hub_ports))])
        if name not in self.names:
            self.names.append(name)
        n = len([p for p in self.retired if p.name == name]) + (name in self.edges)
        stem = name if n == 0 else f"{name}-{n}"
        ready = self.workdir / f"{stem}.ready.json"
        argv = [binary("spoke-edge"), "--name", name, "--region", "test",
                "--listen", f"{HOST}:0", "--hub", hub_list,
                "--admin", f"{HOST}:0", "--ready-file", str(ready),
                "--workers", str(self.workers), "--heartbeat-ms", "500",
                "--reconnect-min-ms", "50", "--reconnect-max-ms", "500",
                "--drain-period", "0.2",  # teardown sends SIGTERM: drain quickly
                "--log-level", "debug"]
        if self.wss:
            argv += ["--tls-listen", f"{HOST}:0"]
        argv += self.args_for(name)
        if name in self.edges:  # replaced: kept for the log checks at the end
            self.retired.append(self.edges[name])
        proc = self.edges[name] = Proc(name, argv, self.workdir / f"{stem}.log", ready)
        doc = proc.wait_ready_file()
        self.edge_ports[name], self.admin_ports[name] = doc["ws"], doc["admin"]
        if doc["wss"] is not None:
            self.wss_ports[name] = doc["wss"]
        return proc

    def wait_edge_ready(self, name, timeout=START_TIMEOUT_S):
        """Ready for clients when every worker of the edge listens (its ready
        file says "accepting": true, which needs the hub's policy) and the hub
        lists a link from each. This opens no connection, so it works when
        clients need a token or connections are counted."""
        proc = self.edges[name]

        def ready():
            doc = proc.ready_file()
            return (doc is not None and doc["accepting"]
                    and len(self.links_of(name)) == self.workers)
        return wait_for(lambda: proc.assert_alive() or ready(), timeout,
                        f"{name}'s {self.workers} workers linked and accepting clients")

    def stop(self):
        problems = []
        for proc in list(self.edges.values()) + self.retired + self.hubs:
            problems += proc.stop()
        self._release_holds()
        return problems

    # ---- addresses and logs
    def url(self, name):
        return f"ws://{HOST}:{self.edge_ports[name]}/ws"

    def wss_url(self, name, host=HOST):
        """wss://HOST:PORT/ws of edge `name` (started with wss=True)."""
        return f"wss://{host}:{self.wss_ports[name]}/ws"

    def edge_ready(self, name):
        """(status, decoded body) of edge `name`'s admin /readyz."""
        status, body = http_get(self.edge_admin_port(name), "/readyz")
        return status, json.loads(body)

    @property
    def url_a(self):
        return self.url("edge-a")

    @property
    def url_b(self):
        return self.url("edge-b")

    def edge_log(self, name):
        return self.edges[name].log()

    def edge_admin_port(self, name):
        """The port edge `name` serves /healthz, /readyz, /metrics on (from its ready file)."""
        return self.admin_ports[name]

    # ---- hub admin API
    def hub_links(self, i=None):
        """/api/links of hub i, or of every hub that runs (hub 0 if none does)."""
        if i is None:
            running = [j for j, p in enumerate(self.hub_procs) if p is not None and p.alive()]
            return [lk for j in running or [0] for lk in self.hub_links(j)]
        status, body = http_get(self.http_ports[i], "/api/links")
        assert status == 200, f"/api/links answered {status}: {body[:200]!r}"
        return json.loads(body)["links"]

    def links_of(self, edge, i=None):
        """edge's links at hub i, or at every hub that runs."""
        return [link for link in self.hub_links(i) if link["edge"] == edge]

    def wait_links(self, n, timeout=START_TIMEOUT_S):
        def linked():
            for proc in self.edges.values():
                proc.assert_alive()
            return len(self.hub_links()) == n
        try:
            wait_for(linked, timeout, f"{n} links at the hub")
        except AssertionError as e:
            raise AssertionError(f"{e}; links now: {self._links_or_error()}") from None

    def link_of(self, conn):
        """The hub's /api/links entry for the link of conn's edge worker, or None."""
        edge, worker = parse_conn(conn)
        return next((lk for lk in self.hub_links()
                     if lk["edge"] == edge and lk["worker"] == worker), None)

    def wait_interest(self, conn, topics=1, timeout=5.0):
        """Waits until the hub shows >= topics topics on the link of conn's worker."""
        def shown():
            link = self.link_of(conn)
            return link is not None and link["topics"] >= topics
        try:
            wait_for(shown, timeout, f"hub interest for {conn}")
        except AssertionError as e:
            raise AssertionError(f"{e}; links now: {self._links_or_error()}") from None

    async def await_interest(self, conn, topics=1, timeout=5.0):
        import asyncio
        await asyncio.to_thread(self.wait_interest, conn, topics, timeout)

    def policy(self, edge=None):
        """GET /api/policy (the base policy), or ?edge=NAME (that edge's effective one)."""
        path = "/api/policy" + (f"?edge={edge}" if edge is not None else "")
        status, body = http_get(self.http_port, path)
        assert status == 200, f"{path} answered {status}: {body[:200]!r}"
        return json.loads(body)

    def put_policy(self, changes):
        """PUT /api/policy with changes (a dict, or raw bytes); returns (status, decoded answer)."""
        body = changes if isinstance(changes, bytes) else json.dumps(changes).encode()
        status, answer = http_request(self.http_port, "PUT", "/api/policy", body)
        return status, json.loads(answer)

    def _links_or_error(self):
        try:
            return json.dumps(self.hub_links())
        except Exception as e:  # noqa: BLE001
            return repr(e)


@pytest.fixture
def make_cluster(tmp_path):
    """Factory: make_cluster(edge_args=[...] or name -> [...], hub_args=[...] or i -> [...],
    hub_config="...", workers=2, edges=(...), start_hub=True, edge_extra={name: [...]},
    wss=False, wait=True, hubs=1, hub_hosts=None) -> a started Cluster (see Cluster)."""
    clusters = []

    def make(edge_args=(), workers=2, edges=("edge-a", "edge-b"), hub_args=(), hub_config=None,
             start_hub=True, edge_extra=None, wss=False, wait=True, hubs=1, hub_hosts=None):
        c = Cluster(tmp_path / f"cluster{len(clusters)}", edge_args, workers, edges, hub_args,
                    hub_config, edge_extra, wss, hubs, hub_hosts)
        clusters.append(c)  # before start(): a half-started cluster is still stopped
        return c.start(hub=start_hub, wait=wait)
    yield make
    import asyncio
    asyncio.run(close_all())  # clients left open by a sync test or a failed run()
    close_all_peers()
    problems = []
    for c in clusters:
        problems += c.stop()
    if problems:
        pytest.fail("\n".join(problems), pytrace=False)


@pytest.fixture
def cluster(make_cluster):
    """A started hub + edge-a + edge-b (2 workers each), all 4 links up."""
    return make_cluster()


# ---- certificates and processes that are expected to refuse to start

@pytest.fixture(scope="session")
def dev_certs(tmp_path_factory):
    """Two unrelated development CAs made once per session by deploy/gen-certs.sh
    (for edges edge-a, edge-b, edge-c): .ca1 and .ca2 are their directories
    (ca.pem, hub.pem/.key, edge-NAME.pem/.key, client-facing.pem/.key)."""
    require_tool(shutil.which("openssl") and shutil.which("bash"),
                 "bash or openssl (for deploy/gen-certs.sh)")
    root = tmp_path_factory.mktemp("certs")
    dirs = {}
    for tag in ("ca1", "ca2"):
        dirs[tag] = root / tag
        r = subprocess.run(["bash", str(REPO / "deploy" / "gen-certs.sh"), str(dirs[tag]),
                            "edge-a", "edge-b", "edge-c"],
                           capture_output=True, text=True, timeout=scaled(60))
        assert r.returncode == 0, f"gen-certs.sh failed ({r.returncode}):\n{r.stdout}{r.stderr}"
    return SimpleNamespace(**dirs)


class Launch:
    """A hub or edge started on its own, stdout and stderr kept apart, for
    tests of settings it must refuse (exit 2 at startup) or accept. It gets
    --ready-file NAME.ready.json in workdir, unless argv has a --ready-file
    or ready_file names the file the process was told of otherwise (an INI
    file)."""

    def __init__(self, name, argv, workdir, ready_file=None):
        if "--ready-file" in argv:
            self.ready_path = Path(argv[argv.index("--ready-file") + 1])
        elif ready_file is not None:
            self.ready_path = Path(ready_file)
        else:
            self.ready_path = Path(workdir) / f"{name}.ready.json"
            argv = [*argv, "--ready-file", str(self.ready_path)]
        self.name, self.argv = name, argv
        self.out_path = Path(workdir) / f"{name}.stdout"
        self.err_path = Path(workdir) / f"{name}.stderr"
        with open(self.out_path, "wb") as out, open(self.err_path, "wb") as err:
            self.p = subprocess.Popen(argv, stdout=out, stderr=err, stdin=subprocess.DEVNULL,
                                      env=dict(os.environ, **CHILD_ENV))

    def stderr(self):
        return self.err_path.read_text(errors="replace")

    def output(self):
        return self.out_path.read_text(errors="replace") + self.stderr()

    def ready_file(self):
        """The process's ready file, decoded (None while it has written none)."""
        return read_ready_file(self.ready_path)

    def wait_ready_file(self, pred=lambda doc: True, timeout=START_TIMEOUT_S):
        """Waits until the ready file is there and pred(its contents) holds;
        returns the contents. Fails at once if the process exits."""
        def ready():
            if self.p.poll() is not None:
                raise Abort(f"{self.name} exited with {self.p.returncode}:\n{self.output()}")
            doc = self.ready_file()
            return doc if doc is not None and pred(doc) else None
        return wait_for(ready, timeout, f"{self.name}'s ready file {self.ready_path}")

    def outcome(self, started_re=None, timeout=START_TIMEOUT_S):
        """Waits until the process exits ("exited") or has started ("started":
        it wrote its ready file, or its output matches started_re if given),
        whichever comes first."""
        def settled():
            if self.p.poll() is not None:
                return "exited"
            if self.ready_file() is not None:
                return "started"
            return "started" if started_re and re.search(started_re, self.output()) else None
        return wait_for(settled, timeout, f"{self.name} to exit or to start")

    def stop(self):
        """SIGTERM (SIGKILL after STOP_TIMEOUT_S); returns a list of problems."""
        problems = []
        if self.p.poll() is None:
            self.p.send_signal(signal.SIGTERM)
            try:
                self.p.wait(scaled(STOP_TIMEOUT_S))
            except subprocess.TimeoutExpired:
                self.p.kill()
                self.p.wait()
                problems.append(f"{self.name} ignored SIGTERM (SIGKILLed)")
        text = self.output()
        marks = [m for m in SANITIZER_MARKS if m in text]
        if marks:
            problems.append(f"{self.name} has a sanitizer report ({', '.join(marks)}):\n"
                            f"{tail(text, 80)}")
        return problems


# Lines a hub or edge logs only once its settings were accepted (outcome()
# needs none: the ready file says so).
HUB_STARTED_RE = r"admin HTTP on |spoke-hub \S+ started"
EDGE_STARTED_RE = r"admin HTTP on |spoke-edge \S+: .* serving ws://"


@pytest.fixture
def launch(tmp_path):
    """Factory: launch("spoke-hub" or "spoke-edge", [flags], name=None,
    ready_file=None) -> a running Launch (see Launch). Every process is
    stopped at teardown and checked for sanitizer reports."""
    procs = []

    def start(binary_name, args, name=None, ready_file=None):
        name = name or f"{binary_name}-{len(procs) + 1}"
        proc = Launch(name, [binary(binary_name), *args], tmp_path, ready_file)
        procs.append(proc)
        return proc
    yield start
    problems = []
    for proc in procs:
        problems += proc.stop()
    if problems:
        pytest.fail("\n".join(problems), pytrace=False)


# ---- Redis (the hub's redis engine): real redis-server processes on unix
# sockets in the test's temp dir, no TCP port, nothing persisted.

REDIS_SERVER = "/usr/bin/redis-server"


class RedisServer:
    """One redis-server on a unix socket (path: .sock); restart() brings it
    back on the same socket, empty unless keep=True (then from its RDB)."""

    def __init__(self, workdir, name, args=(), auth=None):
        self.dir = Path(workdir) / name
        self.dir.mkdir(parents=True, exist_ok=True)
        self.sock = str(self.dir / "redis.sock")
        self.name, self.proc, self.n = name, None, 0
        # args: more redis-server flags (e.g. --aclfile); auth: (user,
        # password) that command() authenticates with first.
        self.args, self.auth = list(args), auth

    def start(self, keep=False):
        if not keep:
            for f in self.dir.glob("*.rdb"):
                f.unlink()
        self.n += 1
        log = open(self.dir / f"redis-{self.n}.log", "wb")
        self.proc = subprocess.Popen(
            [REDIS_SERVER, "--port", "0", "--unixsocket", self.sock, "--unixsocketperm", "700",
             "--dir", str(self.dir), "--dbfilename", "dump.rdb", "--save", "",
             "--appendonly", "no", "--daemonize", "no", "--loglevel", "warning", *self.args],
            stdout=log, stderr=subprocess.STDOUT)
        wait_for(self.ping, START_TIMEOUT_S, f"redis-server {self.name} on {self.sock}")
        return self

    def ping(self):
        assert self.proc.poll() is None, f"redis-server {self.name} exited {self.proc.returncode}"
        return self.command("PING") == "+PONG"

    def command(self, *args, auth=True):
        """One command in RESP over the socket (after AUTH with self.auth,
        unless auth=False); the first line of its reply (tests read simple
        answers only)."""
        import socket

        def resp(cmd):
            return f"*{len(cmd)}\r\n" + "".join(f"${len(str(a))}\r\n{a}\r\n" for a in cmd)
        cmds = [("AUTH", *self.auth)] if auth and self.auth else []
        cmds.append(args)
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            s.settimeout(scaled(2))
            s.connect(self.sock)
            s.sendall("".join(resp(c) for c in cmds).encode())
            data = b""
            while data.count(b"\r\n") < len(cmds):
                chunk = s.recv(65536)
                if not chunk:
                    break
                data += chunk
            lines = data.split(b"\r\n")
            return lines[len(cmds) - 1].decode() if len(lines) >= len(cmds) else None
        except OSError:
            return None
        finally:
            s.close()

    def save(self):
        assert self.command("SAVE") == "+OK"

    def kill(self):
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(scaled(STOP_TIMEOUT_S))
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def restart(self, keep=False):
        if keep:
            self.save()
        self.kill()
        return self.start(keep=keep)


@pytest.fixture
def redis(tmp_path):
    """Factory: redis(name="r0", args=(), auth=None) -> a started RedisServer
    (its .sock for the hub's --redis; args: more redis-server flags; auth:
    (user, password) for its own commands). Every server is stopped after
    the test."""
    if not os.path.exists(REDIS_SERVER):
        if in_ci():
            pytest.fail("redis-server is missing: `make deps` installs it")
        pytest.skip("redis-server is not installed (make deps)")
    servers = []

    def make(name="r0", args=(), auth=None):
        r = RedisServer(tmp_path / "redis", name, args, auth)
        servers.append(r)
        return r.start()
    yield make
    for r in servers:
        r.stop()
