#!/usr/bin/env bash
# `make demo`: run the product on this machine. Today: a local Kafka broker, the topic table,
# the stream-processing worker, and sample events through the producer SDK. Later issues add
# the WebSocket bridge, the simulator and the dashboard here. `make stop` stops it all.
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

echo "==> sending sample events through the producer SDK"
"$RTX" produce --count "${RTX_DEMO_EVENTS:-2000}"
sleep 3
echo "==> latest exposure-change (rtx-analytics tail exposure --last 1)"
"$RTX" tail exposure --last 1 | cut -c1-400
echo "==> latest alerts (rtx-analytics tail alerts --last 3)"
"$RTX" tail alerts --last 3 | cut -c1-300

cat <<MSG

Demo running. What happened:
  - a Kafka broker runs at $KAFKA_BOOTSTRAP_SERVERS ('$RTX kafka status' shows its log and data)
  - the topic table is applied ('$RTX topics list -v' prints it)
  - the worker (pid $(cat .rtx/worker.pid)) turns events into exposure, alerts, routing and LP
    metrics; Prometheus metrics at http://127.0.0.1:9464/metrics
  - sample quotes, LP status, routing decisions, positions and alerts were published as Avro

Watch derived topics: $RTX tail exposure -f   |   $RTX tail alerts --from-beginning
Stop everything with: make stop
MSG
