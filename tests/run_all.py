#!/usr/bin/python3
"""Runs the unit test binaries, the JavaScript client's unit tests, the
integration suite, the load generators' tests and the fuzz smoke against one
build dir.

Usage: tests/run_all.py --bin-dir DIR

Prints one line per suite and `N passed, N failed[, N skipped]` alone on the
last line; exits non-zero if anything failed, a suite ran no test, or, under
CI (CI=true), anything was skipped: `make deps` installs every tool a test
needs, so there a skip means an install step is missing.
"""
import argparse
import os
import re
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import run_unit  # noqa: E402

PYTHON = "/usr/bin/python3"  # the only interpreter that sees pytest, websockets and msgpack
PYTEST_NO_TESTS = 5  # pytest's exit status when it collected nothing


def in_ci():
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


def count_junit(path):
    """Returns (passed, failed, skipped) from a pytest junit XML file.

    pytest writes a second <testcase> for a test whose teardown fails, so
    results are counted per unique test: failed if any entry failed or
    errored, else skipped if skipped, else passed.
    """
    root = ET.parse(path).getroot()
    status = {}
    for tc in root.iter("testcase"):
        key = (tc.get("classname"), tc.get("name"))
        tags = {child.tag for child in tc}
        if tags & {"failure", "error"}:
            status[key] = "failed"
        elif "skipped" in tags and status.get(key) != "failed":
            status[key] = "skipped"
        else:
            status.setdefault(key, "passed")
    values = list(status.values())
    return values.count("passed"), values.count("failed"), values.count("skipped")


def run_pytest(bin_dir, suite, folder):
    """Runs pytest over tests/<folder> against bin_dir (SPOKE_BIN_DIR for the
    integration suite, BIN_DIR for the load generators' tests in bench/);
    returns (passed, failed, skipped)."""
    junit = bin_dir / f"{suite}-junit.xml"
    if junit.exists():
        junit.unlink()
    env = dict(os.environ, SPOKE_BIN_DIR=str(bin_dir), BIN_DIR=str(bin_dir))
    cmd = [PYTHON, "-m", "pytest", "-q", "-p", "no:cacheprovider",
           f"--junitxml={junit}", str(HERE / folder)]
    rc = subprocess.run(cmd, env=env, cwd=HERE.parent).returncode
    if not junit.exists():
        print(f"pytest exited {rc} without writing {junit}")
        return 0, 1, 0
    passed, failed, skipped = count_junit(junit)
    if rc == PYTEST_NO_TESTS or passed + failed + skipped == 0:
        print(f"{suite}: pytest collected no test")
        failed = max(failed, 1)
    elif rc not in (0, 1) and failed == 0:  # pytest itself broke
        failed = 1
    return passed, failed, skipped


def count_tap(text):
    """Returns (passed, failed, skipped) from the summary of `node --test`'s
    TAP output (`# pass N`, `# fail N`, `# cancelled N`, `# skipped N`, `# todo N`);
    a cancelled test (a file that did not load, a timeout) counts as failed."""
    def total(key):
        found = re.findall(rf"^# {key} (\d+)$", text, re.MULTILINE)
        return int(found[-1]) if found else 0
    return (total("pass"), total("fail") + total("cancelled"),
            total("skipped") + total("todo"))


def run_js():
    """spoke.js's unit tests: `node --test tests/js/` (Node's own runner)."""
    node = shutil.which("node")
    if node is None:
        print("js: node is missing (`make deps` installs nodejs)")
        return 0, 1, 0
    proc = subprocess.run([node, "--test", "--test-reporter=tap", str(HERE / "js") + "/"],
                          cwd=HERE.parent, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          text=True, timeout=120)
    passed, failed, skipped = count_tap(proc.stdout)
    if failed or proc.returncode != 0:
        print(proc.stdout)  # the whole TAP: the failures' diagnostics are in it
    if passed + failed + skipped == 0:
        print("js: node --test ran no test")
        failed = 1
    elif proc.returncode != 0 and failed == 0:  # the runner itself broke
        failed = 1
    return passed, failed, skipped


def run_fuzz_smoke():
    """Replays each libFuzzer driver's corpus, then fuzzes it a few seconds:
    binaries in $SPOKE_FUZZ_DIR (unset: no smoke), $SPOKE_FUZZ_SECONDS each
    (default 3). tests/fuzz/run.sh prints `fuzz_NAME: ok, ...` for a clean
    driver: one pass; anything else, a missing binary too, one failure."""
    fuzz_dir = os.environ.get("SPOKE_FUZZ_DIR")
    if not fuzz_dir:
        return 0, 0
    names = sorted(p.stem[len("fuzz_"):] for p in (HERE / "fuzz").glob("fuzz_*.c"))
    secs = os.environ.get("SPOKE_FUZZ_SECONDS", "3")
    print(f"== fuzz smoke ({secs} s per driver)", flush=True)
    proc = subprocess.Popen(["sh", str(HERE / "fuzz" / "run.sh"), fuzz_dir, secs] + names,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    ok = set()
    for line in proc.stdout:
        print(line, end="", flush=True)
        ok.update(n for n in names if line.startswith(f"fuzz_{n}: ok,"))
    proc.wait()
    print(f"fuzz: {len(ok)} passed, {len(names) - len(ok)} failed")
    return len(ok), len(names) - len(ok)


def exit_status(passed, failed, skipped):
    """0 only if something passed, nothing failed and, under CI, nothing was skipped."""
    if skipped and in_ci():
        print(f"CI: {skipped} skipped test(s) count as failed: a tool `make deps` "
              "should install is missing")
        return 1
    return 1 if failed or passed == 0 else 0


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bin-dir", required=True, type=Path,
                    help="build dir holding spoke-hub, spoke-edge and tests/")
    bin_dir = ap.parse_args().bin_dir.resolve()

    print(f"== unit tests ({bin_dir / 'tests'})")
    u_pass, u_fail = run_unit.run_all_binaries(bin_dir)
    print(f"unit: {u_pass} passed, {u_fail} failed")

    print("== js tests (node --test tests/js/)", flush=True)
    j_pass, j_fail, j_skip = run_js()
    print(f"js: {j_pass} passed, {j_fail} failed, {j_skip} skipped")

    print("== integration tests")
    i_pass, i_fail, i_skip = run_pytest(bin_dir, "integration", "integration")
    print(f"integration: {i_pass} passed, {i_fail} failed, {i_skip} skipped")

    # spoke-loadgen, spoke-linkgen and spoke-sendfloor (built under the
    # sanitizers too) against stand-in servers and a real hub: what the
    # benchmarks rest on.
    print("== load generator tests (tests/bench/test_*.py)", flush=True)
    b_pass, b_fail, b_skip = run_pytest(bin_dir, "bench-tools", "bench")
    print(f"load generators: {b_pass} passed, {b_fail} failed, {b_skip} skipped")

    f_pass, f_fail = run_fuzz_smoke()
    passed = u_pass + j_pass + i_pass + b_pass + f_pass
    failed = u_fail + j_fail + i_fail + b_fail + f_fail
    skipped = j_skip + i_skip + b_skip
    status = exit_status(passed, failed, skipped)
    print(f"{passed} passed, {failed} failed" + (f", {skipped} skipped" if skipped else ""))
    return status


if __name__ == "__main__":
    sys.exit(main())
