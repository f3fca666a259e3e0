"""spoke-linkgen (tests/bench/linkgen/, the hubcap workload's generator)
against a real spoke-hub: every receiving link counts every message,
the checking links see each topic's seq go up by one, and the hub's own
count of routed messages agrees. This includes a --window smaller than one
replayed frame, and a run whose last frame is partial.

Run with /usr/bin/python3 -m pytest tests/bench/test_linkgen.py after
`make all build/spoke-linkgen` (BIN_DIR in the environment: another build
dir)."""
import json
import os
import subprocess
import tempfile
import time
import urllib.request
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
BIN = Path(os.environ.get("BIN_DIR", REPO / "build"))
HUB, LINKGEN = BIN / "spoke-hub", BIN / "spoke-linkgen"


class Hub:
    """spoke-hub on loopback, ports 0, read back from its ready file."""

    def __init__(self):
        self.dir = tempfile.TemporaryDirectory()
        ready = Path(self.dir.name) / "ready.json"
        self.p = subprocess.Popen([str(HUB), "--listen", "127.0.0.1:0", "--http", "127.0.0.1:0",
                                   "--ready-file", str(ready), "--log-level", "warn"],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        deadline = time.monotonic() + 10
        while True:
            assert self.p.poll() is None, self.p.stderr.read()
            if ready.exists() and ready.read_text().strip():
                break
            assert time.monotonic() < deadline, "the hub wrote no ready file in 10 s"
            time.sleep(0.02)
        doc = json.loads(ready.read_text())
        self.link, self.http = doc["link"], doc["http"]

    def routed(self):
        """messages_out summed over the hub's links (/api/links)."""
        with urllib.request.urlopen(f"http://127.0.0.1:{self.http}/api/links", timeout=5) as r:
            links = json.load(r)
        links = links.get("links", links) if isinstance(links, dict) else links
        return sum(link.get("messages_out", 0) for link in links)

    def stop(self):
        self.p.terminate()
        try:
            self.p.wait(10)
        except subprocess.TimeoutExpired:
            self.p.kill()
            self.p.wait()
        self.dir.cleanup()


def run(hub, *args):
    """Runs linkgen to its RESULT; returns (RESULT, the hub's routed count
    read while linkgen's links are still open)."""
    p = subprocess.Popen([str(LINKGEN), "--hub", f"127.0.0.1:{hub.link}", "--timeout", "30",
                          *args], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)
    out, res, routed = [], None, None
    try:  # stdin stays open until the RESULT: EOF would abort the generator
        for line in p.stdout:
            out.append(line)
            if line.startswith("READY"):
                p.stdin.write("go\n")
                p.stdin.flush()
            elif line.startswith("RESULT "):
                res = json.loads(line[7:])
                routed = hub.routed()
                break
        p.stdin.close()
        p.wait(30)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    assert p.returncode == 0 and res, "".join(out) + p.stderr.read()
    return res, routed


@pytest.mark.skipif(not (HUB.exists() and LINKGEN.exists()),
                    reason=f"{HUB} or {LINKGEN} not built")
@pytest.mark.parametrize("args", [
    ("--rx-links", "2", "--topics", "50", "--messages", "20000", "--check-links", "2"),
    # A window far below one frame's messages, and a last frame cut short.
    ("--rx-links", "1", "--topics", "7", "--messages", "70001", "--window", "100"),
], ids=["two-links-checked", "small-window"])
def test_linkgen_counts_every_message_and_the_hub_agrees(args):
    hub = Hub()
    try:
        res, routed = run(hub, *args)
    finally:
        hub.stop()
    links, messages = int(args[1]), int(args[5])
    assert res["messages"] == messages and not res["timed_out"]
    assert res["expected"] == res["received"] == messages * links
    assert res["min_link"] == res["max_link"] == messages
    assert res["seq_gaps"] == 0 and res["checked_links"] >= 1
    assert routed == messages * links
