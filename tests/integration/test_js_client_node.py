"""spoke.js in Node against a real hub and two edges: publishes on edge-b
reach a subscriber on edge-a in seq order, a direct message crosses edges,
a kicked client resumes with `since` and misses nothing, a client given
both edges races them, and a position resumes on the other edge
(tests/js/node_scenario.mjs does the driving, over tests/js/node_ws.mjs)."""
import json
import shutil
import subprocess

from conftest import REPO, require_tool
from helpers import scaled

SCENARIO = REPO / "tests" / "js" / "node_scenario.mjs"


def test_node_client_publishes_subscribes_and_resumes_across_edges(cluster):
    node = shutil.which("node")
    require_tool(node, "node (`make deps` installs nodejs)")
    deadline_ms = int(scaled(10) * 1000)
    proc = subprocess.run(
        [node, str(SCENARIO), cluster.url_a, cluster.url_b, str(cluster.http_port)],
        cwd=REPO, capture_output=True, text=True, timeout=scaled(60),
        env={"PATH": "/usr/bin:/bin", "SPOKE_JS_DEADLINE_MS": str(deadline_ms)})
    assert proc.returncode == 0, f"node_scenario failed:\n{proc.stdout}\n{proc.stderr}"
    seen = json.loads(proc.stdout.strip().splitlines()[-1])
    assert seen["seqs"] == [1, 2, 3, 4, 5]
    assert seen["resumed"] == [4, 5]
    assert seen["token_calls"] == 2
    assert seen["race_winner"] in ("edge-a", "edge-b")
    assert all(isinstance(ms, int) and ms >= 0 for ms in seen["timed"].values())
