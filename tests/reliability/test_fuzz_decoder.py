"""Bad input on the five input topics: the Avro decoder, the validation rules and the rest of the
worker's path (stage 1, the internal JSON, the global stage, encoding the outputs), fuzzed with
hypothesis. Only ``DecodeError`` and ``InvalidEvent`` may stop an input (the worker dead-letters
it); any other exception is a crash and any input taking seconds is a hang.

The long run (100,000 inputs and more) is ``bench/fuzz_decoder.py``; this one runs in
``make test``.
"""

from __future__ import annotations

import time
from collections import Counter
from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from schemas.codec import DecodeError
from streams import events
from tests.helpers.avro_mutations import (
    CLASSES,
    CODEC,
    INPUTS,
    SEEDS,
    VALID,
    Hang,
    HypothesisChooser,
    WorkerPath,
    generate,
    watchdog,
)

pytestmark = pytest.mark.timeout(120)

EXAMPLES = 10_000  # ~18 s here; bench/fuzz_decoder.py runs 100,000+
LIMIT_S = 5.0  # per input: a hang, not a speed goal (an input takes ~0.1 ms)
# Classes whose every input is damaged on the wire: they must fail to decode, never validate.
NEVER_DECODES = frozenset(CLASSES) - {"bit-flips", "special-double", "out-of-range"}
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    database=None,
    derandomize=True,  # the same inputs every run; bench/fuzz_decoder.py --seed varies them
    phases=[Phase.explicit, Phase.generate, Phase.shrink],
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


def test_fuzzed_input_raises_only_decode_or_validation_errors_and_never_hangs() -> None:
    """Every class of bad input, on every input topic: the outcome is a DecodeError (with its
    reason), an InvalidEvent, or a valid event the whole pipeline processes; no crash, no
    hang; damaged bytes never decode."""
    path = WorkerPath()
    outcomes: Counter[tuple[str, str]] = Counter()

    with watchdog(LIMIT_S) as dog:

        @FUZZ
        @given(st.data())
        def run(data: st.DataObject) -> None:
            sample = generate(HypothesisChooser(data))
            dog.arm()
            try:
                outcome = path.run(sample.schema, sample.data)
            finally:
                dog.disarm()
            if sample.cls in NEVER_DECODES:
                assert outcome.startswith("decode:"), (sample, outcome)
            outcomes[(sample.cls, outcome.split(":")[0])] += 1

        run()

    tried = sum(outcomes.values())
    by_class = Counter(cls for cls, _ in outcomes.elements())
    assert tried >= EXAMPLES * 0.9, tried
    assert set(by_class) == set(CLASSES), by_class
    assert min(by_class.values()) >= tried // len(CLASSES) // 3, by_class
    kinds = {outcome for _, outcome in outcomes}
    assert kinds == {"decode", "invalid", "accepted"}, outcomes


@pytest.mark.parametrize("logical", sorted(INPUTS))
def test_seed_records_are_valid_and_go_through_the_pipeline(logical: str) -> None:
    """The mutations start from valid messages (else the fuzzing would test nothing)."""
    path = WorkerPath()
    for data in VALID[INPUTS[logical]]:
        assert path.run(logical, data) == "accepted"


def _encoded(schema: str, index: int = 0, **changes: Any) -> bytes:
    record = {**SEEDS[schema][index], **changes}
    return CODEC.encode(schema, record)


@pytest.mark.parametrize(
    ("logical", "data"),
    [
        # Found by this fuzzer: a valid-looking quote whose ask is the largest double made
        # the global stage's exposure overflow (OverflowError); a position at that price gave a
        # partial with more than 80 digits (InvalidPartial). Both would repeat on every restart,
        # since the offending message sits in the compacted internal topic.
        ("quotes", _encoded("Quote", ask=1.7976931348623157e308)),
        ("positions", _encoded("PositionState", openPrice=1.7976931348623157e308)),
        ("positions", _encoded("PositionState", volume=1e300)),
        ("routing_decisions", _encoded("RoutingDecision", volume=1e16)),
        ("lp_status", _encoded("LpStatus", 0, latencyMs=1e20)),
    ],
)
def test_absurdly_large_numbers_are_invalid_not_a_crash(logical: str, data: bytes) -> None:
    assert WorkerPath().run(logical, data) == "invalid"
    schema = INPUTS[logical]
    with pytest.raises(events.InvalidEvent, match="magnitude above 1e"):
        events.validate(schema, CODEC.decode(data).record)


def test_the_largest_allowed_numbers_go_through_the_pipeline() -> None:
    path = WorkerPath()
    big = events.MAX_MAGNITUDE
    assert path.run("quotes", _encoded("Quote", bid=big, ask=big)) == "accepted"
    assert path.run("positions", _encoded("PositionState", volume=big, openPrice=big)) == (
        "accepted"
    )
    assert path.run("quotes", _encoded("Quote", 1, symbol="USDJPY", bid=5e-324, ask=5e-324)) == (
        "accepted"
    )


def test_damaged_bytes_raise_decode_errors_with_their_reason() -> None:
    good = VALID["Quote"][0]
    for data, reason in [
        (good[:5], "not-single-object"),
        (good[:-3], "truncated"),
        (good + b"\x00", "corrupt"),
        (b"\xc3\x01" + b"\x00" * 8 + good[10:], "unknown-fingerprint"),
    ]:
        with pytest.raises(DecodeError) as info:
            CODEC.decode(data, expect=("Quote",))
        assert info.value.reason == reason


def test_the_watchdog_turns_a_slow_input_into_a_hang() -> None:
    """The hang check can fail: an input that spins past the limit raises Hang."""
    with pytest.raises(Hang), watchdog(0.05) as dog:
        dog.arm()
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            pass
