"""Compiled Avro readers for replay: the decode hot path of ``rtx-analytics replay``.

``schemas.codec.Codec.decode`` reads a message with fastavro's interpreted
``schemaless_reader`` and then writes the record again to prove the encoding was canonical
(~11 us for a routing decision). Replay decodes hundreds of thousands of stored messages, so for
messages written with *this process's* version of a schema (the header is ``C3 01`` + the
reader schema's fingerprint) it uses a reader generated once per schema, which checks the same
things while it reads (~3 us):

- every length, count and index is the canonical minimal varint (a multi-byte varint whose last
  byte is 0 is not minimal), enum and union indexes are in range, booleans are 0 or 1, ``int``
  values fit 32 bits and ``long`` values 64 bits, strings are valid UTF-8;
- arrays and maps are one block followed by the end marker, map keys are distinct;
- the body ends exactly where the record does.

Anything else (another writer version, a damaged or non-canonical message, a schema construct
not compiled here) goes to ``Codec.decode``, which resolves the writer schema or raises the
precise ``DecodeError``. So a compiled reader returns exactly what ``Codec.decode`` returns, or
nothing at all: tests/streams/replay/test_replay_decode.py checks both against each other on
generated
records and on damaged bytes.

Timestamps stay int microseconds, as the codec returns them.
"""

from __future__ import annotations

import json
import struct
from collections.abc import Callable, Collection, Iterable
from typing import Any

from schemas.codec import HEADER_LEN, Codec, DecodeError, default_codec
from streams.replay.formats import _SECONDS, iso_micros, iso_millis

Reader = Callable[[bytes], dict[str, Any]]
RowReader = Callable[[bytes, int, int, int], dict[str, Any] | None]

# Fractions of a second as text: ".123" (ms of micros), "456Z" (the micros), ".123Z" (millis).
_FRAC_MS = tuple(f".{i:03d}" for i in range(1000))
_FRAC_US_Z = tuple(f"{i:03d}Z" for i in range(1000))
_FRAC_MS_Z = tuple(f".{i:03d}Z" for i in range(1000))
_FIXED = {"double": ("d", 8), "float": ("f", 4)}  # struct code and size of fixed-width types
_INT_MIN, _INT_MAX = -(1 << 31), (1 << 31) - 1
_LONG_MIN, _LONG_MAX = -(1 << 63), (1 << 63) - 1


class _NotFast(Exception):
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
                raise _NotFast
            return (n >> 1) ^ -(n & 1), pos
        shift += 7


def _py_varint(data: bytes, pos: int) -> tuple[int, int]:
    """``read_varint`` with the C decoder's signature (the varint starts at ``pos``)."""
    return read_varint(data, data[pos], pos + 1)


try:  # aiokafka's C varint decoder (Kafka varints are zig-zag too): ~0.09 us instead of ~0.7
    from aiokafka.record._crecords.cutil import decode_varint_cython as _c_varint
except ImportError:  # pragma: no cover - aiokafka installed without its C extensions
    _c_varint = None


class _Unsupported(Exception):
    pass


class _Gen:
    """Generates the source of one reader function; ``env`` holds the constants it uses."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self.env: dict[str, Any] = {
            "varint": read_varint,
            "cvarint": _c_varint or _py_varint,
            "unpack_d": struct.Struct("<d").unpack_from,
            "unpack_f": struct.Struct("<f").unpack_from,
            "NotFast": _NotFast,
        }
        self._n = 0

    def var(self, prefix: str) -> str:
        self._n += 1
        return f"{prefix}{self._n}"

    def const(self, value: Any) -> str:
        name = self.var("k")
        self.env[name] = value
        return name

    def long(self, target: str, pad: str, lo: int = _LONG_MIN, hi: int = _LONG_MAX) -> None:
        """Read one zig-zag varint into ``target`` (one-byte values inline)."""
        self.lines += [
            f"{pad}{target} = d[p]",
            f"{pad}p += 1",
            f"{pad}if {target} < 0x80:",
            f"{pad}    {target} = ({target} >> 1) ^ -({target} & 1)",
            f"{pad}elif p + 9 < end:",
            # C decoder (no bounds check: at least 10 bytes remain); refuse a trailing zero
            # group (not minimal) and a 10-byte value over 64 bits (the C decoder wraps it).
            f"{pad}    {target}, q = cvarint(d, p - 1)",
            f"{pad}    if d[q - 1] == 0 or (q - p == 9 and d[q - 1] > 1): raise NotFast",
            f"{pad}    p = q",
            f"{pad}    if not {lo} <= {target} <= {hi}: raise NotFast",
            f"{pad}else:",
            f"{pad}    {target}, p = varint(d, {target}, p)",
            f"{pad}    if not {lo} <= {target} <= {hi}: raise NotFast",
        ]

    def emit(self, schema: Any, target: str, indent: int) -> None:
        """Code that reads one value of ``schema`` at ``p`` and assigns it to ``target``."""
        pad = "    " * indent
        if isinstance(schema, list):
            self.union(schema, target, indent)
            return
        t = schema if isinstance(schema, str) else schema.get("type")
        if t in ("string", "bytes"):
            n, e = self.var("n"), self.var("e")
            self.long(n, pad, 0)
            self.lines += [
                f"{pad}{e} = p + {n}",
                f"{pad}if {e} > end: raise NotFast",
                f"{pad}{target} = d[p:{e}]" + (".decode()" if t == "string" else ""),
                f"{pad}p = {e}",
            ]
        elif t == "long":
            v = self.var("v")
            self.long(v, pad)
            self.lines.append(f"{pad}{target} = {v}")
        elif t == "int":
            v = self.var("v")
            self.long(v, pad, _INT_MIN, _INT_MAX)
            self.lines.append(f"{pad}{target} = {v}")
        elif t == "double":
            self.lines += [f"{pad}{target} = unpack_d(d, p)[0]", f"{pad}p += 8"]
        elif t == "float":
            self.lines += [f"{pad}{target} = unpack_f(d, p)[0]", f"{pad}p += 4"]
        elif t == "boolean":
            b = self.var("b")
            self.lines += [
                f"{pad}{b} = d[p]",
                f"{pad}p += 1",
                f"{pad}if {b} > 1: raise NotFast",
                f"{pad}{target} = {b} == 1",
            ]
        elif t == "null":
            self.lines.append(f"{pad}{target} = None")
        elif t == "enum":
            # A canonical index below 64 is one byte (zig-zag 2*i); our enums are small.
            symbols = schema["symbols"]
            if len(symbols) > 64:
                raise _Unsupported("enum with more than 64 symbols")
            table = [None] * 256
            for i, s in enumerate(symbols):
                table[2 * i] = s
            s = self.var("s")
            self.lines += [
                f"{pad}{s} = {self.const(tuple(table))}[d[p]]",
                f"{pad}p += 1",
                f"{pad}if {s} is None: raise NotFast",
                f"{pad}{target} = {s}",
            ]
        elif t in ("array", "map"):
            self.block(schema, t, target, indent)
        elif t == "record":
            self.lines.append(f"{pad}{target} = {self.fields(schema, indent)}")
        else:
            raise _Unsupported(str(t))

    def fields(self, schema: dict[str, Any], indent: int, iso: Collection[str] = ()) -> str:
        """Code that reads the record's fields into locals (``iso`` timestamp fields converted
        to ISO text); returns the dict display that builds the record from them, in field
        order (one dict of the right size, no insert-by-insert growth)."""
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
            if f["name"] in iso:
                self.iso(v, pad, 1_000_000)
            items.append(f"{f['name']!r}: {v}")
        return "{" + ", ".join(items) + "}"

    def iso(self, v: str, pad: str, unit: int) -> None:
        """``v`` (int micros or millis: ``unit`` per second) as ISO text, exactly as
        ``replay_formats.text_rows`` writes it: the per-second cache inline and the fraction from
        tables (``.123`` + ``456Z``; ``f"{frac:06d}"`` costs twice as much), the formatting
        function on a miss (which fills the cache, and shows a year outside 1-9999 as the
        number). Floor division and modulo keep the fraction in [0, unit) as divmod does."""
        h = self.var("h")
        if unit == 1_000_000:
            text = f"{h} + FRAC_MS[{v} % 1000000 // 1000] + FRAC_US_Z[{v} % 1000]"
            fallback = "ISO_US"
        else:
            text = f"{h} + FRAC_MS_Z[{v} % 1000]"
            fallback = "ISO_MS"
        self.lines += [
            f"{pad}{h} = SECONDS.get({v} // {unit})",
            f"{pad}{v} = {text} if {h} is not None else {fallback}({v})",
        ]

    def block(self, schema: Any, t: str, target: str, indent: int) -> None:
        """An array or map: canonical form is one block of count > 0 items and then 0, or 0."""
        pad = "    " * indent
        c, acc, i = self.var("c"), self.var("acc"), self.var("i")
        self.long(c, pad, 0)
        self.lines.append(f"{pad}{acc} = {{}}" if t == "map" else f"{pad}{acc} = []")
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
            raise _Unsupported("union with more than 64 branches")
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
    schema: dict[str, Any],
    header: bytes,
    *,
    row: str | None = None,
    iso_fields: Collection[str] = (),
) -> Callable[..., Any] | None:
    """A function for messages that start with ``header`` (C3 01 + this schema's fingerprint);
    it raises (any exception) on anything else. None when the schema uses a type this module
    does not compile. ``schema`` is the schema JSON.

    ``row=None``: ``read(message) -> record``, the record as ``Codec.decode`` returns it.
    ``row="int"`` or ``"iso"``: ``read(message, partition, offset, kafka_ms) -> row``, the replay
    row in one go: the record plus ``partition``, ``offset`` and ``kafkaTime``; with ``"iso"`` the
    top-level ``iso_fields`` (timestamp-micros) and ``kafkaTime`` are ISO-8601 text, exactly as
    ``replay_formats.text_rows`` would make them (the JSON lines / CSV rows)."""
    from schemas.fastwrite import _resolve  # the same reference inlining as the writers

    if row not in (None, "int", "iso"):
        raise ValueError(f"row must be None, 'int' or 'iso', not {row!r}")
    gen = _Gen()
    gen.env.update(
        HEADER=header,
        SECONDS=_SECONDS,
        ISO_US=iso_micros,
        ISO_MS=iso_millis,
        FRAC_MS=_FRAC_MS,
        FRAC_US_Z=_FRAC_US_Z,
        FRAC_MS_Z=_FRAC_MS_Z,
    )
    args = "d" if row is None else "d, partition, offset, kts"
    gen.lines += [
        f"def read({args}):",
        f"    if d[:{len(header)}] != HEADER: raise NotFast",
        f"    p = {len(header)}",
        "    end = len(d)",
    ]
    try:
        resolved = _resolve(schema, {})
        if row is None:
            gen.emit(resolved, "rec", 1)
        else:
            if resolved.get("type") != "record":
                raise _Unsupported("a replay row needs a record schema")
            display = gen.fields(resolved, 1, iso_fields if row == "iso" else ())
            if row == "iso":
                gen.iso("kts", "    ", 1000)
            extras = "'partition': partition, 'offset': offset, 'kafkaTime': kts}"
            gen.lines.append(f"    rec = {display[:-1]}, {extras}")
    except _Unsupported:
        return None
    gen.lines += ["    if p != end: raise NotFast", "    return rec"]
    source = "\n".join(gen.lines)
    namespace = dict(gen.env)
    exec(compile(source, f"<avro reader {schema.get('name')}>", "exec"), namespace)  # noqa: S102 - generated from our own schema files, no outside input
    reader: Callable[..., Any] = namespace["read"]
    return reader


def _other_schema(data: bytes, partition: int, offset: int, kafka_ms: int) -> None:
    """The row reader of a known schema that this replay does not show."""


class FastDecoder:
    """Decodes messages of the ``accept``ed schemas (short names): compiled readers for the
    current versions, ``Codec.decode`` for everything else.

    ``decode`` returns the record, or None for a message of another known schema (e.g. the
    routing decisions passed through on the routing-metrics topic, when replaying summaries).
    It raises ``DecodeError`` for a message that cannot be decoded.
    """

    def __init__(self, accept: Iterable[str], codec: Codec | None = None) -> None:
        self.codec = codec or default_codec()
        self.accept = frozenset(accept)
        self._fast: dict[bytes, Reader] = {}
        self._skip: set[bytes] = set()
        for name in self.codec.names:
            info = self.codec.schema(name)
            if name not in self.accept:
                self._skip.add(info.header)
                continue
            # The parsing canonical form is the schema without docs, defaults and logical types:
            # all a reader of the plain (int-microsecond) records needs.
            reader = compile_reader(json.loads(info.canonical_form), info.header)
            if reader is not None:
                self._fast[info.header] = reader

    def row_readers(
        self, row: str = "int", iso_fields: Collection[str] = ()
    ) -> dict[bytes, RowReader]:
        """Header -> ``read(message, partition, offset, kafka_ms)`` giving the whole replay row
        (see ``compile_reader``; ``row`` is "int" or "iso"), for the current versions of the
        accepted schemas; the headers of the other known schemas map to a reader that returns
        None. A reader raises on anything it does not read itself: ``decode`` decides then."""
        readers: dict[bytes, RowReader] = dict.fromkeys(self._skip, _other_schema)
        for name in self.accept:
            info = self.codec.schema(name)
            reader = compile_reader(
                json.loads(info.canonical_form), info.header, row=row, iso_fields=iso_fields
            )
            if reader is not None:
                readers[info.header] = reader
        return readers

    def decode(self, data: bytes) -> dict[str, Any] | None:
        head = data[:HEADER_LEN]
        reader = self._fast.get(head)
        if reader is not None:
            try:
                return reader(data)
            except Exception:  # noqa: BLE001, S110 - any refusal: the codec gives the verdict
                pass
        elif head in self._skip:
            return None
        decoded = self.codec.decode(data)
        if decoded.schema not in self.accept:
            return None  # a known schema that this replay does not show
        return decoded.record


__all__ = [
    "DecodeError",
    "FastDecoder",
    "Reader",
    "RowReader",
    "compile_reader",
    "read_varint",
]
