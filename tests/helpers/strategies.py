"""Hypothesis strategies that generate valid records for any Avro schema of this project.

``records_for(schema)`` walks an Avro schema (its JSON text or the parsed JSON object, as in the
``.avsc`` files) and returns a strategy of records that fastavro's writer accepts: records, enums,
unions (including ``null``), maps, arrays, strings, doubles, floats, longs, ints, booleans, bytes,
fixed, and named-type references (Avro specification, "Names"). ``timestamp-micros`` and
``timestamp-millis`` fields are generated as ints (micro/milliseconds since the epoch) within the
range a Python ``datetime`` can hold, because fastavro decodes them to aware datetimes.

``comparable(schema, value)`` maps a written or a decoded value onto a form where equality means
"the same on the wire": timestamps become ints, doubles become their IEEE 754 bytes (so -0.0 and
0.0 differ and NaN equals NaN).
"""

from __future__ import annotations

import json
import struct
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import strategies as st

PRIMITIVES = frozenset({"null", "boolean", "int", "long", "float", "double", "bytes", "string"})
NAMED = frozenset({"record", "error", "enum", "fixed"})

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# The datetimes Python can represent (datetime.min .. datetime.max, as UTC), in microseconds.
MIN_TIMESTAMP_MICROS = (datetime(1, 1, 1, tzinfo=UTC) - EPOCH) // timedelta(microseconds=1)
MAX_TIMESTAMP_MICROS = (
    datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC) - EPOCH
) // timedelta(microseconds=1)

# Logical types fastavro converts on read that this module does not generate yet: fail loudly
# rather than generate a value of the underlying type that would not round-trip.
_UNSUPPORTED_LOGICAL = frozenset(
    {
        "date",
        "time-millis",
        "time-micros",
        "decimal",
        "uuid",
        "local-timestamp-millis",
        "local-timestamp-micros",
    }
)

# Union branches whose values an earlier branch of the given type would take on write.
_SHADOWS = {"double": {"float", "long", "int"}, "float": {"long", "int"}, "long": {"int"}}

Schema = Any  # an Avro schema in its JSON form: str, list (union) or dict


@dataclass
class _Names:
    """Named types seen so far (full name -> definition), as the Avro spec resolves them."""

    definitions: dict[str, Mapping[str, Any]] = field(default_factory=dict)

    @staticmethod
    def full_name(name: str, namespace: str | None) -> str:
        if "." in name or not namespace:
            return name
        return f"{namespace}.{name}"

    def define(self, schema: Mapping[str, Any], namespace: str | None) -> tuple[str, str | None]:
        """Register a named type; return its full name and the namespace its children use."""
        ns = schema.get("namespace", namespace)
        full = self.full_name(schema["name"], ns)
        self.definitions[full] = schema
        return full, _parent(full)

    def lookup(self, name: str, namespace: str | None) -> tuple[str, Mapping[str, Any]]:
        for candidate in (self.full_name(name, namespace), name):
            if candidate in self.definitions:
                return candidate, self.definitions[candidate]
        raise ValueError(f"unknown named type {name!r} (namespace {namespace!r})")


def _load(schema: Mapping[str, Any] | str) -> Schema:
    return json.loads(schema) if isinstance(schema, str) else schema


def records_for(
    schema: Mapping[str, Any] | str,
    *,
    allow_nan: bool = True,
    allow_infinity: bool = True,
    max_items: int = 4,
    max_text: int = 80,
) -> st.SearchStrategy[Any]:
    """A strategy of values valid for ``schema`` (normally a record schema, giving dicts).

    ``max_text`` above 63 lets strings need a multi-byte length varint; ``max_items`` bounds
    arrays and maps. NaN and infinities are generated for float/double unless disabled.
    """
    names = _Names()
    strategies: dict[str, st.SearchStrategy[Any]] = {}
    text = st.text(alphabet=st.characters(codec="utf-8"), max_size=max_text)

    def build(s: Schema, ns: str | None) -> st.SearchStrategy[Any]:
        if isinstance(s, list):
            seen: set[str] = set()
            branches = []
            for branch in s:
                kind = branch if isinstance(branch, str) else branch.get("type")
                # fastavro writes a value to the first branch that accepts it, so an int drawn
                # for "long" in ["double", "long"] would come back a float: skip such branches.
                if not any(kind in _SHADOWS.get(earlier, ()) for earlier in seen):
                    branches.append(build(branch, ns))
                seen.add(kind if isinstance(kind, str) else "")
            return st.one_of(branches)
        if isinstance(s, str):
            if s in PRIMITIVES:
                return primitive(s)
            full, _ = names.lookup(s, ns)
            # deferred: a reference may occur inside the type it names (recursive records)
            return st.deferred(lambda: strategies[full])
        kind = s["type"]
        logical = s.get("logicalType")
        if logical in _UNSUPPORTED_LOGICAL:
            raise NotImplementedError(f"logicalType {logical} is not generated yet")
        if logical == "timestamp-micros" and kind == "long":
            return st.integers(MIN_TIMESTAMP_MICROS, MAX_TIMESTAMP_MICROS)
        if logical == "timestamp-millis" and kind == "long":
            return st.integers(-(-MIN_TIMESTAMP_MICROS // 1000), MAX_TIMESTAMP_MICROS // 1000)
        if kind in PRIMITIVES:  # {"type": "long"} or an unknown logical type (spec: ignore it)
            return primitive(kind)
        if kind == "array":
            return st.lists(build(s["items"], ns), max_size=max_items)
        if kind == "map":
            return st.dictionaries(text, build(s["values"], ns), max_size=max_items)
        if kind in NAMED:
            full, child_ns = names.define(s, ns)
            if kind == "enum":
                strategy: st.SearchStrategy[Any] = st.sampled_from(s["symbols"])
            elif kind == "fixed":
                strategy = st.binary(min_size=s["size"], max_size=s["size"])
            else:
                strategy = st.fixed_dictionaries(
                    {f["name"]: build(f["type"], child_ns) for f in s["fields"]}
                )
            strategies[full] = strategy
            return strategy
        if isinstance(kind, str | list | dict):  # {"type": "Side"} or {"type": [...]}
            return build(kind, ns)
        raise ValueError(f"unsupported schema {s!r}")

    def primitive(kind: str) -> st.SearchStrategy[Any]:
        return {
            "null": st.none(),
            "boolean": st.booleans(),
            "int": st.integers(-(2**31), 2**31 - 1),
            "long": st.integers(-(2**63), 2**63 - 1),
            "float": st.floats(width=32, allow_nan=allow_nan, allow_infinity=allow_infinity),
            "double": st.floats(allow_nan=allow_nan, allow_infinity=allow_infinity),
            "bytes": st.binary(max_size=max_text),
            "string": text,
        }[kind]

    return build(_load(schema), None)


def comparable(schema: Mapping[str, Any] | str, value: Any) -> Any:
    """``value`` (as written, or as decoded) in a form whose equality is wire equality."""
    names = _Names()

    def walk(s: Schema, ns: str | None, v: Any) -> Any:
        if isinstance(s, list):
            declare(s, ns)
            return walk(_branch_for(s, ns, v), ns, v)
        if isinstance(s, str):
            if s in PRIMITIVES:
                return primitive(s, v)
            full, definition = names.lookup(s, ns)
            return walk_named(definition, _parent(full), v)
        kind = s["type"]
        logical = s.get("logicalType")
        if logical == "timestamp-micros":
            return _micros(v, 1) if isinstance(v, datetime) else v
        if logical == "timestamp-millis":
            return _micros(v, 1000) if isinstance(v, datetime) else v
        if kind in PRIMITIVES:
            return primitive(kind, v)
        if kind == "array":
            declare(s["items"], ns)
            return [walk(s["items"], ns, item) for item in v]
        if kind == "map":
            declare(s["values"], ns)
            return {k: walk(s["values"], ns, item) for k, item in v.items()}
        if kind in NAMED:
            _, child_ns = names.define(s, ns)
            return walk_named(s, child_ns, v)
        return walk(kind, ns, v)

    def declare(s: Schema, ns: str | None) -> None:
        """Define the named types inside ``s`` even when no value walks them (an empty array
        or map, a null branch): a later field may refer to them by name."""
        if isinstance(s, list):
            for branch in s:
                declare(branch, ns)
        elif isinstance(s, dict):
            kind = s["type"]
            if kind in NAMED:
                _, child_ns = names.define(s, ns)
                for f in s.get("fields", []):
                    declare(f["type"], child_ns)
            elif kind in ("array", "map"):
                declare(s["items" if kind == "array" else "values"], ns)

    def walk_named(s: Mapping[str, Any], child_ns: str | None, v: Any) -> Any:
        if s["type"] in ("record", "error"):
            return {f["name"]: walk(f["type"], child_ns, v[f["name"]]) for f in s["fields"]}
        return v

    def primitive(kind: str, v: Any) -> Any:
        if kind == "double" and isinstance(v, float):
            return struct.pack("<d", v)
        if kind == "float" and isinstance(v, float):
            return struct.pack("<f", v)
        return v

    def _branch_for(union: list[Schema], ns: str | None, v: Any) -> Schema:
        for branch in union:
            if _fits(branch, ns, v):
                return branch
        raise ValueError(f"{v!r} fits no branch of {union!r}")

    def _fits(s: Schema, ns: str | None, v: Any) -> bool:
        kind = s if isinstance(s, str) else s["type"]
        if isinstance(kind, str) and kind not in PRIMITIVES and kind not in ("array", "map"):
            if kind not in NAMED:
                _, s = names.lookup(kind, ns)
                kind = s["type"]
        checks: dict[str, Callable[[Any], bool]] = {
            "null": lambda x: x is None,
            "boolean": lambda x: isinstance(x, bool),
            "int": lambda x: isinstance(x, int | datetime) and not isinstance(x, bool),
            "long": lambda x: isinstance(x, int | datetime) and not isinstance(x, bool),
            "float": lambda x: isinstance(x, float),
            "double": lambda x: isinstance(x, float),
            "bytes": lambda x: isinstance(x, bytes),
            "string": lambda x: isinstance(x, str),
            "array": lambda x: isinstance(x, list),
            "map": lambda x: isinstance(x, dict),
            "record": lambda x: isinstance(x, dict),
            "error": lambda x: isinstance(x, dict),
            "enum": lambda x: isinstance(x, str) and x in s["symbols"],
            "fixed": lambda x: isinstance(x, bytes) and len(x) == s["size"],
        }
        return checks[kind](v)

    return walk(_load(schema), None, value)


def _parent(full_name: str) -> str | None:
    """The namespace a named type gives the names inside it (its full name minus the last part)."""
    return full_name.rsplit(".", 1)[0] if "." in full_name else None


def _micros(value: datetime, unit_micros: int) -> int:
    return (value - EPOCH) // timedelta(microseconds=unit_micros)
