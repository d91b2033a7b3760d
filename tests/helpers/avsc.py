"""The .avsc files as JSON, and their types without docs: for tests that check a description
in code (streams/events/spec.py, streams/workflow/events.py) against the wire contract."""

from __future__ import annotations

import json
from typing import Any

from schemas.codec import SCHEMA_DIR


def avsc(name: str) -> dict[str, Any]:
    raw: dict[str, Any] = json.loads((SCHEMA_DIR / f"{name}.avsc").read_text(encoding="utf-8"))
    return raw


def without_docs(schema: Any) -> Any:
    if isinstance(schema, list):
        return [without_docs(s) for s in schema]
    if isinstance(schema, dict):
        return {k: without_docs(v) for k, v in schema.items() if k != "doc"}
    return schema
