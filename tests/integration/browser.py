"""Headless Chromium for the browser tests (docs/LIBRARIES §15): one browser
per test module, one window per page session (a window of its own has its
own sessionStorage), screenshots of every open window when a test fails,
and nginx from deploy/nginx in front of the edges, proxying every path.
Used as a pytest plugin (`pytest_plugins = ["browser"]`) for its hook."""
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest

from helpers import HOST, PortHold, http_get, scaled, wait_for

REPO = Path(__file__).resolve().parents[2]
SHOTS = REPO / "build" / "browser-screenshots"
CHROMEDRIVER = "/usr/bin/chromedriver"
NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
CHROME_FLAGS = (
    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
    "--window-size=1280,860",
    # Every window is a session under test, not a background tab: keep their
    # timers and renderers at full speed.
    "--disable-background-timer-throttling", "--disable-backgrounding-occluded-windows",
    "--disable-renderer-backgrounding",
)


@pytest.hookimpl(hookwrapper=True, tryfirst=True)
def pytest_runtest_makereport(item, call):
    """Keeps each phase's report on the item (item.rep_call...), so that a
    fixture's teardown knows whether its test failed."""
    outcome = yield
    report = outcome.get_result()
    setattr(item, f"rep_{report.when}", report)


def start_chromium():
    """A headless Chromium through chromedriver. `make deps` installs both, so
    a missing one fails the test (a skip would hide it)."""
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        pytest.fail("python3-selenium is missing: run `make deps`", pytrace=False)
    if not os.access(CHROMEDRIVER, os.X_OK):
        pytest.fail(f"{CHROMEDRIVER} is missing: `make deps` installs chromium-driver",
                    pytrace=False)
    options = webdriver.ChromeOptions()
    for flag in CHROME_FLAGS:
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    return webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)


class Page:
    """One window of the browser, holding one page: every call switches to
    it first, so several pages can be driven in turn."""

    def __init__(self, browser, label):
        self.browser, self.driver, self.label = browser, browser.driver, label
        self.driver.switch_to.new_window("window")
        self.handle = self.driver.current_window_handle

    def use(self):
        # Switched to every time: asking which window is current fails once
        # that window has been closed.
        self.driver.switch_to.window(self.handle)
        return self.driver

    def open(self, url):
        self.use().get(url)
        return self

    def js(self, script, *args):
        return self.use().execute_script(script, *args)

    def el(self, css):
        from selenium.webdriver.common.by import By
        return self.use().find_element(By.CSS_SELECTOR, css)

    def text(self, css):
        return self.js("const e = document.querySelector(arguments[0]); return e && e.textContent;",
                       css)

    def data(self, css, key):
        return self.js("const e = document.querySelector(arguments[0]);"
                       "return e ? e.dataset[arguments[1]] ?? null : null;", css, key)

    def console(self):
        """The page's console messages so far (for failure reports)."""
        try:
            return [f"{e['level']} {e['message']}" for e in self.use().get_log("browser")]
        except Exception:  # noqa: BLE001 - not every driver keeps logs
            return []

    def screenshot(self, path):
        path.parent.mkdir(parents=True, exist_ok=True)
        self.use().save_screenshot(str(path))
        return path

    def close(self):
        if self.handle in self.driver.window_handles:
            self.use().close()


class Browser:
    """The module's Chromium. pages() is a per-test factory of windows."""

    def __init__(self):
        started = time.monotonic()
        self.driver = start_chromium()
        self.start_s = time.monotonic() - started
        # The first window is blank and kept: the driver ends when its last closes.
        self.home = self.driver.current_window_handle

    def quit(self):
        self.driver.quit()


@pytest.fixture(scope="module")
def browser():
    b = Browser()
    try:
        yield b
    finally:
        b.quit()


@pytest.fixture
def pages(browser, request):
    """Factory: pages(label) -> a new Page (window). At teardown every window
    of the test is screenshotted to build/browser-screenshots/TEST-LABEL.png
    if the test failed, its console printed, and then closed."""
    made = []

    def make(label):
        page = Page(browser, label)
        made.append(page)
        return page
    yield make
    report = getattr(request.node, "rep_call", None)
    failed = report is None or report.failed
    for page in made:
        try:
            if failed:
                shot = page.screenshot(SHOTS / f"{request.node.name}-{page.label}.png")
                print(f"--- {page.label}: screenshot {shot}; console:\n" + "\n".join(page.console()))
        finally:
            page.close()
    browser.driver.switch_to.window(browser.home)


# ---- nginx in front of the edges (the config of deploy/nginx, rendered for loopback)

class Nginx:
    def __init__(self, workdir, edge_ports):
        if not os.access(NGINX, os.X_OK):
            pytest.fail("nginx is missing: `make deps` installs it", pytrace=False)
        # nginx cannot report a port 0 back, so the port is held (bound, never
        # listening) until nginx, which sets SO_REUSEADDR too, listens beside it.
        self.hold = PortHold()
        self.port = self.hold.port
        self.work = Path(workdir)
        subprocess.run(["/usr/bin/python3", str(REPO / "deploy/nginx/render_local.py"),
                        "--workdir", str(self.work), str(self.port), *map(str, edge_ports)],
                       check=True)
        self.proc = subprocess.Popen([NGINX, "-p", str(self.work), "-c", str(self.work / "nginx.conf")],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
        try:
            # Any answer will do: what / answers is the edges' business.
            wait_for(lambda: self.proc.poll() is None and http_get(self.port, "/edges.json")[0],
                     10, "nginx to answer")
        finally:
            self.hold.release()

    def url(self, path="/"):
        return f"http://{HOST}:{self.port}{path}"

    def stop(self):
        self.hold.release()
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGQUIT)  # graceful: closes the proxied WebSockets
            try:
                self.proc.wait(scaled(10))
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        log = self.work / "error.log"
        err = log.read_text() if log.exists() else ""
        return [f"nginx logged:\n{err}"] if "[emerg]" in err or "[crit]" in err else []

