"""The client's pure state and checks: its arguments (token, channels), reconnect backoff, the
alert cursor, and the checks and frame of a time-range alert replay. No I/O; a bad argument
raises :class:`ws_bridge.client.errors.InvalidArgument`. :mod:`ws_bridge.client` re-exports the
public names.
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from ws_bridge.client.errors import InvalidArgument

Message = dict[str, Any]

# The contract's four channels, then the broker's P&L and the top accounts, then the markouts
# and the accounts' flow toxicity (docs/bridge.md).
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

REPLAY_MAX_LIMIT = 10_000  # the bridge's bound of ``limit`` (docs/bridge.md section 2)
_RFC3339 = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,9})?(Z|[+-]\d\d:\d\d)")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def check_connection(url: str, token_transport: str, connect_timeout_s: float) -> None:
    """The connection's options: a ws:// or wss:// url without a token, a known transport, a
    finite timeout > 0."""
    if not url.startswith(("ws://", "wss://")):
        raise InvalidArgument(f"url must start with ws:// or wss://, got {url!r}")
    if "token=" in url:
        raise InvalidArgument("give the token as the token argument, not in the url")
    if token_transport not in ("query", "header"):
        raise InvalidArgument(f"token_transport must be query or header, got {token_transport!r}")
    if not 0 < connect_timeout_s < float("inf"):
        raise InvalidArgument(f"connect_timeout_s must be > 0, got {connect_timeout_s!r}")


def check_token(token: Any) -> str:
    if not isinstance(token, str) or not token.strip() or any(c.isspace() for c in token):
        raise InvalidArgument("token must be a non-empty string without whitespace")
    return token


def check_channels(channels: Iterable[str]) -> list[str]:
    """The channels in the order given, each once; InvalidArgument for an unknown one."""
    if isinstance(channels, str):
        raise InvalidArgument("channels must be a list of channel names, not one string")
    out: list[str] = []
    for c in channels:
        if c not in CHANNELS:
            raise InvalidArgument(f"unknown channel {c!r}; one of {', '.join(CHANNELS)}")
        if c not in out:
            out.append(c)
    return out


@dataclass(frozen=True, slots=True)
class Backoff:
    """Exponential backoff with full jitter (Brooker, "Exponential Backoff And Jitter", AWS
    Architecture Blog, 2015): retry ``n`` (0-based) waits uniformly in
    ``[0, min(max_s, base_s * 2**n))``, so clients dropped together do not return together."""

    base_s: float = 0.5
    max_s: float = 30.0

    def __post_init__(self) -> None:
        if not 0 < self.base_s < float("inf"):
            raise InvalidArgument(
                f"backoff base_s must be a finite number > 0, got {self.base_s!r}"
            )
        if not self.base_s <= self.max_s < float("inf"):
            raise InvalidArgument(f"backoff max_s must be finite and >= base_s, got {self.max_s!r}")

    def ceiling(self, attempt: int) -> float:
        """The exclusive upper bound of the delay before retry ``attempt``."""
        if attempt >= 64:  # 2**attempt would only overflow the float; the cap applies anyway
            return self.max_s
        return min(self.max_s, self.base_s * 2.0 ** max(0, attempt))

    def delay(self, attempt: int, rand: Callable[[], float] = random.random) -> float:
        """A delay in ``[0, ceiling(attempt))``; ``rand`` returns floats in [0, 1)."""
        return rand() * self.ceiling(attempt)


class AlertCursor:
    """The last alert delivered, ``(seq, epoch)``: what a resume asks for and what dedupes; and
    the highest action seq of the alert states seen (``actions``), from which a resubscribe
    asks for the states it missed (``actionsSince``; a gap on alerts resets it to -1: all)."""

    def __init__(self, seq: int | None = None, epoch: str | None = None) -> None:
        if seq is not None and (type(seq) is not int or seq < -1):
            raise InvalidArgument(f"resume seq must be a whole number >= -1, got {seq!r}")
        if epoch is not None and (not isinstance(epoch, str) or not epoch):
            raise InvalidArgument("resume epoch must be a non-empty string when given")
        self.seq, self.epoch = seq, epoch
        self.actions: int | None = None
        self.duplicates = 0

    def resume_fields(self) -> dict[str, Any]:
        """``since`` (and ``epoch``), ``actionsSince``, for a subscribe that includes alerts;
        {} = live only."""
        fields: dict[str, Any] = {} if self.actions is None else {"actionsSince": self.actions}
        if self.seq is not None:
            fields["since"] = self.seq
            if self.epoch is not None:
                fields["epoch"] = self.epoch
        return fields

    def observe(self, kind: Any, data: Any) -> None:
        """Follow the alert states' action seqs (and forget them after a gap on alerts)."""
        if kind == "alert-state" and type(seq := data.get("actionSeq")) is int:
            self.actions = seq if self.actions is None else max(self.actions, seq)
        elif kind == "gap" and data.get("channel") == "alerts" and self.actions is not None:
            self.actions = -1

    def accept(self, data: Any) -> bool:
        """True for a new alert (the cursor moves to it); False for one already delivered."""
        seq, epoch = data.get("seq"), data.get("epoch")
        if type(seq) is not int:
            return True  # not a bridge alert with a position: nothing to dedupe by
        if self.seq is not None and (self.epoch is None or self.epoch == epoch) and seq <= self.seq:
            self.duplicates += 1
            return False
        self.seq, self.epoch = seq, epoch
        return True

    def apply_subscribed(self, data: Any) -> Message | None:
        """Take a resuming subscribe's answer; a ``not-recovered`` gap (as the data of a ``gap``
        message) when the bridge could not start right after this cursor, else None."""
        if "recovered" not in data:
            return None
        before_seq, before_epoch = self.seq, self.epoch
        epoch, after = data.get("epoch"), data.get("resumeAfter")
        if epoch is None or type(after) is not int:  # no alert history on the bridge
            return None if data["recovered"] else _lost(None, None, None, None)
        self.seq, self.epoch = after, epoch
        if data["recovered"]:
            return None
        same_log = before_seq is not None and before_epoch in (None, epoch)
        if same_log and before_seq is not None and after > before_seq:
            return _lost(after - before_seq, before_seq + 1, after, epoch)
        return _lost(None, None, None, epoch)


def _lost(dropped: int | None, first: int | None, last: int | None, epoch: str | None) -> Message:
    return {"channel": "alerts", "dropped": dropped, "reason": "not-recovered",
            "firstTimestamp": None, "lastTimestamp": None, "firstSeq": first, "lastSeq": last,
            "epoch": epoch}  # fmt: skip


def replay_time(value: object, name: str) -> tuple[str, int]:
    """An RFC 3339 time (a string with an offset, or an aware datetime) as the text to send and
    microseconds since the epoch; InvalidArgument otherwise. Strings are sent as given."""
    if isinstance(value, datetime):
        if value.utcoffset() is None:
            raise InvalidArgument(
                f"{name} must be timezone-aware (e.g. datetime.now(UTC)), got {value}"
            )
        moment = value
        text = value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    elif isinstance(value, str) and _RFC3339.fullmatch(value):
        try:
            moment = datetime.fromisoformat(value)
        except ValueError as exc:
            raise InvalidArgument(f"{name} {value!r} is not a valid time: {exc}") from exc
        text = value
    else:
        raise InvalidArgument(
            f"{name} must be an aware datetime or an RFC 3339 time with an offset, like "
            f"2026-01-19T10:30:45.123456Z; got {value!r}"
        )
    return text, (moment - _EPOCH) // timedelta(microseconds=1)


def replay_frame(from_time: object, to_time: object = None, limit: object = None) -> Message:
    """The ``replay`` command for these arguments, without ``id``; InvalidArgument for bad ones
    (checked here: the bridge answers a malformed replay with a ``bad-field`` error that does not
    name the request)."""
    start, from_us = replay_time(from_time, "from_time")
    frame: Message = {"action": "replay", "channel": "alerts", "fromTime": start}
    if to_time is not None:
        end, to_us = replay_time(to_time, "to_time")
        if to_us < from_us:
            raise InvalidArgument(f"to_time {end} is before from_time {start}")
        frame["toTime"] = end
    if limit is not None:
        if type(limit) is not int or not 1 <= limit <= REPLAY_MAX_LIMIT:
            raise InvalidArgument(
                f"limit must be a whole number from 1 to {REPLAY_MAX_LIMIT}: {limit!r}"
            )
        frame["limit"] = limit
    return frame
