#!/usr/bin/env bash
# Starts a local spoke deployment in the foreground: one hub and N edges
# (edge-a on ws://127.0.0.1:8080 and wss://127.0.0.1:8443, edge-b on 8082 and
# 8445, ...; their admin endpoints on 9080, 9082, ...), and, when nginx is
# installed, the balancer from deploy/nginx on 127.0.0.1:8000 in front of
# them. Links between edges and hub use mutual TLS with a development CA
# made by deploy/gen-certs.sh for this run (in a temporary directory, printed
# below, removed at the end). Ctrl-C (or SIGTERM) stops everything. `make run`
# uses it with N = 2.
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

"$bin/spoke-hub" --listen 127.0.0.1:7400 --http 127.0.0.1:7480 \
  --link-ca "$certs/ca.pem" --link-cert "$certs/hub.pem" --link-key "$certs/hub.key" &
pids+=($!)
# Wait (bounded) for the hub's HTTP port before starting the edges.
for _ in $(seq 1 50); do
  if (exec 3<>/dev/tcp/127.0.0.1/7480) 2>/dev/null; then break; fi
  sleep 0.1
done

ports=()
names=()
for i in $(seq 0 $((nedges - 1))); do
  name="${edge_names[$i]}"
  port=$((8080 + 2 * i))
  "$bin/spoke-edge" --name "$name" --region local --listen "127.0.0.1:$port" \
    --tls-listen "127.0.0.1:$((8443 + 2 * i))" \
    --tls-cert "$certs/client-facing.pem" --tls-key "$certs/client-facing.key" \
    --hub 127.0.0.1:7400 --admin "127.0.0.1:$((9080 + 2 * i))" \
    --link-ca "$certs/ca.pem" --link-cert "$certs/edge-$name.pem" \
    --link-key "$certs/edge-$name.key" \
    --public-url "wss://127.0.0.1:$((8443 + 2 * i))/ws" &
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
echo "spoke is running: hub on 127.0.0.1:7400 (mTLS links) and 127.0.0.1:7480 (HTTP API),"
for i in "${!names[@]}"; do
  echo "  ${names[$i]} on ws://127.0.0.1:${ports[$i]}/ws and wss://127.0.0.1:$((8443 + 2 * i))/ws" \
       "(health: http://127.0.0.1:$((9080 + 2 * i))/readyz)"
done
echo "  development CA (trust it for wss): $certs/ca.pem"
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
