#!/usr/bin/env bash
# The Go SDK's checks, for `make test`: gofmt, go vet and go test, including the tests against
# the real broker at KAFKA_BOOTSTRAP_SERVERS (required here: nothing is skipped). Modules come
# from the Go module proxy into the default module cache (go.sum pins them).
set -euo pipefail
cd "$(dirname "$0")"
if ! command -v go >/dev/null 2>&1; then
  echo "error: 'go' not found on PATH: the Go SDK (clients/go) needs Go >= 1.26" >&2
  exit 2
fi
if [ -z "${KAFKA_BOOTSTRAP_SERVERS:-}" ]; then
  echo "error: KAFKA_BOOTSTRAP_SERVERS is not set: the Go SDK's real-broker tests need a broker" >&2
  exit 2
fi
echo "==> Go SDK (clients/go) with $(go version | cut -d' ' -f3-)"
echo "==> go mod download (the modules pinned in go.sum)"
go mod download
echo "==> gofmt -l (every file formatted)"
unformatted=$(gofmt -l .)
if [ -n "$unformatted" ]; then
  echo "error: not gofmt-formatted: $unformatted" >&2
  exit 1
fi
echo "==> go vet ./... (and bench/go_sdk, the benchmark program that uses the SDK)"
go vet ./...
(cd ../../bench/go_sdk && go vet ./...)
echo "==> go test -race ./... (golden vectors, bad inputs, schemas; real broker at $KAFKA_BOOTSTRAP_SERVERS)"
RTX_GO_REQUIRE_KAFKA=1 go test -count=1 -race ./...
