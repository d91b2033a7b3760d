"""Bad client frames for the WebSocket bridge, from a seeded ``random.Random``.

Each generator returns ``(class, frame, expected)``: ``frame`` is a ``str`` (text frame) or
``bytes`` (binary frame), ``expected`` an error code the bridge must answer with
(``docs/bridge.md`` section 2) or None when several answers are right (then only documented
codes and message types are accepted). Every frame fits the 512-byte limit; the frames that
must close the connection are in :func:`closing_frames`.
"""

from __future__ import annotations

import json
import random
import string
from collections.abc import Callable
from typing import Any

MAX_FRAME = 512
ERROR_CODES = frozenset(
    {
        "bad-json",
        "binary-frame",
        "not-an-object",
        "bad-field",
        "unknown-action",
        "unknown-channel",
        "forbidden",
        "rate-limited",
        "refresh-failed",
        "replay-unavailable",
        "replay-busy",
    }
)
CHANNELS = ("routing-metrics", "lp-performance", "exposure-updates", "alerts")
ACTION_FIELDS = {
    "subscribe": ("channels", "since", "sinceTime", "epoch", "id"),
    "unsubscribe": ("channels", "id"),
    "refresh": ("token", "id"),
    "replay": ("channel", "fromTime", "toTime", "limit", "id"),
}
# Raw JSON text of values of every type, and of numbers Python parses oddly.
WRONG_VALUES = (
    "null", "true", "false", "0", "-1", "-2", "1.5", "-0", "1e400", "-1e400", "1E-400",
    "NaN", "Infinity", "-Infinity", '""', '" "', '"x"', "[]", "{}", "[1]", '["alerts", 1]',
    '[null]', '{"a":1}', '"2026-13-45T99:99:99Z"', '"2026-01-19T10:30:45"', '"\\u0000"',
    '"\\ud800"', "123456789012345678901234567890", "9" * 300, "-" + "9" * 300,
    '"' + "x" * 200 + '"', "[[[[[[[[[[]]]]]]]]]]", '"alerts"', "10001", "0.0",
)  # fmt: skip
CONTROL = "".join(chr(c) for c in range(32)) + "\x7f\u2028\u2029\ufeff"


def _random_json(rng: random.Random, depth: int = 0) -> Any:
    kind = rng.randrange(9 if depth < 4 else 6)
    if kind == 0:
        return None
    if kind == 1:
        return rng.choice((True, False))
    if kind == 2:
        return rng.choice((0, -1, 2**63, -(2**64), rng.randint(-(10**9), 10**9)))
    if kind == 3:
        return rng.choice((0.5, -0.0, 1e308, 5e-324, rng.uniform(-1e6, 1e6)))
    if kind in (4, 5):
        alphabet = rng.choice((string.printable, CONTROL + "ab", "日本語é😀\u202e"))
        return "".join(rng.choice(alphabet) for _ in range(rng.randrange(12)))
    if kind == 6:
        return [_random_json(rng, depth + 1) for _ in range(rng.randrange(4))]
    keys = ("action", "channels", "id", "since", "token", "x", "channel", "limit", "fromTime")
    return {rng.choice(keys): _random_json(rng, depth + 1) for _ in range(rng.randrange(5))}


def random_json(rng: random.Random) -> tuple[str, str, str | None]:
    value = _random_json(rng)
    text = json.dumps(value, ensure_ascii=rng.random() < 0.5)[:MAX_FRAME]
    return "random-json", text, None


def random_object(rng: random.Random) -> tuple[str, str, str | None]:
    obj = {"action": rng.choice((*ACTION_FIELDS, "subscribe"))}
    for _ in range(rng.randrange(1, 4)):
        obj[rng.choice(("channels", "id", "since", "token", "limit", "fromTime", "toTime"))] = (
            _random_json(rng, 2)
        )
    text = json.dumps(obj)
    return "random-command", text if len(text.encode()) <= MAX_FRAME else '{"action":1}', None


def wrong_type(rng: random.Random) -> tuple[str, str, str | None]:
    """One field of one action with a value of the wrong type (or out of range)."""
    action = rng.choice(tuple(ACTION_FIELDS))
    field = rng.choice(("action", *ACTION_FIELDS[action]))
    base = {
        "subscribe": '"action":"subscribe","channels":["alerts"]',
        "unsubscribe": '"action":"unsubscribe","channels":["alerts"]',
        "refresh": '"action":"refresh","token":"a.b.c"',
        "replay": '"action":"replay","fromTime":"2026-01-19T10:30:45Z"',
    }[action]
    value = rng.choice(WRONG_VALUES)
    if field == "action":
        body = f'"action":{value}'
    else:
        body = f'{base},"{field}":{value}'
    return "wrong-type", ("{" + body + "}")[:MAX_FRAME], None


def deep_nesting(rng: random.Random) -> tuple[str, str, str | None]:
    n = rng.randrange(50, MAX_FRAME // 2)
    opener, closer = rng.choice((("[", "]"), ('{"a":', "}"), ('{"action":[', "]}")))
    text = opener * n + rng.choice(("1", "")) + closer * rng.choice((n, 0, n // 2))
    text = text[:MAX_FRAME]
    try:
        value = json.loads(text)
    except (ValueError, RecursionError):
        return "deep-nesting", text, "bad-json"
    return "deep-nesting", text, None if isinstance(value, dict) else "not-an-object"


def huge_number(rng: random.Random) -> tuple[str, str, str | None]:
    digits = "1" + "0" * rng.randrange(300, 480)
    number = rng.choice(("1e400", "-1e400", digits, "-" + digits, "1" + "0" * 20, "1e-400"))
    field = rng.choice(("since", "limit", "id"))
    action = "replay" if field == "limit" else "subscribe"
    extra = '"fromTime":"2026-01-19T10:30:45Z"' if action == "replay" else '"channels":["alerts"]'
    text = f'{{"action":"{action}",{extra},"{field}":{number}}}'[:MAX_FRAME]
    try:
        json.loads(text)
    except ValueError:
        return "huge-number", text, "bad-json"
    return "huge-number", text, None


def unknown_action(rng: random.Random) -> tuple[str, str, str | None]:
    alphabet = rng.choice((string.ascii_letters, CONTROL, "日本語😀\u202e", string.punctuation))
    name = "".join(rng.choice(alphabet) for _ in range(rng.randrange(0, 60)))
    if name in ACTION_FIELDS:
        name += "x"
    return "unknown-action", json.dumps({"action": name, "channels": ["alerts"]}), "unknown-action"


def control_chars(rng: random.Random) -> tuple[str, str, str | None]:
    c = rng.choice(CONTROL[:32])
    if rng.random() < 0.5:  # raw in a string: not valid JSON (RFC 8259 section 7)
        return "control-chars", f'{{"action":"subscribe","channels":["al{c}erts"]}}', "bad-json"
    escaped = json.dumps(f"al{c}erts")
    return "control-chars", f'{{"action":"subscribe","channels":[{escaped}]}}', "unknown-channel"


def not_json(rng: random.Random) -> tuple[str, str, str | None]:
    alphabet = rng.choice((string.printable, "日本語é😀", "{[\"'}]:,"))
    text = "".join(rng.choice(alphabet) for _ in range(rng.randrange(1, 200)))
    try:
        value = json.loads(text)
    except (ValueError, RecursionError):
        return "not-json", text, "bad-json"
    return "not-json", text, None if isinstance(value, dict) else "not-an-object"


def binary(rng: random.Random) -> tuple[str, bytes, str | None]:
    data = rng.choice(
        (
            rng.randbytes(rng.randrange(0, MAX_FRAME + 1)),
            b'{"action":"subscribe","channels":["alerts"]}',
        )
    )
    return "binary-frame", data, "binary-frame"


def odd_text(rng: random.Random) -> tuple[str, str, str | None]:
    return rng.choice(
        (
            ("odd-text", "", "bad-json"),
            ("odd-text", " \t\r\n", "bad-json"),
            ("odd-text", '\ufeff{"action":"subscribe","channels":[]}', "bad-json"),
            ("odd-text", '{"action":"subscribe","action":"nope"}', "unknown-action"),
            ("odd-text", '{"action":"subscribe","channels":["alerts"],"since":5}', None),
            ("odd-text", '{"action":"replay","fromTime":"2026-01-19T10:30:45Z","limit":0}', None),
            ("odd-text", '{"action":"refresh","token":"' + "x" * 400 + '"}', "refresh-failed"),
        )
    )


GENERATORS: tuple[Callable[[random.Random], tuple[str, Any, str | None]], ...] = (
    random_json,
    random_object,
    wrong_type,
    wrong_type,
    deep_nesting,
    huge_number,
    unknown_action,
    control_chars,
    not_json,
    binary,
    odd_text,
)


def frame(rng: random.Random) -> tuple[str, str | bytes, str | None]:
    """One frame of at most 512 bytes (larger ones close the connection: closing_frames)."""
    while True:
        cls, data, expected = rng.choice(GENERATORS)(rng)
        size = len(data) if isinstance(data, bytes) else len(data.encode("utf-8", "surrogatepass"))
        if size <= MAX_FRAME:
            return cls, data, expected


def closing_frames() -> list[tuple[str, str | bytes, bool, int]]:
    """Frames that must close the connection: (class, frame, sent as text, close code).
    Invalid UTF-8 in a text frame is websockets' 1007 (RFC 6455 section 8.1)."""
    refresh_big = json.dumps({"action": "refresh", "token": "x" * 9000})
    return [
        ("oversized", "[" * 100_000, True, 1009),  # 10^5 '[': over the socket's max size
        ("oversized", '{"a":' * 20_000 + "1" + "}" * 20_000, True, 1009),
        ("oversized", json.dumps({"action": "subscribe", "channels": ["x" * 600]}), True, 1009),
        ("oversized", "1" * 1000, True, 1009),
        ("oversized", refresh_big, True, 1009),  # refresh may be 8448 bytes, not more
        ("oversized", b"\x00" * 513, False, 1009),
        ("oversized", b"\x00" * 200_000, False, 1009),
        ("invalid-utf8", b"\xff\xfe", True, 1007),
        ("invalid-utf8", b'{"action":"subscribe","channels":["\xc3\x28"]}', True, 1007),
        ("invalid-utf8", b'{"action":"\xed\xa0\x80"}', True, 1007),  # a UTF-16 surrogate
        ("invalid-utf8", b"\xc0\xaf", True, 1007),  # overlong
        ("invalid-utf8", b'{"action":"subscribe"}\xf4\x90\x80\x80', True, 1007),
    ]
