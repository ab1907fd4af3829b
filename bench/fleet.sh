#!/usr/bin/env bash
# A fleet of N clusters importing at once, two ways:
#   (a) through one mirror: one `mirror` run from upstream, then N imports at
#       once from the mirror served by nginx; while they run, upstream gets a
#       new version and a second mirror run publishes it; every tree must
#       verify;
#   (b) straight from upstream through a caching proxy: N imports at once
#       with http_proxy pointing at Debian's squid (cold cache).
# Upstream is nginx serving a generated MAAS-shaped stream (bench/genstream)
# and logging the bytes it sends. Prints upstream bytes / payload bytes and
# the wall time of the fleet against one cluster alone.
#
# Usage: bench/fleet.sh     (N=20 IMAGES=2 SQUASHFS=100 (MiB) by default)
# Needs: go, curl, nginx, squid (as root it installs nginx-light and squid).
# Run by hand, not in CI: it writes N × the stream twice (a few GB).
set -euo pipefail
cd "$(dirname "$0")/.."

N=${N:-20}
IMAGES=${IMAGES:-2}
SQUASHFS=${SQUASHFS:-100}

need=()
command -v curl >/dev/null || need+=(curl)
command -v nginx >/dev/null || need+=(nginx-light)
command -v squid >/dev/null || need+=(squid)
if [ "${#need[@]}" -gt 0 ]; then
  if [ "$(id -u)" != 0 ]; then
    echo "fleet: missing ${need[*]} (apt-get install ${need[*]})" >&2
    exit 1
  fi
  own_policy=
  if [ ! -e /usr/sbin/policy-rc.d ]; then # deny service starts: we run our own daemons
    printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d; chmod 755 /usr/sbin/policy-rc.d
    own_policy=1
  fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq "${need[@]}" >/dev/null
  [ -n "$own_policy" ] && rm -f /usr/sbin/policy-rc.d
fi

# Go never sends requests for loopback addresses through a proxy: upstream
# listens on this host's first non-loopback address.
host=$(hostname -I 2>/dev/null | tr ' ' '\n' | grep -E '^[0-9]+\.' | grep -v '^127\.' | head -1)
[ -n "$host" ] || { echo "fleet: no non-loopback IPv4 address (hostname -I)" >&2; exit 1; }

work=$(mktemp -d "${TMPDIR:-/var/tmp}/maas-fleet.XXXXXX")
chmod 755 "$work" # nginx and squid workers run as unprivileged users
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", b - a }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", a / b }'; }
free_port() {
  local p
  for _ in $(seq 50); do
    p=$((20000 + RANDOM % 20000))
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then echo "$p"; return; fi
  done
  echo "fleet: no free port" >&2; exit 1
}

echo "== building"
CGO_ENABLED=0 go build -trimpath -o "$work/bin" .
go build -o "$work/genstream" ./bench/genstream

up_port=$(free_port); mirror_port=$(free_port); squid_port=$(free_port)
up_url="http://$host:$up_port/"
echo "== generating an upstream stream of $IMAGES images"
"$work/genstream" -out "$work/up" -url "$up_url" -images "$IMAGES" -squashfs $((SQUASHFS << 20))
payload=$(awk '{ s += $2 } END { print s }' "$work/up/files.txt")
echo "   $(wc -l <"$work/up/files.txt") files, $((payload / 1048576)) MiB of payload"

# nginx: upstream on $host, the mirror on 127.0.0.1, each logging the body
# bytes of every request.
nginx_conf() { # $1 name, $2 listen, $3 root
  mkdir -p "$work/$1"
  cat >"$work/$1/nginx.conf" <<CONF
daemon off;
worker_processes 2;
pid $work/$1/nginx.pid;
error_log $work/$1/error.log;
events { worker_connections 1024; }
http {
  log_format bytes '\$uri \$status \$body_bytes_sent';
  access_log $work/$1/access.log bytes;
  sendfile on;
  default_type application/octet-stream;
  client_body_temp_path $work/$1/client;
  proxy_temp_path $work/$1/proxy;
  fastcgi_temp_path $work/$1/fastcgi;
  uwsgi_temp_path $work/$1/uwsgi;
  scgi_temp_path $work/$1/scgi;
  server {
    listen $2;
    root $3;
    location ~ (^|/)\\. { deny all; }
  }
}
CONF
  nginx -c "$work/$1/nginx.conf" -p "$work/$1" &
  pids+=($!)
}
nginx_conf upstream "$host:$up_port" "$work/up"
mkdir -p "$work/mirror"
nginx_conf mirrornginx "127.0.0.1:$mirror_port" "$work/mirror"
for _ in $(seq 50); do curl -sf -o /dev/null "${up_url}streams/v1/index.sjson" && break; sleep 0.1; done

# Bytes nginx sent: payload (not under /streams/) and metadata.
sent() { awk -v what="$2" '$2 ~ /^2/ && (what == "payload") == ($1 !~ /^\/streams\//) { s += $3 } END { print s + 0 }' "$work/$1/access.log"; }
reset_log() { : >"$work/$1/access.log"; }

keyring="$work/up/keyring.gpg"
sources() { # $1 url
  printf -- "- url: %s\n  keyring: %s\n  selections:\n    - release: '*'\n" "$1" "$keyring" >"$work/sources-$2.yaml"
  echo "$work/sources-$2.yaml"
}
up_sources=$(sources "$up_url" up)
mirror_sources=$(sources "http://127.0.0.1:$mirror_port/" mirror)

# fleet runs $N imports at once into $work/$1-<i> and prints the wall time;
# extra environment (http_proxy) comes from the caller.
fleet() { # $1 name, $2 sources
  local t0 fails=0 p
  local ps=()
  t0=$(now)
  for i in $(seq "$N"); do
    "$work/bin" import --quiet --progress never --config "$2" --storage "$work/$1-$i" &
    ps+=($!)
  done
  for p in "${ps[@]}"; do wait "$p" || fails=$((fails + 1)); done
  [ "$fails" = 0 ] || { echo "fleet: $fails of $N imports failed" >&2; exit 1; }
  elapsed "$t0" "$(now)"
}
alone() { # $1 storage, $2 sources
  local t0; t0=$(now)
  "$work/bin" import --quiet --progress never --config "$2" --storage "$1"
  elapsed "$t0" "$(now)"
}
verify_all() { # $1 name
  local ok=0
  for i in $(seq "$N"); do
    "$work/bin" verify --quiet --storage "$work/$1-$i" && ok=$((ok + 1))
  done
  echo "$ok"
}
clean_fleet() { for i in $(seq "$N"); do rm -rf "$work/$1-$i"; done; }

echo "== (a) one mirror run, then $N clusters at once from the mirror"
reset_log upstream
t0=$(now)
"$work/bin" mirror --quiet --progress never --config "$up_sources" --to "$work/mirror"
t_mirror=$(elapsed "$t0" "$(now)")
a_up_payload=$(sent upstream payload); a_up_meta=$(sent upstream meta)
t_alone_a=$(alone "$work/alone-a" "$mirror_sources"); rm -rf "$work/alone-a"
reset_log mirrornginx
# While the fleet imports, upstream gets a new version and a mirror run
# publishes it: no cluster may fail.
(
  sleep 1
  "$work/genstream" -out "$work/up" -url "$up_url" -images "$IMAGES" -squashfs $((SQUASHFS << 20)) -bump noble >/dev/null
  "$work/bin" mirror --quiet --progress never --config "$up_sources" --to "$work/mirror"
) &
bump=$!
t_fleet_a=$(fleet a "$mirror_sources")
wait "$bump" || { echo "fleet: the mirror run during the fleet failed" >&2; exit 1; }
verified_a=$(verify_all a)
mirror_sent=$(sent mirrornginx payload)
clean_fleet a
echo "   mirror run ${t_mirror}s; one cluster alone ${t_alone_a}s; $N at once ${t_fleet_a}s; $verified_a/$N trees verify"

echo "== (b) $N clusters at once from upstream through squid"
start_squid() {
  rm -rf "$work/squid"; mkdir -p "$work/squid/cache"
  cat >"$work/squid/squid.conf" <<CONF
http_port 127.0.0.1:$squid_port
pid_filename $work/squid/squid.pid
cache_dir ufs $work/squid/cache 8000 16 256
cache_mem 64 MB
maximum_object_size 2 GB
maximum_object_size_in_memory 1 MB
range_offset_limit -1
quick_abort_min -1 KB
collapsed_forwarding on
refresh_pattern . 60 20% 4320
access_log $work/squid/access.log
cache_log $work/squid/cache.log
cache_store_log none
coredump_dir $work/squid
http_access allow localhost
http_access deny all
shutdown_lifetime 1 seconds
CONF
  if [ "$(id -u)" = 0 ]; then chown -R proxy: "$work/squid"; fi
  squid -z -N -f "$work/squid/squid.conf" 2>>"$work/squid/init.log"
  squid -N -f "$work/squid/squid.conf" &
  squid_pid=$!
  pids+=("$squid_pid")
  for _ in $(seq 100); do curl -sf -o /dev/null -x "http://127.0.0.1:$squid_port" "${up_url}streams/v1/index.sjson" && return; sleep 0.2; done
  echo "fleet: squid did not start (see $work/squid/cache.log)" >&2; exit 1
}
stop_squid() { kill "$squid_pid"; wait "$squid_pid" 2>/dev/null || true; }

start_squid
reset_log upstream
t_alone_b=$(http_proxy="http://127.0.0.1:$squid_port" alone "$work/alone-b" "$up_sources")
b_one=$(sent upstream payload)
rm -rf "$work/alone-b"
stop_squid

start_squid
reset_log upstream
t_fleet_b=$(http_proxy="http://127.0.0.1:$squid_port" fleet b "$up_sources")
b_fleet=$(sent upstream payload); b_meta=$(sent upstream meta)
verified_b=$(verify_all b)
clean_fleet b
stop_squid
echo "   one cluster alone ${t_alone_b}s; $N at once ${t_fleet_b}s; $verified_b/$N trees verify"

a_payload=$(awk '$1 !~ /20250202/ { s += $2 } END { print s }' "$work/up/files.txt")
cat <<TABLE

| measure (N = $N clusters, $IMAGES images, $((a_payload / 1048576)) MiB of payload) | result | target |
|---|---|---|
| (a) upstream payload bytes of the first mirror run / payload bytes | $(ratio "$a_up_payload" "$a_payload") (+ $a_up_meta bytes of metadata) | 1.00 |
| (a) trees that verify after $N imports at once from the mirror, with a mirror run publishing a new version meanwhile | $verified_a/$N | $N/$N |
| (a) bytes the mirror's nginx sent to the fleet / ($N × payload) | $(ratio "$mirror_sent" "$((N * a_payload))") | — |
| (a) wall time: $N clusters at once / one alone (from the mirror) | ${t_fleet_a}s / ${t_alone_a}s | — |
| (b) upstream payload bytes: $N clusters at once through squid / one cluster through squid | $(ratio "$b_fleet" "$b_one") ($b_fleet / $b_one) | ≤ 1.05 |
| (b) trees that verify | $verified_b/$N | $N/$N |
| (b) wall time: $N clusters at once / one alone (through squid, cold cache) | ${t_fleet_b}s / ${t_alone_b}s | — |
TABLE
