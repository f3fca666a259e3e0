#!/bin/sh
# Runs spoke and nats-server side by side (tests/bench/compare_nats.py): installs
# Debian's nats-server if it is missing, builds the optimised binaries and the
# load generator and spoke-sendfloor, then hands its arguments to the Python driver.
# Usage: tests/bench/compare-nats.sh [--quick] [--bin-dir DIR]
set -eu
cd "$(dirname "$0")/../.."

nats=$(command -v nats-server || true)
[ -n "$nats" ] || [ ! -x /usr/sbin/nats-server ] || nats=/usr/sbin/nats-server
if [ -z "$nats" ]; then
    echo "compare-nats.sh: installing nats-server with apt-get"
    SUDO=""; [ "$(id -u)" = 0 ] || SUDO=sudo
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends nats-server
    nats=$(command -v nats-server || echo /usr/sbin/nats-server)
fi

make --no-print-directory -j"$(nproc)" all build/spoke-loadgen build/spoke-sendfloor
exec /usr/bin/python3 tests/bench/compare_nats.py --bin-dir build --nats-server "$nats" "$@"
