#!/usr/bin/env bash
# Creates a development certificate set for spoke: a private CA, the hub's
# link server certificate, one link client certificate per edge and a
# certificate for the edges' client-facing wss listener. Development only:
# the CA key sits next to the certificates, unencrypted.
set -euo pipefail

usage() {
  cat <<'EOF'
usage: deploy/gen-certs.sh [--force] [OUT_DIR [EDGE_NAME...]]

Creates a development private CA and certificates for spoke (ECDSA P-256,
SHA-256) in OUT_DIR (default: deploy/certs-dev next to this script):

  ca.pem, ca.key                  the private CA (3650 days)
  hub.pem, hub.key                hub link server: CN=spoke-hub, SAN DNS:localhost,
                                  DNS:spoke-hub, IP:127.0.0.1, IP:::1; serverAuth
  edge-NAME.pem, edge-NAME.key    edge link client, one per EDGE_NAME (default:
                                  edge-a edge-b): CN=NAME, SAN DNS:NAME; clientAuth.
                                  The hub takes the edge's identity from it.
  client-facing.pem, .key         wss listener: CN=localhost, SAN DNS:localhost,
                                  IP:127.0.0.1; serverAuth

Leaf certificates are valid for 825 days. Keys are mode 0600.

Run it again to add edges: an existing CA is reused and only missing, expired,
mismatched or foreign leaves are (re)created; edge certificates already in
OUT_DIR are kept and checked too. At the end every leaf is verified with
`openssl verify -CAfile ca.pem`. For a second, independent CA, call the
script with another OUT_DIR.

  --force     regenerate everything: a new CA and every leaf (the listed edges
              and any edge-*.pem already in OUT_DIR)
  -h, --help  this text

Edge names: 1 to 64 of [A-Za-z0-9._-], as the edge's `name` setting.
EOF
}

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
force=0
args=()
while (($#)); do
  case $1 in
    -h | --help) usage; exit 0 ;;
    --force) force=1 ;;
    --) shift; args+=("$@"); break ;;
    -*) echo "gen-certs.sh: unknown option $1 (--help for usage)" >&2; exit 2 ;;
    *) args+=("$1") ;;
  esac
  shift
done

out=${args[0]:-$here/certs-dev}
edges=("${args[@]:1}")
((${#edges[@]})) || edges=(edge-a edge-b)

for n in "${edges[@]}"; do
  if ! [[ $n =~ ^[A-Za-z0-9._-]{1,64}$ ]]; then
    echo "gen-certs.sh: bad edge name '$n': 1 to 64 of [A-Za-z0-9._-]" >&2
    exit 2
  fi
done

command -v openssl >/dev/null || { echo "gen-certs.sh: openssl not found" >&2; exit 1; }

mkdir -p "$out"
out=$(cd "$out" && pwd)
# Keep keys out of any repository the directory happens to be in.
[[ -e $out/.gitignore ]] || printf '# development keys: never commit\n*\n' >"$out/.gitignore"

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
umask 077

CA_DAYS=3650
LEAF_DAYS=825

# A minimal configuration of our own, so the system openssl.cnf cannot add
# or duplicate extensions.
# $1: file, $2: subject CN, $3: extension lines.
write_conf() {
  cat >"$1" <<EOF
[req]
prompt = no
distinguished_name = dn
[dn]
O = spoke development
CN = $2
[ext]
$3
EOF
}

new_key() {
  openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 \
    -pkeyopt ec_param_enc:named_curve -out "$1" 2>/dev/null
}

# A random positive serial of 120 bits (RFC 5280 §4.1.2.2: at most 20 octets).
serial() { echo "0x$(openssl rand -hex 15)"; }

# 0 if $1.pem and $1.key exist, the key matches the certificate, and the
# certificate verifies against the CA for purpose $2 (and is not expired).
leaf_ok() {
  local base=$1 purpose=$2
  [[ -s $base.pem && -s $base.key ]] || return 1
  [[ $(openssl x509 -in "$base.pem" -noout -pubkey 2>/dev/null) == \
     "$(openssl pkey -in "$base.key" -pubout 2>/dev/null)" ]] || return 1
  openssl verify -CAfile "$out/ca.pem" -purpose "$purpose" "$base.pem" >/dev/null 2>&1
}

report=() # "created X" / "kept X", in order

make_ca() {
  local id
  id=$(openssl rand -hex 4)
  write_conf "$tmp/ca.cnf" "spoke development CA $id" \
"basicConstraints = critical, CA:TRUE, pathlen:0
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash"
  new_key "$tmp/ca.key"
  openssl req -new -x509 -config "$tmp/ca.cnf" -extensions ext -key "$tmp/ca.key" \
    -sha256 -days "$CA_DAYS" -set_serial "$(serial)" -out "$tmp/ca.pem"
  mv -f "$tmp/ca.key" "$out/ca.key"
  chmod 0644 "$tmp/ca.pem"
  mv -f "$tmp/ca.pem" "$out/ca.pem"
  report+=("created  ca.pem (CN=spoke development CA $id, $CA_DAYS days)")
}

# $1: base name, $2: CN, $3: subjectAltName value, $4: serverAuth|clientAuth
make_leaf() {
  local name=$1 cn=$2 san=$3 eku=$4
  write_conf "$tmp/$name.cnf" "$cn" \
"basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = $eku
subjectAltName = $san
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always"
  new_key "$tmp/$name.key"
  openssl req -new -config "$tmp/$name.cnf" -key "$tmp/$name.key" -out "$tmp/$name.csr"
  openssl x509 -req -in "$tmp/$name.csr" -CA "$out/ca.pem" -CAkey "$out/ca.key" \
    -set_serial "$(serial)" -sha256 -days "$LEAF_DAYS" \
    -extfile "$tmp/$name.cnf" -extensions ext -out "$tmp/$name.pem" 2>/dev/null
  chmod 0644 "$tmp/$name.pem"
  # Key first: an interrupted run leaves a mismatch that leaf_ok catches.
  mv -f "$tmp/$name.key" "$out/$name.key"
  mv -f "$tmp/$name.pem" "$out/$name.pem"
  report+=("created  $name.pem (CN=$cn, $san, $eku)")
}

# $1: base name, $2: purpose for openssl verify, then make_leaf's arguments.
ensure_leaf() {
  local name=$1 purpose=$2
  shift 2
  if ((force == 0)) && leaf_ok "$out/$name" "$purpose"; then
    report+=("kept     $name.pem")
  else
    make_leaf "$name" "$@"
  fi
}

# ---- the CA
if ((force)) || [[ ! -e $out/ca.pem && ! -e $out/ca.key ]]; then
  make_ca
elif [[ -s $out/ca.pem && -s $out/ca.key ]]; then
  if [[ $(openssl x509 -in "$out/ca.pem" -noout -pubkey 2>/dev/null) != \
        "$(openssl pkey -in "$out/ca.key" -pubout 2>/dev/null)" ]]; then
    echo "gen-certs.sh: $out/ca.key does not match ca.pem; use --force to start over" >&2
    exit 1
  fi
  if ! openssl x509 -in "$out/ca.pem" -noout -checkend 0 >/dev/null; then
    echo "gen-certs.sh: $out/ca.pem has expired; use --force to start over" >&2
    exit 1
  fi
  report+=("kept     ca.pem")
else
  echo "gen-certs.sh: only one of ca.pem and ca.key is in $out; use --force to start over" >&2
  exit 1
fi
chmod 0600 "$out/ca.key"

# Edges listed now, plus those already in OUT_DIR (so a new CA leaves no
# stale edge certificate behind).
declare -A seen=()
all_edges=()
for n in "${edges[@]}"; do
  [[ -n ${seen[$n]:-} ]] || { seen[$n]=1; all_edges+=("$n"); }
done
shopt -s nullglob
for f in "$out"/edge-*.pem; do
  n=${f##*/edge-}
  n=${n%.pem}
  [[ $n =~ ^[A-Za-z0-9._-]{1,64}$ && -z ${seen[$n]:-} ]] || continue
  seen[$n]=1
  all_edges+=("$n")
done
shopt -u nullglob

# ---- the leaves
ensure_leaf hub sslserver spoke-hub \
  "DNS:localhost, DNS:spoke-hub, IP:127.0.0.1, IP:::1" serverAuth
for n in "${all_edges[@]}"; do
  ensure_leaf "edge-$n" sslclient "$n" "DNS:$n" clientAuth
done
ensure_leaf client-facing sslserver localhost "DNS:localhost, IP:127.0.0.1" serverAuth
chmod 0600 "$out"/*.key

# ---- self-check: every leaf against the CA, with its purpose and names
check() {
  local what=$1
  shift
  if ! openssl verify -CAfile "$out/ca.pem" "$@" >"$tmp/verify.out" 2>&1; then
    echo "gen-certs.sh: self-check failed for $what:" >&2
    cat "$tmp/verify.out" >&2
    exit 1
  fi
}
check hub.pem -purpose sslserver -verify_hostname spoke-hub "$out/hub.pem"
check hub.pem -purpose sslserver -verify_ip 127.0.0.1 "$out/hub.pem"
check hub.pem -purpose sslserver -verify_ip ::1 "$out/hub.pem"
check client-facing.pem -purpose sslserver -verify_hostname localhost "$out/client-facing.pem"
check client-facing.pem -purpose sslserver -verify_ip 127.0.0.1 "$out/client-facing.pem"
for n in "${all_edges[@]}"; do
  check "edge-$n.pem" -purpose sslclient -verify_hostname "$n" "$out/edge-$n.pem"
done
# A client certificate must not pass as a server and the reverse.
if openssl verify -CAfile "$out/ca.pem" -purpose sslserver "$out/edge-${all_edges[0]}.pem" \
     >/dev/null 2>&1; then
  echo "gen-certs.sh: self-check failed: edge-${all_edges[0]}.pem passes as a server" >&2
  exit 1
fi

# ---- report
echo "gen-certs.sh: $out"
for r in "${report[@]}"; do echo "  $r"; done
echo "  verified $((2 + ${#all_edges[@]})) leaf certificates against ca.pem"
echo "edge: link_ca = $out/ca.pem, link_cert = $out/edge-NAME.pem, link_key = $out/edge-NAME.key, tls_cert = $out/client-facing.pem, tls_key = $out/client-facing.key"
echo "hub:  link_ca = $out/ca.pem, link_cert = $out/hub.pem, link_key = $out/hub.key"
