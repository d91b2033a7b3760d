#!/usr/bin/env bash
# `make demo`: run the product on this machine. Today: a local Kafka broker, the topic table,
# and sample events through the producer SDK. Later issues add the worker, the WebSocket bridge,
# the simulator and the dashboard here.
set -euo pipefail
cd "$(dirname "$0")/.."
RTX="${VENV:-.venv}/bin/rtx-analytics"

if [ -z "${KAFKA_BOOTSTRAP_SERVERS:-}" ]; then
  echo "==> starting the local Kafka broker (first run downloads Kafka from Maven Central)"
  "$RTX" kafka start
  export KAFKA_BOOTSTRAP_SERVERS=127.0.0.1:9092
else
  echo "==> using the Kafka broker at KAFKA_BOOTSTRAP_SERVERS=$KAFKA_BOOTSTRAP_SERVERS"
fi
echo "==> applying the topic table"
"$RTX" topics apply
echo "==> sending sample events through the producer SDK"
"$RTX" produce --count "${RTX_DEMO_EVENTS:-2000}"

cat <<MSG

Demo done. What happened:
  - a Kafka broker runs at $KAFKA_BOOTSTRAP_SERVERS ('$RTX kafka status' shows its log and data)
  - the topic table is applied ('$RTX topics list -v' prints it)
  - sample quotes, LP status, routing decisions, positions and alerts were published as Avro

Stop the broker with: make kafka-stop   (or: $RTX kafka stop)
MSG
