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

Writer = Callable[[dict[str, Any]], bytes]

_SMALL = [bytes((i,)) for i in range(128)]
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICRO = timedelta(microseconds=1)
_MILLI = timedelta(milliseconds=1)


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


def _micros(v: Any) -> int:
    if type(v) is int:
        return v
    if isinstance(v, datetime) and v.tzinfo is not None:
        return (v - _EPOCH) // _MICRO
    raise TypeError(f"not a timestamp: {v!r}")


def _millis(v: Any) -> int:
    if type(v) is int:
        return v
    if isinstance(v, datetime) and v.tzinfo is not None:
        return (v - _EPOCH) // _MILLI
    raise TypeError(f"not a timestamp: {v!r}")


class _Unsupported(Exception):
    pass


class _Gen:
    """Generates the source of one writer function; ``env`` holds the constants it uses."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self.env: dict[str, Any] = {
            "write_long": write_long,
            "pack_d": struct.Struct("<d").pack,
            "pack_f": struct.Struct("<f").pack,
            "micros": _micros,
            "millis": _millis,
        }
        self._n = 0

    def var(self, prefix: str) -> str:
        self._n += 1
        return f"{prefix}{self._n}"

    def const(self, value: Any) -> str:
        name = self.var("k")
        self.env[name] = value
        return name

    def emit(self, schema: Any, expr: str, indent: int) -> None:
        pad = "    " * indent
        if isinstance(schema, list):
            self.union(schema, expr, indent)
            return
        t = schema if isinstance(schema, str) else schema.get("type")
        logical = schema.get("logicalType") if isinstance(schema, dict) else None
        if logical is not None and t not in ("long", "int"):
            raise _Unsupported(f"{t} with logicalType {logical}")
        if t == "string":
            b = self.var("b")
            self.lines += [
                f"{pad}{b} = {expr}.encode()",
                f"{pad}a(write_long(len({b})))",
                f"{pad}a({b})",
            ]
        elif t == "bytes":
            b = self.var("b")
            self.lines += [f"{pad}{b} = {expr}", f"{pad}a(write_long(len({b})))", f"{pad}a({b})"]
        elif t in ("long", "int"):
            if logical in ("timestamp-micros", "local-timestamp-micros"):
                self.lines.append(f"{pad}a(write_long(micros({expr})))")
            elif logical in ("timestamp-millis", "local-timestamp-millis"):
                self.lines.append(f"{pad}a(write_long(millis({expr})))")
            elif logical is not None:
                raise _Unsupported(logical)
            else:
                v = self.var("v")
                # fastavro refuses floats and bools for longs only when validating; we refuse
                # them always (TypeError -> fallback), so no value is silently truncated.
                self.lines += [
                    f"{pad}{v} = {expr}",
                    f"{pad}if type({v}) is not int: raise TypeError({v!r})",
                    f"{pad}a(write_long({v}))",
                ]
        elif t == "double":
            self.lines.append(f"{pad}a(pack_d({expr}))")
        elif t == "float":
            self.lines.append(f"{pad}a(pack_f({expr}))")
        elif t == "boolean":
            self.lines.append(f"{pad}a(b'\\x01' if {expr} else b'\\x00')")
        elif t == "null":
            self.lines.append(f"{pad}if {expr} is not None: raise TypeError('expected null')")
        elif t == "enum":
            table = self.const({s: write_long(i) for i, s in enumerate(schema["symbols"])})
            self.lines.append(f"{pad}a({table}[{expr}])")
        elif t == "array":
            items, x = self.var("items"), self.var("x")
            self.lines += [
                f"{pad}{items} = {expr}",
                f"{pad}if {items}:",
                f"{pad}    a(write_long(len({items})))",
                f"{pad}    for {x} in {items}:",
            ]
            self.emit(schema["items"], x, indent + 2)
            self.lines.append(f"{pad}a(b'\\x00')")
        elif t == "map":
            entries, k, x = self.var("m"), self.var("key"), self.var("x")
            self.lines += [
                f"{pad}{entries} = {expr}",
                f"{pad}if {entries}:",
                f"{pad}    a(write_long(len({entries})))",
                f"{pad}    for {k}, {x} in {entries}.items():",
            ]
            self.emit("string", k, indent + 2)
            self.emit(schema["values"], x, indent + 2)
            self.lines.append(f"{pad}a(b'\\x00')")
        elif t == "record":
            r = self.var("r")
            self.lines.append(f"{pad}{r} = {expr}")
            for f in schema["fields"]:
                self.emit(f["type"], f"{r}[{f['name']!r}]", indent)
        else:
            raise _Unsupported(str(t))

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
        raise _Unsupported("union of " + ",".join(map(str, names)))


def compile_writer(schema: dict[str, Any], header: bytes = b"") -> Writer | None:
    """A function record -> ``header`` + Avro binary body, or None if the schema uses a type
    this module does not compile. ``schema`` is the schema JSON (logical types included)."""
    gen = _Gen()
    gen.lines += ["def write(rec):", "    out = [HEADER]", "    a = out.append"]
    gen.env["HEADER"] = header
    try:
        gen.emit(_resolve(schema, {}), "rec", 1)
    except _Unsupported:
        return None
    gen.lines.append("    return b''.join(out)")
    source = "\n".join(gen.lines)
    namespace = dict(gen.env)
    exec(compile(source, f"<avro writer {schema.get('name')}>", "exec"), namespace)  # noqa: S102 - generated from our own schema files, no outside input
    writer: Writer = namespace["write"]
    return writer


def _resolve(schema: Any, named: dict[str, Any], namespace: str = "") -> Any:
    """Inline references to named types defined earlier in the same schema."""
    if isinstance(schema, str):
        full = schema if "." in schema or not namespace else f"{namespace}.{schema}"
        return named.get(full, named.get(schema, schema))
    if isinstance(schema, list):
        return [_resolve(s, named, namespace) for s in schema]
    t = schema.get("type")
    if t in ("record", "enum", "fixed"):
        ns = schema.get("namespace", namespace)
        name = schema["name"]
        full = name if "." in name else (f"{ns}.{name}" if ns else name)
        named[full] = schema
        if t == "record":
            ns_inner = full.rsplit(".", 1)[0] if "." in full else ""
            resolved = dict(schema)
            resolved["fields"] = [
                dict(f, type=_resolve(f["type"], named, ns_inner)) for f in schema["fields"]
            ]
            named[full] = resolved
            return resolved
        return schema
    if t == "array":
        return dict(schema, items=_resolve(schema["items"], named, namespace))
    if t == "map":
        return dict(schema, values=_resolve(schema["values"], named, namespace))
    if isinstance(t, (dict, list)):
        return _resolve(t, named, namespace)
    return schema
