#!/usr/bin/env bash
# Measures an import of a ~1 GiB MAAS-shaped stream served by nginx on
# 127.0.0.1 against shell pipelines doing the same fetching and hashing:
#   (a) ours:   maas-import-boot-images import into a fresh storage directory
#   (b) strong: curl, 4 at once, each | tee file | openssl dgst -sha256; sync
#   (c) weak:   the same with coreutils sha256sum
# in alternating rounds, and reports the median ratios, our peak RSS, the
# time of a no-op re-run and the bytes an incremental update fetches.
# When Python simplestreams' sstream-mirror is installed, it also times
# that mirroring the same stream (one file at a time, as it does) against
# our import, and reports peer/ours; otherwise it says why it skipped it.
#
# Usage: bench/import.sh            (ROUNDS=3 IMAGES=4 by default)
# Needs: go, curl, openssl, nginx, GNU time (apt-get install nginx time curl).
set -euo pipefail
cd "$(dirname "$0")/.."

ROUNDS=${ROUNDS:-3}
IMAGES=${IMAGES:-4}
if [ "$ROUNDS" -lt 3 ]; then
  echo "bench: ROUNDS=$ROUNDS: at least 3 rounds, for a median" >&2
  exit 2
fi

for tool in curl openssl nginx /usr/bin/time sha256sum; do
  if ! command -v "$tool" >/dev/null; then
    if [ "$(id -u)" = 0 ]; then
      # Deny service starts: the script runs its own nginx.
      own_policy=
      if [ ! -e /usr/sbin/policy-rc.d ]; then
        printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d; chmod 755 /usr/sbin/policy-rc.d
        own_policy=1
      fi
      export DEBIAN_FRONTEND=noninteractive
      apt-get update -qq
      apt-get install -y -qq nginx-light time curl openssl >/dev/null ||
        apt-get install -y -qq nginx time curl openssl >/dev/null
      [ -n "$own_policy" ] && rm -f /usr/sbin/policy-rc.d
      break
    fi
    echo "bench: $tool is missing (apt-get install nginx time curl openssl)" >&2
    exit 1
  fi
done

work=$(mktemp -d "${TMPDIR:-/var/tmp}/maas-bench.XXXXXX")
chmod 755 "$work" # nginx workers run as an unprivileged user
nginx_pid=
cleanup() {
  [ -n "$nginx_pid" ] && kill "$nginx_pid" 2>/dev/null && wait "$nginx_pid" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT

now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", b - a }'; }

echo "== building"
CGO_ENABLED=0 go build -trimpath -o "$work/bin" .
go build -o "$work/genstream" ./bench/genstream

port=0
for _ in $(seq 50); do
  p=$((20000 + RANDOM % 20000))
  if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then port=$p; break; fi
done
[ "$port" != 0 ] || { echo "bench: no free port" >&2; exit 1; }
url="http://127.0.0.1:$port/"

echo "== generating a stream of $IMAGES images"
"$work/genstream" -out "$work/stream" -url "$url" -images "$IMAGES"
total=$(awk '{ s += $2 } END { print s }' "$work/stream/files.txt")
nfiles=$(wc -l <"$work/stream/files.txt")
echo "   $nfiles files, $((total / 1048576)) MiB"

mkdir -p "$work/nginx"
cat >"$work/nginx/nginx.conf" <<CONF
daemon off;
worker_processes 2;
pid $work/nginx/nginx.pid;
error_log $work/nginx/error.log;
events { worker_connections 256; }
http {
  access_log off;
  sendfile on;
  tcp_nopush on;
  default_type application/octet-stream;
  client_body_temp_path $work/nginx/client;
  proxy_temp_path $work/nginx/proxy;
  fastcgi_temp_path $work/nginx/fastcgi;
  uwsgi_temp_path $work/nginx/uwsgi;
  scgi_temp_path $work/nginx/scgi;
  server {
    listen 127.0.0.1:$port;
    root $work/stream;
  }
}
CONF
nginx -c "$work/nginx/nginx.conf" -p "$work/nginx" &
nginx_pid=$!
for _ in $(seq 50); do curl -sf -o /dev/null "$url/streams/v1/index.sjson" && break; sleep 0.1; done

echo "== warming the page cache"
cat $(awk -v d="$work/stream/" '{ print d $1 }' "$work/stream/files.txt") >/dev/null

ours() {
  rm -rf "$work/storage"; sync
  /usr/bin/time -f '%e %M' -o "$work/time.txt" "$work/bin" import --quiet --progress never \
    --config "$work/stream/sources.yaml" --storage "$work/storage"
  cat "$work/time.txt"
}

pipeline() { # $1: the hash command
  rm -rf "$work/out"; mkdir "$work/out"; sync
  local t0; t0=$(now)
  cut -d' ' -f1 "$work/stream/files.txt" | \
    xargs -P4 -I{} sh -c 'curl -sf "$1$2" | tee "$3/$(echo "$2" | tr / _)" | '"$1"' >/dev/null' _ "$url" {} "$work/out"
  sync
  elapsed "$t0" "$(now)"
}

printf '\n%-6s %10s %10s %10s %12s %12s %10s\n' round ours_s openssl_s sha256sum_s ours/openssl ours/sha256 rss_MiB
ratios_b=(); ratios_c=(); peak=0
for r in $(seq "$ROUNDS"); do
  if [ $((r % 2)) = 1 ]; then
    read -r ta rss < <(ours); tb=$(pipeline 'openssl dgst -sha256'); tc=$(pipeline sha256sum)
  else
    tc=$(pipeline sha256sum); tb=$(pipeline 'openssl dgst -sha256'); read -r ta rss < <(ours)
  fi
  rb=$(awk -v a="$ta" -v b="$tb" 'BEGIN { printf "%.3f", a / b }')
  rc=$(awk -v a="$ta" -v b="$tc" 'BEGIN { printf "%.3f", a / b }')
  ratios_b+=("$rb"); ratios_c+=("$rc")
  [ "$rss" -gt "$peak" ] && peak=$rss
  printf '%-6s %10s %10s %10s %12s %12s %10s\n' "$r" "$ta" "$tb" "$tc" "$rb" "$rc" "$((rss / 1024))"
done
median() { printf '%s\n' "$@" | sort -n | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }
med_b=$(median "${ratios_b[@]}"); med_c=$(median "${ratios_c[@]}")

echo
echo "== Python simplestreams: sstream-mirror of the same stream"
if command -v sstream-mirror >/dev/null; then
  peers=()
  for r in $(seq "$ROUNDS"); do
    rm -rf "$work/peer"; sync
    t0=$(now)
    sstream-mirror --keyring "$work/stream/keyring.gpg" "${url}streams/v1/index.sjson" "$work/peer" >/dev/null
    sync
    tp=$(elapsed "$t0" "$(now)")
    read -r ta _ < <(ours)
    peers+=("$(awk -v a="$tp" -v b="$ta" 'BEGIN { printf "%.2f", a / b }')")
    echo "   round $r: sstream-mirror ${tp} s, ours ${ta} s"
  done
  med_p=$(median "${peers[@]}")
  peer_row="| sstream-mirror time / import time (median ratio) | ${med_p} | — |"
else
  why="sstream-mirror is not installed (Python simplestreams: Debian 12 does not package it; Ubuntu's python3-simplestreams has it)"
  echo "   skipped: $why"
  peer_row="| sstream-mirror time / import time | skipped: $why | — |"
fi

echo
echo "== no-op re-run with 100 images in current"
# Every kernel of every release on four arches, tiny files, served by the
# same nginx: the no-op check's cost grows with the images, not the bytes.
"$work/genstream" -out "$work/stream/wide" -url "${url}wide/" -wide -kernel 4096 -initrd 4096 -squashfs 4096
"$work/bin" import --quiet --config "$work/stream/wide/sources.yaml" --storage "$work/wide-storage"
noops=()
for _ in 1 2 3; do
  t0=$(now)
  out=$("$work/bin" import --quiet --output json --config "$work/stream/wide/sources.yaml" --storage "$work/wide-storage")
  noops+=("$(elapsed "$t0" "$(now)")")
done
status=$(sed 's/.*"status":"\([a-z-]*\)".*/\1/' <<<"$out")
nimages=$(grep -o '"subarch":' <<<"$out" | wc -l)
noop=$(median "${noops[@]}")
echo "   status $status with $nimages images: ${noops[*]} s (median ${noop} s)"

echo "== incremental update: a new version of noble"
"$work/genstream" -out "$work/stream" -url "$url" -images "$IMAGES" -bump noble
changed=$(awk '$1 ~ /^noble\/amd64\/20250202\// { s += $2 } END { print s + 0 }' "$work/stream/files.txt")
got=$("$work/bin" import --quiet --output json --config "$work/stream/sources.yaml" --storage "$work/storage" | \
  sed 's/.*"bytes":{"total":[0-9]*,"downloaded":\([0-9]*\).*/\1/')
inc=$(awk -v a="$got" -v b="$changed" 'BEGIN { printf "%.2f", a / b }')
echo "   downloaded $got bytes; the new version's files are $changed bytes: ${inc}x"

cat <<TABLE

| measure ($IMAGES images, $((total / 1048576)) MiB, $ROUNDS rounds, nginx on 127.0.0.1) | result | target |
|---|---|---|
| import time / curl+tee+openssl, 4 at once, sync (median ratio) | $med_b | ≤ 1.0 |
| import time / curl+tee+sha256sum (weak reference) | $med_c | — |
| peak RSS of the import | $((peak / 1024)) MiB | ≤ 64 MiB |
| no-op re-run ($status, $nimages images in current, median of 3) | ${noop} s | ≤ 0.1 s |
| incremental update: bytes fetched / bytes changed | ${inc} | 1.00 |
$peer_row
TABLE
