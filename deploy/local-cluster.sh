#!/usr/bin/env bash
# Starts a local spoke deployment in the foreground: one hub and N edges
# (edge-a on ws://127.0.0.1:8080 and wss://127.0.0.1:8443, edge-b on 8082 and
# 8445, ...; their admin endpoints on 9080, 9082, ...), and, when nginx is
# installed, the balancer from deploy/nginx on 127.0.0.1:8000 in front of
# them. Links between edges and hub use mutual TLS with a development CA
# made by deploy/gen-certs.sh for this run (in a temporary directory, printed
# below, removed at the end). Ctrl-C (or SIGTERM) stops everything. `make run`
# uses it with N = 2. Edges run with --demo: the demo page is at
# http://127.0.0.1:8000/ (through nginx), the dashboard at http://127.0.0.1:7480/.
#
# With --redis it starts two hubs instead (hub-1 on 7400/7480, hub-2 on
# 7401/7481) sharing one order and one history through a redis-server it
# runs on a unix socket in the temporary directory (nothing persisted); every
# edge lists both hubs and fails over between them. `make run-redis` uses it.
#
#   deploy/local-cluster.sh [--redis] [BIN_DIR [EDGES]]      (defaults: build 2)
set -u
redis=0
if [ "${1:-}" = "--redis" ]; then
  redis=1
  shift
fi
bin=${1:-build}
nedges=${2:-2}
here=$(cd "$(dirname "$0")" && pwd)
for b in spoke-hub spoke-edge; do
  [ -x "$bin/$b" ] || { echo "local-cluster: $bin/$b not found (run make first)" >&2; exit 1; }
done
redis_bin=$(command -v redis-server || echo /usr/bin/redis-server)
if [ "$redis" = 1 ] && [ ! -x "$redis_bin" ]; then
  echo "local-cluster: --redis needs redis-server (apt-get install redis-server, or make deps)" >&2
  exit 1
fi
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

edge_names=()
for i in $(seq 0 $((nedges - 1))); do
  edge_names+=("edge-$(printf "\\x$(printf %x $((97 + i)))")")
done
certs="$workdir/certs"
if ! "$here/gen-certs.sh" "$certs" "${edge_names[@]}" >"$workdir/gen-certs.log" 2>&1; then
  cat "$workdir/gen-certs.log" >&2
  echo "local-cluster: could not create development certificates" >&2
  stop 1
fi

# Waits (bounded, 5 s) until something accepts on 127.0.0.1:PORT.
wait_port() {
  for _ in $(seq 1 50); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; then return 0; fi
    sleep 0.1
  done
  return 1
}

hub_args=(--link-ca "$certs/ca.pem" --link-cert "$certs/hub.pem" --link-key "$certs/hub.key")
if [ "$redis" = 0 ]; then
  nhubs=1
  "$bin/spoke-hub" --listen 127.0.0.1:7400 --http 127.0.0.1:7480 "${hub_args[@]}" &
  pids+=($!)
else
  nhubs=2
  sock="$workdir/redis.sock"
  # Nothing saved: no RDB snapshots, no append-only file, no TCP port.
  "$redis_bin" --port 0 --unixsocket "$sock" --unixsocketperm 700 --save "" \
    --appendonly no --dir "$workdir" --logfile "$workdir/redis.log" &
  pids+=($!)
  for _ in $(seq 1 50); do [ -S "$sock" ] && break; sleep 0.1; done
  [ -S "$sock" ] || { echo "local-cluster: redis-server did not start (see $workdir/redis.log)" >&2; stop 1; }
  for i in 1 2; do
    "$bin/spoke-hub" --name "hub-$i" --listen "127.0.0.1:$((7399 + i))" \
      --http "127.0.0.1:$((7479 + i))" --engine redis --redis "$sock" "${hub_args[@]}" &
    pids+=($!)
  done
fi
hub_list=$(seq -s, -f "127.0.0.1:%g" 7400 $((7399 + nhubs)))
# Wait for the hubs' HTTP ports before starting the edges.
for i in $(seq 0 $((nhubs - 1))); do wait_port $((7480 + i)) || true; done

ports=()
names=()
for i in $(seq 0 $((nedges - 1))); do
  name="${edge_names[$i]}"
  port=$((8080 + 2 * i))
  "$bin/spoke-edge" --name "$name" --region local --listen "127.0.0.1:$port" \
    --tls-listen "127.0.0.1:$((8443 + 2 * i))" \
    --tls-cert "$certs/client-facing.pem" --tls-key "$certs/client-facing.key" \
    --hub "$hub_list" --admin "127.0.0.1:$((9080 + 2 * i))" \
    --link-ca "$certs/ca.pem" --link-cert "$certs/edge-$name.pem" \
    --link-key "$certs/edge-$name.key" \
    --public-url "wss://127.0.0.1:$((8443 + 2 * i))/ws" --demo &
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
if [ "$redis" = 0 ]; then
  echo "spoke is running: hub on 127.0.0.1:7400 (mTLS links) and 127.0.0.1:7480 (HTTP API),"
else
  echo "spoke is running: hub-1 on 127.0.0.1:7400 (mTLS links) and 127.0.0.1:7480 (HTTP API),"
  echo "  hub-2 on 127.0.0.1:7401 and 127.0.0.1:7481, both on redis-server at $sock,"
fi
for i in "${!names[@]}"; do
  echo "  ${names[$i]} on ws://127.0.0.1:${ports[$i]}/ws and wss://127.0.0.1:$((8443 + 2 * i))/ws" \
       "(health: http://127.0.0.1:$((9080 + 2 * i))/readyz)"
done
echo "  development CA (trust it for wss): $certs/ca.pem"
if [ -n "$balancer" ]; then
  echo "  nginx balancing them on $balancer"
fi
echo
if [ -n "$balancer" ]; then
  echo "Demo page (through nginx): http://127.0.0.1:8000/   (or any edge: http://127.0.0.1:${ports[0]}/)"
else
  echo "Demo page: http://127.0.0.1:${ports[0]}/"
fi
echo "Dashboard: http://127.0.0.1:7480/"

cat <<MSG

Try it with two terminals (python3-websockets' interactive client):
  /usr/bin/python3 -m websockets ws://127.0.0.1:${ports[0]}/ws
      > {"op":"sub","topic":"chat.lobby","id":1}
  /usr/bin/python3 -m websockets ws://127.0.0.1:${ports[$((nedges > 1 ? 1 : 0))]}/ws
      > {"op":"pub","topic":"chat.lobby","data":{"text":"hello"},"id":1}
The first terminal prints {"op":"msg","topic":"chat.lobby","seq":1,...}.
Operators: $bin/spokectl edges   (or curl -s http://127.0.0.1:7480/api/edges)
MSG
if [ "$redis" = 1 ]; then
  cat <<MSG
Each edge's worker links to one hub and fails over to the other: stop a hub
(kill -INT <pid>) and the clients stay connected and lose nothing.
The two hubs are one cluster: $bin/spokectl hubs lists both, and
$bin/spokectl edges (on either, --hub http://127.0.0.1:7481) every edge
with the hubs its workers are linked to.
MSG
fi
cat <<MSG

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
