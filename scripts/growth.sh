#!/usr/bin/env bash
# How wall time and memory grow with devices and with events: serves teams
# of several sizes with `tbx dev simulate` (30 ms a call) and runs the status
# command on each, cold (empty event store) and again (store reused),
# printing one Markdown table row per run. Linux only (/usr/bin/time -f).
#
#   scripts/growth.sh [path/to/tbx] [devices|events|all]
set -euo pipefail
TBX=${1:-target/release/tbx}
WHICH=${2:-all}
PORT=${PORT:-18870}
LATENCY=${LATENCY:-30}
WORK=$(mktemp -d)
trap 'kill $SIM 2>/dev/null || true; rm -rf "$WORK"' EXIT
SIM=

# serve MEMBERS DESKTOPS CHANGES: starts the simulator, sets TOKEN.
serve() {
  "$TBX" dev simulate -members "$1" -desktops "$2" -changes "$3" -noise-ratio 0 \
    -latency-ms "$LATENCY" -port "$PORT" >"$WORK/sim.out" 2>&1 &
  SIM=$!
  for _ in $(seq 1 600); do
    grep -q "listening" "$WORK/sim.out" 2>/dev/null && break
    sleep 0.5
  done
  TOKEN=$(grep -o 'sl\.sim\.[A-Za-z0-9]*' "$WORK/sim.out" | head -1)
  TEAM=$(grep -o '[0-9]* linked desktop clients, [0-9]* audit log events' "$WORK/sim.out")
}

# run LABEL: the command, timed; prints wall, CPU, peak RSS, store size.
run() {
  /usr/bin/time -f '%e %U %S %M' -o "$WORK/time" \
    env TOOLBOX_HOME="$WORK/home" TOOLBOX_DROPBOX_API_URL="http://127.0.0.1:$PORT" \
    TOOLBOX_DROPBOX_TOKEN="$TOKEN" "$TBX" dropbox team backup device status \
    -start-time -91d -output none -concurrency 8 >/dev/null 2>&1
  read -r wall user sys rss <"$WORK/time"
  store=$(du -sm "$WORK/home/store" 2>/dev/null | cut -f1 || echo 0)
  printf '| %s | %s | %s s | %.1f s | %.1f MB | %s MB |\n' "$TEAM" "$1" "$wall" \
    "$(echo "$user + $sys" | bc)" "$(echo "$rss / 1024" | bc -l)" "$store"
}

# size MEMBERS DESKTOPS CHANGES
size() {
  serve "$@"
  rm -rf "$WORK/home"
  run cold
  run again
  kill "$SIM"; wait "$SIM" 2>/dev/null || true
}

echo "| team | run | wall | CPU | peak RSS | store |"
echo "|---|---|---:|---:|---:|---:|"
if [ "$WHICH" = devices ] || [ "$WHICH" = all ]; then
  # About 1k, 10k and 100k desktop clients, one change each for most.
  size 334 3 1
  size 3340 3 1
  size 33400 3 1
fi
if [ "$WHICH" = events ] || [ "$WHICH" = all ]; then
  # About 1,300 desktop clients (1,000 with history); 10k, 100k and 1M
  # backup status changes (-changes is at most 1000).
  size 1334 1 10
  size 1334 1 100
  size 1334 1 1000
fi
