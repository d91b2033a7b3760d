#!/usr/bin/env bash
# `make demo`: run the product on this machine. Today: a local Kafka broker, the topic table,
# the stream-processing worker, the WebSocket bridge (dev mode) and sample events through the
# producer SDK. Later issues add the simulator and the dashboard here. `make stop` stops it all.
set -euo pipefail
cd "$(dirname "$0")/.."
RTX="${VENV:-.venv}/bin/rtx-analytics"
mkdir -p .rtx

if [ -z "${KAFKA_BOOTSTRAP_SERVERS:-}" ]; then
  echo "==> starting the local Kafka broker (first run downloads Kafka from Maven Central)"
  "$RTX" kafka start
  export KAFKA_BOOTSTRAP_SERVERS=127.0.0.1:9092
else
  echo "==> using the Kafka broker at KAFKA_BOOTSTRAP_SERVERS=$KAFKA_BOOTSTRAP_SERVERS"
fi
echo "==> applying the topic table"
"$RTX" topics apply

# The sample book is tens of millions of USD: a demo limit that makes utilisation readable.
export RTX_EXPOSURE_LIMIT_USD="${RTX_EXPOSURE_LIMIT_USD:-60000000}"
if [ -f .rtx/worker.pid ] && kill -0 "$(cat .rtx/worker.pid)" 2>/dev/null; then
  echo "==> the worker is already running (pid $(cat .rtx/worker.pid))"
else
  echo "==> starting the stream-processing worker (log: .rtx/worker.log)"
  nohup "$RTX" worker > .rtx/worker.log 2>&1 &
  echo $! > .rtx/worker.pid
  for _ in $(seq 1 60); do
    grep -q "Worker]: Ready" .rtx/worker.log 2>/dev/null && break
    sleep 0.5
  done
  grep -q "Worker]: Ready" .rtx/worker.log || { echo "error: the worker did not start; see .rtx/worker.log" >&2; exit 1; }
fi

# The bridge in dev mode: tokens are checked with a PUBLIC dev secret (never in production).
export RTX_BRIDGE_DEV_MODE=1
if [ -f .rtx/bridge.pid ] && kill -0 "$(cat .rtx/bridge.pid)" 2>/dev/null; then
  echo "==> the WebSocket bridge is already running (pid $(cat .rtx/bridge.pid))"
else
  echo "==> starting the WebSocket bridge on port 7999 (log: .rtx/bridge.log)"
  nohup "$RTX" bridge > .rtx/bridge.log 2>&1 &
  echo $! > .rtx/bridge.pid
  for _ in $(seq 1 60); do
    curl -fs http://127.0.0.1:7999/readyz >/dev/null 2>&1 && break
    sleep 0.5
  done
  curl -fs http://127.0.0.1:7999/readyz >/dev/null || { echo "error: the bridge did not become ready; see .rtx/bridge.log" >&2; exit 1; }
fi
TOKEN=$("$RTX" token --sub demo --roles admin --ttl 8h)

echo "==> sending sample events through the producer SDK"
"$RTX" produce --count "${RTX_DEMO_EVENTS:-2000}"
sleep 3
echo "==> latest exposure-change (rtx-analytics tail exposure --last 1)"
"$RTX" tail exposure --last 1 | cut -c1-400
echo "==> latest alerts (rtx-analytics tail alerts --last 3)"
"$RTX" tail alerts --last 3 | cut -c1-300
echo "==> a dashboard's view: subscribe over WebSocket and print the first frames"
TOKEN="$TOKEN" "${VENV:-.venv}/bin/python" - <<'PY'
import asyncio, json, os
from websockets.asyncio.client import connect

async def main() -> None:
    url = "ws://127.0.0.1:7999/ws/analytics?token=" + os.environ["TOKEN"]
    async with connect(url) as ws:
        await ws.send(json.dumps({"action": "subscribe", "channels": [
            "routing-metrics", "lp-performance", "exposure-updates", "alerts"]}))
        for _ in range(3):
            frame = json.loads(await asyncio.wait_for(ws.recv(), 10))
            print(f"  frame of {len(frame)} message(s): {json.dumps(frame)[:220]}")

asyncio.run(main())
PY

cat <<MSG

Demo running. What happened:
  - a Kafka broker runs at $KAFKA_BOOTSTRAP_SERVERS ('$RTX kafka status' shows its log and data)
  - the topic table is applied ('$RTX topics list -v' prints it)
  - the worker (pid $(cat .rtx/worker.pid)) turns events into exposure, alerts, routing and LP
    metrics; Prometheus metrics at http://127.0.0.1:9464/metrics
  - the WebSocket bridge (pid $(cat .rtx/bridge.pid), DEV MODE) serves dashboards at
    ws://127.0.0.1:7999/ws/analytics ; status: http://127.0.0.1:7999/api/analytics/status
    a dev token (8 h): $TOKEN
  - sample quotes, LP status, routing decisions, positions and alerts were published as Avro

Watch derived topics: $RTX tail exposure -f   |   $RTX tail alerts --from-beginning
Stop everything with: make stop
MSG
