"""Client to server: commands, and the rules a client frame must follow. No I/O.

Client frames are JSON text frames of at most :data:`MAX_FRAME_BYTES` bytes (docs/bridge.md
section 1), parsed by :func:`parse_client_frame` into a command or a :class:`ProtocolError`
(returned, never raised). Two kinds of frame may be longer, and only they: ``refresh`` (up to
:data:`MAX_REFRESH_FRAME_BYTES`: a signed token does not fit in 512 bytes, an RS256 signature alone
is 342 characters) and the alert actions (up to
:data:`~ws_bridge.core.actions.MAX_ACTION_FRAME_BYTES`: a note of 500 characters). An old client
sends neither, so the contract's limit holds for every frame the contract knows.

The server-to-client half lives in :mod:`ws_bridge.core.messages` and is re-exported here, so the
whole wire protocol is importable from this module.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from streams.workflow import DESK_ACTIONS
from ws_bridge.core.actions import MAX_ACTION_FRAME_BYTES, Act, parse_act
from ws_bridge.core.errors import ProtocolError, TooLarge
from ws_bridge.core.fields import (
    kind_of,
    optional_int,
    optional_str,
    optional_time,
    request_id_of,
)
from ws_bridge.core.messages import (
    CHANNELS,
    SCHEMA_ROUTES,
    TYPE_CHANNELS,
    Encoded,
    Message,
    RequestId,
    channel_of,
    encode,
    error_message,
    format_timestamp,
    frame_of,
    gap_message,
    now_micros,
    parse_timestamp,
    refreshed_message,
    replay_done_message,
    subscribed_message,
    to_message,
    unsubscribed_message,
)

__all__ = [
    "CHANNELS",
    "MAX_ACTION_FRAME_BYTES",
    "MAX_FRAME_BYTES",
    "MAX_REFRESH_FRAME_BYTES",
    "REPLAY_DEFAULT_LIMIT",
    "REPLAY_MAX_LIMIT",
    "SCHEMA_ROUTES",
    "STATUS_PATH",
    "TYPE_CHANNELS",
    "WS_PATH",
    "Act",
    "Command",
    "Encoded",
    "Message",
    "ProtocolError",
    "Refresh",
    "Replay",
    "RequestId",
    "Subscribe",
    "TooLarge",
    "Unsubscribe",
    "channel_of",
    "encode",
    "error_message",
    "format_timestamp",
    "frame_of",
    "gap_message",
    "now_micros",
    "parse_client_frame",
    "parse_timestamp",
    "refreshed_message",
    "replay_done_message",
    "subscribed_message",
    "to_message",
    "unsubscribed_message",
]

WS_PATH = "/ws/analytics"
STATUS_PATH = "/api/analytics/status"
MAX_FRAME_BYTES = 512
MAX_REFRESH_FRAME_BYTES = 8192 + 256  # the largest token auth accepts, plus the envelope
REPLAY_DEFAULT_LIMIT = 1000
REPLAY_MAX_LIMIT = 10_000


# -- client commands ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Subscribe:
    """``{"action":"subscribe","channels":[...]}``, optionally with alert resume fields.

    ``unknown`` holds channel names the bridge does not serve: the known ones are subscribed and
    each unknown one gets an error message, as the old hub subscribed what it knew.
    """

    channels: tuple[str, ...]
    since: int | None = None
    since_time: str | None = None
    epoch: str | None = None
    unknown: tuple[str, ...] = ()
    request_id: RequestId | None = None
    actions_since: int | None = None  # alert actions: resync the states changed after this seq

    @property
    def since_time_us(self) -> int | None:
        return None if self.since_time is None else parse_timestamp(self.since_time)

    @property
    def wants_ack(self) -> bool:
        """Only a client using an extension field is answered with ``subscribed``."""
        resumes = self.since is not None or self.since_time is not None
        return self.request_id is not None or resumes or self.actions_since is not None


@dataclass(frozen=True, slots=True)
class Unsubscribe:
    channels: tuple[str, ...]
    unknown: tuple[str, ...] = ()
    request_id: RequestId | None = None


@dataclass(frozen=True, slots=True)
class Refresh:
    token: str = field(repr=False)
    request_id: RequestId | None = None


@dataclass(frozen=True, slots=True)
class Replay:
    """Alerts with ``from_time <= eventTime < to_time`` (to_time None: up to now), at most
    ``limit``, in log order."""

    from_time: str
    to_time: str | None = None
    limit: int = REPLAY_DEFAULT_LIMIT
    channel: str = "alerts"
    request_id: RequestId | None = None

    @property
    def from_us(self) -> int:
        return parse_timestamp(self.from_time)

    @property
    def to_us(self) -> int | None:
        return None if self.to_time is None else parse_timestamp(self.to_time)


Command = Subscribe | Unsubscribe | Refresh | Replay | Act


def parse_client_frame(data: str | bytes) -> Command | ProtocolError:
    """One client frame -> a command, or the error to answer it with (``TooLarge``: close 1009)."""
    if not isinstance(data, str):
        if len(data) > MAX_FRAME_BYTES:
            return TooLarge("too-large", f"frame of {len(data)} bytes exceeds {MAX_FRAME_BYTES}")
        return ProtocolError("binary-frame", "binary frames are not accepted: send JSON text")
    size = len(data) if data.isascii() else len(data.encode("utf-8", "surrogatepass"))
    if size > MAX_REFRESH_FRAME_BYTES:
        return TooLarge("too-large", f"frame of {size} bytes exceeds {MAX_FRAME_BYTES}")
    try:
        obj = json.loads(data)
    except (ValueError, RecursionError) as exc:
        if size > MAX_FRAME_BYTES:
            return TooLarge("too-large", f"frame of {size} bytes exceeds {MAX_FRAME_BYTES}")
        return ProtocolError("bad-json", f"not valid JSON: {exc}")
    if size > _limit(obj):
        return TooLarge("too-large", f"frame of {size} bytes exceeds {MAX_FRAME_BYTES}")
    if not isinstance(obj, dict):
        return ProtocolError("not-an-object", f"expected a JSON object, got {kind_of(obj)}")
    try:
        return _command(obj)
    except ProtocolError as bad:  # raised deep in the checks, returned fresh (no traceback kept)
        return ProtocolError(bad.code, bad.message)


def _command(obj: Mapping[str, Any]) -> Command:
    action = obj.get("action")
    if action is None:
        raise ProtocolError("bad-field", 'missing "action"')
    if not isinstance(action, str):
        raise ProtocolError("bad-field", f'"action" must be a string, got {kind_of(action)}')
    request_id = request_id_of(obj)
    if action == "subscribe":
        known, unknown = _channels(obj)
        since = optional_int(obj, "since", minimum=-1)
        since_time = optional_time(obj, "sinceTime")
        epoch = optional_str(obj, "epoch", 128)
        if since is not None and since_time is not None:
            raise ProtocolError("bad-field", 'give "since" or "sinceTime", not both')
        actions_since = optional_int(obj, "actionsSince", minimum=-1)
        alerts_only = (since, since_time, actions_since)
        if any(f is not None for f in alerts_only) and "alerts" not in known:
            text = '"since"/"sinceTime"/"actionsSince" apply to the alerts channel only'
            raise ProtocolError("bad-field", text)
        return Subscribe(known, since, since_time, epoch, unknown, request_id, actions_since)
    if action == "unsubscribe":
        known, unknown = _channels(obj)
        return Unsubscribe(known, unknown, request_id)
    if action == "refresh":
        token = obj.get("token")
        if not isinstance(token, str) or not token:
            raise ProtocolError("bad-field", '"token" must be a non-empty string')
        return Refresh(token, request_id)
    if action == "replay":
        channel = obj.get("channel", "alerts")
        if channel != "alerts":
            raise ProtocolError(
                "unknown-channel", f"replay is offered for alerts only, not {channel!r}"
            )
        from_time = optional_time(obj, "fromTime")
        if from_time is None:
            raise ProtocolError("bad-field", 'replay needs "fromTime" (RFC 3339)')
        to_time = optional_time(obj, "toTime")
        if to_time is not None and parse_timestamp(to_time) < parse_timestamp(from_time):
            raise ProtocolError("bad-field", '"toTime" is before "fromTime"')
        given = optional_int(obj, "limit", minimum=1, maximum=REPLAY_MAX_LIMIT)
        limit = REPLAY_DEFAULT_LIMIT if given is None else given
        return Replay(from_time, to_time, limit, request_id=request_id)
    if action in DESK_ACTIONS:
        return parse_act(action, obj, request_id)
    known_actions = ", ".join(("subscribe", "unsubscribe", "refresh", "replay", *DESK_ACTIONS))
    raise ProtocolError("unknown-action", f"unknown action {action[:40]!r}; known: {known_actions}")


def _limit(obj: Any) -> int:
    """The size limit of a parsed frame: larger only for refresh and the alert actions."""
    action = obj.get("action") if isinstance(obj, dict) else None
    if action == "refresh":
        return MAX_REFRESH_FRAME_BYTES
    return MAX_ACTION_FRAME_BYTES if action in DESK_ACTIONS else MAX_FRAME_BYTES


def _channels(obj: Mapping[str, Any]) -> tuple[tuple[str, ...], tuple[str, ...]]:
    raw = obj.get("channels")
    if not isinstance(raw, list) or not all(isinstance(c, str) for c in raw):
        raise ProtocolError("bad-field", '"channels" must be an array of strings')
    known = tuple(dict.fromkeys(c for c in raw if c in CHANNELS))
    unknown = tuple(dict.fromkeys(c[:64] for c in raw if c not in CHANNELS))
    return known, unknown
