"""The product's one logging set-up: every command's log lines go to stderr, plain or as JSON
objects, at ``RTX_LOG_LEVEL`` (default INFO). Kafka clients log at WARNING unless the level is
DEBUG: their INFO lines are routine (connections, metadata) and would drown ours.

The bridge adds its redacting filter (tokens never reach a log) through ``filters``.
"""

from __future__ import annotations

import json
import logging
import os
import sys
from collections.abc import Iterable, Mapping
from typing import Any

from streams.settings import ConfigError

LOG_FORMATS = ("plain", "json")
PLAIN_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def log_level(env: Mapping[str, str] | None = None) -> int:
    """``RTX_LOG_LEVEL`` as a logging level; ConfigError naming the variable when unknown."""
    name = (os.environ if env is None else env).get("RTX_LOG_LEVEL", "INFO").strip().upper()
    level = logging.getLevelName(name or "INFO")
    if not isinstance(level, int):
        raise ConfigError(f"RTX_LOG_LEVEL={name!r}: expected DEBUG, INFO, WARNING or ERROR")
    return level


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, the record's ``rtx_fields``."""

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        out.update(getattr(record, "rtx_fields", {}))
        if record.exc_info:
            out["exc"] = self.formatException(record.exc_info)
        return json.dumps(out, default=str)


def configure_logging(
    level: int | None = None,
    log_format: str = "plain",
    filters: Iterable[logging.Filter] = (),
) -> None:
    """Replace the root handlers with one stderr handler (``level`` None: ``RTX_LOG_LEVEL``)."""
    if log_format not in LOG_FORMATS:
        raise ConfigError(f"log format {log_format!r}: expected one of {', '.join(LOG_FORMATS)}")
    level = log_level() if level is None else level
    handler = logging.StreamHandler(sys.stderr)
    for f in filters:
        handler.addFilter(f)
    handler.setFormatter(
        JsonFormatter() if log_format == "json" else logging.Formatter(PLAIN_FORMAT)
    )
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    if level > logging.DEBUG:
        logging.getLogger("aiokafka").setLevel(max(level, logging.WARNING))
