#!/usr/bin/env bash
# Probe throughput, keepup vs Prometheus blackbox_exporter, side by side in
# one run against the same nginx target on loopback (http, https, tcp).
#
#   bash bench/compare-blackbox.sh [SECONDS_PER_RUN] [ROUNDS] [CONCURRENCY]
#
# blackbox_exporter is driven by wrk through its /probe endpoint (that is how
# it is used); keepup by `keepup bench probe` (the production probe code in
# a loop). Both make a fresh connection (and TLS handshake) per probe. Each
# round runs every pair back to back; the medians over rounds are printed.
set -euo pipefail
cd "$(dirname "$0")/.."
SECS=${1:-10}
ROUNDS=${2:-3}
CONC=${3:-32}

need=()
for p in nginx-light prometheus-blackbox-exporter wrk openssl; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || need+=("$p")
done
if ((${#need[@]})); then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}"
fi
[ -n "${SKIP_BUILD:-}" ] || cargo build --release -p keepup --features bench -q
KEEPUP=target/release/keepup

W=$(mktemp -d)
cleanup() { [ -f "$W/nginx.pid" ] && kill "$(cat "$W/nginx.pid")" 2>/dev/null; kill "${BB_PID:-}" 2>/dev/null; rm -rf "$W"; }
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
HTTP_PORT=$(free_port); HTTPS_PORT=$(free_port); BB_PORT=$(free_port)

# A CA and a server certificate for 127.0.0.1 / localhost.
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 30 -subj "/CN=bench CA" \
  -keyout "$W/ca.key" -out "$W/ca.pem" 2>/dev/null
openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=localhost" \
  -keyout "$W/srv.key" -out "$W/srv.csr" 2>/dev/null
printf "subjectAltName=DNS:localhost,IP:127.0.0.1\n" > "$W/ext"
openssl x509 -req -in "$W/srv.csr" -CA "$W/ca.pem" -CAkey "$W/ca.key" -CAcreateserial -days 30 \
  -extfile "$W/ext" -out "$W/srv.pem" 2>/dev/null

cat > "$W/nginx.conf" <<NGINX
daemon on;
worker_processes auto;
pid $W/nginx.pid;
error_log $W/error.log;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path $W; proxy_temp_path $W; fastcgi_temp_path $W; uwsgi_temp_path $W; scgi_temp_path $W;
  server { listen 127.0.0.1:$HTTP_PORT; location / { return 200 "ok\n"; } }
  server {
    listen 127.0.0.1:$HTTPS_PORT ssl;
    ssl_certificate $W/srv.pem; ssl_certificate_key $W/srv.key;
    ssl_protocols TLSv1.2 TLSv1.3;
    ssl_session_cache off; ssl_session_tickets off;
    location / { return 200 "ok\n"; }
  }
}
NGINX
nginx -c "$W/nginx.conf" -p "$W"

cat > "$W/blackbox.yml" <<YML
modules:
  http_2xx:
    prober: http
    timeout: 10s
    http:
      preferred_ip_protocol: ip4
      tls_config:
        ca_file: $W/ca.pem
  tcp_connect:
    prober: tcp
    timeout: 10s
    tcp:
      preferred_ip_protocol: ip4
YML
prometheus-blackbox-exporter --config.file="$W/blackbox.yml" --web.listen-address="127.0.0.1:$BB_PORT" --log.level=error &
BB_PID=$!
sleep 1

bb() { # module target
  wrk -t2 -c"$CONC" -d"${SECS}s" "http://127.0.0.1:$BB_PORT/probe?module=$1&target=$2" | awk '/Requests\/sec/ {printf "%.0f", $2}'
}
ku() { # target
  "$KEEPUP" bench probe "$1" --concurrency "$CONC" --duration "${SECS}s" --ca-file "$W/ca.pem" 2>/dev/null \
    | sed -n 's/.* rate=\([0-9]*\)\/s.*/\1/p'
}

declare -A R
for round in $(seq 1 "$ROUNDS"); do
  R[bb_http]+="$(bb http_2xx "http://127.0.0.1:$HTTP_PORT/") "
  R[ku_http]+="$(ku "http://127.0.0.1:$HTTP_PORT/") "
  R[bb_https]+="$(bb http_2xx "https://localhost:$HTTPS_PORT/") "
  R[ku_https]+="$(ku "https://localhost:$HTTPS_PORT/") "
  R[bb_tcp]+="$(bb tcp_connect "127.0.0.1:$HTTP_PORT") "
  R[ku_tcp]+="$(ku "tcp://127.0.0.1:$HTTP_PORT") "
  echo "round $round done" >&2
done

median() { tr ' ' '\n' | grep -v '^$' | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
printf "%-6s %14s %14s %7s   (probes/s, median of %s rounds of %ss, concurrency %s)\n" kind blackbox keepup ratio "$ROUNDS" "$SECS" "$CONC"
for k in http https tcp; do
  b=$(echo "${R[bb_$k]}" | median); u=$(echo "${R[ku_$k]}" | median)
  printf "%-6s %14s %14s %6.2fx   [bb: %s] [keepup: %s]\n" "$k" "$b" "$u" "$(echo "$u / $b" | bc -l)" "${R[bb_$k]% }" "${R[ku_$k]% }"
done
