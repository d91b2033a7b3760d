"""The bridge's log lines: redacted (never a token), plain or JSON with the structured fields."""

from __future__ import annotations

import json
import logging

from tests.helpers.bridge_server import token
from ws_bridge.server.logs import JsonFormatter, RedactingFilter


def test_log_lines_are_redacted_plain_and_json() -> None:
    """Every handler line passes through redact (websockets' own too); the JSON format carries
    the structured fields."""
    secret_token = token()
    record = logging.LogRecord(
        "websockets", logging.INFO, __file__, 1, "GET /ws/analytics?token=%s", (secret_token,), None
    )
    assert RedactingFilter().filter(record)
    assert secret_token not in record.getMessage()
    assert "token=[redacted]" in record.getMessage()
    record.rtx_fields = {"user": "alice", "total": 1}
    line = json.loads(JsonFormatter().format(record))
    assert line["user"] == "alice" and line["total"] == 1 and line["level"] == "INFO"
    assert secret_token not in json.dumps(line)
