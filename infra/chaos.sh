#!/usr/bin/env bash
# `make chaos`: the heavy fault tests (pytest -m chaos, tests/reliability/test_faults_*.py).
#
#   1. worker kill -9 three times under 3,000 events/s (on the broker below);
#   3. the broker killed (-9) twice under load, with the worker and a real bridge running
#      (the test starts a broker of its own, since it restarts it);
#   4. each broker of a 3-node cluster (RF 3, min.insync.replicas 2) killed in turn under load
#      (the test starts its own cluster).
#
# When KAFKA_BOOTSTRAP_SERVERS is unset it starts a fresh local broker for test 1 on
# RTX_CHAOS_KAFKA_PORT (default 19392; state in RTX_CHAOS_KAFKA_DIR, default .rtx/chaos-kafka)
# and stops it on exit, also when a test fails. RTX_FAULTS_KAFKA_PORT / RTX_FAULTS_CLUSTER_PORT
# pin the ports of the tests' own brokers (default: free ports in 20000-29999).
# Extra arguments go to pytest (e.g. -k cluster). Takes about 10 minutes on 2 cores.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${VENV:-.venv}
RTX="$VENV/bin/rtx-analytics"
PORT=${RTX_CHAOS_KAFKA_PORT:-19392}
STATE=${RTX_CHAOS_KAFKA_DIR:-.rtx/chaos-kafka}

if [ -z "${KAFKA_BOOTSTRAP_SERVERS:-}" ]; then
  "$RTX" kafka stop --state-dir "$STATE" >/dev/null 2>&1 || true
  rm -rf "$STATE"
  echo "==> starting a fresh local Kafka broker for the chaos tests on 127.0.0.1:$PORT ($STATE)"
  stop_broker() {
    echo "==> stopping the chaos broker"
    "$RTX" kafka stop --state-dir "$STATE" || true
  }
  trap stop_broker EXIT
  # As make test's broker: no deletion by retention (docs/kafka-local.md, "The test broker").
  export RTX_KAFKA_SERVER_PROPERTIES="${RTX_KAFKA_SERVER_PROPERTIES-$("$VENV/bin/python" -c \
    'from infra.kafka_local import TEST_BROKER_PROPERTIES as p; print(p)')}"
  "$RTX" kafka start --port "$PORT" --state-dir "$STATE" --heap 512M
  export KAFKA_BOOTSTRAP_SERVERS="127.0.0.1:$PORT"
else
  echo "==> using the Kafka broker at KAFKA_BOOTSTRAP_SERVERS=$KAFKA_BOOTSTRAP_SERVERS"
fi

echo "==> pytest -m chaos tests/reliability (progress lines start with [faults ...])"
"$VENV/bin/pytest" -m chaos -s tests/reliability "$@"
