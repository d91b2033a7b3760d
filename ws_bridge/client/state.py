"""The client's errors and its pure state: reconnect backoff, the alert cursor, and the checks and
frame of a time-range alert replay. No I/O; :mod:`ws_bridge.client` re-exports every name.

Exceptions::

    ClientError
     +-- ConfigError (also a ValueError)  bad argument
     +-- ConnectionFailed                  could not connect, or the connection dropped (retriable)
     +-- ServerError                       the bridge answered a frame with an ``error`` message
     +-- ProtocolViolation                 a frame that is not a JSON array of objects

A replay that got no ``replay-done`` in time is a plain ``ClientError`` with code ``timeout``.
"""

from __future__ import annotations

import asyncio
import random
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

Message = dict[str, Any]
RequestId = str | int

REPLAY_MAX_LIMIT = 10_000  # the bridge's bound of ``limit`` (docs/bridge.md section 2)
_RFC3339 = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,9})?(Z|[+-]\d\d:\d\d)")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class ClientError(Exception):
    """Root of the client's errors; ``code`` names the cause (e.g. ``connect-failed``)."""

    retriable = False

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


class ConfigError(ClientError, ValueError):
    def __init__(self, message: str) -> None:
        super().__init__("bad-option", message)


class ConnectionFailed(ClientError):
    retriable = True

    def __init__(self, code: str, message: str, close_code: int | None = None) -> None:
        super().__init__(code, message)
        self.close_code = close_code


class ServerError(ClientError):
    """The bridge's ``error`` message: ``code`` is its code (``forbidden``, ``refresh-failed``),
    ``request_id`` the ``id`` of the command it refused (None when the bridge gave none)."""

    def __init__(
        self,
        code: str,
        message: str,
        channel: str | None = None,
        request_id: RequestId | None = None,
    ) -> None:
        super().__init__(code, message)
        self.channel = channel
        self.request_id = request_id


class ProtocolViolation(ClientError):
    pass


@dataclass(frozen=True, slots=True)
class Backoff:
    """Exponential backoff with full jitter (Brooker, "Exponential Backoff And Jitter", AWS
    Architecture Blog, 2015): retry ``n`` (0-based) waits uniformly in
    ``[0, min(max_s, base_s * 2**n))``, so clients dropped together do not return together."""

    base_s: float = 0.5
    max_s: float = 30.0

    def __post_init__(self) -> None:
        if not 0 < self.base_s < float("inf"):
            raise ConfigError(f"backoff base_s must be a finite number > 0, got {self.base_s!r}")
        if not self.base_s <= self.max_s < float("inf"):
            raise ConfigError(f"backoff max_s must be finite and >= base_s, got {self.max_s!r}")

    def ceiling(self, attempt: int) -> float:
        """The exclusive upper bound of the delay before retry ``attempt``."""
        if attempt >= 64:  # 2**attempt would only overflow the float; the cap applies anyway
            return self.max_s
        return min(self.max_s, self.base_s * 2.0 ** max(0, attempt))

    def delay(self, attempt: int, rand: Callable[[], float] = random.random) -> float:
        """A delay in ``[0, ceiling(attempt))``; ``rand`` returns floats in [0, 1)."""
        return rand() * self.ceiling(attempt)


class AlertCursor:
    """The last alert delivered, ``(seq, epoch)``: what a resume asks for and what dedupes."""

    def __init__(self, seq: int | None = None, epoch: str | None = None) -> None:
        if seq is not None and (type(seq) is not int or seq < -1):
            raise ConfigError(f"resume seq must be a whole number >= -1, got {seq!r}")
        if epoch is not None and (not isinstance(epoch, str) or not epoch):
            raise ConfigError("resume epoch must be a non-empty string when given")
        self.seq, self.epoch = seq, epoch
        self.duplicates = 0

    def resume_fields(self) -> dict[str, Any]:
        """``since`` (and ``epoch``) for a subscribe that includes alerts; {} = live only."""
        if self.seq is None:
            return {}
        return (
            {"since": self.seq} if self.epoch is None else {"since": self.seq, "epoch": self.epoch}
        )

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
    microseconds since the epoch; ConfigError otherwise. Strings are sent as given."""
    if isinstance(value, datetime):
        if value.utcoffset() is None:
            raise ConfigError(
                f"{name} must be timezone-aware (e.g. datetime.now(UTC)), got {value}"
            )
        moment = value
        text = value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    elif isinstance(value, str) and _RFC3339.fullmatch(value):
        try:
            moment = datetime.fromisoformat(value)
        except ValueError as exc:
            raise ConfigError(f"{name} {value!r} is not a valid time: {exc}") from exc
        text = value
    else:
        raise ConfigError(
            f"{name} must be an aware datetime or an RFC 3339 time with an offset, like "
            f"2026-01-19T10:30:45.123456Z; got {value!r}"
        )
    return text, (moment - _EPOCH) // timedelta(microseconds=1)


def replay_frame(from_time: object, to_time: object = None, limit: object = None) -> Message:
    """The ``replay`` command for these arguments, without ``id``; ConfigError for bad ones
    (checked here: the bridge answers a malformed replay with a ``bad-field`` error that does not
    name the request)."""
    start, from_us = replay_time(from_time, "from_time")
    frame: Message = {"action": "replay", "channel": "alerts", "fromTime": start}
    if to_time is not None:
        end, to_us = replay_time(to_time, "to_time")
        if to_us < from_us:
            raise ConfigError(f"to_time {end} is before from_time {start}")
        frame["toTime"] = end
    if limit is not None:
        if type(limit) is not int or not 1 <= limit <= REPLAY_MAX_LIMIT:
            raise ConfigError(
                f"limit must be a whole number from 1 to {REPLAY_MAX_LIMIT}: {limit!r}"
            )
        frame["limit"] = limit
    return frame


@dataclass(slots=True)
class ReplayJob:
    """The replay on the wire: its id, whether its alerts also go to callbacks and streams, the
    alert messages received so far, and the future that ``replay-done`` resolves."""

    request_id: str
    deliver: bool
    done: asyncio.Future[Message]
    messages: list[Message]
