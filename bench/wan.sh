#!/usr/bin/env bash
# Measures segmented downloads where they matter: a far mirror whose every
# TCP connection is capped. bench/wanserver serves the streams on
# 127.0.0.1, pacing each connection to RATE bytes/s and adding RTT to each
# new connection and each request. For one 256 MiB file (an image whose
# squashfs is 256 MiB, its kernel and initrd tiny) and for a realistic set
# of 4 images (8 MiB kernel + 32 MiB initrd + 200 MiB squashfs each), it
# times imports into a fresh storage directory with --segments 4 and with
# --segments 1 (the default --jobs 4 both times), in alternating rounds,
# and prints the median ratio time(--segments 4) / time(--segments 1) and
# the peak RSS of the imports.
#
# Usage: bench/wan.sh            (ROUNDS=3 RATE=8000000 RTT=50ms by default)
# Needs: go, GNU time (apt-get install time).
set -euo pipefail
cd "$(dirname "$0")/.."

ROUNDS=${ROUNDS:-3}
RATE=${RATE:-8000000}
RTT=${RTT:-50ms}
if [ "$ROUNDS" -lt 1 ]; then
  echo "bench: ROUNDS=$ROUNDS: at least one round" >&2
  exit 2
fi
if [ ! -x /usr/bin/time ]; then
  if [ "$(id -u)" = 0 ]; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq && apt-get install -y -qq time >/dev/null
  else
    echo "bench: GNU time is missing (apt-get install time)" >&2
    exit 1
  fi
fi

work=$(mktemp -d "${TMPDIR:-/var/tmp}/maas-wan.XXXXXX")
server_pid=
cleanup() {
  [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null && wait "$server_pid" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT

echo "== building"
CGO_ENABLED=0 go build -trimpath -o "$work/bin" .
go build -o "$work/genstream" ./bench/genstream
go build -o "$work/wanserver" ./bench/wanserver

mkdir -p "$work/www"
"$work/wanserver" -dir "$work/www" -rate "$RATE" -rtt "$RTT" >"$work/addr" &
server_pid=$!
for _ in $(seq 50); do [ -s "$work/addr" ] && break; sleep 0.1; done
url="http://$(cat "$work/addr")"
echo "   $url: $(awk -v r="$RATE" 'BEGIN { printf "%.1f", r / 1e6 }') MB/s per connection, RTT $RTT"

echo "== generating the streams"
"$work/genstream" -out "$work/www/one" -url "$url/one/" -images 1 -kernel 65536 -initrd 65536 -squashfs $((256 << 20))
"$work/genstream" -out "$work/www/set" -url "$url/set/" -images 4
for s in one set; do
  echo "   $s: $(wc -l <"$work/www/$s/files.txt") files, $(awk '{ s += $2 } END { printf "%d", s / 1048576 }' "$work/www/$s/files.txt") MiB"
done
# The server reads from the page cache, as a mirror's would be warm.
find "$work/www" -type f -exec cat {} + >/dev/null

# import STREAM SEGMENTS: prints seconds and peak RSS in KiB.
import() {
  rm -rf "$work/storage"; sync
  /usr/bin/time -f '%e %M' -o "$work/time.txt" "$work/bin" import --quiet --progress never \
    --config "$work/www/$1/sources.yaml" --storage "$work/storage" --segments "$2"
  cat "$work/time.txt"
}

median() { printf '%s\n' "$@" | sort -n | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }

declare -A med peak
for s in one set; do
  echo
  echo "== $s: --segments 4 vs --segments 1, $ROUNDS rounds"
  printf '%-6s %10s %10s %8s %12s %12s\n' round seg4_s seg1_s ratio seg4_MiB seg1_MiB
  ratios=(); p=0
  for r in $(seq "$ROUNDS"); do
    if [ $((r % 2)) = 1 ]; then
      read -r t4 m4 < <(import "$s" 4); read -r t1 m1 < <(import "$s" 1)
    else
      read -r t1 m1 < <(import "$s" 1); read -r t4 m4 < <(import "$s" 4)
    fi
    ratio=$(awk -v a="$t4" -v b="$t1" 'BEGIN { printf "%.3f", a / b }')
    ratios+=("$ratio")
    [ "$m4" -gt "$p" ] && p=$m4
    [ "$m1" -gt "$p" ] && p=$m1
    printf '%-6s %10s %10s %8s %12s %12s\n' "$r" "$t4" "$t1" "$ratio" "$((m4 / 1024))" "$((m1 / 1024))"
  done
  med[$s]=$(median "${ratios[@]}")
  peak[$s]=$((p / 1024))
done

cat <<TABLE

| measure ($(awk -v r="$RATE" 'BEGIN { printf "%.1f", r / 1e6 }') MB/s per connection, RTT $RTT, $ROUNDS rounds) | result | target |
|---|---|---|
| one 256 MiB file: time(--segments 4) / time(--segments 1), median | ${med[one]} | ≤ 0.35 |
| 4 images, 960 MiB: time(--segments 4) / time(--segments 1), median | ${med[set]} | — |
| peak RSS, one 256 MiB file | ${peak[one]} MiB | ≤ 32 MiB |
| peak RSS, 4 images (jobs 4 × segments 4) | ${peak[set]} MiB | — |
TABLE
