"""Server to client: contract messages from derived records, extension messages, encoding.

Each message is ``{"type", "timestamp", "data"}``; a frame is a JSON array of them
(docs/bridge.md section 1). :func:`to_message` builds the contract message of a decoded derived
record (:mod:`ws_bridge.core.jsonwrite` writes the same text straight from the Avro value). The
extension messages (``error``, ``gap``, ``subscribed``, ``unsubscribed``, ``refreshed``,
``replay-done``) use the same envelope, so a client that ignores unknown types ignores them.
:func:`encode` serialises a message once; :func:`frame_of` joins encoded messages into a frame
without encoding them again. Re-exported by :mod:`ws_bridge.core.protocol`.
"""

from __future__ import annotations

import functools
import json
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

CHANNELS = (
    "routing-metrics",
    "lp-performance",
    "exposure-updates",
    "alerts",
    "pnl-updates",
    "account-risk",
    "markouts",
    "flow-toxicity",
)

# schema (short name) -> (channel, message type)
SCHEMA_ROUTES: dict[str, tuple[str, str]] = {
    "RoutingDecision": ("routing-metrics", "routing-decision"),
    "RoutingSummary": ("routing-metrics", "routing-summary"),
    "LpPerformance": ("lp-performance", "lp-metrics"),
    "ExposureChange": ("exposure-updates", "exposure-change"),
    "Alert": ("alerts", "alert"),
    "PnlChange": ("pnl-updates", "pnl-change"),
    "AccountRiskTop": ("account-risk", "account-risk-top"),
    # rtx-analytics markouts (docs/markouts.md): LPs and curves open, accounts restricted
    "LpMarkout": ("markouts", "lp-markout"),
    "MarkoutCurve": ("markouts", "markout-curve"),
    "AccountToxicity": ("flow-toxicity", "account-toxicity"),
    "RoutingAdvice": ("flow-toxicity", "routing-advice"),
}
TYPE_CHANNELS = {mtype: channel for channel, mtype in SCHEMA_ROUTES.values()}

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICRO = timedelta(microseconds=1)

Message = dict[str, Any]
RequestId = str | int


# -- timestamps ---------------------------------------------------------------------------------


def format_timestamp(micros: int) -> str:
    """RFC 3339 UTC with six fractional digits and ``Z``: 2026-01-19T10:30:45.123456Z."""
    seconds, fraction = divmod(micros, 1_000_000)
    return f"{_second(seconds)}.{fraction:06d}Z"


@functools.lru_cache(maxsize=256)
def _second(seconds: int) -> str:
    """The date and time of a second since the epoch (the messages of a moment share it)."""
    m = _EPOCH + timedelta(seconds=seconds)
    # Fields by hand: strftime's %Y does not zero-pad years below 1000 on every platform.
    return f"{m.year:04d}-{m.month:02d}-{m.day:02d}T{m.hour:02d}:{m.minute:02d}:{m.second:02d}"


def parse_timestamp(text: str) -> int:
    """An RFC 3339 timestamp with an offset (``Z`` or ``+hh:mm``), as microseconds since the
    epoch. ValueError when it is not one."""
    moment = datetime.fromisoformat(text.strip())
    if moment.tzinfo is None:
        raise ValueError("timestamp has no UTC offset (add Z)")
    return (moment - _EPOCH) // _MICRO


def now_micros(now: float) -> int:
    return math.floor(now * 1_000_000)


# -- contract messages from derived records -----------------------------------------------------


def _num(value: Any) -> float | int | None:
    """A JSON number; NaN and infinities (not JSON, RFC 8259 section 6) become null."""
    if value is None or isinstance(value, int):
        return value
    number = float(value)
    return number if math.isfinite(number) else None


def _num_map(values: Mapping[str, Any]) -> dict[str, Any]:
    return {k: _num(v) for k, v in values.items()}


def num_deep(value: Any) -> Any:
    """A nested value (records, maps, arrays) with NaN and infinities null at any depth."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, Mapping):
        return {k: num_deep(v) for k, v in value.items()}
    if isinstance(value, list):
        return [num_deep(v) for v in value]
    return value


def channel_of(schema_name: str) -> str:
    """The channel a derived record of this schema is published on."""
    try:
        return SCHEMA_ROUTES[schema_name][0]
    except KeyError:
        raise ValueError(f"schema {schema_name!r} is not published by the bridge") from None


def to_message(
    schema_name: str, record: Mapping[str, Any], *, seq: int | None = None, epoch: str | None = None
) -> Message:
    """The contract message of one decoded derived record (timestamps: int micros, UTC); an
    alert's also carries its position in the alert log (``seq``, ``epoch``)."""
    if schema_name not in SCHEMA_ROUTES:
        raise ValueError(f"schema {schema_name!r} is not published by the bridge")
    mtype = SCHEMA_ROUTES[schema_name][1]
    if schema_name == "Alert":
        if seq is None or epoch is None:
            raise ValueError("an alert message needs its seq (log offset) and epoch")
        event_us, data = _alert_data(record, seq, epoch)
    else:
        event_us, data = _DATA[schema_name](record)
    return {"type": mtype, "timestamp": format_timestamp(event_us), "data": data}


# Each builder: (event time in micros, the message's data), fields in the contract's order.
Data = tuple[int, dict[str, Any]]


def _routing_decision_data(r: Mapping[str, Any]) -> Data:
    event_us = r["eventTime"]
    data = {
        "symbol": r["symbol"],
        "side": r["side"],
        "volume": _num(r["volume"]),
        "routingDecision": r["routingDecision"],
        # The old hub's Go string field: "" (not null) for a B-book decision.
        "lpSelected": r.get("lpSelected") or "",
        "executionTimeMs": _num(r["executionTimeMs"]),
        "spread": _num(r["spread"]),
        "slippage": _num(r["slippage"]),
    }
    return event_us, data


def _lp_performance_data(r: Mapping[str, Any]) -> Data:
    event_us = r["eventTime"]
    names = ("avgSpread", "executionQuality", "latencyMs", "quotesPerSecond", "rejectRate")
    data = {"lpName": r["lpName"], "status": r["status"]}
    data.update({n: _num(r[n]) for n in (*names, "uptime")})
    extras = ("observedUptimePct", "rollingRejectRate", "fillLatencyP50Ms")
    data["statusTransitions"] = r.get("statusTransitions", 0)
    for name in (*extras, "fillLatencyP95Ms", "fillLatencyP99Ms"):
        data[name] = _num(r.get(name))
    return event_us, data


def _exposure_change_data(r: Mapping[str, Any]) -> Data:
    event_us = r["eventTime"]
    data = {
        "totalExposure": _num(r["totalExposure"]),
        "netExposure": _num(r["netExposure"]),
        "exposureLimit": _num(r["exposureLimit"]),
        "utilizationPct": _num(r["utilizationPct"]),
        "riskLevel": r["riskLevel"],
        "bySymbol": _num_map(r.get("bySymbol") or {}),
        "byLP": _num_map(r.get("byLP") or {}),
    }
    by_book, by_currency = r.get("byBook") or {}, r.get("byCurrency") or {}
    count = r.get("positionCount", 0)
    # Extras only when the record carries breakdowns: a record with just the contract's
    # numbers gives exactly the contract's frame (docs/bridge.md section 1, byte for byte).
    if by_book or by_currency or count:
        data["byBook"] = _num_map(by_book)
        data["byCurrency"] = _num_map(by_currency)
        data["positionCount"] = count
    # The basis the limit is measured on, and its figures (docs/exposure.md, "Exposure basis"),
    # when the record says (a writer from before the basis does not).
    if r.get("basis") is not None:
        data["basis"] = r["basis"]
        data["basisExposure"] = _num(r.get("basisExposure"))
        data["basisBySymbol"] = _num_map(r.get("basisBySymbol") or {})
        data["basisByCurrency"] = _num_map(r.get("basisByCurrency") or {})
        data["bbookNetBySymbol"] = num_deep(r.get("bbookNetBySymbol") or {})
        data["bbookNetByCurrency"] = _num_map(r.get("bbookNetByCurrency") or {})
        data["bbookNetLong"] = _num(r.get("bbookNetLong"))
        data["bbookNetShort"] = _num(r.get("bbookNetShort"))
    return event_us, data


def _every_field_data(r: Mapping[str, Any]) -> Data:
    """Every field but ``eventTime`` (the message's timestamp), nested values as they are
    (NaN and infinities null): PnlChange, AccountRiskTop and the markouts' records."""
    return r["eventTime"], {k: num_deep(v) for k, v in r.items() if k != "eventTime"}


def _routing_summary_data(r: Mapping[str, Any]) -> Data:
    event_us = r["windowEnd"]
    data: dict[str, Any] = {"windowStart": format_timestamp(r["windowStart"])}
    data["windowEnd"] = format_timestamp(r["windowEnd"])
    for name, value in r.items():
        if name not in data:
            data[name] = dict(value) if isinstance(value, Mapping) else _num(value)
    return event_us, data


def _alert_data(r: Mapping[str, Any], seq: int, epoch: str) -> Data:
    event_us = r["eventTime"]
    data = {
        "id": r["id"],
        "severity": r["severity"],
        "category": r["category"],
        "title": r["title"],
        "message": r["message"],
        "source": r["source"],
        "actionItems": list(r.get("actionItems") or ()),
        "state": r.get("state", "RAISED"),
        "resolvesId": r.get("resolvesId"),
        "seq": seq,
        "epoch": epoch,
    }
    return event_us, data


_DATA: dict[str, Callable[[Mapping[str, Any]], Data]] = {
    "RoutingDecision": _routing_decision_data,
    "LpPerformance": _lp_performance_data,
    "ExposureChange": _exposure_change_data,
    "RoutingSummary": _routing_summary_data,
    "PnlChange": _every_field_data,
    "AccountRiskTop": _every_field_data,
    "LpMarkout": _every_field_data,
    "MarkoutCurve": _every_field_data,
    "AccountToxicity": _every_field_data,
    "RoutingAdvice": _every_field_data,
}


# -- extension messages (server time stamps) ----------------------------------------------------


def _control(mtype: str, now: float, data: dict[str, Any], request_id: RequestId | None) -> Message:
    if request_id is not None:
        data["id"] = request_id
    return {"type": mtype, "timestamp": format_timestamp(now_micros(now)), "data": data}


def error_message(
    code: str,
    message: str,
    *,
    now: float,
    channel: str | None = None,
    request_id: RequestId | None = None,
) -> Message:
    data: dict[str, Any] = {"code": code, "message": message}
    if channel is not None:
        data["channel"] = channel
    return _control("error", now, data, request_id)


def gap_message(
    channel: str,
    dropped: int,
    *,
    now: float,
    first_timestamp: str | None = None,
    last_timestamp: str | None = None,
    first_seq: int | None = None,
    last_seq: int | None = None,
    epoch: str | None = None,
    reason: str = "slow-client",
) -> Message:
    data: dict[str, Any] = {"channel": channel, "dropped": dropped, "reason": reason}
    data["firstTimestamp"], data["lastTimestamp"] = first_timestamp, last_timestamp
    if channel == "alerts":
        data.update(firstSeq=first_seq, lastSeq=last_seq, epoch=epoch)
    return _control("gap", now, data, None)


def subscribed_message(
    channels: Iterable[str],
    *,
    now: float,
    request_id: RequestId | None = None,
    resume: Mapping[str, Any] | None = None,
) -> Message:
    data: dict[str, Any] = {"channels": [c for c in CHANNELS if c in set(channels)]}
    if resume is not None:
        data.update(resume)
    return _control("subscribed", now, data, request_id)


def unsubscribed_message(
    channels: Iterable[str], *, now: float, request_id: RequestId | None = None
) -> Message:
    data = {"channels": [c for c in CHANNELS if c in set(channels)]}
    return _control("unsubscribed", now, data, request_id)


def refreshed_message(
    expires_at: float, *, now: float, request_id: RequestId | None = None
) -> Message:
    data = {"expiresAt": format_timestamp(now_micros(expires_at))}
    return _control("refreshed", now, data, request_id)


def replay_done_message(
    *,
    now: float,
    count: int,
    dropped: int,
    truncated: bool,
    complete: bool,
    request_id: RequestId | None = None,
) -> Message:
    data = {"channel": "alerts", "count": count, "dropped": dropped}
    data.update(truncated=truncated, complete=complete)
    return _control("replay-done", now, data, request_id)


# -- encoding -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Encoded:
    """A message and its JSON text, encoded once and shared by every client that gets it.

    ``channel`` is None for extension messages; ``seq``/``epoch`` are set for alerts; ``replay``
    marks alerts sent for a time-range replay (not part of the live or resumed stream).
    ``parsed`` is the message as a dict, or None for text written straight from a Kafka value
    (:mod:`ws_bridge.core.jsonwrite`): :attr:`message` parses it then, once, if ever asked
    (the text is exactly ``json.dumps`` of that dict); ``stamp`` is then its timestamp.
    """

    text: str
    channel: str | None
    parsed: Message | None = field(default=None, repr=False, compare=False)
    seq: int | None = None
    epoch: str | None = None
    replay: bool = False
    stamp: str | None = field(default=None, repr=False, compare=False)

    @property
    def message(self) -> Message:
        parsed = self.parsed
        if parsed is None:
            parsed = json.loads(self.text)
            object.__setattr__(self, "parsed", parsed)  # a cache: equality ignores it
        return parsed

    @property
    def nbytes(self) -> int:
        return len(self.text)  # ensure_ascii: one byte per character

    @property
    def timestamp(self) -> str:
        if self.stamp is not None:
            return self.stamp
        return str(self.message["timestamp"])


def encode(message: Message, *, replay: bool = False, channel: str | None = None) -> Encoded:
    """Serialise one message (compact, ASCII, no NaN) and note its channel and alert position.
    ``channel`` names the channel of a message that is not a record's (alert-state); such a
    message carries no alert position."""
    if replay:
        message = {**message, "replay": True}
    text = json.dumps(message, separators=(",", ":"), allow_nan=False, ensure_ascii=True)
    if channel is not None:
        return Encoded(text, channel, message, None, None, replay)
    channel = TYPE_CHANNELS.get(message["type"])
    data = message["data"]
    seq = data.get("seq") if channel == "alerts" else None
    epoch = data.get("epoch") if channel == "alerts" else None
    return Encoded(text, channel, message, seq, epoch, replay)


def frame_of(items: Sequence[Encoded]) -> str:
    """The batch frame: a JSON array of the already-encoded messages."""
    return "[" + ",".join(item.text for item in items) + "]"
