"""Both binaries answer --help with exit 0 and reject any bad flag with one line on stderr and exit 2."""
import os
import subprocess

import pytest

from conftest import CHILD_ENV, binary

BAD_ARGS = {
    "spoke-hub": [["--bogus"], ["--listen"], ["--listen", "nonsense"],
                  ["--heartbeat-ms", "abc"], ["--log-level", "loud"]],
    "spoke-edge": [["--bogus"], ["--workers"], ["--workers", "abc"], ["--workers", "0"],
                   ["--listen", "127.0.0.1:notaport"], ["--max-message-bytes", "-1"],
                   ["--hub", "127.0.0.1:99999"]],
}


def run_bin(name, args):
    return subprocess.run([binary(name), *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          env=dict(os.environ, **CHILD_ENV), timeout=10, stdin=subprocess.DEVNULL)


@pytest.mark.parametrize("name", ["spoke-hub", "spoke-edge"])
def test_help_exits_0(name):
    r = run_bin(name, ["--help"])
    assert r.returncode == 0, r.stderr.decode(errors="replace")
    assert (r.stdout + r.stderr).strip(), "--help printed nothing"


@pytest.mark.parametrize("name,args", [(n, a) for n, cases in BAD_ARGS.items() for a in cases])
def test_bad_flag_is_one_line_and_exit_2(name, args):
    r = run_bin(name, args)
    err = r.stderr.decode(errors="replace")
    assert r.returncode == 2, f"{args}: exit {r.returncode}\n{err}"
    assert len(err.strip().splitlines()) == 1, f"{args}: stderr is not one line:\n{err}"
