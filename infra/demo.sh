#!/usr/bin/env bash
# `make demo`: run the whole product on this machine, in the foreground, until Ctrl-C:
# a local Kafka broker, the topic table, the stream-processing worker, the markouts process (flow
# toxicity), the WebSocket bridge (dev mode) serving the live dashboard, and the traffic simulator. Ctrl-C stops all of it cleanly
# (`make stop` cleans up after a demo that was killed instead).
#
# Knobs: RTX_DEMO_RATE (simulated events/s, default 500), RTX_EXPOSURE_LIMIT_USD (default
# 5,000,000: the simulator sizes its book to the limit and breaches it now and then),
# KAFKA_BOOTSTRAP_SERVERS (use a running broker instead of starting one).
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${VENV:-.venv}
RTX="$VENV/bin/rtx-analytics"
RATE=${RTX_DEMO_RATE:-500}
mkdir -p .rtx

STARTED_BROKER=0
stop_pid() {  # stop_pid NAME PIDFILE: SIGTERM, wait up to 10 s, then SIGKILL
  local name=$1 file=$2 pid
  [ -f "$file" ] || return 0
  pid=$(cat "$file")
  if kill -0 "$pid" 2>/dev/null; then
    echo "==> stopping the $name (pid $pid)"
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 1 40); do kill -0 "$pid" 2>/dev/null || break; sleep 0.25; done
    kill -9 "$pid" 2>/dev/null || true
  fi
  rm -f "$file"
}
cleanup() {
  trap - EXIT INT TERM
  echo
  stop_pid simulator .rtx/simulator.pid
  stop_pid "WebSocket bridge" .rtx/bridge.pid
  stop_pid "markouts process" .rtx/markouts.pid
  stop_pid worker .rtx/worker.pid
  if [ "$STARTED_BROKER" = 1 ]; then
    echo "==> stopping the Kafka broker"
    "$RTX" kafka stop || true
  fi
  echo "==> demo stopped"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

for name in worker markouts bridge simulator; do
  if [ -f ".rtx/$name.pid" ] && kill -0 "$(cat ".rtx/$name.pid")" 2>/dev/null; then
    echo "error: a $name from an earlier demo still runs (pid $(cat ".rtx/$name.pid")); run 'make stop' first" >&2
    trap - EXIT
    exit 1
  fi
done

if [ -z "${KAFKA_BOOTSTRAP_SERVERS:-}" ]; then
  echo "==> starting the local Kafka broker (the first run downloads Kafka from Maven Central)"
  "$RTX" kafka start
  STARTED_BROKER=1
  export KAFKA_BOOTSTRAP_SERVERS=127.0.0.1:9092
else
  echo "==> using the Kafka broker at KAFKA_BOOTSTRAP_SERVERS=$KAFKA_BOOTSTRAP_SERVERS"
fi
echo "==> applying the topic table"
"$RTX" topics apply

if [ ! -f clients/typescript/dist/index.js ] \
  || [ -n "$(find clients/typescript/src clients/typescript/package-lock.json -newer clients/typescript/dist/index.js 2>/dev/null)" ]; then
  echo "==> building the TypeScript client the dashboard uses (npm ci, tsc; the first run downloads packages)"
  (cd clients/typescript && npm ci --no-audit --no-fund --loglevel=error && npm run build --silent)
fi

export RTX_EXPOSURE_LIMIT_USD="${RTX_EXPOSURE_LIMIT_USD:-5000000}"
# The simulator steers the gross exposure through its breach episodes: measure the limit on
# that basis here, so the demo shows them (the worker's default is bbook-net: docs/exposure.md).
export RTX_EXPOSURE_BASIS="${RTX_EXPOSURE_BASIS:-gross}"
echo "==> starting the stream-processing worker (exposure limit $RTX_EXPOSURE_LIMIT_USD USD; log: .rtx/worker.log)"
"$RTX" worker > .rtx/worker.log 2>&1 &
echo $! > .rtx/worker.pid
for _ in $(seq 1 120); do
  grep -q "Worker]: Ready" .rtx/worker.log 2>/dev/null && break
  kill -0 "$(cat .rtx/worker.pid)" 2>/dev/null || break
  sleep 0.5
done
grep -q "Worker]: Ready" .rtx/worker.log || { echo "error: the worker did not start; see .rtx/worker.log" >&2; exit 1; }

echo "==> starting the markouts process: flow toxicity, routing advice (log: .rtx/markouts.log)"
"$RTX" markouts > .rtx/markouts.log 2>&1 &
echo $! > .rtx/markouts.pid
for _ in $(seq 1 120); do
  grep -q "markout boards started" .rtx/markouts.log 2>/dev/null && break
  kill -0 "$(cat .rtx/markouts.pid)" 2>/dev/null || break
  sleep 0.5
done
grep -q "markout boards started" .rtx/markouts.log || { echo "error: the markouts process did not start; see .rtx/markouts.log" >&2; exit 1; }

# The bridge in dev mode: tokens are checked with a PUBLIC dev secret (never in production).
# Browsers send an Origin: the dashboard's own must be allowed.
export RTX_BRIDGE_DEV_MODE=1
export RTX_BRIDGE_ALLOWED_ORIGINS=${RTX_BRIDGE_ALLOWED_ORIGINS:-http://127.0.0.1:7999,http://localhost:7999}
echo "==> starting the WebSocket bridge and dashboard on port 7999 (DEV MODE; log: .rtx/bridge.log)"
"$RTX" bridge > .rtx/bridge.log 2>&1 &
echo $! > .rtx/bridge.pid
for _ in $(seq 1 120); do
  curl -fs http://127.0.0.1:7999/readyz >/dev/null 2>&1 && break
  kill -0 "$(cat .rtx/bridge.pid)" 2>/dev/null || break
  sleep 0.5
done
curl -fs http://127.0.0.1:7999/readyz >/dev/null || { echo "error: the bridge did not become ready; see .rtx/bridge.log" >&2; exit 1; }
TOKEN=$("$RTX" token --sub demo --roles admin --ttl 8h)

cat <<MSG

  Dashboard:  http://127.0.0.1:7999/dashboard/?token=$TOKEN
              (a DEV token, valid 8 h, signed with the public dev secret; the page removes it
              from the address bar. Or open http://127.0.0.1:7999/dashboard/ and paste it.)
  WebSocket:  ws://127.0.0.1:7999/ws/analytics      status: http://127.0.0.1:7999/api/analytics/status
  Metrics:    worker http://127.0.0.1:9464/metrics   markouts http://127.0.0.1:9465/metrics
              bridge http://127.0.0.1:7999/metrics
  Topics:     $RTX tail exposure -f   |   $RTX tail alerts --from-beginning
              $RTX tail routing_advice --from-beginning   (toxic accounts: after a few minutes)

  Simulated traffic at $RATE events/s follows (progress every 10 s). Ctrl-C stops everything.

MSG
echo "==> simulating broker traffic: quotes, LPs, routing, positions, limit breaches ($RATE events/s)"
"$RTX" simulate --rate "$RATE" --report-every 10 &
echo $! > .rtx/simulator.pid
wait "$(cat .rtx/simulator.pid)"
