"""spoke-sendfloor (the write floor behind the NATS comparison's p99
breakdown, docs/performance.md): one write per subscriber per message, or K
frames per write with --batch K (one iovec each, or copied together with
--gather 1), and its JSON accounts for every write.

Run with /usr/bin/python3 -m pytest tests/bench/test_sendfloor.py after
`make build/spoke-sendfloor` (BIN_DIR in the environment: another build
dir)."""
import json
import os
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SENDFLOOR = Path(os.environ.get("BIN_DIR", REPO / "build")) / "spoke-sendfloor"
SUBS, MESSAGES = 20, 30


def run(*args):
    p = subprocess.run([str(SENDFLOOR), "--subs", str(SUBS), "--messages", str(MESSAGES),
                        "--warmup", "5", "--rate", "0", *args],
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    return json.loads(p.stdout)


@pytest.mark.skipif(not SENDFLOOR.exists(), reason=f"{SENDFLOOR} not built")
@pytest.mark.parametrize("batch,gather", [(1, 0), (4, 0), (4, 1)])
def test_sendfloor_writes_to_every_subscriber_and_accounts_for_it(batch, gather):
    r = run("--batch", str(batch), "--gather", str(gather))
    assert (r["subs"], r["batch"], r["gather"], r["messages"]) == (SUBS, batch, gather, MESSAGES)
    assert r["sends"] == SUBS * MESSAGES
    assert r["per_send_cpu_ns"] > 0 and r["per_send_wall_ns"] > 0
    # Per frame: the write's CPU shared by the frames it carries.
    assert abs(r["per_frame_cpu_ns"] * batch - r["per_send_cpu_ns"]) <= max(1, 0.01 * r["per_send_cpu_ns"])
    assert 0 < r["span_p50_us"] <= r["span_p99_us"] <= r["span_max_us"]


@pytest.mark.skipif(not SENDFLOOR.exists(), reason=f"{SENDFLOOR} not built")
def test_sendfloor_refuses_a_bad_option():
    p = subprocess.run([str(SENDFLOOR), "--subs", "0"], capture_output=True, text=True,
                       timeout=10)
    assert p.returncode != 0 and p.stderr
