"""The demo page and the dashboard in a real browser (headless Chromium): two
page sessions chat across two edges through nginx; a page whose edge is
killed, or drained, reconnects through nginx to the other edge by itself and
shows every message published meanwhile, seq continuous and none twice; the
hub's dashboard lists the edges and its chart moves while a load runs."""
import asyncio
import json
import re
import threading

import pytest

pytest.register_assert_rewrite("browser")
from browser import SHOTS, Nginx  # noqa: E402
from helpers import HOST, http_request, run, scaled, wait_for  # noqa: E402

import websockets  # noqa: E402

pytest_plugins = ["browser"]

DRAIN_S = 1  # the edges' drain period: a drain is over quickly


@pytest.fixture
def cluster(make_cluster):
    """hub + edge-a + edge-b, serving the demo page."""
    return make_cluster(edge_args=["--demo", "--drain-period", str(DRAIN_S)], workers=1)


@pytest.fixture
def nginx(cluster, tmp_path):
    n = Nginx(tmp_path / "nginx", [cluster.edge_ports["edge-a"], cluster.edge_ports["edge-b"]])
    yield n
    problems = n.stop()
    assert not problems, problems


# ---- the demo page, as the tests read it (ids and data-* of edge/www/demo.html)

class Demo:
    def __init__(self, page):
        self.page = page

    def state(self):
        return self.page.data("#state", "state")

    def edge(self):
        return self.page.data("#edge", "edge") or None

    def wait_open(self, what, edge=None, timeout=10):
        """Waits until the page is open (on edge, if given); returns its edge."""
        def opened():
            e = self.edge()
            return self.state() == "open" and e and (edge is None or e == edge) and e
        return wait_for(opened, timeout, f"{self.page.label}: {what} (now {self.state()!r} "
                        f"on {self.edge()!r})")

    def messages(self):
        """[(seq, text)] as the page lists them, top to bottom."""
        return [tuple(m) for m in self.page.js(
            "return [...document.querySelectorAll('#messages li[data-seq]')]"
            ".map(li => [Number(li.dataset.seq), li.querySelector('.text').textContent]);")]

    def wait_messages(self, texts, timeout=10):
        """Waits until the page lists exactly texts, numbered one after the other."""
        def shown():
            got = self.messages()
            return [t for _, t in got] == list(texts) and got
        try:
            got = wait_for(shown, timeout, f"{self.page.label} to list {texts}")
        except AssertionError:
            raise AssertionError(f"{self.page.label} lists {self.messages()}, "
                                 f"want {list(texts)}") from None
        seqs = [s for s, _ in got]
        assert seqs == list(range(seqs[0], seqs[0] + len(seqs))), f"seq not continuous: {got}"
        return seqs

    def say(self, text):
        from selenium.webdriver.common.keys import Keys
        field = self.page.el("#text")
        field.send_keys(text + Keys.ENTER)  # the form's submit: what a person does

    def counter(self):
        return self.page.data("#counter", "seq")


def open_demo(pages, label, url):
    demo = Demo(pages(label).open(url))
    return demo


def two_sessions(pages, cluster, nginx):
    """Session a through nginx, on edge X; session b on the other edge Y
    (through nginx, whose least_conn sends it there while a holds X; straight
    from Y's port if not). Returns a, b, X, Y."""
    a = open_demo(pages, "a", nginx.url("/"))
    x = a.wait_open("open through nginx")
    y = next(n for n in ("edge-a", "edge-b") if n != x)
    b = open_demo(pages, "b", nginx.url("/"))
    if b.wait_open("open through nginx") != y:
        b.page.open(f"http://{HOST}:{cluster.edge_ports[y]}/")
        b.wait_open("open on the other edge's own port", edge=y)
    return a, b, x, y


def test_two_sessions_chat_across_edges(cluster, nginx, pages):
    a, b, x, y = two_sessions(pages, cluster, nginx)
    assert x != y and {x, y} == {"edge-a", "edge-b"}
    assert a.page.text("#edge") == x and b.page.text("#edge") == y

    a.say("hello from a")
    b.wait_messages(["hello from a"])
    b.say("hello from b")
    assert a.wait_messages(["hello from a", "hello from b"]) == [1, 2]
    assert b.wait_messages(["hello from a", "hello from b"]) == [1, 2]
    names = a.page.js("return [...document.querySelectorAll('#messages li')].map(li => li.dataset.name);")
    assert names == [a.page.el("#name").get_attribute("value"),
                     b.page.el("#name").get_attribute("value")], names

    # The counter is demo.counter's last seq: both pages agree.
    a.page.el("#plus-one").click()
    wait_for(lambda: a.counter() == "1" and b.counter() == "1", 10, "both counters at 1")
    b.page.el("#plus-one").click()
    wait_for(lambda: a.counter() == "2" and b.counter() == "2", 10, "both counters at 2")

    # A reload resumes from the position kept in sessionStorage: the old
    # messages stay, what came meanwhile follows.
    a.page.use().refresh()
    a.wait_open("open again after the reload")
    b.say("while a reloaded")
    a.wait_messages(["hello from a", "hello from b", "while a reloaded"])
    wait_for(lambda: a.counter() == "2", 10, "the counter after the reload")

    # A new session (its own sessionStorage) starts with the recent history.
    c = open_demo(pages, "c", nginx.url("/"))
    c.wait_open("open")
    assert c.wait_messages(["hello from a", "hello from b", "while a reloaded"]) == [1, 2, 3]
    wait_for(lambda: c.counter() == "2", 10, "the new session's counter")
    a.page.screenshot(SHOTS / "demo.png")


def lose_edge(cluster, nginx, pages, how):
    """a's edge X goes (how(X)); b, on Y, publishes meanwhile; a comes back
    on Y by itself and lists everything, seq continuous, none twice.
    Returns page a."""
    a, b, x, y = two_sessions(pages, cluster, nginx)
    a.say("before")
    b.wait_messages(["before"])
    how(x)
    during = [f"during {i}" for i in range(5)]
    for text in during:
        b.say(text)
    b.wait_messages(["before", *during])
    a.wait_open(f"back, on {y}", edge=y, timeout=15)
    assert a.wait_messages(["before", *during]) == list(range(1, 7))
    assert int(a.page.data("#reconnects", "count")) >= 1
    a.say("after")
    assert b.wait_messages(["before", *during, "after"])[-1] == 7
    return a


def test_page_moves_to_the_other_edge_when_its_edge_is_killed(cluster, nginx, pages):
    a = lose_edge(cluster, nginx, pages, lambda x: cluster.edges[x].kill())
    assert a.page.data("#last-close", "code") == "1006"  # lost, no close frame


def test_page_moves_to_the_other_edge_when_its_edge_drains(cluster, nginx, pages):
    def drain(x):
        cluster.edges[x].exit_expected = True  # a drained edge exits 0 by itself
        status, body = http_request(cluster.http_port, "POST", f"/api/edges/{x}/drain", b"{}")
        assert status == 202, (status, body)
    a = lose_edge(cluster, nginx, pages, drain)
    assert a.page.data("#last-close", "code") == "1001"
    assert a.page.text("#last-close") == "1001"


# ---- the dashboard

def path_points(d):
    """The (x, y) points of an SVG path made of M and L commands."""
    return [(float(px), float(py)) for px, py in re.findall(r"[ML](-?[\d.]+),(-?[\d.]+)", d or "")]


def test_dashboard_lists_the_edges_and_its_chart_moves_under_load(cluster, pages):
    dash = pages("dashboard").open(f"http://{HOST}:{cluster.http_port}/")
    wait_for(lambda: dash.js("return [...document.querySelectorAll('#edges-body tr[data-edge]')]"
                             ".map(tr => tr.dataset.edge);") == ["edge-a", "edge-b"],
             10, "the dashboard to list edge-a and edge-b")
    assert dash.text("#total-edges") == "2"
    assert "up" in dash.text('#edges-body tr[data-edge="edge-a"] .state')
    assert dash.js("return document.querySelector('#banner').hidden;"), dash.text("#banner")
    wait_for(lambda: len(path_points(dash.js("return document.querySelector('#line-in')"
                                             ".getAttribute('d');"))) >= 2,
             10, "the chart's first points")
    zero_y = max(y for _, y in path_points(dash.js(
        "return document.querySelector('#line-in').getAttribute('d');")))
    before = dash.js("return document.querySelector('#line-in').getAttribute('d');")

    # The load: 400 publishes through edge-b, paced over ~4 s, to a subscriber on edge-a.
    done = threading.Event()

    async def load():
        sub = await websockets.connect(cluster.url_a, open_timeout=scaled(5))
        pub = await websockets.connect(cluster.url_b, open_timeout=scaled(5))
        try:
            for ws in (sub, pub):
                assert json.loads(await asyncio.wait_for(ws.recv(), scaled(5)))["op"] == "welcome"
            await sub.send(json.dumps({"op": "sub", "topic": "load.t", "id": 1}))
            assert json.loads(await asyncio.wait_for(sub.recv(), scaled(5)))["op"] == "ack"
            for i in range(400):
                await pub.send(json.dumps({"op": "pub", "topic": "load.t", "data": i}))
                if i % 20 == 19:
                    await asyncio.sleep(0.2)  # pacing, so the rate lasts a few polls
            for _ in range(400):
                m = json.loads(await asyncio.wait_for(sub.recv(), scaled(5)))
                assert m["op"] == "msg", m
        finally:
            await sub.close()
            await pub.close()
    errors = []

    def runner():
        try:
            run(load())
        except BaseException as e:  # noqa: BLE001 - reported by the test's thread
            errors.append(e)
        finally:
            done.set()
    t = threading.Thread(target=runner, daemon=True)
    t.start()
    try:
        def moving():
            rin = float(dash.data("#total-in", "rate") or 0)
            rout = float(dash.data("#total-out", "rate") or 0)
            b_in = dash.text('#edges-body tr[data-edge="edge-b"] .rate-in')
            a_out = dash.text('#edges-body tr[data-edge="edge-a"] .rate-out')
            return rin > 0 and rout > 0 and b_in not in ("0", "–") and a_out not in ("0", "–")
        wait_for(moving, 10, "rates above 0 on the dashboard")
        d = dash.js("return document.querySelector('#line-in').getAttribute('d');")
        assert d != before
        assert min(y for _, y in path_points(d)) < zero_y, "the in line never left zero"
        dash.screenshot(SHOTS / "dashboard.png")
    finally:
        t.join(scaled(30))
    assert done.is_set() and not errors, errors


def test_dashboard_asks_for_the_token_then_drains_an_edge(make_cluster, pages):
    token = "browser-test-token"
    cluster = make_cluster(edge_args=["--demo", "--drain-period", str(DRAIN_S)], workers=1,
                           hub_args=["--admin-token", token], wait=False)
    for proc in cluster.edges.values():  # the cluster's own waits use /api/ without the token
        proc.wait_ready_file()
        wait_for(lambda p=proc: p.assert_alive() or p.ready_file()["accepting"], 10,
                 f"{proc.name} accepting clients")
    dash = pages("dashboard").open(f"http://{HOST}:{cluster.http_port}/")

    def banner():
        return dash.js("const b = document.querySelector('#banner'); return b.hidden ? '' : b.textContent;")
    wait_for(lambda: banner().startswith("Token needed"), 10, "the 'token needed' banner")
    assert not dash.js("return document.querySelectorAll('button.drain').length;")
    assert dash.js("return document.querySelector('#kick-form').hidden;")

    from selenium.webdriver.common.keys import Keys
    dash.el("#token").send_keys(token + Keys.ENTER)
    wait_for(lambda: dash.js("return [...document.querySelectorAll('#edges-body tr[data-edge]')]"
                             ".map(tr => tr.dataset.edge);") == ["edge-a", "edge-b"],
             10, "the edges, once the token is given")
    assert banner() == "", banner()
    assert not dash.js("return document.querySelector('#kick-form').hidden;")
    assert dash.js("return sessionStorage.getItem('spoke-dashboard:token');") == token

    # Kick: a demo page's connection, by the id it shows; the page comes back.
    demo = open_demo(pages, "demo", f"http://{HOST}:{cluster.edge_ports['edge-a']}/")
    demo.wait_open("open")
    conn = demo.page.text("#conn")
    dash.el("#kick-conn").send_keys(conn + Keys.ENTER)
    alert = dash.use().switch_to.alert
    assert conn in alert.text
    alert.accept()
    wait_for(lambda: demo.page.data("#last-close", "code") == "4001", 10,
             "the kicked page to show close code 4001")
    demo.wait_open("open again after the kick")
    assert demo.page.text("#conn") != conn

    # Drain asks first: dismissed, nothing happens; accepted, edge-b drains.
    edge_b = cluster.edges["edge-b"]
    dash.el('button.drain[data-edge="edge-b"]').click()
    dash.use().switch_to.alert.dismiss()
    assert edge_b.alive()
    edge_b.exit_expected = True  # a drained edge exits 0 by itself
    dash.el('button.drain[data-edge="edge-b"]').click()
    alert = dash.use().switch_to.alert
    assert "Drain edge edge-b?" in alert.text
    alert.accept()
    wait_for(lambda: banner().startswith("Drain edge-b:"), 10, "the drain's answer in the banner")
    assert '"status":"draining"' in banner(), banner()
    wait_for(lambda: edge_b.p.poll() is not None, DRAIN_S + 10, "edge-b to exit")
    assert edge_b.p.returncode == 0
    wait_for(lambda: dash.js("return [...document.querySelectorAll('#edges-body tr[data-edge]')]"
                             ".map(tr => tr.dataset.edge);") == ["edge-a"],
             10, "the dashboard to drop edge-b")


def test_chromium_negotiates_permessage_deflate_and_reads_compressed_frames(cluster, pages):
    """Chromium offers permessage-deflate; the edge accepts it and sends a
    large message compressed (RSV1), which the page's spoke.js gets intact."""
    from helpers import metric
    port = cluster.edge_admin_port("edge-a")
    page = pages("deflate").open(f"http://{HOST}:{cluster.edge_ports['edge-a']}/")
    page.js("""window.got = []; window.subReady = false;
        import('/spoke.js').then(m => {
          const s = new m.Spoke(`ws://${location.host}/ws`);
          s.subscribe('deflate.check', d => window.got.push(d)).ready
            .then(() => { window.subReady = true; });
        });""")
    wait_for(lambda: page.js("return window.subReady;"), 10, "the page's subscription")
    # The demo page's own client and this one: both negotiated it.
    wait_for(lambda: metric(port, "spoke_edge_deflate_clients") == 2, 5,
             "two deflate clients on edge-a")
    before = metric(port, "spoke_edge_deflate_compressed_total")
    text = " ".join(f"line {i} of a long chat message, with words that repeat" for i in range(60))
    status, answer = http_request(cluster.http_port, "POST", "/api/publish",
                                  json.dumps({"topic": "deflate.check",
                                              "data": {"text": text}}).encode())
    assert status == 200, answer
    wait_for(lambda: page.js("return window.got.length;") == 1, 10, "the message in the page")
    assert page.js("return window.got[0].data.text;") == text
    # It went compressed: the edge compressed it for its one subscriber here.
    wait_for(lambda: metric(port, "spoke_edge_deflate_compressed_total") == before + 1, 5,
             "the message compressed once")
