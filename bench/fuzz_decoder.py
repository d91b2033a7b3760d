"""Fuzz the worker's input path with many bad inputs: 100,000 by default.

Each input is one class of bad input (random bytes, bit flips, truncations, wrong fingerprints,
huge lengths, bad union/enum indexes, invalid UTF-8, bad varints and booleans, NaN/inf and other
special doubles, out-of-range values; ``tests/reliability/avro_mutations.py``) for one of the
five input topics, run through decode -> validate -> stage 1 -> global stage -> output encoding,
as the worker does. Only DecodeError and InvalidEvent may stop an input; anything else is a
crash. Each input runs under a watchdog (SIGALRM after --limit-s, faulthandler exit after three
times that): a hang, not a speed goal.

    .venv/bin/python bench/fuzz_decoder.py                     # hypothesis, 100,000 inputs
    .venv/bin/python bench/fuzz_decoder.py --engine random --inputs 1000000 --seed 7

Prints progress every 10,000 inputs, then the totals per class and outcome; exit code 1 when
anything crashed or hung.
"""

from __future__ import annotations

import argparse
import random
import sys
import time
import traceback
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repository, for tests/

from hypothesis import HealthCheck, Phase, given, seed, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from tests.helpers.avro_mutations import (  # noqa: E402
    CLASSES,
    Crash,
    Hang,
    HypothesisChooser,
    RandomChooser,
    Sample,
    Watchdog,
    WorkerPath,
    generate,
    watchdog,
)


class Run:
    def __init__(self, total: int, limit_s: float, dog: Watchdog) -> None:
        self.dog = dog
        self.total = total
        self.limit_s = limit_s
        self.path = WorkerPath()
        self.outcomes: Counter[tuple[str, str]] = Counter()
        self.crashes: list[str] = []
        self.hangs: list[str] = []
        self.started = time.monotonic()

    @property
    def tried(self) -> int:
        return sum(self.outcomes.values())

    def one(self, sample: Sample) -> None:
        self.dog.arm()
        try:
            outcome = self.path.run(sample.schema, sample.data).split(":")[0]
        except Crash as exc:
            outcome = "CRASH"
            self.crashes.append(f"{sample.cls}: {exc}")
            cause = exc.__cause__
            if cause is not None:
                print("".join(traceback.format_exception(cause)[-3:]), flush=True)
            self.path = WorkerPath()  # carry on from a clean state
        except Hang as exc:
            outcome = "HANG"
            self.hangs.append(f"{sample.cls} {sample.schema} {sample.data.hex()}: {exc}")
            self.path = WorkerPath()
        finally:
            self.dog.disarm()
        self.outcomes[(sample.cls, outcome)] += 1
        if self.tried % 10_000 == 0:
            rate = self.tried / (time.monotonic() - self.started)
            print(
                f"  {self.tried:>9,} / {self.total:,} inputs  {rate:,.0f}/s  "
                f"crashes {len(self.crashes)}  hangs {len(self.hangs)}",
                flush=True,
            )

    def report(self) -> None:
        elapsed = time.monotonic() - self.started
        kinds = ("decode", "invalid", "accepted", "CRASH", "HANG")
        print(f"\n{'class':<18}" + "".join(f"{k:>10}" for k in kinds) + f"{'total':>10}")
        for cls in CLASSES:
            row = [self.outcomes[(cls, k)] for k in kinds]
            print(f"{cls:<18}" + "".join(f"{n:>10,}" for n in row) + f"{sum(row):>10,}")
        row = [sum(n for (_, k), n in self.outcomes.items() if k == kind) for kind in kinds]
        print(f"{'all':<18}" + "".join(f"{n:>10,}" for n in row) + f"{sum(row):>10,}")
        print(
            f"\n{self.tried:,} inputs in {elapsed:.1f} s: {len(self.crashes)} crashes, "
            f"{len(self.hangs)} hangs (watchdog {self.limit_s:g} s per input)"
        )
        for line in (self.crashes + self.hangs)[:20]:
            print(f"  {line[:400]}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--inputs", type=int, default=100_000, help="inputs to try (100000)")
    parser.add_argument("--engine", choices=("hypothesis", "random"), default="hypothesis")
    parser.add_argument("--seed", type=int, default=0, help="random seed (0)")
    parser.add_argument("--limit-s", type=float, default=5.0, help="watchdog per input (5 s)")
    args = parser.parse_args()
    if args.inputs < 1:
        parser.error("--inputs must be at least 1")
    print(
        f"fuzzing the worker's input path: {args.inputs:,} inputs, engine {args.engine}, "
        f"seed {args.seed}, {len(CLASSES)} classes x 5 input topics",
        flush=True,
    )
    with watchdog(args.limit_s) as dog:
        run = Run(args.inputs, args.limit_s, dog)
        if args.engine == "random":
            chooser = RandomChooser(random.Random(args.seed))
            for _ in range(args.inputs):
                run.one(generate(chooser))
        else:

            @seed(args.seed)
            @settings(
                max_examples=args.inputs,
                deadline=None,
                database=None,
                phases=[Phase.generate],  # crashes are recorded with their input, not shrunk
                suppress_health_check=list(HealthCheck),
            )
            @given(st.data())
            def fuzz(data: st.DataObject) -> None:
                run.one(generate(HypothesisChooser(data)))

            fuzz()
    run.report()
    return 1 if run.crashes or run.hangs else 0


if __name__ == "__main__":
    sys.exit(main())
