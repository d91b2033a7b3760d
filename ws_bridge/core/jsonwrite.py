"""Compiled Avro-to-JSON writers: a derived record's Kafka value straight to the contract
message's JSON text, without building the record or the message as dicts. No I/O.

The reference path is ``Codec.decode`` + :func:`~ws_bridge.core.messages.to_message` +
:func:`~ws_bridge.core.messages.encode` (~25 us a routing decision). For messages written with
this process's version of a schema, a function generated once per schema (like the codec's
compiled readers, :mod:`schemas.fastread`, whose checks it reuses: canonical varints, enum and
union indexes in range, valid UTF-8, no trailing bytes) reads the fields into locals and joins
the JSON text from them in one expression (~5 us), as ``json.dumps`` would write it: strings
through the same C escaper (``ensure_ascii``), floats as ``repr`` (NaN and infinities as
``null`` where ``to_message`` makes them so), timestamps as :func:`format_timestamp` writes
them.

Each message's data is described by a :class:`Layout` that mirrors its builder in
:mod:`ws_bridge.core.messages`; tests/ws_bridge/core/test_jsonwrite.py checks, on random
records of every schema (NaN, infinities, odd strings and empty maps included), that the text
is byte for byte the reference path's. Anything a writer does not take (another writer version,
a damaged message, a value the reference path refuses, such as a NaN that ``json.dumps`` would
reject) raises, and the caller takes the reference path, which keeps its behaviour exactly.
Alerts are not compiled: their message carries the alert log's position (seq, epoch).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from schemas.codec import Codec
from schemas.compiler import Unsupported, resolve_references
from schemas.fastread import ReaderSource, VarintDecoder, varint_at
from ws_bridge.core.messages import SCHEMA_ROUTES, Encoded, format_timestamp, num_deep

MessageWriter = Callable[[bytes], Encoded]

# How a data member is made from its record field (the builders of ws_bridge.core.messages):
NUM = "num"  # _num(r[f]): numbers as they are, NaN and infinities null
RAW = "raw"  # r[f] (json.dumps refuses a NaN: the reference path decides)
OR_EMPTY = "or-empty"  # r.get(f) or ""
NUM_MAP = "num-map"  # _num_map(r.get(f) or {})
TS = "ts"  # format_timestamp(r[f])
JSON = "json"  # num_deep(r[f]): a nested record, map or array as json.dumps writes it


@dataclass(frozen=True)
class Layout:
    """A contract message's shape: its type, the field its timestamp comes from, and the
    data's members in order (each keyed by its record field's name)."""

    mtype: str
    time_field: str
    members: tuple[tuple[str, str], ...]
    # Appended (in this order) only when one of them is truthy (ExposureChange's breakdowns).
    extras: tuple[tuple[str, str], ...] = ()
    # Then these, only when the first of them is not null (ExposureChange's basis figures).
    more: tuple[tuple[str, str], ...] = ()
    # Then every other field of the record, in record order: maps as they are, others NUM.
    rest: bool = False


def _nums(names: str) -> tuple[tuple[str, str], ...]:
    return tuple((name, NUM) for name in names.split())


# The per-horizon arrays of the markouts' records (docs/markouts.md), in their schemas' order.
_FIGURES = tuple(
    (n, JSON) for n in "horizonsMs knownCount meanMarkoutBps meanMarkoutUsd sumMarkoutUsd".split()
) + (("clientFavourPct", JSON),)

LAYOUTS: dict[str, Layout] = {
    "RoutingDecision": Layout(
        "routing-decision",
        "eventTime",
        (
            ("symbol", RAW),
            ("side", RAW),
            ("volume", NUM),
            ("routingDecision", RAW),
            ("lpSelected", OR_EMPTY),
            ("executionTimeMs", NUM),
            ("spread", NUM),
            ("slippage", NUM),
        ),
    ),
    "LpPerformance": Layout(
        "lp-metrics",
        "eventTime",
        (
            ("lpName", RAW),
            ("status", RAW),
            *((name, NUM) for name in ("avgSpread", "executionQuality", "latencyMs")),
            *((name, NUM) for name in ("quotesPerSecond", "rejectRate", "uptime")),
            ("statusTransitions", RAW),
            *((name, NUM) for name in ("observedUptimePct", "rollingRejectRate")),
            *((name, NUM) for name in ("fillLatencyP50Ms", "fillLatencyP95Ms", "fillLatencyP99Ms")),
        ),
    ),
    "ExposureChange": Layout(
        "exposure-change",
        "eventTime",
        (
            *((name, NUM) for name in ("totalExposure", "netExposure", "exposureLimit")),
            ("utilizationPct", NUM),
            ("riskLevel", RAW),
            ("bySymbol", NUM_MAP),
            ("byLP", NUM_MAP),
        ),
        extras=(("byBook", NUM_MAP), ("byCurrency", NUM_MAP), ("positionCount", RAW)),
        more=(
            ("basis", RAW),
            ("basisExposure", NUM),
            ("basisBySymbol", NUM_MAP),
            ("basisByCurrency", NUM_MAP),
            ("bbookNetBySymbol", JSON),
            ("bbookNetByCurrency", NUM_MAP),
            ("bbookNetLong", NUM),
            ("bbookNetShort", NUM),
        ),
    ),
    "PnlChange": Layout(
        "pnl-change",
        "eventTime",
        (
            ("tradingDay", RAW),
            *((name, NUM) for name in ("floating", "realizedToday", "total")),
            *((name, JSON) for name in ("bySymbol", "byCurrency", "clientsByBook")),
            ("positionCount", RAW),
            *((name, JSON) for name in ("markedAtMid", "unmarked", "unconverted")),
        ),
    ),
    "AccountRiskTop": Layout(
        "account-risk-top",
        "eventTime",
        (
            *((name, RAW) for name in ("tradingDay", "basis", "n", "accounts")),
            *((name, JSON) for name in ("byExposure", "byFloatingPnl", "byRealizedToday")),
        ),
    ),
    "RoutingSummary": Layout(
        "routing-summary", "windowEnd", (("windowStart", TS), ("windowEnd", TS)), rest=True
    ),
    # rtx-analytics markouts: every field but eventTime, as _every_field_data writes them
    "AccountToxicity": Layout(
        "account-toxicity",
        "eventTime",
        (("accountId", RAW), *_nums("trades"), *_FIGURES)
        + (*_nums("scoreHorizonMs clientWins clientLosses z score"), ("level", RAW))
        + _nums("closedPositions meanHoldingTimeS"),
    ),
    "LpMarkout": Layout(
        "lp-markout",
        "eventTime",
        (("lpName", RAW), *_nums("fills"), *_FIGURES)
        + _nums("decisions adverseDecisions adverseRejects otherDecisions otherRejects")
        + _nums("unknownMoves rejectRateAfterAdverse rejectRateOtherwise lastLookZ")
        + (("lastLookSuspected", RAW),),
    ),
    "MarkoutCurve": Layout(
        "markout-curve", "eventTime", (("symbol", RAW), ("book", RAW), *_nums("trades"), *_FIGURES)
    ),
    "RoutingAdvice": Layout(
        "routing-advice",
        "eventTime",
        (("accountId", RAW), ("recommendedBook", RAW), ("level", RAW))
        + (*_nums("score trades"), ("reason", RAW)),
    ),
}

_ESCAPE: Callable[[str], str] = json.encoder.encode_basestring_ascii


class Timestamps:
    """:func:`format_timestamp` with the text up to the seconds kept per second (a stream's
    timestamps share few seconds) and the fraction from tables."""

    MAX = 64  # seconds kept (a live stream repeats the current one); then the cache starts again

    def __init__(self) -> None:
        self._seconds: dict[int, str] = {}

    def __call__(self, micros: int) -> str:
        seconds, fraction = divmod(micros, 1_000_000)
        head = self._seconds.get(seconds)
        if head is None:
            head = format_timestamp(seconds * 1_000_000)[:-7]  # "...:SS."
            if len(self._seconds) >= self.MAX:
                self._seconds.clear()
            self._seconds[seconds] = head
        return head + _MILLIS[fraction // 1000] + _MICROS_Z[fraction % 1000]


_MILLIS = tuple(f"{i:03d}" for i in range(1000))
_MICROS_Z = tuple(f"{i:03d}Z" for i in range(1000))


def _finite(value: float) -> str:
    """A float as json.dumps writes it; json.dumps(allow_nan=False) refuses NaN and infinities,
    so does this (and the reference path then decides)."""
    if value - value == 0.0:
        return repr(value)
    raise ValueError("non-finite float")


def _scalar(value: Any, num: bool) -> str:
    """A union's value (decoded: None, bool, int, float or str) as its member's JSON."""
    if value is None:
        return "null"
    if value is True or value is False:
        return "true" if value else "false"
    kind = type(value)
    if kind is int:
        return repr(value)
    if kind is float:
        if value - value == 0.0:
            return repr(value)
        if num:
            return "null"
        raise ValueError("non-finite float")
    if kind is str and not num:
        return _ESCAPE(value)
    raise TypeError(f"no JSON member for {kind.__name__}")  # the reference path decides


def _json_value(value: Any) -> str:
    """A nested value as the reference path writes it (``num_deep``, then ``json.dumps``)."""
    return json.dumps(num_deep(value), separators=(",", ":"), allow_nan=False, ensure_ascii=True)


def _num_map(values: Mapping[str, Any]) -> str:
    if not values:
        return "{}"
    return "{" + ",".join(_ESCAPE(k) + ":" + _scalar(v, True) for k, v in values.items()) + "}"


def _raw_map(values: Mapping[str, Any]) -> str:
    if not values:
        return "{}"
    return "{" + ",".join(_ESCAPE(k) + ":" + _scalar(v, False) for k, v in values.items()) + "}"


class _WriterSource(ReaderSource):
    """One writer: the generated reader's locals, joined into the message text."""

    def __init__(self, header: bytes, varint: VarintDecoder) -> None:
        super().__init__(header, varint=varint)
        self.env.update(
            ESC=_ESCAPE,
            FIN=_finite,
            SCALAR=_scalar,
            NUM_MAP=_num_map,
            RAW_MAP=_raw_map,
            TS=Timestamps(),
            JSONV=_json_value,
            Encoded=Encoded,
        )

    def member(self, schema: Any, how: str, v: str) -> str:
        """The expression giving the JSON text of one member (local ``v`` of ``schema``)."""
        t = schema if isinstance(schema, str) else None
        if isinstance(schema, dict):
            t = schema.get("type")
        if how == JSON:
            return f"JSONV({v})"
        if isinstance(schema, list):
            names = {b if isinstance(b, str) else b.get("type") for b in schema}
            if how == OR_EMPTY and names == {"null", "string"}:
                return f"(ESC({v}) if {v} else '\"\"')"
            if how in (NUM, RAW) and names <= {"null", "boolean", "int", "long", "float"} | {
                "double",
                "string",
                "enum",
            }:
                return f"SCALAR({v}, {how == NUM})"
        elif how == TS and t in ("long", "int"):
            return f"'\"' + TS({v}) + '\"'"
        elif how == NUM_MAP and t == "map":
            return f"NUM_MAP({v})"
        elif how == RAW and t == "map":
            return f"RAW_MAP({v})"
        elif how in (NUM, RAW) and t in ("long", "int"):
            return f"repr({v})"
        elif how in (NUM, RAW) and t == "boolean":
            return f"('true' if {v} else 'false')"
        elif how in (NUM, RAW) and t == "null":
            return "'null'"
        elif how in (NUM, RAW) and t in ("double", "float"):
            return f"(repr({v}) if {v} - {v} == 0.0 else 'null')" if how == NUM else f"FIN({v})"
        elif how == RAW and t in ("string", "enum"):
            return f"ESC({v})"
        raise Unsupported(f"{how} of {t}")


class _Code(str):
    """A Python expression among the literal text of a message (see :func:`_joined`)."""


def _pieces(
    src: _WriterSource, pairs: Any, types: Mapping[str, Any], local: Mapping[str, str]
) -> list[str]:
    """The members' JSON as literal text and expressions, each member led by a comma."""
    out: list[str] = []
    for name, how in pairs:
        out += ["," + json.dumps(name) + ":", _Code(src.member(types[name], how, local[name]))]
    return out


def _joined(pieces: list[str]) -> str:
    """The Python expression that sums ``pieces`` (adjacent literal texts merged)."""
    merged: list[str] = []
    literal = ""
    for piece in pieces:
        if isinstance(piece, _Code):
            if literal:
                merged.append(repr(literal))
                literal = ""
            merged.append(piece)
        else:
            literal += piece
    if literal:
        merged.append(repr(literal))
    if len(merged) <= 3:
        return " + ".join(merged)
    return '"".join((' + ", ".join(merged) + "))"  # one string built, not one per "+"


def compile_writer(
    schema_name: str, schema: dict[str, Any], header: bytes, varint: VarintDecoder = varint_at
) -> MessageWriter | None:
    """``write(value) -> Encoded`` for Kafka values that start with ``header`` (C3 01 + the
    schema's fingerprint); raises on anything else. None when the schema has no layout or uses
    a construct this module does not compile. ``schema``: its parsing canonical form;
    ``varint``: a faster varint decoder (see :class:`schemas.fastread.ReaderSource`)."""
    layout = LAYOUTS.get(schema_name)
    if layout is None:
        return None
    src = _WriterSource(header, varint)
    try:
        record = resolve_references(schema)
        local = dict(_LOCAL.findall(src.fields(record, 1)))
        types = {f["name"]: f["type"] for f in record["fields"]}
        members = list(layout.members)
        if layout.rest:
            named = dict(layout.members)
            members += [
                (name, RAW if isinstance(t, dict) and t.get("type") == "map" else NUM)
                for name, t in types.items()
                if name not in named
            ]
        data = _pieces(src, members, types, local)
        extras = _pieces(src, layout.extras, types, local)
        more = _pieces(src, layout.more, types, local)
        stamp = local[layout.time_field]
    except (Unsupported, KeyError):
        return None
    head = '{"type":' + json.dumps(layout.mtype) + ',"timestamp":"'
    text = [head, _Code("stamp"), '","data":{', data[0][1:], *data[1:]]  # no comma before the first
    src.lines.append(f"    stamp = TS({stamp})")
    if extras:
        truthy = " or ".join(local[name] for name, _ in layout.extras)
        src.lines.append(f"    extra = ({_joined(extras)}) if ({truthy}) else ''")
        text.append(_Code("extra"))
    if more:
        first = local[layout.more[0][0]]
        src.lines.append(f"    more = ({_joined(more)}) if {first} is not None else ''")
        text.append(_Code("more"))
    text.append("}}")
    channel = SCHEMA_ROUTES[schema_name][0]
    src.lines.append(f"    rec = Encoded({_joined(text)}, {channel!r}, None, stamp=stamp)")
    writer: MessageWriter = src.finish(f"json {schema_name}")
    return writer


_LOCAL = re.compile(r"'(\w+)': (\w+)")


def message_writers(codec: Codec, varint: VarintDecoder = varint_at) -> dict[bytes, MessageWriter]:
    """The compiled writer of every schema the bridge publishes (alerts aside), by the 10 bytes
    a message of the codec's version of it starts with."""
    writers: dict[bytes, MessageWriter] = {}
    for name in LAYOUTS:
        info = codec.schema(name)
        writer = compile_writer(name, json.loads(info.canonical_form), info.header, varint)
        if writer is not None:
            writers[info.header] = writer
    return writers
