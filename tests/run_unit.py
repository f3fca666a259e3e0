#!/usr/bin/python3
"""Runs every cmocka unit test binary under a directory and counts the results.

Usage: tests/run_unit.py DIR   (DIR is a build dir holding tests/, or that tests/ dir)

Prints one line per binary and `N passed, N failed` last; exits non-zero if
anything failed or no test ran. A binary that crashes or times out before
cmocka prints its summary, exits 0 without one, or runs no test counts as
one failure.
"""
import os
import re
import subprocess
import sys
from pathlib import Path

TIMEOUT_S = 120
SUMMARY_RE = re.compile(r"^\[=+\] (\d+) test\(s\) run\.", re.M)  # cmocka's last words
PASSED_RE = re.compile(r"^\[  PASSED  \] (\d+) test", re.M)
FAILED_RE = re.compile(r"^\[  FAILED  \] (\d+) test", re.M)

CHILD_ENV = {
    "ASAN_OPTIONS": "detect_leaks=1:abort_on_error=0",
    "UBSAN_OPTIONS": "print_stacktrace=1:halt_on_error=1",
}


def find_binaries(dir_):
    """Executable files under DIR/tests (or DIR itself when it has no tests/)."""
    root = Path(dir_)
    if (root / "tests").is_dir():
        root = root / "tests"
    if not root.is_dir():
        return []
    return sorted(p for p in root.rglob("test_*")
                  if p.is_file() and os.access(p, os.X_OK) and p.suffix == "")


def run_binary(path):
    """Runs one binary; returns (passed, failed, output)."""
    env = dict(os.environ, **CHILD_ENV)
    try:
        r = subprocess.run([str(path)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           env=env, timeout=TIMEOUT_S)
        out, rc = r.stdout.decode(errors="replace"), r.returncode
    except subprocess.TimeoutExpired as e:
        out = (e.stdout or b"").decode(errors="replace") + f"\n(timed out after {TIMEOUT_S}s)"
        rc = None
    if rc is not None and rc < 0:
        out += f"\n(killed by signal {-rc})"
    passed = sum(int(n) for n in PASSED_RE.findall(out))
    failed = sum(int(n) for n in FAILED_RE.findall(out))
    ran = [int(n) for n in SUMMARY_RE.findall(out)]
    if rc == 0 and not ran:
        out += "\n(exited 0 without cmocka's summary line)"
    elif rc == 0 and not sum(ran):
        out += "\n(ran no test)"
    if failed == 0 and (rc != 0 or not sum(ran)):
        failed = 1  # crashed, timed out, a sanitizer changed the status, or no test ran
    return passed, failed, out


def run_all_binaries(dir_, verbose=True):
    """Returns (passed, failed) over every unit binary under dir_; no binary
    at all is one failure."""
    total_p = total_f = 0
    binaries = find_binaries(dir_)
    if not binaries:
        print(f"  no unit test binary under {dir_}")
        return 0, 1
    for path in binaries:
        p, f, out = run_binary(path)
        total_p += p
        total_f += f
        if verbose:
            print(f"  {path.name}: {p} passed, {f} failed")
            if f:
                print("\n".join("    " + line for line in out.rstrip().splitlines()[-40:]))
    return total_p, total_f


def main(argv):
    if len(argv) != 2:
        print("usage: run_unit.py DIR", file=sys.stderr)
        return 2
    passed, failed = run_all_binaries(argv[1])
    print(f"{passed} passed, {failed} failed")
    return 1 if failed or passed == 0 else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
