#!/usr/bin/env bash
# Starts a local spoke deployment in the foreground: one hub and N edges
# (edge-a on 127.0.0.1:8080, edge-b on 8082, edge-c on 8084, ...; their
# admin endpoints on 9080, 9082, ...) with default settings, and, when nginx
# is installed, the balancer from deploy/nginx on 127.0.0.1:8000 in front of
# them. Ctrl-C (or SIGTERM) stops everything. `make run` uses it with N = 2.
#
#   deploy/local-cluster.sh [BIN_DIR [EDGES]]      (defaults: build 2)
set -u
bin=${1:-build}
nedges=${2:-2}
here=$(cd "$(dirname "$0")" && pwd)
for b in spoke-hub spoke-edge; do
  [ -x "$bin/$b" ] || { echo "local-cluster: $bin/$b not found (run make first)" >&2; exit 1; }
done
case "$nedges" in ''|*[!0-9]*|0) echo "local-cluster: EDGES must be 1 to 26" >&2; exit 2;; esac
[ "$nedges" -le 26 ] || { echo "local-cluster: EDGES must be 1 to 26" >&2; exit 2; }

pids=()
workdir=$(mktemp -d -t spoke-local-XXXXXX)
stop() {
  trap - INT TERM
  echo
  echo "local-cluster: stopping..."
  # SIGINT stops at once; SIGTERM would make the edges drain their clients
  # over drain_period first.
  for p in "${pids[@]}"; do kill -INT "$p" 2>/dev/null; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null; done
  rm -rf "$workdir"
  echo "local-cluster: stopped."
  exit "${1:-0}"
}
trap stop INT TERM

"$bin/spoke-hub" --listen 127.0.0.1:7400 --http 127.0.0.1:7480 &
pids+=($!)
# Wait (bounded) for the hub's HTTP port before starting the edges.
for _ in $(seq 1 50); do
  if (exec 3<>/dev/tcp/127.0.0.1/7480) 2>/dev/null; then break; fi
  sleep 0.1
done

ports=()
names=()
for i in $(seq 0 $((nedges - 1))); do
  name="edge-$(printf "\\x$(printf %x $((97 + i)))")"
  port=$((8080 + 2 * i))
  "$bin/spoke-edge" --name "$name" --region local --listen "127.0.0.1:$port" \
    --hub 127.0.0.1:7400 --admin "127.0.0.1:$((9080 + 2 * i))" \
    --public-url "ws://127.0.0.1:$port/ws" &
  pids+=($!)
  ports+=("$port")
  names+=("$name")
done

balancer=""
if command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ]; then
  nginx_bin=$(command -v nginx || echo /usr/sbin/nginx)
  if /usr/bin/python3 "$here/nginx/render_local.py" --workdir "$workdir/nginx" 8000 "${ports[@]}" &&
     "$nginx_bin" -t -q -p "$workdir/nginx" -c "$workdir/nginx/nginx.conf"; then
    "$nginx_bin" -p "$workdir/nginx" -c "$workdir/nginx/nginx.conf" &
    pids+=($!)
    balancer="ws://127.0.0.1:8000/ws"
  fi
fi
sleep 0.5

echo
echo "spoke is running: hub on 127.0.0.1:7400 (links) and 127.0.0.1:7480 (HTTP API),"
for i in "${!names[@]}"; do
  echo "  ${names[$i]} on ws://127.0.0.1:${ports[$i]}/ws (health: http://127.0.0.1:$((9080 + 2 * i))/readyz)"
done
if [ -n "$balancer" ]; then
  echo "  nginx balancing them on $balancer"
fi
cat <<MSG

Try it with two terminals (python3-websockets' interactive client):
  /usr/bin/python3 -m websockets ws://127.0.0.1:${ports[0]}/ws
      > {"op":"sub","topic":"chat.lobby","id":1}
  /usr/bin/python3 -m websockets ws://127.0.0.1:${ports[$((nedges > 1 ? 1 : 0))]}/ws
      > {"op":"pub","topic":"chat.lobby","data":{"text":"hello"},"id":1}
The first terminal prints {"op":"msg","topic":"chat.lobby","seq":1,...}.
Operators: $bin/spokectl edges   (or curl -s http://127.0.0.1:7480/api/edges)

Press Ctrl-C to stop.
MSG

# Stay in the foreground until a process exits or Ctrl-C. A terminal's Ctrl-C
# reaches the whole process group, so the processes may exit (cleanly, with
# status 0) before our trap runs: only a non-zero status is a failure.
wait -n "${pids[@]}"
rc=$?
if [ "$rc" -ne 0 ] && [ "$rc" -le 128 ]; then
  echo "local-cluster: a process exited with status $rc; stopping the others" >&2
  stop 1
fi
stop 0
