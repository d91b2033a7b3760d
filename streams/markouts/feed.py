"""The boards stage: the messages of the partitioned stages -> the aggregate records (pure).

:class:`BoardsFeed` gives each message of the internal topic (:mod:`streams.markouts.hop`) to a
:class:`~streams.markouts.boards.MarkoutBoards`, in the topic's order, and ages the boards'
windows (``expire``) whenever its clock enters a new ``expire_s`` period. Its clock is the
newest event time the messages tell: a markout's fill time plus its longest horizon (when it
could settle), a sample's decision time, a position's time, a stage's tick. Everything is a
function of the message sequence, so a boards stage restored from a snapshot and fed the
messages after it gives what an uninterrupted one gives, alert ids included.

:meth:`BoardsFeed.drain` returns the records to write as :class:`Out` (logical topic, key,
Avro schema, record): ``AccountToxicity`` by account, ``LpMarkout`` by LP, ``MarkoutCurve`` by
``symbol|book``, toxic-flow alerts (``Alert``, to the alert log, by id) and ``RoutingAdvice``
by account.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final, NamedTuple, cast

from streams.markouts.boards import MarkoutBoards
from streams.markouts.config import MICROS_PER_S, MarkoutConfig
from streams.markouts.errors import MarkoutStateError
from streams.markouts.hop import MARKOUT, POSITION, SAMPLE, TICK
from streams.markouts.records import LastLookSample, TradeMarkout

FORMAT: Final = 1


class Out(NamedTuple):
    """A record to write: logical topic, key, Avro schema, record."""

    topic: str
    key: str
    schema: str
    record: Mapping[str, Any]


def curve_key(curve: Mapping[str, Any]) -> str:
    """The Kafka key of a markout curve: ``symbol|book`` (symbol ``*``: every symbol)."""
    return f"{curve['symbol']}|{curve['book']}"


class BoardsFeed:
    """The boards, their clock and its expiry periods; see the module doc."""

    def __init__(self, config: MarkoutConfig, expire_s: int = 5) -> None:
        self.config = config
        self.boards = MarkoutBoards(config)
        self.clock: int | None = None
        self.messages = 0
        self._longest_us = config.horizons_us[-1]
        self._period_us = expire_s * MICROS_PER_S
        self._period: int | None = None

    def apply(self, kind: str, record: Mapping[str, Any]) -> None:
        """One message of the internal topic (its kind and decoded record)."""
        self.messages += 1
        boards = self.boards
        if kind == MARKOUT:
            m = cast("TradeMarkout", record)
            boards.on_markout(m)
            self._tick(m["eventTime"] + self._longest_us)
        elif kind == SAMPLE:
            s = cast("LastLookSample", record)
            boards.on_sample(s)
            self._tick(s["eventTime"])
        elif kind == POSITION:
            boards.on_position(record)
            self._tick(int(record["eventTime"]))
        elif kind == TICK:
            self._tick(int(record["t"]))
        else:
            raise MarkoutStateError(f"unknown markouts internal message kind {kind!r}")

    def _tick(self, t: int) -> None:
        if self.clock is not None and t <= self.clock:
            return
        self.clock = t
        period = t // self._period_us
        if period != self._period:
            self._period = period
            self.boards.expire(t)

    def drain(self) -> list[Out]:
        """The records changed since the last drain (accounts, LPs, curves), the alerts and
        the advice, in that order."""
        d = self.boards.drain()
        out = [Out("account_toxicity", a["accountId"], "AccountToxicity", a) for a in d.accounts]
        out += [Out("lp_markouts", lp["lpName"], "LpMarkout", lp) for lp in d.lps]
        out += [Out("markout_curves", curve_key(c), "MarkoutCurve", c) for c in d.curves]
        out += [Out("alerts", a["id"], "Alert", a) for a in d.alerts]
        out += [Out("routing_advice", a["accountId"], "RoutingAdvice", a) for a in d.advice]
        return out

    def counters(self) -> dict[str, int]:
        """The boards' counters (for metrics): accounts without an id, markouts and holding
        times outside their windows, closes of positions whose opening was not seen."""
        return {
            **self.boards.accounts.counters,
            "unknownOpening": self.boards.positions.unknown_opening,
        }

    def levels(self) -> dict[str, int]:
        """Accounts per toxic-flow level (``watch``, ``toxic``, ``normal``), for metrics."""
        counts = {"normal": 0, "watch": 0, "toxic": 0}
        for level in self.boards.accounts.rule.advised.values():
            counts[level] = counts.get(level, 0) + 1
        return counts

    def state(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "clock": self.clock,
            "period": self._period,
            "messages": self.messages,
            "boards": self.boards.state(),
        }

    def restore(self, state: Mapping[str, Any]) -> None:
        if not isinstance(state, Mapping) or state.get("format") != FORMAT:
            raise MarkoutStateError(f"expected a format-{FORMAT} boards feed state")
        clock, period, messages = state.get("clock"), state.get("period"), state.get("messages")
        if (
            not all(v is None or type(v) is int for v in (clock, period))
            or type(messages) is not int
        ):
            raise MarkoutStateError("boards feed state: clock, period, messages are not integers")
        self.boards.restore(state.get("boards") or {})
        self.clock, self._period, self.messages = clock, period, messages
