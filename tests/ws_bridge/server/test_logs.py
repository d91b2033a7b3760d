"""The bridge's log lines: redacted (never a token), plain or JSON with the structured fields."""

from __future__ import annotations

import asyncio
import json
import logging

import pytest

from tests.helpers.bridge_server import token, until
from ws_bridge.core.refusal_log import RefusalLog
from ws_bridge.server.logs import JsonFormatter, RedactingFilter, flush_refusal_log


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


async def test_refusals_left_out_are_summarised_by_the_periodic_flush(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """When a flood stops, no later line carries its summary: the flush task logs it."""
    limit = RefusalLog(burst=1, lines_per_s=1e-9)
    key = ("/ws/analytics", "expired")
    assert [limit.admit(key, t)[0] for t in (1.0, 2.0, 3.0)] == [True, False, False]
    with caplog.at_level(logging.INFO, logger="ws_bridge.server"):
        task = asyncio.create_task(flush_refusal_log(limit, period_s=0.01))
        try:
            await until(lambda: bool(caplog.records), wait_s=5)
        finally:
            task.cancel()
    (record,) = caplog.records
    assert record.getMessage().startswith(
        "2 more refusals of /ws/analytics (expired) not logged over 1.0 s"
    )
    assert limit.flush() == []
