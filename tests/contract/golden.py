"""The golden vectors in ``schemas/vectors/``, read (and, after a deliberate change, rewritten)
with the Python SDK's public API. Shared by the tests in this folder; the Go SDK's tests read the
same files (``clients/go/rtx/vectors_test.go``).

``events.json``: for each input event type, builder inputs (the Python builder's keyword
names) and what must come out: the exact Avro single-object bytes (hex), the Kafka key, and the
partition for 6 and 12 partitions. ``invalid.json``: inputs that both SDKs refuse, with the
field and the exact message.

Inputs are JSON. Numbers for float fields may be written as integers (read as floats, as a Go
``float64`` is); NaN and infinities are ``{"$float": "nan" | "inf" | "-inf"}``;
``event_time`` is int microseconds since the epoch.

After a deliberate change of a schema or a rule, rewrite the outputs and review the diff::

    .venv/bin/python -m tests.contract.golden --write
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from aiokafka.partitioner import murmur2

from schemas.codec import default_codec
from streams import events
from streams.topics import BY_LOGICAL

ROOT = Path(__file__).resolve().parents[2]
VECTORS = ROOT / "schemas" / "vectors"
EVENTS_FILE = VECTORS / "events.json"
INVALID_FILE = VECTORS / "invalid.json"
PARTITION_COUNTS = (6, 12)

Builder = Callable[..., dict[str, Any]]

# schema name -> (builder, topic table row, key field)
EVENTS: dict[str, tuple[Builder, str, str]] = {
    "RoutingDecision": (events.routing_decision, "routing_decisions", "symbol"),
    "LpStatus": (events.lp_status, "lp_status", "lpName"),
    "PositionState": (events.position, "positions", "positionId"),
    "Quote": (events.quote, "quotes", "symbol"),
    "ServiceAlert": (events.service_alert, "alerts_inbound", "source"),
}
# The Python SDK's Publisher method for each event (the calls a service makes).
SDK_METHODS = {
    "RoutingDecision": "routing_decision",
    "LpStatus": "lp_status",
    "PositionState": "position",
    "Quote": "quote",
    "ServiceAlert": "alert",
}
# Builder arguments that are integers on both sides; every other number is a double.
INTEGER_ARGS = frozenset({"version", "event_time"})
SPECIAL_FLOATS = {"nan": float("nan"), "inf": float("inf"), "-inf": float("-inf")}


def load(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return data


def python_args(raw: dict[str, Any]) -> dict[str, Any]:
    """JSON inputs as the builder's keyword arguments."""
    out: dict[str, Any] = {}
    for name, value in raw.items():
        if isinstance(value, dict) and set(value) == {"$float"}:
            out[name] = SPECIAL_FLOATS[value["$float"]]
        elif type(value) is int and name not in INTEGER_ARGS:
            out[name] = float(value)
        else:
            out[name] = value
    return out


def partition(key: str, partitions: int) -> int:
    """The Java client's default partitioner for keyed records, as the Python SDK uses it:
    toPositive(murmur2(key)) % partitions."""
    return int((murmur2(key.encode()) & 0x7FFFFFFF) % partitions)


def build(event: str, raw: dict[str, Any]) -> dict[str, Any]:
    builder = EVENTS[event][0]
    return builder(**python_args(raw))


def expected_outputs(event: str, raw: dict[str, Any]) -> dict[str, Any]:
    """What the Python SDK makes of one vector's inputs."""
    record = build(event, raw)
    key = record[EVENTS[event][2]]
    return {
        "key": key,
        "partitions": {str(n): partition(key, n) for n in PARTITION_COUNTS},
        "hex": default_codec().encode(event, record).hex(),
    }


def expected_schemas() -> dict[str, dict[str, str]]:
    codec = default_codec()
    return {
        name: {
            "topic": BY_LOGICAL[logical].suffix,
            "key": key,
            "fingerprint": codec.schema(name).fingerprint.hex(),
        }
        for name, (_builder, logical, key) in EVENTS.items()
    }


def case_args(doc: dict[str, Any], case: dict[str, Any]) -> dict[str, Any]:
    """One invalid case's inputs: the event's valid base with the case's changes."""
    raw = dict(doc["bases"][case["event"]])
    for name in case.get("unset", ()):
        raw.pop(name)
    raw.update(case.get("set", {}))
    return raw


def refusal(event: str, raw: dict[str, Any]) -> events.InvalidEvent:
    try:
        build(event, raw)
    except events.InvalidEvent as exc:
        return exc
    raise AssertionError(f"{event} accepted {raw}")


def write() -> None:
    """Recompute every output from the inputs with the Python SDK and write both files."""
    doc = load(EVENTS_FILE)
    doc["schemas"] = expected_schemas()
    for v in doc["vectors"]:
        v.update(expected_outputs(v["event"], v["input"]))
    EVENTS_FILE.write_text(json.dumps(doc, indent=1, ensure_ascii=False) + "\n", "utf-8")
    print(f"wrote {EVENTS_FILE.relative_to(ROOT)}: {len(doc['vectors'])} vectors")
    bad = load(INVALID_FILE)
    for case in bad["cases"]:
        exc = refusal(case["event"], case_args(bad, case))
        case["field"], case["message"] = exc.field, str(exc)
    INVALID_FILE.write_text(json.dumps(bad, indent=1, ensure_ascii=False) + "\n", "utf-8")
    print(f"wrote {INVALID_FILE.relative_to(ROOT)}: {len(bad['cases'])} cases")


def main() -> None:
    parser = argparse.ArgumentParser(description="Check or rewrite the golden vectors.")
    parser.add_argument("--write", action="store_true", help="rewrite the outputs")
    args = parser.parse_args()
    if args.write:
        write()
    else:
        print("nothing to do: the tests check the vectors; --write rewrites their outputs")


if __name__ == "__main__":
    main()
