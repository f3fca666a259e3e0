"""Fixtures that run real spoke-hub and spoke-edge processes on free loopback
ports, log each process to the test's temp dir, wait for readiness by polling,
and stop everything afterwards, failing the test on sanitizer reports or an
unclean exit."""
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
from helpers import (HOST, Abort, close_all, free_port, http_get, http_request,  # noqa: E402
                     listening_sockets, parse_conn, scaled, wait_for)
from linkpeer import close_all_peers  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
CHILD_ENV = {
    "ASAN_OPTIONS": "detect_leaks=1:abort_on_error=0",
    "UBSAN_OPTIONS": "print_stacktrace=1:halt_on_error=1",
}
SANITIZER_MARKS = ("ERROR: AddressSanitizer", "runtime error:", "ERROR: LeakSanitizer")
STOP_TIMEOUT_S = 10   # these two are scaled where used, as every timeout (helpers.scaled)
START_TIMEOUT_S = 10
START_ATTEMPTS = 3  # a port found free can be taken before the child binds it
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


def pytest_collection_modifyitems(items):
    for item in items:
        if item.get_closest_marker("timeout") is None:
            item.add_marker(pytest.mark.timeout(scaled(TEST_TIMEOUT_S), method="signal",
                                                func_only=True))


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
    """One child process whose stdout and stderr go to a log file."""

    def __init__(self, name, argv, log_path):
        self.name, self.argv, self.log_path = name, argv, Path(log_path)
        self.exit_expected = False  # SIGKILLed by the test, or a start attempt given up
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

    def lost_port_race(self):
        return not self.alive() and "Address already in use" in self.log()

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
    """One hub and a set of edges (edge-a, edge-b by default) on free ports.

    The hub owns the policy: hub_args are extra hub flags (--idle-timeout 1),
    and hub_config, if given, is the text of an INI file passed with -c (its
    [policy] and [edge.NAME] sections; rewrite it with write_hub_config and
    apply it with reload_hub).

    Edge flags: edge_args go to every edge, or, if callable, edge_args(name)
    gives each edge's list; edge_extra = {name: [...]} adds flags for one
    edge (e.g. its own link certificate). With wss=True every edge also gets
    --tls-listen on a free port (see wss_url); the test passes --tls-cert and
    --tls-key."""

    def __init__(self, workdir, edge_args=(), workers=2, edges=("edge-a", "edge-b"),
                 hub_args=(), hub_config=None, edge_extra=None, wss=False):
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.edge_args = edge_args if callable(edge_args) else list(edge_args)
        self.edge_extra = {name: list(args) for name, args in (edge_extra or {}).items()}
        unknown = set(self.edge_extra) - set(edges)
        assert not unknown, f"edge_extra names edges that are not started: {unknown}"
        self.workers = workers
        self.hub_args = list(hub_args)
        self.hub_config_path = None
        if hub_config is not None:
            self.hub_config_path = self.workdir / "hub.ini"
            self.write_hub_config(hub_config)
        self.hub_port, self.http_port = free_port(), free_port()
        self.edge_ports = {name: free_port() for name in edges}
        self.wss_ports = {name: free_port() for name in edges} if wss else {}
        self.hubs = []    # every hub process started, the current one last
        self.edges = {}   # name -> Proc
        self.retired = []  # edge processes replaced after losing a port race

    # ---- lifecycle
    def start(self, hub=True, wait=True):
        """Starts the hub, then the edges, and waits until all serve clients.

        With hub=False only the edges start (they have no policy yet, so they
        refuse clients); start_hub() later, then wait_ready(). With
        wait=False nothing waits for the edges (for edges that must not link:
        the test waits with wait_edge_ready for those that should)."""
        if hub:
            self.start_hub(new_ports_on_race=True)
        for name in self.edge_ports:
            self.start_edge(name)
        if hub and wait:
            self.wait_ready()
        return self

    def wait_ready(self):
        for name in self.edge_ports:
            self.wait_edge_ready(name)
        self.wait_links(len(self.edge_ports) * self.workers)

    def start_hub(self, new_ports_on_race=False):
        """Starts a hub and waits for /healthz. Restarts reuse the same ports."""
        for attempt in range(START_ATTEMPTS):
            argv = [binary("spoke-hub"), "--listen", f"{HOST}:{self.hub_port}",
                    "--http", f"{HOST}:{self.http_port}", "--heartbeat-ms", "500",
                    "--log-level", "debug", *self.hub_args]
            if self.hub_config_path:
                argv += ["-c", str(self.hub_config_path)]
            n = len(self.hubs) + 1
            hub = Proc(f"hub#{n}", argv, self.workdir / f"hub-{n}.log")
            self.hubs.append(hub)

            def healthy():
                hub.assert_alive()
                status, body = http_get(self.http_port, "/healthz")
                return status == 200 and json.loads(body).get("status") == "ok"
            try:
                wait_for(healthy, START_TIMEOUT_S, f"{hub.name} /healthz")
                return hub
            except Abort:
                retry = new_ports_on_race and hub.lost_port_race()
                if not retry or attempt == START_ATTEMPTS - 1:
                    raise
                hub.exit_expected = True
                self.hub_port, self.http_port = free_port(), free_port()

    def kill_hub(self):
        """SIGKILL the current hub (no clean shutdown, as in a crash)."""
        self.hubs[-1].kill()

    def write_hub_config(self, text):
        """Rewrites the hub's INI file (takes effect on reload_hub or a restart)."""
        assert self.hub_config_path, "this cluster's hub was started without hub_config"
        self.hub_config_path.write_text(text)

    def reload_hub(self):
        """SIGHUP: the hub re-reads [policy] and [edge.*] from its file."""
        self.hubs[-1].signal(signal.SIGHUP)

    def args_for(self, name):
        """The test's extra flags for edge `name` (edge_args, then edge_extra)."""
        common = self.edge_args(name) if callable(self.edge_args) else self.edge_args
        return [*common, *self.edge_extra.get(name, [])]

    def start_edge(self, name):
        argv = [binary("spoke-edge"), "--name", name, "--region", "test",
                "--listen", f"{HOST}:{self.edge_ports[name]}", "--hub", f"{HOST}:{self.hub_port}",
                "--workers", str(self.workers), "--heartbeat-ms", "500",
                "--reconnect-min-ms", "50", "--reconnect-max-ms", "500",
                "--drain-period", "0.2",  # teardown sends SIGTERM: drain quickly
                "--admin", f"{HOST}:0",   # any free port; the edge logs it
                "--log-level", "debug"]
        if name in self.wss_ports:
            argv += ["--tls-listen", f"{HOST}:{self.wss_ports[name]}"]
        argv += self.args_for(name)
        if name in self.edges:  # an earlier attempt lost its port: keep it for the log checks
            self.retired.append(self.edges[name])
        n = len([p for p in self.retired if p.name == name])
        log = self.workdir / (f"{name}.log" if n == 0 else f"{name}-{n}.log")
        self.edges[name] = Proc(name, argv, log)

    def wait_edge_ready(self, name, timeout=START_TIMEOUT_S):
        """Ready for clients when the hub lists a link from every worker of
        the edge and every worker listens on the edge's ports (a worker calls
        listen() once the hub's policy has come). This opens no connection,
        so it works when clients need a token or connections are counted,
        whatever the link's transport; where /proc/net is not readable it
        falls back on the edge's /readyz, which lags by up to 250 ms."""
        for attempt in range(START_ATTEMPTS):
            proc = self.edges[name]
            ports = [self.edge_ports[name]]
            if name in self.wss_ports:
                ports.append(self.wss_ports[name])

            def ready():
                proc.assert_alive()
                if len(self.links_of(name)) != self.workers:
                    return False
                counts = [listening_sockets(port) for port in ports]
                if None in counts:
                    port = self._admin_port_in_log(name)
                    return port is not None and http_get(port, "/readyz")[0] == 200
                return all(n == self.workers for n in counts)
            try:
                return wait_for(ready, timeout, f"{name}'s {self.workers} workers linked "
                                f"and listening")
            except Abort:
                if not proc.lost_port_race() or attempt == START_ATTEMPTS - 1:
                    raise
                proc.exit_expected = True
                self.edge_ports[name] = free_port()
                if name in self.wss_ports:
                    self.wss_ports[name] = free_port()
                self.start_edge(name)

    def stop(self):
        problems = []
        for proc in list(self.edges.values()) + self.retired + self.hubs:
            problems += proc.stop()
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

    def _admin_port_in_log(self, name):
        m = re.search(r"admin HTTP on [0-9.]+:(\d+)", self.edge_log(name))
        return int(m.group(1)) if m else None

    def edge_admin_port(self, name):
        """The port edge `name` serves /healthz, /readyz, /metrics on (from its log)."""
        return wait_for(lambda: self._admin_port_in_log(name), START_TIMEOUT_S,
                        f"{name}'s admin port in its log")

    # ---- hub admin API
    def hub_links(self):
        status, body = http_get(self.http_port, "/api/links")
        assert status == 200, f"/api/links answered {status}: {body[:200]!r}"
        return json.loads(body)["links"]

    def links_of(self, edge):
        return [link for link in self.hub_links() if link["edge"] == edge]

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
    """Factory: make_cluster(edge_args=[...] or name -> [...], hub_args=[...], hub_config="...",
    workers=2, edges=(...), start_hub=True, edge_extra={name: [...]}, wss=False, wait=True)
    -> a started Cluster (see Cluster)."""
    clusters = []

    def make(edge_args=(), workers=2, edges=("edge-a", "edge-b"), hub_args=(), hub_config=None,
             start_hub=True, edge_extra=None, wss=False, wait=True):
        c = Cluster(tmp_path / f"cluster{len(clusters)}", edge_args, workers, edges, hub_args,
                    hub_config, edge_extra, wss)
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
    tests of settings it must refuse (exit 2 at startup) or accept."""

    def __init__(self, name, argv, workdir):
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

    def outcome(self, started_re, timeout=START_TIMEOUT_S):
        """Waits until the process exits ("exited") or its output matches
        started_re ("started"), whichever comes first."""
        def settled():
            if self.p.poll() is not None:
                return "exited"
            return "started" if re.search(started_re, self.output()) else None
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


# Lines a hub or edge logs only once its settings were accepted.
HUB_STARTED_RE = r"admin HTTP on |spoke-hub \S+ started"
EDGE_STARTED_RE = r"admin HTTP on |spoke-edge \S+: .* serving ws://"


@pytest.fixture
def launch(tmp_path):
    """Factory: launch("spoke-hub" or "spoke-edge", [flags]) -> a running Launch.
    Every process is stopped at teardown and checked for sanitizer reports."""
    procs = []

    def start(binary_name, args, name=None):
        name = name or f"{binary_name}-{len(procs) + 1}"
        proc = Launch(name, [binary(binary_name), *args], tmp_path)
        procs.append(proc)
        return proc
    yield start
    problems = []
    for proc in procs:
        problems += proc.stop()
    if problems:
        pytest.fail("\n".join(problems), pytrace=False)
