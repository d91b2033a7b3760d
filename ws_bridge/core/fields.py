"""Checks of a client frame's fields, shared by the protocol's commands (:mod:`.protocol`) and
the alert actions (:mod:`.actions`). Each raises :class:`ProtocolError` (``bad-field``) naming
the field. No I/O."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ws_bridge.core.errors import ProtocolError
from ws_bridge.core.messages import RequestId, parse_timestamp


def kind_of(value: Any) -> str:
    """How a JSON value is named in an error message."""
    return {dict: "an object", list: "an array", str: "a string", bool: "a boolean"}.get(
        type(value), "null" if value is None else "a number"
    )


def optional_int(
    obj: Mapping[str, Any], name: str, *, minimum: int, maximum: int | None = None
) -> int | None:
    value = obj.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise ProtocolError("bad-field", f'"{name}" must be a whole number, got {kind_of(value)}')
    if value < minimum or (maximum is not None and value > maximum):
        upper = f" and <= {maximum}" if maximum is not None else ""
        raise ProtocolError("bad-field", f'"{name}" must be >= {minimum}{upper}')
    return value


def optional_str(obj: Mapping[str, Any], name: str, max_len: int) -> str | None:
    value = obj.get(name)
    if value is None:
        return None
    if not isinstance(value, str) or not 0 < len(value) <= max_len:
        raise ProtocolError("bad-field", f'"{name}" must be a string of 1..{max_len} characters')
    return value


def optional_time(obj: Mapping[str, Any], name: str) -> str | None:
    value = optional_str(obj, name, 64)
    if value is not None:
        try:
            parse_timestamp(value)
        except ValueError:
            raise ProtocolError(
                "bad-field", f'"{name}" must be an RFC 3339 timestamp with Z'
            ) from None
    return value


def request_id_of(obj: Mapping[str, Any]) -> RequestId | None:
    value = obj.get("id")
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise ProtocolError("bad-field", '"id" must be a string or a whole number')
    if isinstance(value, str) and len(value) > 64:
        raise ProtocolError("bad-field", '"id" must be at most 64 characters')
    return value
