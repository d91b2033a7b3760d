# The README's two commands: `make demo` runs the product, `make test` runs the whole suite.
# Both set up everything themselves: a virtualenv in .venv, the package and its test tools,
# and (when KAFKA_BOOTSTRAP_SERVERS is unset) a local Apache Kafka broker from Maven Central.

SHELL := /bin/bash
VENV ?= .venv
# The first Python >= 3.11 on PATH.
PYTHON ?= $(shell for p in python3.11 python3.12 python3.13 python3; do \
	command -v $$p >/dev/null 2>&1 && $$p -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null \
	&& { echo $$p; break; }; done)
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml | sha1sum | cut -c1-12)
RTX := $(VENV)/bin/rtx-analytics

.PHONY: demo stop test test-fast lint install bench fuzz chaos clean kafka-start kafka-stop help

help:
	@echo "make demo   run the product until Ctrl-C (broker, topics, worker, bridge + dashboard, simulator)"
	@echo "make stop   stop what a killed make demo left running"
	@echo "make test   run the whole test suite (starts and stops its own broker)"
	@echo "make test-fast  the inner loop: lint + the suite without the tests marked slow"
	@echo "make lint   ruff + mypy --strict + import contracts (lint-imports)"
	@echo "make bench  run the benchmarks in bench/ against the demo broker"
	@echo "make fuzz   100,000 fuzzed inputs through the worker's input path (docs/reliability.md)"
	@echo "make chaos  heavy fault tests: worker kill -9 x3, broker kill -9 x2, each of 3 brokers lost (docs/reliability.md)"

$(STAMP): pyproject.toml
	@if [ -z "$(PYTHON)" ]; then echo "error: Python >= 3.11 not found on PATH (install python3.11 or newer)" >&2; exit 2; fi
	@echo "==> creating virtualenv $(VENV) with $(PYTHON) ($$($(PYTHON) --version))"
	@$(PYTHON) -m venv $(VENV)
	@echo "==> installing rtx-analytics and its test tools into $(VENV)"
	@$(VENV)/bin/pip install --quiet --upgrade pip
	@$(VENV)/bin/pip install --quiet --progress-bar off -e '.[test,dev]'
	@rm -f $(VENV)/.installed-* && touch $@

install: $(STAMP)

test: $(STAMP)
	@bash infra/run-tests.sh

# Everything but the tests marked slow (long fault and broker tests) and the non-Python suites;
# make test (and CI) runs them all.
test-fast: $(STAMP)
	@RTX_TEST_FAST=1 bash infra/run-tests.sh -m "not slow and not chaos"

lint: $(STAMP)
	@echo "==> ruff check + format check"
	@$(VENV)/bin/ruff check streams schemas ws_bridge infra tests bench clients/typescript/test clients/dashboard/test
	@$(VENV)/bin/ruff format --check streams schemas ws_bridge infra tests bench clients/typescript/test clients/dashboard/test
	@echo "==> mypy --strict"
	@$(VENV)/bin/mypy
	@echo "==> import contracts (lint-imports; pyproject.toml [tool.importlinter])"
	@PYTHONPATH=. $(VENV)/bin/lint-imports

demo: $(STAMP)
	@bash infra/demo.sh

stop:
	@if [ -f .rtx/simulator.pid ] && kill -0 $$(cat .rtx/simulator.pid) 2>/dev/null; then \
		echo "==> stopping the simulator (pid $$(cat .rtx/simulator.pid))"; kill $$(cat .rtx/simulator.pid); \
		for i in $$(seq 1 40); do kill -0 $$(cat .rtx/simulator.pid) 2>/dev/null || break; sleep 0.25; done; \
	fi; rm -f .rtx/simulator.pid
	@if [ -f .rtx/bridge.pid ] && kill -0 $$(cat .rtx/bridge.pid) 2>/dev/null; then \
		echo "==> stopping the WebSocket bridge (pid $$(cat .rtx/bridge.pid))"; kill $$(cat .rtx/bridge.pid); \
		for i in $$(seq 1 40); do kill -0 $$(cat .rtx/bridge.pid) 2>/dev/null || break; sleep 0.25; done; \
	fi; rm -f .rtx/bridge.pid
	@if [ -f .rtx/markouts.pid ] && kill -0 $$(cat .rtx/markouts.pid) 2>/dev/null; then \
		echo "==> stopping the markouts process (pid $$(cat .rtx/markouts.pid))"; kill $$(cat .rtx/markouts.pid); \
		for i in $$(seq 1 40); do kill -0 $$(cat .rtx/markouts.pid) 2>/dev/null || break; sleep 0.25; done; \
	fi; rm -f .rtx/markouts.pid
	@if [ -f .rtx/worker.pid ] && kill -0 $$(cat .rtx/worker.pid) 2>/dev/null; then \
		echo "==> stopping the worker (pid $$(cat .rtx/worker.pid))"; kill $$(cat .rtx/worker.pid); \
		for i in $$(seq 1 40); do kill -0 $$(cat .rtx/worker.pid) 2>/dev/null || break; sleep 0.25; done; \
	fi; rm -f .rtx/worker.pid
	@-[ -x $(RTX) ] && $(RTX) kafka stop || true

chaos: $(STAMP)
	@bash infra/chaos.sh

fuzz: $(STAMP)
	@echo "==> 100,000 fuzzed inputs through the worker's decode/validate/pipeline path"
	@$(VENV)/bin/python bench/fuzz_decoder.py

bench: $(STAMP)
	@$(RTX) kafka start
	@KAFKA_BOOTSTRAP_SERVERS=$${KAFKA_BOOTSTRAP_SERVERS:-127.0.0.1:9092} $(VENV)/bin/python bench/sdk_throughput.py

kafka-start: $(STAMP)
	@$(RTX) kafka start

kafka-stop: $(STAMP)
	@$(RTX) kafka stop

clean:
	@-[ -x $(RTX) ] && $(RTX) kafka stop || true
	rm -rf $(VENV) .rtx .pytest_cache .mypy_cache .ruff_cache .hypothesis *.egg-info
