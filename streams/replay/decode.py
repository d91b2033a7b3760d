"""Decoding for ``rtx-analytics replay``: the compiled readers of :mod:`schemas.fastread`, and
readers generated the same way that build a whole replay row in one go.

Replay decodes hundreds of thousands of stored messages, so for messages written with *this
process's* version of a schema it uses a reader generated once per schema (~3 us instead of the
codec's ~11 us). Anything else (another writer version, a damaged or non-canonical message, a
schema construct not compiled) goes to ``Codec.decode``, which resolves the writer schema or
raises the precise ``DecodeError``. So a compiled reader returns exactly what ``Codec.decode``
returns, or nothing at all: tests/streams/replay/test_replay_decode.py checks both against each
other on generated records and on damaged bytes.

Timestamps stay int microseconds, as the codec returns them, except in the ISO rows (JSON lines
and CSV), whose timestamps are the text ``streams.replay.formats.text_rows`` would write.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Collection, Iterable
from typing import Any

from schemas.codec import HEADER_LEN, Codec, DecodeError, default_codec
from schemas.compiler import Unsupported, resolve_references
from schemas.fastread import Reader, ReaderSource, VarintDecoder, varint_at
from schemas.fastread import compile_reader as compile_record_reader
from streams.replay.formats import _SECONDS, iso_micros, iso_millis

RowReader = Callable[[bytes, int, int, int], dict[str, Any] | None]

# Fractions of a second as text: ".123" (ms of micros), "456Z" (the micros), ".123Z" (millis).
_FRAC_MS = tuple(f".{i:03d}" for i in range(1000))
_FRAC_US_Z = tuple(f"{i:03d}Z" for i in range(1000))
_FRAC_MS_Z = tuple(f".{i:03d}Z" for i in range(1000))

try:  # aiokafka's C varint decoder (Kafka varints are zig-zag too): ~0.09 us instead of ~0.7
    from aiokafka.record._crecords.cutil import decode_varint_cython as _c_varint
except ImportError:  # pragma: no cover - aiokafka installed without its C extensions
    _c_varint = None
VARINT: VarintDecoder = _c_varint or varint_at


class _RowSource(ReaderSource):
    """A reader of one replay row: ``read(message, partition, offset, kafka_ms)``."""

    def __init__(self, header: bytes) -> None:
        super().__init__(header, "d, partition, offset, kts", VARINT)
        self.env.update(
            SECONDS=_SECONDS,
            ISO_US=iso_micros,
            ISO_MS=iso_millis,
            FRAC_MS=_FRAC_MS,
            FRAC_US_Z=_FRAC_US_Z,
            FRAC_MS_Z=_FRAC_MS_Z,
        )

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


def compile_reader(
    schema: dict[str, Any],
    header: bytes,
    *,
    row: str | None = None,
    iso_fields: Collection[str] = (),
) -> Callable[..., Any] | None:
    """A function for messages that start with ``header`` (C3 01 + this schema's fingerprint);
    it raises (any exception) on anything else. None when the schema uses a type that is not
    compiled. ``schema`` is the schema JSON.

    ``row=None``: ``read(message) -> record``, the record as ``Codec.decode`` returns it.
    ``row="int"`` or ``"iso"``: ``read(message, partition, offset, kafka_ms) -> row``, the replay
    row in one go: the record plus ``partition``, ``offset`` and ``kafkaTime``; with ``"iso"`` the
    top-level ``iso_fields`` (timestamp-micros) and ``kafkaTime`` are ISO-8601 text, exactly as
    ``replay_formats.text_rows`` would make them (the JSON lines / CSV rows)."""
    if row not in (None, "int", "iso"):
        raise ValueError(f"row must be None, 'int' or 'iso', not {row!r}")
    if row is None:
        return compile_record_reader(schema, header, VARINT)
    source = _RowSource(header)
    iso = frozenset(iso_fields) if row == "iso" else frozenset()

    def convert(name: str, v: str, pad: str) -> None:
        if name in iso:
            source.iso(v, pad, 1_000_000)

    try:
        resolved = resolve_references(schema)
        if resolved.get("type") != "record":
            raise Unsupported("a replay row needs a record schema")
        display = source.fields(resolved, 1, convert)
    except Unsupported:
        return None
    if row == "iso":
        source.iso("kts", "    ", 1000)
    extras = "'partition': partition, 'offset': offset, 'kafkaTime': kts}"
    source.lines.append(f"    rec = {display[:-1]}, {extras}")
    return source.finish(str(schema.get("name")))


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
]
