"""Bad Avro inputs for the five input topics, and the worker's decode+validate path to feed them.

Generators draw every choice from a :class:`Chooser`, so the same code runs under hypothesis
(``HypothesisChooser``: shrinkable, used by ``make test``) and under a seeded ``random.Random``
(``RandomChooser``: the 100,000-input run of ``bench/fuzz_decoder.py``).

Classes of bad input (``CLASSES``), each built from valid single-object encodings of the topic's
schema (Avro 1.11 specification, "Single-object encoding" and "Binary Encoding"):

==================  ===================================================================
random-bytes        arbitrary bytes, any length (mostly no C3 01 marker)
random-body         a valid header followed by arbitrary bytes
bit-flips           1-8 flipped bits anywhere in a valid message
truncation          a valid message cut short (header included)
trailing-bytes      a valid message with bytes appended
wrong-fingerprint   random fingerprint, or another schema's (derived or other input)
huge-length         a string length / array block count of 2^31 .. 2^63-1, or negative
bad-index           a union or enum index of -1, past the end, or huge
invalid-utf8        a string field holding invalid UTF-8 (bad bytes, surrogates, overlong)
bad-varint          a long written non-minimally, or over 64 bits, or never terminated
bad-boolean         a boolean byte other than 0 or 1
special-double      NaN (any payload), +-inf, -0.0, subnormals, +-max in a double field
out-of-range        a well-formed encoding whose values break the validation rules
==================  ===================================================================
"""

from __future__ import annotations

import faulthandler
import json
import math
import random
import signal
import struct
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

from hypothesis import strategies as st

from schemas.codec import SCHEMA_DIR, DecodeError, default_codec, encode_with
from streams import events
from streams.worker.pipeline import (
    INPUTS,
    GlobalStage,
    InputStage,
    PipelineConfig,
    decode_internal,
    parse_input,
    service_alert,
)

T = TypeVar("T")

# INPUTS (logical topic -> schema) is the worker's own table; tests import it from here too.
CLASSES = (
    "random-bytes",
    "random-body",
    "bit-flips",
    "truncation",
    "trailing-bytes",
    "wrong-fingerprint",
    "huge-length",
    "bad-index",
    "invalid-utf8",
    "bad-varint",
    "bad-boolean",
    "special-double",
    "out-of-range",
)
CODEC = default_codec()


class Chooser(Protocol):
    def integer(self, lo: int, hi: int) -> int: ...
    def choice(self, options: Sequence[T]) -> T: ...
    def raw(self, n: int) -> bytes: ...


class RandomChooser:
    def __init__(self, rng: random.Random) -> None:
        self.rng = rng

    def integer(self, lo: int, hi: int) -> int:
        return self.rng.randint(lo, hi)

    def choice(self, options: Sequence[T]) -> T:
        return options[self.rng.randrange(len(options))]

    def raw(self, n: int) -> bytes:
        return self.rng.randbytes(n)


class HypothesisChooser:
    def __init__(self, data: st.DataObject) -> None:
        self.data = data

    def integer(self, lo: int, hi: int) -> int:
        return self.data.draw(st.integers(lo, hi))

    def choice(self, options: Sequence[T]) -> T:
        return self.data.draw(st.sampled_from(options))

    def raw(self, n: int) -> bytes:
        return self.data.draw(st.binary(min_size=n, max_size=n))


# -- a raw Avro writer that can lie ------------------------------------------------------------


def varint(u: int) -> bytes:
    """Unsigned LEB128 of any size (more than 10 bytes past 64 bits)."""
    out = bytearray()
    while u >= 0x80:
        out.append((u & 0x7F) | 0x80)
        u >>= 7
    out.append(u)
    return bytes(out)


def zigzag(n: int) -> int:
    return n * 2 if n >= 0 else -n * 2 - 1


def long_bytes(n: int) -> bytes:
    return varint(zigzag(n))


def string_bytes(s: str) -> bytes:
    raw = s.encode("utf-8")
    return long_bytes(len(raw)) + raw


@dataclass(frozen=True, slots=True)
class FieldType:
    """One field's type, reduced to what our input schemas use."""

    kind: str  # string long double boolean enum union array
    symbols: tuple[str, ...] = ()  # enum
    branch: str = ""  # union ["null", branch]

    @property
    def tag(self) -> str:
        """``kind``, or ``union:<branch>`` for a union."""
        return f"union:{self.branch}" if self.kind == "union" else self.kind


def _field_type(t: Any) -> FieldType:
    if isinstance(t, str):
        return FieldType(t)
    if isinstance(t, list):
        assert t[0] == "null" and len(t) == 2, t
        return FieldType("union", branch=t[1])
    if t["type"] == "enum":
        return FieldType("enum", symbols=tuple(t["symbols"]))
    if t["type"] == "array":
        assert t["items"] == "string", t
        return FieldType("array")
    return FieldType(t["type"])  # long with a logicalType


def _fields(schema: str) -> list[tuple[str, FieldType]]:
    doc = json.loads((SCHEMA_DIR / f"{schema}.avsc").read_text())
    return [(f["name"], _field_type(f["type"])) for f in doc["fields"]]


FIELDS = {schema: _fields(schema) for schema in INPUTS.values()}


def value_bytes(t: FieldType, value: Any) -> bytes:
    if t.kind == "string":
        return string_bytes(value)
    if t.kind == "long":
        return long_bytes(value)
    if t.kind == "double":
        return struct.pack("<d", value)
    if t.kind == "boolean":
        return b"\x01" if value else b"\x00"
    if t.kind == "enum":
        return long_bytes(t.symbols.index(value))
    if t.kind == "union":
        if value is None:
            return long_bytes(0)
        return long_bytes(1) + value_bytes(FieldType(t.branch), value)
    if t.kind == "array":
        if not value:
            return b"\x00"
        return long_bytes(len(value)) + b"".join(string_bytes(v) for v in value) + b"\x00"
    raise AssertionError(t)


def field_parts(schema: str, record: dict[str, Any]) -> list[bytes]:
    return [value_bytes(t, record[name]) for name, t in FIELDS[schema]]


def header(schema: str) -> bytes:
    return CODEC.schema(schema).header


# -- valid seeds -------------------------------------------------------------------------------

T0 = 1_768_818_645_123_456
_ID = "7f1c2a9e-0000-4000-8000-000000000001"


def _seeds() -> dict[str, list[dict[str, Any]]]:
    e = events
    return {
        "PositionState": [
            e.position(position_id="p1", account_id="a1", symbol="EURUSD", side="BUY",
                       volume=50_000, open_price=1.085, book="ABOOK", lp="OANDA", version=1,
                       event_id=_ID, event_time=T0),
            e.position(position_id="p2", account_id="a2", symbol="USDJPY", side="SELL",
                       volume=0.01, open_price=151.2, book="BBOOK", version=7,
                       current_price=151.3, status="CLOSED", event_id=_ID, event_time=T0),
        ],
        "Quote": [
            e.quote(symbol="EURUSD", bid=1.0849, ask=1.0851, event_id=_ID, event_time=T0),
            e.quote(symbol="XAUUSD", bid=2300.1, ask=2300.5, lp="LMAX", event_id=_ID,
                    event_time=T0),
        ],
        "RoutingDecision": [
            e.routing_decision(symbol="EURUSD", side="BUY", volume=10_000, decision="ABOOK",
                               lp="OANDA", execution_time_ms=45, spread=0.0001,
                               slippage=0.00002, price=1.085, order_id="o1", account_id="a1",
                               event_id=_ID, event_time=T0),
            e.routing_decision(symbol="GBPUSD", side="SELL", volume=1, decision="BBOOK",
                               lp_rejected=True, event_id=_ID, event_time=T0),
        ],
        "LpStatus": [
            e.lp_status(lp_name="OANDA", status="connected", avg_spread=0.0001,
                        execution_quality=0.95, latency_ms=12, quotes_per_second=250,
                        reject_rate=0.01, uptime=99.9, event_id=_ID, event_time=T0),
            e.lp_status(lp_name="LMAX", status="disconnected", event_id=_ID, event_time=T0),
        ],
        "ServiceAlert": [
            e.service_alert(severity="critical", category="exposure", title="Exposure",
                            message="at 92%", source="ExposureMonitor",
                            action_items=["Review open positions", "Call the desk"],
                            event_id=_ID, event_time=T0),
            e.service_alert(severity="info", category="system", title="t", message="m",
                            source="s", event_id=_ID, event_time=T0),
        ],
    }  # fmt: skip


SEEDS = _seeds()
VALID = {s: [CODEC.encode(s, r) for r in records] for s, records in SEEDS.items()}
for _schema, _records in SEEDS.items():  # the raw writer agrees with the codec
    for _r, _v in zip(_records, VALID[_schema], strict=True):
        assert header(_schema) + b"".join(field_parts(_schema, _r)) == _v, _schema
OTHER_FINGERPRINTS = [CODEC.schema(n).fingerprint for n in CODEC.names]

# -- edge values for out-of-range records and special doubles ---------------------------------

SPECIAL_DOUBLES = (
    math.nan,
    -math.nan,
    math.inf,
    -math.inf,
    -0.0,
    0.0,
    5e-324,
    -5e-324,
    2.2250738585072014e-308,
    1.7976931348623157e308,
    -1.7976931348623157e308,
    2.0**53 + 2,
    1e15,
    1.0000000000000002e15,
    1e-15,
    -1.0,
    1e-300,
    1.5,
    101.0,
)
NAN_PAYLOADS = (b"\x01\x00\x00\x00\x00\x00\xf0\x7f", b"\xff\xff\xff\xff\xff\xff\xff\xff")
EDGE = {
    "string": (
        "", " ", "\t\n", "x" * 129, "x" * 5000, "EUR USD", "é", "\x00", "\u202e", "\U0001f600",
        "../../etc/passwd", "a\nb", "\x7f", "ABOOK", "null", "-1", "A" * 33, "EURUSD", "USDJPY",
        "EURCHF", "US500", "USDXXX", "XXXUSD", "OANDA",
    ),
    "long": (
        -1, 0, 1, 2**31, 2**53 + 1, 2**63 - 1, -(2**63), events.MAX_MICROS + 1, T0,
    ),
    "double": SPECIAL_DOUBLES,
    "boolean": (True, False),
    "array": ((), ("x",) * 33, ("",), ("x" * 600,), (" ",)),
}  # fmt: skip
BAD_UTF8 = (
    b"\xff", b"\xc3\x28", b"\xa0\xa1", b"\xe2\x28\xa1", b"\xed\xa0\x80", b"\xed\xbf\xbf",
    b"\xc0\xaf", b"\xe0\x80\xaf", b"\xf4\x90\x80\x80", b"\xf8\x88\x80\x80\x80", b"ok\x80",
    b"\xfe\xfe\xff\xff",
)  # fmt: skip
HUGE = (2**31 - 1, 2**31, 2**32, 2**40, 2**62, 2**63 - 1, -1, -2, -(2**31), -(2**63))


def _edge_value(ch: Chooser, t: FieldType) -> Any:
    if t.kind == "enum":
        return ch.choice(t.symbols)
    if t.kind == "union":
        if ch.integer(0, 3) == 0:
            return None
        return _edge_value(ch, FieldType(t.branch))
    if t.kind == "array":
        return list(ch.choice(EDGE["array"]))
    return ch.choice(EDGE[t.kind])


# -- generators --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Sample:
    cls: str
    schema: str
    data: bytes


def _seed(ch: Chooser, schema: str) -> tuple[dict[str, Any], list[bytes]]:
    record = ch.choice(SEEDS[schema])
    return record, field_parts(schema, record)


def _pick_field(ch: Chooser, schema: str, kinds: set[str]) -> int | None:
    indexes = [i for i, (_, t) in enumerate(FIELDS[schema]) if t.tag in kinds or t.kind in kinds]
    return ch.choice(indexes) if indexes else None


def _message(schema: str, parts: list[bytes]) -> bytes:
    return header(schema) + b"".join(parts)


def _huge_length(ch: Chooser, schema: str) -> bytes:
    record, parts = _seed(ch, schema)
    i = _pick_field(ch, schema, {"string", "array", "union:string"})
    assert i is not None
    t = FIELDS[schema][i][1]
    n = ch.choice(HUGE)
    tail = ch.raw(ch.integer(0, 12))
    if t.kind == "union":
        parts[i] = long_bytes(1) + long_bytes(n) + tail  # the string branch's length
    elif t.kind == "array" and n < 0 and ch.integer(0, 1):
        parts[i] = long_bytes(n) + long_bytes(ch.choice(HUGE)) + tail  # count < 0: then size
    else:
        parts[i] = long_bytes(n) + tail
    if ch.integer(0, 1):
        del parts[i + 1 :]
    return _message(schema, parts)


def _bad_index(ch: Chooser, schema: str) -> bytes:
    record, parts = _seed(ch, schema)
    i = _pick_field(ch, schema, {"enum", "union"})
    assert i is not None
    t = FIELDS[schema][i][1]
    size = len(t.symbols) if t.kind == "enum" else 2
    index = ch.choice((-1, -2, -size, -(2**31), size, size + 1, 2**31, 2**62, -(2**63)))
    rest = parts[i][1:] if t.kind == "union" else b""
    parts[i] = long_bytes(index) + (rest if ch.integer(0, 1) else b"")
    return _message(schema, parts)


def _invalid_utf8(ch: Chooser, schema: str) -> bytes:
    record, parts = _seed(ch, schema)
    i = _pick_field(ch, schema, {"string", "union:string", "array"})
    assert i is not None
    t = FIELDS[schema][i][1]
    bad = ch.choice(("", "ok", "EURUSD")).encode() + ch.choice(BAD_UTF8)
    text = long_bytes(len(bad)) + bad
    if t.kind == "union":
        parts[i] = long_bytes(1) + text
    elif t.kind == "array":
        parts[i] = long_bytes(1) + text + b"\x00"
    else:
        parts[i] = text
    return _message(schema, parts)


def _bad_varint(ch: Chooser, schema: str) -> bytes:
    record, parts = _seed(ch, schema)
    i = _pick_field(ch, schema, {"long", "string", "enum", "union", "array"})
    assert i is not None
    mode = ch.integer(0, 3)
    first = parts[i]
    n = 0
    size = 0
    while first[size] & 0x80:  # the field's leading varint
        size += 1
    size += 1
    rest = first[size:]
    value = first[:size]
    if mode == 0:  # non-minimal: a redundant continuation group
        value = bytes([*value[:-1], value[-1] | 0x80, 0x00])
    elif mode == 1:  # more than 64 bits
        value = b"\xff" * ch.integer(10, 20) + b"\x01"
    elif mode == 2:  # never terminated
        value = b"\x80" * ch.integer(1, 40)
        rest, parts = b"", parts[: i + 1]
    else:
        n = ch.choice((2**64, 2**64 + 1, 2**70, -(2**64), 2**100))
        value = long_bytes(n)
    parts[i] = value + rest
    return _message(schema, parts)


def _bad_boolean(ch: Chooser, schema: str) -> bytes:
    record, parts = _seed(ch, schema)
    i = _pick_field(ch, schema, {"boolean"})
    if i is None:  # no boolean here: an enum/union index byte out of range instead
        i = _pick_field(ch, schema, {"enum", "union"})
        assert i is not None
        parts[i] = bytes([ch.integer(8, 127)]) + parts[i][1:]  # 4 or more, or negative
        return _message(schema, parts)
    parts[i] = bytes([ch.integer(2, 255)]) + parts[i][1:]
    return _message(schema, parts)


def _special_double(ch: Chooser, schema: str) -> bytes:
    record, parts = _seed(ch, schema)
    i = _pick_field(ch, schema, {"double", "union:double"})
    if i is None:  # ServiceAlert has no double: a double where a string should be
        i = _pick_field(ch, schema, {"string"})
        assert i is not None
        parts[i] = struct.pack("<d", ch.choice(SPECIAL_DOUBLES))
        return _message(schema, parts)
    t = FIELDS[schema][i][1]
    raw = (
        ch.choice(NAN_PAYLOADS)
        if ch.integer(0, 5) == 0
        else struct.pack("<d", ch.choice(SPECIAL_DOUBLES))
    )
    parts[i] = (long_bytes(1) + raw) if t.kind == "union" else raw
    return _message(schema, parts)


def _out_of_range(ch: Chooser, schema: str) -> bytes:
    record, _ = _seed(ch, schema)
    record = dict(record)
    for _ in range(ch.integer(1, 4)):
        i = ch.integer(0, len(FIELDS[schema]) - 1)
        name, t = FIELDS[schema][i]
        record[name] = _edge_value(ch, t)
    return _message(schema, field_parts(schema, record))


def _random_body(ch: Chooser, schema: str) -> bytes:
    return header(schema) + ch.raw(ch.integer(0, 200))


def _bit_flips(ch: Chooser, schema: str) -> bytes:
    data = bytearray(ch.choice(VALID[schema]))
    for _ in range(ch.integer(1, 8)):
        bit = ch.integer(0, len(data) * 8 - 1)
        data[bit // 8] ^= 1 << (bit % 8)
    return bytes(data)


def _truncation(ch: Chooser, schema: str) -> bytes:
    data = ch.choice(VALID[schema])
    return data[: ch.integer(0, len(data) - 1)]


def _trailing(ch: Chooser, schema: str) -> bytes:
    return ch.choice(VALID[schema]) + ch.raw(ch.integer(1, 24))


def _wrong_fingerprint(ch: Chooser, schema: str) -> bytes:
    body = ch.choice(VALID[schema])[10:]
    others = [fp for fp in OTHER_FINGERPRINTS if fp != CODEC.schema(schema).fingerprint]
    fp = ch.raw(8) if ch.integer(0, 1) else ch.choice(others)
    return b"\xc3\x01" + fp + body


def _random_bytes(ch: Chooser, schema: str) -> bytes:
    prefix = b"\xc3\x01" if ch.integer(0, 3) == 0 else b""
    return prefix + ch.raw(ch.integer(0, 300))


GENERATORS: dict[str, Callable[[Chooser, str], bytes]] = {
    "random-bytes": _random_bytes,
    "random-body": _random_body,
    "bit-flips": _bit_flips,
    "truncation": _truncation,
    "trailing-bytes": _trailing,
    "wrong-fingerprint": _wrong_fingerprint,
    "huge-length": _huge_length,
    "bad-index": _bad_index,
    "invalid-utf8": _invalid_utf8,
    "bad-varint": _bad_varint,
    "bad-boolean": _bad_boolean,
    "special-double": _special_double,
    "out-of-range": _out_of_range,
}
assert tuple(GENERATORS) == CLASSES


def generate(ch: Chooser, cls: str | None = None, logical: str | None = None) -> Sample:
    logical = logical or ch.choice(tuple(INPUTS))
    cls = cls or ch.choice(CLASSES)
    schema = INPUTS[logical]
    return Sample(cls, logical, GENERATORS[cls](ch, schema))


# -- the worker's path, without Kafka ----------------------------------------------------------


class Crash(AssertionError):
    """An exception other than DecodeError / InvalidEvent escaped, or the pipeline failed."""


class Hang(Exception):  # noqa: N818 - raised by the watchdog's signal handler
    """One input took longer than the watchdog allows."""


class WorkerPath:
    """decode -> validate -> stage 1 -> internal JSON -> global stage -> encoded outputs: what
    the worker (``streams.worker.inputs_loop``, ``streams.worker.global_loop``) does with each
    input record, with its pipeline. Only DecodeError and InvalidEvent may stop an input (they
    send it to the dead-letter topic); anything else would be a worker crash."""

    def __init__(self) -> None:
        self.config = PipelineConfig()
        self.stage = InputStage(self.config.routing)
        self.global_stage = GlobalStage(self.config)
        self.now = time.monotonic()

    def run(self, logical: str, data: bytes) -> str:
        """The outcome: ``decode:<reason>``, ``invalid`` or ``accepted``; raises Crash."""
        schema = INPUTS[logical]
        try:
            record = parse_input(CODEC, schema, data)
        except DecodeError as exc:
            return f"decode:{exc.reason}"
        except events.InvalidEvent:
            return "invalid"
        except Hang:
            raise
        except Exception as exc:
            raise Crash(f"decode/validate of {logical} {data.hex()} raised {exc!r}") from exc
        try:
            self._process(logical, record)
        except Hang:
            raise
        except Exception as exc:
            raise Crash(f"pipeline on valid {logical} {record!r} raised {exc!r}") from exc
        return "accepted"

    def _process(self, logical: str, record: dict[str, Any]) -> None:
        self.now += 0.01
        if logical == "alerts_inbound":  # stage 1 writes service alerts to the log itself
            outputs = [service_alert(record)]
        else:
            self.stage.applier(logical)(0, record, self.now)
            # As the global loop reads them, but raising what its apply_encoded would log.
            messages = [decode_internal(m.encode()) for m in self.stage.take(self.now)]
            outputs = self.global_stage.on_batch(messages, self.now)
        outputs += self.global_stage.due(self.now + 10)
        for out in outputs:
            encode_with(CODEC.schema(out.schema), out.record, validate=False)


class Watchdog:
    """Bounds each input's time loosely: :meth:`arm` before an input starts a SIGALRM timer that
    raises :class:`Hang` in Python code after ``limit_s``; a hang inside C code, where the
    signal cannot interrupt, is caught by faulthandler after ``3 * limit_s``, which dumps every
    thread's stack and exits the process (a failed run, never a silent one). :meth:`disarm`
    after the input, so that the fuzzer's own work between inputs is never counted."""

    def __init__(self, limit_s: float) -> None:
        self.limit_s = limit_s

    def arm(self) -> None:
        signal.setitimer(signal.ITIMER_REAL, self.limit_s)
        faulthandler.dump_traceback_later(3 * self.limit_s, exit=True)

    def disarm(self) -> None:
        signal.setitimer(signal.ITIMER_REAL, 0)
        faulthandler.cancel_dump_traceback_later()


@contextmanager
def watchdog(limit_s: float) -> Iterator[Watchdog]:
    """A :class:`Watchdog` with its SIGALRM handler installed (main thread only)."""

    def on_alarm(_signum: int, _frame: Any) -> None:
        raise Hang(f"an input took more than {limit_s:g} s")

    dog = Watchdog(limit_s)
    previous = signal.signal(signal.SIGALRM, on_alarm)
    try:
        yield dog
    finally:
        dog.disarm()
        signal.signal(signal.SIGALRM, previous)
