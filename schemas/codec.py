"""Avro single-object encoding for every event on rtx-analytics topics.

Wire format (Avro 1.11 specification, "Single-object encoding")::

    C3 01 | 8-byte CRC-64-AVRO fingerprint (little-endian) | Avro binary body

The fingerprint is the Rabin fingerprint of the writer schema's Parsing Canonical Form, so each
message names the schema it was written with; a reader looks the writer schema up by fingerprint
and resolves it to its own (reader) schema of the same full name (specification, "Schema
Resolution"). Kafka record batches carry a CRC32C, so bit-level transport corruption is caught by
the broker and client; this module catches structural damage: a missing marker, an unknown
fingerprint, a body that ends early, an invalid union/enum index, invalid UTF-8, trailing bytes.

Each ``.avsc`` file in ``schemas/avro/`` is parsed once (``fastavro.parse_schema``) and encoded
and decoded with fastavro's schemaless writer and reader.

Exception hierarchy::

    AvroError
     +-- SchemaLoadError         an .avsc file is unreadable or invalid
     +-- EncodeError             a record does not fit its schema
     +-- DecodeError             bytes that cannot be decoded (attribute ``reason``)
          +-- NotSingleObject    too short, or no C3 01 marker
          +-- UnknownFingerprint the writer schema is not known to this reader
          +-- UnexpectedSchema   a known schema that this reader does not accept here
          +-- IncompatibleSchema the writer schema cannot be resolved to the reader schema
          +-- TruncatedMessage   the body ends before the record does
          +-- CorruptMessage     the body is not a valid encoding (or has trailing bytes)
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import fastavro
from fastavro.schema import fingerprint, to_parsing_canonical_form

MAGIC = b"\xc3\x01"
HEADER_LEN = len(MAGIC) + 8
SCHEMA_DIR = Path(__file__).with_name("avro")
NAMESPACE = "rtx.analytics"

Record = dict[str, Any]


class AvroError(Exception):
    """Root of this package's errors."""


class SchemaLoadError(AvroError):
    """An .avsc file is missing, not JSON, or not a valid Avro schema."""


class EncodeError(AvroError):
    """A record does not fit the schema it is being written with."""


class DecodeError(AvroError):
    """Bytes that cannot be decoded. ``reason`` is a short machine-readable code."""

    reason = "decode-error"


class NotSingleObject(DecodeError):
    reason = "not-single-object"


class UnknownFingerprint(DecodeError):
    reason = "unknown-fingerprint"

    def __init__(self, fingerprint_hex: str) -> None:
        super().__init__(
            f"writer schema fingerprint {fingerprint_hex} is not known to this reader "
            "(a producer with a newer or foreign schema?)"
        )
        self.fingerprint_hex = fingerprint_hex


class UnexpectedSchema(DecodeError):
    reason = "unexpected-schema"


class IncompatibleSchema(DecodeError):
    reason = "incompatible-schema"


class TruncatedMessage(DecodeError):
    reason = "truncated"


class CorruptMessage(DecodeError):
    reason = "corrupt"


@dataclass(frozen=True, slots=True)
class SchemaInfo:
    """One parsed schema and its identity on the wire."""

    name: str  # full name, e.g. rtx.analytics.Quote
    parsed: Any = field(repr=False)  # fastavro's parsed schema
    canonical_form: str
    fingerprint: bytes  # 8 bytes, little-endian CRC-64-AVRO

    @property
    def short_name(self) -> str:
        return self.name.rsplit(".", 1)[-1]

    @property
    def header(self) -> bytes:
        return MAGIC + self.fingerprint


@dataclass(frozen=True, slots=True)
class Decoded:
    """A decoded message: the reader schema's short name, the record, and the writer schema."""

    schema: str
    record: Record
    writer: SchemaInfo


def schema_info(schema: Mapping[str, Any] | str) -> SchemaInfo:
    """Parse one schema (a JSON object or its text); compute canonical form and fingerprint."""
    try:
        raw = json.loads(schema) if isinstance(schema, str) else dict(schema)
        parsed = fastavro.parse_schema(raw, _write_hint=True, _force=True)
        canonical = to_parsing_canonical_form(parsed)
    except (ValueError, TypeError, KeyError, fastavro.schema.SchemaParseException) as exc:
        raise SchemaLoadError(f"invalid Avro schema: {exc}") from exc
    name = parsed.get("name") if isinstance(parsed, dict) else None
    if not isinstance(name, str):
        raise SchemaLoadError("an event schema must be a named record")
    # fastavro's CRC-64-AVRO hex is already the little-endian byte order the spec puts on the wire.
    fp = bytes.fromhex(fingerprint(canonical, "CRC-64-AVRO"))
    return SchemaInfo(name=name, parsed=parsed, canonical_form=canonical, fingerprint=fp)


def load_schema_file(path: Path) -> SchemaInfo:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise SchemaLoadError(f"cannot read schema {path}: {exc}") from exc
    try:
        return schema_info(text)
    except SchemaLoadError as exc:
        raise SchemaLoadError(f"{path.name}: {exc}") from exc


class Codec:
    """Encodes and decodes single-object Avro messages for a set of reader schemas.

    ``readers`` are this process's current schemas (one per full name); ``writers`` are extra
    schemas that producers may have written with (older or newer versions), known by fingerprint.
    """

    def __init__(self, readers: Iterable[SchemaInfo], writers: Iterable[SchemaInfo] = ()) -> None:
        self._readers: dict[str, SchemaInfo] = {}
        self._by_fp: dict[bytes, SchemaInfo] = {}
        for info in readers:
            if info.short_name in self._readers:
                raise SchemaLoadError(f"two reader schemas named {info.short_name}")
            self._readers[info.short_name] = info
            self._by_fp[info.fingerprint] = info
        for info in writers:
            self._by_fp.setdefault(info.fingerprint, info)

    @classmethod
    def from_directory(cls, directory: Path = SCHEMA_DIR) -> Codec:
        files = sorted(directory.glob("*.avsc"))
        if not files:
            raise SchemaLoadError(f"no .avsc files in {directory}")
        return cls(load_schema_file(p) for p in files)

    @property
    def names(self) -> list[str]:
        return sorted(self._readers)

    def schema(self, name: str) -> SchemaInfo:
        try:
            return self._readers[name]
        except KeyError:
            raise AvroError(f"no schema named {name!r}; known: {', '.join(self.names)}") from None

    def register_writer(self, info: SchemaInfo) -> None:
        """Accept messages written with another version of a known schema."""
        self._by_fp.setdefault(info.fingerprint, info)

    def encode(self, name: str, record: Mapping[str, Any]) -> bytes:
        info = self.schema(name)
        return encode_with(info, record)

    def decode(self, data: bytes, expect: Iterable[str] | None = None) -> Decoded:
        """Decode one message; with ``expect``, accept only those schema (short) names."""
        view = bytes(data) if not isinstance(data, bytes) else data
        if len(view) < HEADER_LEN or view[:2] != MAGIC:
            head = view[:2].hex() or "empty"
            raise NotSingleObject(
                f"not an Avro single-object message ({len(view)} bytes, starts with {head}; "
                f"expected marker c301 and an 8-byte fingerprint)"
            )
        fp = view[2:HEADER_LEN]
        writer = self._by_fp.get(fp)
        if writer is None:
            raise UnknownFingerprint(fp.hex())
        reader = self._readers.get(writer.short_name)
        if reader is None:
            raise UnexpectedSchema(f"writer schema {writer.name} has no reader schema here")
        if expect is not None and reader.short_name not in expect:
            raise UnexpectedSchema(
                f"got {reader.short_name}, expected one of {', '.join(sorted(expect))}"
            )
        record = decode_body(view, writer, reader)
        return Decoded(schema=reader.short_name, record=record, writer=writer)


def encode_with(info: SchemaInfo, record: Mapping[str, Any]) -> bytes:
    buf = io.BytesIO()
    buf.write(MAGIC)
    buf.write(info.fingerprint)
    try:
        fastavro.schemaless_writer(buf, info.parsed, record, strict_allow_default=True)
    except (ValueError, TypeError, AttributeError, KeyError, OverflowError) as exc:
        raise EncodeError(f"{info.short_name}: {exc}") from exc
    return buf.getvalue()


def decode_body(data: bytes, writer: SchemaInfo, reader: SchemaInfo) -> Record:
    buf = io.BytesIO(data)
    buf.seek(HEADER_LEN)
    reader_schema = None if reader is writer else reader.parsed
    try:
        record = fastavro.schemaless_reader(buf, writer.parsed, reader_schema)
    except EOFError as exc:
        raise TruncatedMessage(
            f"{writer.short_name}: body ended early ({len(data) - HEADER_LEN} body bytes): {exc}"
        ) from exc
    except fastavro.read.SchemaResolutionError as exc:
        raise IncompatibleSchema(f"{writer.short_name}: {exc}") from exc
    except (
        IndexError,
        UnicodeDecodeError,
        ValueError,
        TypeError,
        OverflowError,
        KeyError,
        MemoryError,
    ) as exc:
        raise CorruptMessage(f"{writer.short_name}: invalid encoding: {exc!r}") from exc
    if buf.tell() != len(data):
        raise CorruptMessage(
            f"{writer.short_name}: {len(data) - buf.tell()} trailing bytes after the record"
        )
    if not isinstance(record, dict):
        raise CorruptMessage(f"{writer.short_name}: decoded to {type(record).__name__}")
    return record


@cache
def default_codec() -> Codec:
    """The codec for the schemas shipped in ``schemas/avro`` (parsed once per process)."""
    return Codec.from_directory()
