"""Both binaries answer --help with exit 0 and reject any bad flag (the edge any policy flag, which only the hub has) or bad hub policy file with one line on stderr and exit 2."""
import os
import subprocess

import pytest

from conftest import CHILD_ENV, binary
from helpers import scaled

BAD_ARGS = {
    "spoke-hub": [["--bogus"], ["--listen"], ["--listen", "nonsense"],
                  ["--heartbeat-ms", "abc"], ["--log-level", "loud"],
                  ["--max-message-bytes", "-1"], ["--idle-timeout", "-1"],
                  ["--ping-interval", "soon"], ["--rate-burst", "0"]],
    # The policy belongs to the hub: the edge has no such flags.
    "spoke-edge": [["--bogus"], ["--workers"], ["--workers", "abc"], ["--workers", "0"],
                   ["--listen", "127.0.0.1:notaport"], ["--hub", "127.0.0.1:99999"],
                   ["--max-message-bytes", "1024"], ["--idle-timeout", "30"],
                   ["--send-queue-bytes", "65536"], ["--handshake-timeout", "5"]],
}

# Hub INI files whose policy sections are refused at startup.
BAD_HUB_FILES = [
    "[policy]\nidle_timeout = -1\n",
    "[policy]\nidle_timeout = soon\n",
    "[policy]\nno_such_key = 1\n",
    "[edge.edge-b]\nno_such_key = 1\n",
    "[edge.edge-b]\nmax_message_bytes = 1\n",
    "[edge.bad name!]\nidle_timeout = 1\n",
    "[elsewhere]\nidle_timeout = 1\n",
]


def run_bin(name, args):
    return subprocess.run([binary(name), *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          env=dict(os.environ, **CHILD_ENV), timeout=scaled(10),
                          stdin=subprocess.DEVNULL)


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


@pytest.mark.parametrize("text", BAD_HUB_FILES)
def test_bad_hub_policy_file_is_one_line_and_exit_2(tmp_path, text):
    path = tmp_path / "hub.ini"
    path.write_text(text)
    r = run_bin("spoke-hub", ["-c", str(path), "--listen", "127.0.0.1:0", "--http", "127.0.0.1:0"])
    err = r.stderr.decode(errors="replace")
    assert r.returncode == 2, f"{text!r}: exit {r.returncode}\n{err}"
    assert len(err.strip().splitlines()) == 1, f"{text!r}: stderr is not one line:\n{err}"
