"""How long `infra.kafka_local.start` takes until the broker answers Metadata requests.

    .venv/bin/python bench/kafka_startup.py [--nodes 1] [--port 19992] [--runs 3] [--cold-maven]

Measured, each in a fresh temporary directory:

* first start: empty jar cache (``XDG_CACHE_HOME`` points at an empty folder, so ``mvn``
  copies the jars again) and fresh state (the storage is formatted);
* later start: warm jar cache and formatted storage, i.e. ``kafka start`` after ``kafka stop``
  (``--runs`` times; median reported);
* warm cache, fresh state: the jars are cached but the storage is formatted again (what a test
  session with a temporary state dir pays);
* stop: SIGTERM until the JVM(s) exited.

The first start reuses the local Maven repository (``~/.m2``) unless ``--cold-maven`` points
Maven at an empty one as well (``MAVEN_OPTS=-Dmaven.repo.local=...``), which downloads about
45 MB from Maven Central.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from infra import kafka_local


def _quiet(_line: str) -> None:
    pass


def _timed(func: Callable[[], object]) -> float:
    began = time.perf_counter()
    func()
    return time.perf_counter() - began


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=int, default=1)
    parser.add_argument("--port", type=int, default=19992)
    parser.add_argument("--runs", type=int, default=3, help="later starts to time (median)")
    parser.add_argument("--heap", default="1G")
    parser.add_argument("--version", dest="kafka_version", default="4.3.1")
    parser.add_argument("--cold-maven", action="store_true", help="empty ~/.m2 too")
    parser.add_argument("--verbose", action="store_true", help="show the launcher's output")
    args = parser.parse_args()
    out = print if args.verbose else _quiet

    with tempfile.TemporaryDirectory(prefix="rtx-kafka-bench-") as tmp:
        root = Path(tmp)
        os.environ["XDG_CACHE_HOME"] = str(root / "cache")
        if args.cold_maven:
            repo = f"-Dmaven.repo.local={root / 'm2'}"
            os.environ["MAVEN_OPTS"] = f"{os.environ.get('MAVEN_OPTS', '')} {repo}".strip()

        def start(state: Path) -> None:
            kafka_local.start(
                nodes=args.nodes,
                port=args.port,
                state_dir=state,
                kafka_version=args.kafka_version,
                heap=args.heap,
                out=out,
            )

        def stop(state: Path) -> None:
            assert kafka_local.stop(state_dir=state, out=out)

        state = root / "state"
        try:
            first = _timed(lambda: start(state))
            stops = [_timed(lambda: stop(state))]
            later = []
            for _ in range(args.runs):
                later.append(_timed(lambda: start(state)))
                stops.append(_timed(lambda: stop(state)))
            fresh_state = root / "state-2"
            fresh = _timed(lambda: start(fresh_state))
            stops.append(_timed(lambda: stop(fresh_state)))
        finally:
            kafka_local.stop(state_dir=state, out=_quiet)
            kafka_local.stop(state_dir=root / "state-2", out=_quiet)

    cpus = os.cpu_count()
    print(
        f"Kafka {args.kafka_version}, {args.nodes} node(s), heap {args.heap}; "
        f"{platform.system()} {platform.machine()}, {cpus} CPUs, Python {platform.python_version()}"
    )
    maven = "empty ~/.m2 too" if args.cold_maven else "~/.m2 as is"
    print(f"first start (empty jar cache, {maven}; fresh state): {first:6.1f} s")
    runs = ", ".join(f"{t:.1f}" for t in later)
    print(
        f"later start (warm cache, formatted state), median: {statistics.median(later):6.1f} s "
        f"(runs: {runs})"
    )
    print(f"warm cache, fresh state (format + start):           {fresh:6.1f} s")
    print(f"stop, median:                                       {statistics.median(stops):6.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
