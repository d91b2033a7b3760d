"""Compiled Avro binary readers for our record schemas (the decode hot path).

``schemas.codec.Codec.decode`` reads a message with fastavro's interpreted
``schemaless_reader`` and then writes the record again to prove the encoding was canonical
(~11 us for a routing decision). For messages written with *this process's* version of a schema
(the header is ``C3 01`` + the reader schema's fingerprint) a reader generated once per schema
checks the same things while it reads (~3 us):

- every length, count and index is the canonical minimal varint (a multi-byte varint whose last
  byte is 0 is not minimal), enum and union indexes are in range, booleans are 0 or 1, ``int``
  values fit 32 bits and ``long`` values 64 bits, strings are valid UTF-8;
- arrays and maps are one block followed by the end marker, map keys are distinct;
- the body ends exactly where the record does.

A compiled reader raises (:class:`NotFast`, or any other exception on damaged bytes) for
anything else: another writer version, a damaged or non-canonical message. The caller then asks
``Codec.decode``, which resolves the writer schema or raises the precise ``DecodeError``. So a
compiled reader returns exactly what ``Codec.decode`` returns, or nothing at all (checked on
generated records and damaged bytes by tests/schemas/test_fastread.py and the replay tests).
Timestamps stay int microseconds, as the codec returns them.

:class:`ReaderSource` is public so that a caller can generate readers that build more than the
record (``streams.replay.decode`` builds whole replay rows in one go).
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from typing import Any

from schemas.compiler import Source, Unsupported, resolve_references

Reader = Callable[[bytes], dict[str, Any]]
VarintDecoder = Callable[[bytes, int], tuple[int, int]]
FieldHook = Callable[[str, str, str], None]

_FIXED = {"double": ("d", 8), "float": ("f", 4)}  # struct code and size of fixed-width types
INT_MIN, INT_MAX = -(1 << 31), (1 << 31) - 1
LONG_MIN, LONG_MAX = -(1 << 63), (1 << 63) - 1


class NotFast(Exception):
    """The compiled reader declines this message; the codec decides."""


def read_varint(data: bytes, first: int, pos: int) -> tuple[int, int]:
    """The rest of a multi-byte varint whose first byte (>= 0x80) was already read; returns the
    zig-zag decoded value and the next position. Refuses non-minimal and over-long encodings."""
    n = first & 0x7F
    shift = 7
    while True:
        b = data[pos]
        pos += 1
        n |= (b & 0x7F) << shift
        if b < 0x80:
            if b == 0 or shift > 63:  # a trailing zero group is not minimal; > 10 bytes
                raise NotFast
            return (n >> 1) ^ -(n & 1), pos
        shift += 7


def varint_at(data: bytes, pos: int) -> tuple[int, int]:
    """``read_varint`` of the varint that starts at ``pos`` (a :data:`VarintDecoder`)."""
    return read_varint(data, data[pos], pos + 1)


class ReaderSource(Source):
    """Generates one reader ``def read(<args>)``: ``d`` is the message, ``p`` the position,
    ``end`` its length. ``varint`` decodes a varint of 2 or more bytes at a position where 10
    or more bytes remain (e.g. aiokafka's C decoder: Kafka varints are zig-zag too); overflow
    and non-minimal encodings are refused around it."""

    def __init__(self, header: bytes, args: str = "d", varint: VarintDecoder = varint_at) -> None:
        super().__init__(
            {
                "varint": read_varint,
                "cvarint": varint,
                "unpack_d": struct.Struct("<d").unpack_from,
                "unpack_f": struct.Struct("<f").unpack_from,
                "NotFast": NotFast,
                "HEADER": header,
            }
        )
        self.lines += [
            f"def read({args}):",
            f"    if d[:{len(header)}] != HEADER: raise NotFast",
            f"    p = {len(header)}",
            "    end = len(d)",
        ]

    def finish(self, name: str) -> Callable[..., Any]:
        """The reader, once the lines have assigned ``rec`` (what it returns)."""
        self.lines += ["    if p != end: raise NotFast", "    return rec"]
        return self.compile("read", f"<avro reader {name}>")

    def long(self, target: str, pad: str, lo: int = LONG_MIN, hi: int = LONG_MAX) -> None:
        """Read one zig-zag varint into ``target`` (one-byte values inline)."""
        # One byte holds -64..63: inside every range but a length's (lo 0), where an odd byte
        # is negative and must be refused like any other out-of-range value (read on, it would
        # move p backwards, and a damaged map or array would then loop for ever).
        one_byte = (
            [f"{pad}    {target} = ({target} >> 1) ^ -({target} & 1)"]
            if lo < 0
            else [f"{pad}    if {target} & 1: raise NotFast", f"{pad}    {target} >>= 1"]
        )
        self.lines += [
            f"{pad}{target} = d[p]",
            f"{pad}p += 1",
            f"{pad}if {target} < 0x80:",
            *one_byte,
            f"{pad}elif p + 9 < end:",
            # Fast decoder (no bounds check: at least 10 bytes remain); refuse a trailing zero
            # group (not minimal) and a 10-byte value over 64 bits (the C decoder wraps it).
            f"{pad}    {target}, q = cvarint(d, p - 1)",
            f"{pad}    if d[q - 1] == 0 or (q - p == 9 and d[q - 1] > 1): raise NotFast",
            f"{pad}    p = q",
            f"{pad}    if not {lo} <= {target} <= {hi}: raise NotFast",
            f"{pad}else:",
            f"{pad}    {target}, p = varint(d, {target}, p)",
            f"{pad}    if not {lo} <= {target} <= {hi}: raise NotFast",
        ]

    def emit_type(self, t: Any, schema: Any, target: str, indent: int) -> None:
        """Code that reads one value of ``schema`` at ``p`` and assigns it to ``target``."""
        pad = "    " * indent
        if t in ("string", "bytes"):
            n, e = self.var("n"), self.var("e")
            self.long(n, pad, 0)
            self.lines += [
                f"{pad}{e} = p + {n}",
                f"{pad}if {e} > end: raise NotFast",
                f"{pad}{target} = d[p:{e}]" + (".decode()" if t == "string" else ""),
                f"{pad}p = {e}",
            ]
        elif t in ("long", "int"):
            v = self.var("v")
            self.long(v, pad, *((INT_MIN, INT_MAX) if t == "int" else (LONG_MIN, LONG_MAX)))
            self.lines.append(f"{pad}{target} = {v}")
        elif t in _FIXED:
            code, size = _FIXED[t]
            self.lines += [f"{pad}{target} = unpack_{code}(d, p)[0]", f"{pad}p += {size}"]
        elif t == "boolean":
            b = self.var("b")
            self.lines += [f"{pad}{b} = d[p]", f"{pad}p += 1", f"{pad}if {b} > 1: raise NotFast"]
            self.lines.append(f"{pad}{target} = {b} == 1")
        elif t == "null":
            self.lines.append(f"{pad}{target} = None")
        elif t == "enum":
            self.enum(schema["symbols"], target, pad)
        elif t in ("array", "map"):
            self.block(schema, t, target, indent)
        elif t == "record":
            self.lines.append(f"{pad}{target} = {self.fields(schema, indent)}")
        else:
            raise Unsupported(str(t))

    def enum(self, symbols: list[str], target: str, pad: str) -> None:
        # A canonical index below 64 is one byte (zig-zag 2*i); our enums are small.
        if len(symbols) > 64:
            raise Unsupported("enum with more than 64 symbols")
        table: list[str | None] = [None] * 256
        for i, symbol in enumerate(symbols):
            table[2 * i] = symbol
        s = self.var("s")
        self.lines += [
            f"{pad}{s} = {self.const(tuple(table))}[d[p]]",
            f"{pad}p += 1",
            f"{pad}if {s} is None: raise NotFast",
            f"{pad}{target} = {s}",
        ]

    def fields(self, schema: dict[str, Any], indent: int, after: FieldHook | None = None) -> str:
        """Code that reads the record's fields into locals; returns the dict display that builds
        the record from them, in field order (one dict of the right size, no insert-by-insert
        growth). ``after(name, local, pad)`` may add code after each field that is not a double
        or float (e.g. to convert it)."""
        pad = "    " * indent
        items = []
        run: list[tuple[str, str]] = []  # consecutive double/float fields: one struct read
        for f in [*schema["fields"], None]:
            if f is not None and isinstance(f["type"], str) and f["type"] in _FIXED:
                v = self.var("f")
                run.append((v, f["type"]))
                items.append(f"{f['name']!r}: {v}")
                continue
            if len(run) == 1:
                self.emit(run[0][1], run[0][0], indent)
            elif run:
                fmt = "<" + "".join(_FIXED[t][0] for _, t in run)
                read = self.const(struct.Struct(fmt).unpack_from)
                names = ", ".join(v for v, _ in run)
                size = sum(_FIXED[t][1] for _, t in run)
                self.lines += [f"{pad}{names} = {read}(d, p)", f"{pad}p += {size}"]
            run = []
            if f is None:
                break
            v = self.var("f")
            self.emit(f["type"], v, indent)
            if after is not None:
                after(f["name"], v, pad)
            items.append(f"{f['name']!r}: {v}")
        return "{" + ", ".join(items) + "}"

    def block(self, schema: Any, t: str, target: str, indent: int) -> None:
        """An array or map: canonical form is one block of count > 0 items and then 0, or 0."""
        pad = "    " * indent
        c, acc, i = self.var("c"), self.var("acc"), self.var("i")
        self.long(c, pad, 0)
        self.lines.append(f"{pad}{acc} = {{}}" if t == "map" else f"{pad}{acc} = []")
        # A negative count (a block with its byte size, Avro spec "Complex Types: Arrays") is
        # never canonical: the codec decides.
        self.lines += [f"{pad}if {c} < 0: raise NotFast"]
        self.lines += [f"{pad}if {c}:", f"{pad}    for {i} in range({c}):"]
        if t == "map":
            k, x = self.var("key"), self.var("x")
            self.emit("string", k, indent + 2)
            self.emit(schema["values"], x, indent + 2)
            self.lines.append(f"{pad}        {acc}[{k}] = {x}")
            # Duplicate keys would collapse here; fastavro keeps the last, the codec refuses.
            self.lines.append(f"{pad}    if len({acc}) != {c}: raise NotFast")
        else:
            x = self.var("x")
            self.emit(schema["items"], x, indent + 2)
            self.lines.append(f"{pad}        {acc}.append({x})")
        self.lines += [
            f"{pad}    if d[p] != 0: raise NotFast",
            f"{pad}    p += 1",
            f"{pad}{target} = {acc}",
        ]

    def union(self, branches: list[Any], target: str, indent: int) -> None:
        pad = "    " * indent
        names = [b if isinstance(b, str) else b.get("type") for b in branches]
        if len(branches) > 64:
            raise Unsupported("union with more than 64 branches")
        u = self.var("u")
        self.lines += [f"{pad}{u} = d[p]", f"{pad}p += 1"]
        for i, branch in enumerate(branches):
            keyword = "if" if i == 0 else "elif"
            self.lines.append(f"{pad}{keyword} {u} == {2 * i}:")
            if names[i] == "null":
                self.lines.append(f"{pad}    {target} = None")
            else:
                self.emit(branch, target, indent + 1)
        self.lines += [f"{pad}else:", f"{pad}    raise NotFast"]


def compile_reader(
    schema: dict[str, Any], header: bytes, varint: VarintDecoder = varint_at
) -> Reader | None:
    """``read(message) -> record`` for messages that start with ``header`` (C3 01 + this
    schema's fingerprint), the record as ``Codec.decode`` returns it; it raises (any exception)
    on anything else. None when the schema uses a type this module does not compile. ``schema``
    is the schema JSON; ``varint`` see :class:`ReaderSource`."""
    source = ReaderSource(header, varint=varint)
    try:
        source.emit(resolve_references(schema), "rec", 1)
    except Unsupported:
        return None
    reader: Reader = source.finish(str(schema.get("name")))
    return reader
