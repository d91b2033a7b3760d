"""Compiled Avro binary writers for our record schemas (the encode hot path).

fastavro's ``schemaless_writer`` interprets the schema on every call (~5 us for a routing
decision); for records whose types we built and checked ourselves (the SDK's event builders,
the stream processor's outputs) a writer generated once per schema does the same work in about
half the time. It covers what our schemas use: records, string, bytes, long, int, double,
float, boolean, enum, unions (of null and one other type, or any types told apart by Python
type), arrays and maps. A schema with anything else gets no compiled writer (``compile_writer``
returns None) and the codec uses fastavro.

The output must equal fastavro's byte for byte (tests/schemas/test_fastwrite.py checks that on
generated records of every schema). On any error the codec falls back to fastavro, which then
either writes the record (e.g. a missing field with a default) or raises the precise error.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from schemas.compiler import Source, Unsupported, resolve_references

Writer = Callable[[dict[str, Any]], bytes]

_SMALL = [bytes((i,)) for i in range(128)]
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def write_long(n: int) -> bytes:
    """Avro long: zig-zag, then base-128 varint, least significant group first."""
    n = (n << 1) ^ (n >> 63)
    if n < 0x80:
        return _SMALL[n]
    out = bytearray()
    while n >= 0x80:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def _since_epoch(unit: timedelta) -> Callable[[Any], int]:
    """A timestamp (int in ``unit``s, or an aware datetime) as int ``unit``s since the epoch."""

    def convert(v: Any) -> int:
        if type(v) is int:
            return v
        if isinstance(v, datetime) and v.tzinfo is not None:
            return (v - _EPOCH) // unit
        raise TypeError(f"not a timestamp: {v!r}")

    return convert


_micros = _since_epoch(timedelta(microseconds=1))
_millis = _since_epoch(timedelta(milliseconds=1))


class _Writer(Source):
    """Generates the source of one writer function: ``a(bytes)`` appends to the output."""

    def __init__(self, header: bytes) -> None:
        super().__init__(
            {
                "write_long": write_long,
                "pack_d": struct.Struct("<d").pack,
                "pack_f": struct.Struct("<f").pack,
                "micros": _micros,
                "millis": _millis,
                "HEADER": header,
            }
        )
        self.lines += ["def write(rec):", "    out = [HEADER]", "    a = out.append"]

    def emit_type(self, t: Any, schema: Any, expr: str, indent: int) -> None:
        """Code that writes the value ``expr`` of ``schema``."""
        pad = "    " * indent
        logical = schema.get("logicalType") if isinstance(schema, dict) else None
        if logical is not None and t not in ("long", "int"):
            raise Unsupported(f"{t} with logicalType {logical}")
        simple = _SIMPLE.get(t)
        if simple is not None:
            self.lines.append(pad + simple.format(expr))
        elif t in ("string", "bytes"):
            b = self.var("b")
            encode = ".encode()" if t == "string" else ""
            self.lines += [
                f"{pad}{b} = {expr}{encode}",
                f"{pad}a(write_long(len({b})))",
                f"{pad}a({b})",
            ]
        elif t in ("long", "int"):
            self.integer(logical, expr, pad)
        elif t == "enum":
            table = self.const({s: write_long(i) for i, s in enumerate(schema["symbols"])})
            self.lines.append(f"{pad}a({table}[{expr}])")
        elif t in ("array", "map"):
            self.block(schema, t, expr, indent)
        elif t == "record":
            r = self.var("r")
            self.lines.append(f"{pad}{r} = {expr}")
            for f in schema["fields"]:
                self.emit(f["type"], f"{r}[{f['name']!r}]", indent)
        else:
            raise Unsupported(str(t))

    def integer(self, logical: str | None, expr: str, pad: str) -> None:
        if logical in ("timestamp-micros", "local-timestamp-micros"):
            self.lines.append(f"{pad}a(write_long(micros({expr})))")
        elif logical in ("timestamp-millis", "local-timestamp-millis"):
            self.lines.append(f"{pad}a(write_long(millis({expr})))")
        elif logical is not None:
            raise Unsupported(logical)
        else:
            v = self.var("v")
            # fastavro refuses floats and bools for longs only when validating; we refuse
            # them always (TypeError -> fallback), so no value is silently truncated.
            self.lines += [
                f"{pad}{v} = {expr}",
                f"{pad}if type({v}) is not int: raise TypeError({v!r})",
                f"{pad}a(write_long({v}))",
            ]

    def block(self, schema: Any, t: str, expr: str, indent: int) -> None:
        """An array or map: one block of ``count`` items, then the end marker 0."""
        pad = "    " * indent
        items, x = self.var("items"), self.var("x")
        if t == "map":
            k = self.var("key")
            loop = f"for {k}, {x} in {items}.items():"
        else:
            loop = f"for {x} in {items}:"
        self.lines += [
            f"{pad}{items} = {expr}",
            f"{pad}if {items}:",
            f"{pad}    a(write_long(len({items})))",
            f"{pad}    {loop}",
        ]
        if t == "map":
            self.emit("string", k, indent + 2)
        self.emit(schema["values" if t == "map" else "items"], x, indent + 2)
        self.lines.append(f"{pad}a(b'\\x00')")

    def union(self, branches: list[Any], expr: str, indent: int) -> None:
        pad = "    " * indent
        names = [b if isinstance(b, str) else b.get("type") for b in branches]
        if len(branches) == 2 and "null" in names:
            null_i = names.index("null")
            other_i = 1 - null_i
            v = self.var("u")
            self.lines += [
                f"{pad}{v} = {expr}",
                f"{pad}if {v} is None:",
                f"{pad}    a({self.const(write_long(null_i))})",
                f"{pad}else:",
                f"{pad}    a({self.const(write_long(other_i))})",
            ]
            self.emit(branches[other_i], v, indent + 1)
            return
        raise Unsupported("union of " + ",".join(map(str, names)))


# Types written by one line (``{}`` is the value's expression).
_SIMPLE = {
    "double": "a(pack_d({}))",
    "float": "a(pack_f({}))",
    "boolean": "a(b'\\x01' if {} else b'\\x00')",
    "null": "if {} is not None: raise TypeError('expected null')",
}


def compile_writer(schema: dict[str, Any], header: bytes = b"") -> Writer | None:
    """A function record -> ``header`` + Avro binary body, or None if the schema uses a type
    this module does not compile. ``schema`` is the schema JSON (logical types included)."""
    source = _Writer(header)
    try:
        source.emit(resolve_references(schema), "rec", 1)
    except Unsupported:
        return None
    source.lines.append("    return b''.join(out)")
    writer: Writer = source.compile("write", f"<avro writer {schema.get('name')}>")
    return writer
