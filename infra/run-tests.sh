#!/usr/bin/env bash
# `make test`: lint, then the whole pytest suite against a real Kafka broker.
# When KAFKA_BOOTSTRAP_SERVERS is unset it starts a fresh local broker (infra/kafka_local/) on
# RTX_TEST_KAFKA_PORT (default 19092, so a demo broker on 9092 is left alone) and stops it on
# exit, also when the tests fail. Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${VENV:-.venv}
RTX="$VENV/bin/rtx-analytics"
PORT=${RTX_TEST_KAFKA_PORT:-19092}
STATE=${RTX_TEST_KAFKA_DIR:-.rtx/test-kafka}

echo "==> lint (ruff, mypy --strict, import contracts)"
"$VENV/bin/ruff" check streams schemas ws_bridge infra tests bench clients/typescript/test clients/dashboard/test
"$VENV/bin/ruff" format --check streams schemas ws_bridge infra tests bench clients/typescript/test clients/dashboard/test
"$VENV/bin/mypy"
PYTHONPATH=. "$VENV/bin/lint-imports"

if [ -z "${KAFKA_BOOTSTRAP_SERVERS:-}" ]; then
  "$RTX" kafka stop --state-dir "$STATE" >/dev/null 2>&1 || true
  rm -rf "$STATE"
  echo "==> starting a fresh local Kafka broker for the tests on 127.0.0.1:$PORT ($STATE)"
  stop_broker() {
    echo "==> stopping the test broker"
    "$RTX" kafka stop --state-dir "$STATE" || true
  }
  trap stop_broker EXIT
  # No deletion by retention while the tests run: they write Kafka timestamps from January 2026,
  # older than the topics' retention (TEST_BROKER_PROPERTIES in infra/kafka_local/node_setup.py).
  export RTX_KAFKA_SERVER_PROPERTIES="${RTX_KAFKA_SERVER_PROPERTIES-$("$VENV/bin/python" -c \
    'from infra.kafka_local import TEST_BROKER_PROPERTIES as p; print(p)')}"
  "$RTX" kafka start --port "$PORT" --state-dir "$STATE"
  export KAFKA_BOOTSTRAP_SERVERS="127.0.0.1:$PORT"
else
  echo "==> using the Kafka broker at KAFKA_BOOTSTRAP_SERVERS=$KAFKA_BOOTSTRAP_SERVERS"
  echo "    (tests write Kafka timestamps from January 2026: give that broker the properties of"
  echo "    docs/kafka-local.md, \"The test broker\", or its retention can delete them)"
fi

VENV_ABS=$(cd "$VENV" && pwd)
echo "==> building the TypeScript client (clients/typescript: npm ci, tsc); the bridge fault tests run it"
(cd clients/typescript && npm ci --no-audit --no-fund && npm run build)

if [ -n "${RTX_TEST_FAST:-}" ]; then
  echo "==> pytest $* (make test-fast: no slow tests, no TypeScript, Go or browser suites)"
  "$VENV/bin/pytest" "$@"
  exit 0
fi

echo "==> pytest (the heavy fault tests marked chaos run under make chaos)"
"$VENV/bin/pytest" -m "not chaos" "$@"

echo "==> Go SDK (clients/go/test.sh: gofmt, go vet, go test -race with the real broker)"
bash clients/go/test.sh

echo "==> TypeScript client tests (node --test against a real bridge)"
(cd clients/typescript && export RTX_VENV="$VENV_ABS" && npm test)

echo "==> dashboard (clients/dashboard): headless Chromium against a real bridge"
if [ ! -x /usr/bin/chromium ]; then
  echo "==> installing Debian's chromium (apt-get; the browser Playwright downloads itself is not reachable)"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium
fi
(cd clients/dashboard && npm ci --no-audit --no-fund && npm test)
