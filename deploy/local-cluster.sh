#!/usr/bin/env bash
# Starts a local spoke deployment in the foreground: one hub and two edges
# (edge-a on 127.0.0.1:8080, edge-b on 127.0.0.1:8082) with default settings.
# Ctrl-C (or SIGTERM) stops all three cleanly. Used by `make run`.
#
#   deploy/local-cluster.sh [BIN_DIR]      (default: build)
set -u
bin=${1:-build}
for b in spoke-hub spoke-edge; do
  [ -x "$bin/$b" ] || { echo "local-cluster: $bin/$b not found (run make first)" >&2; exit 1; }
done

pids=()
stop() {
  trap - INT TERM
  echo
  echo "local-cluster: stopping edges and hub..."
  # SIGINT stops at once; SIGTERM would make the edges drain their clients
  # over drain_period first.
  for p in "${pids[@]}"; do kill -INT "$p" 2>/dev/null; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null; done
  echo "local-cluster: stopped."
  exit "${1:-0}"
}
trap stop INT TERM

"$bin/spoke-hub" --listen 127.0.0.1:7400 --http 127.0.0.1:7480 &
pids+=($!)
# Wait (bounded) for the hub's health endpoint before starting the edges.
for _ in $(seq 1 50); do
  if (exec 3<>/dev/tcp/127.0.0.1/7480) 2>/dev/null; then break; fi
  sleep 0.1
done
"$bin/spoke-edge" --name edge-a --region local --listen 127.0.0.1:8080 --hub 127.0.0.1:7400 \
  --admin 127.0.0.1:9080 &
pids+=($!)
"$bin/spoke-edge" --name edge-b --region local --listen 127.0.0.1:8082 --hub 127.0.0.1:7400 \
  --admin 127.0.0.1:9082 &
pids+=($!)
sleep 0.5

cat <<'MSG'

spoke is running: hub on 127.0.0.1:7400 (links) and 127.0.0.1:7480 (HTTP),
edge-a on ws://127.0.0.1:8080/ws, edge-b on ws://127.0.0.1:8082/ws.

Try it with two terminals (python3-websockets' interactive client):
  /usr/bin/python3 -m websockets ws://127.0.0.1:8080/ws
      > {"op":"sub","topic":"chat.lobby","id":1}
  /usr/bin/python3 -m websockets ws://127.0.0.1:8082/ws
      > {"op":"pub","topic":"chat.lobby","data":{"text":"hello"},"id":1}
The first terminal prints {"op":"msg","topic":"chat.lobby","seq":1,...}.
Hub state: curl -s http://127.0.0.1:7480/api/edges   (or build/spokectl edges)
Edge health: curl -s http://127.0.0.1:9080/readyz

Press Ctrl-C to stop all three.
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
