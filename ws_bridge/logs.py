"""The bridge's log lines: redacted (never a token), plain or JSON.

Logger ``ws_bridge.server`` (the name the contract's log lines have always had).
"""

from __future__ import annotations

import json
import logging
from typing import Any

from ws_bridge.auth import redact
from ws_bridge.session import LogEvent

log = logging.getLogger("ws_bridge.server")


def log_line(level: int, message: str, **fields: Any) -> None:
    """Log through :func:`redact`; fields go to ``extra`` for the JSON format."""
    clean = {k: redact(str(v)) if isinstance(v, str) else v for k, v in fields.items()}
    log.log(level, redact(message), extra={"rtx_fields": clean})


def emit(event: LogEvent) -> None:
    log_line(event.level, event.message, event=event.event, **event.fields)


class RedactingFilter(logging.Filter):
    """Redacts every record a handler emits (websockets' own lines included)."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = redact(record.getMessage())
        record.args = None
        return True


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        out.update(getattr(record, "rtx_fields", {}))
        if record.exc_info:
            out["exc"] = redact(self.formatException(record.exc_info))
        return json.dumps(out, default=str)


def configure_logging(log_format: str, level: int = logging.INFO) -> None:
    """Replace the root handlers with one stderr handler, plain or JSON, redacting."""
    handler = logging.StreamHandler()
    handler.addFilter(RedactingFilter())
    if log_format == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    logging.getLogger("aiokafka").setLevel(max(level, logging.WARNING))
