"""The bridge's log lines: redacted (never a token), plain or JSON.

Logger ``ws_bridge.server`` (the name the contract's log lines have always had).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from streams import logs as streams_logs
from streams.logs import JsonFormatter
from ws_bridge.core.auth import redact
from ws_bridge.core.refusal_log import FLUSH_S, LeftOut, RefusalLog
from ws_bridge.core.session import LogEvent

log = logging.getLogger("ws_bridge.server")


def log_line(level: int, message: str, **fields: Any) -> None:
    """Log through :func:`redact`; fields go to ``extra`` for the JSON format."""
    clean = {k: redact(str(v)) if isinstance(v, str) else v for k, v in fields.items()}
    log.log(level, redact(message), extra={"rtx_fields": clean})


def log_left_out(*lefts: LeftOut) -> None:
    """The summaries of refusals the log limit left out (ws_bridge.core.refusal_log)."""
    for left in lefts:
        route, reason = left.key
        log_line(logging.WARNING, left.line(), route=route, reason=reason, left_out=left.count)


async def flush_refusal_log(refusal_log: RefusalLog, period_s: float = FLUSH_S) -> None:
    """Every ``period_s``: the refusals left out that no later line summarised."""
    while True:
        await asyncio.sleep(period_s)
        log_left_out(*refusal_log.flush())


def emit(event: LogEvent) -> None:
    log_line(event.level, event.message, event=event.event, **event.fields)


class RedactingFilter(logging.Filter):
    """Redacts every record a handler emits (websockets' own lines included)."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = redact(record.getMessage())
        record.args = None
        return True


class RedactingJsonFormatter(JsonFormatter):
    """JSON lines whose exception text is redacted too."""

    def formatException(self, ei: Any) -> str:  # noqa: N802 - logging's name
        return redact(super().formatException(ei))


def configure_logging(log_format: str, level: int = logging.INFO) -> None:
    """The product's logging set-up (:mod:`streams.logs`) with the bridge's redacting filter."""
    streams_logs.configure_logging(level, log_format, filters=[RedactingFilter()])
    if log_format == "json":
        logging.getLogger().handlers[0].setFormatter(RedactingJsonFormatter())
