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
and decoded with fastavro's schemaless writer and reader. Writing accepts ``timestamp-micros``
fields as int microseconds or aware datetimes; reading returns int microseconds since the epoch
(UTC), exact and cheaper than datetimes.

Exception hierarchy::

    AvroError                    retriable = False
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
import re
import struct
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import fastavro
import fastavro.validation
from fastavro.schema import fingerprint, to_parsing_canonical_form

from schemas.fastwrite import Writer, compile_writer

MAGIC = b"\xc3\x01"
HEADER_LEN = len(MAGIC) + 8
SCHEMA_DIR = Path(__file__).with_name("avro")
NAMESPACE = "rtx.analytics"

Record = dict[str, Any]


class AvroError(Exception):
    """Root of this package's errors. None is ``retriable``: a schema or message that does not
    fit does not fit any better when tried again."""

    retriable: bool = False


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
    parsed: Any = field(repr=False)  # fastavro's parsed schema, used for writing
    plain: Any = field(repr=False)  # the same without logical types, used for reading
    canonical_form: str
    fingerprint: bytes  # 8 bytes, little-endian CRC-64-AVRO
    # Compiled writers (schemas.fastwrite) producing header + body, or None: for records with
    # datetimes or ints for timestamps, and for decoded records (ints), respectively.
    field_names: frozenset[str] = field(default=frozenset(), repr=False, compare=False)
    fast_writer: Writer | None = field(default=None, repr=False, compare=False)
    plain_writer: Writer | None = field(default=None, repr=False, compare=False)

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
    if not isinstance(parsed, dict):
        raise SchemaLoadError("an event schema must be a named record")
    name = parsed.get("name")
    if not isinstance(name, str) or parsed.get("type") != "record":
        raise SchemaLoadError("an event schema must be a named record")
    # fastavro's CRC-64-AVRO hex is already the little-endian byte order the spec puts on the wire.
    fp = bytes.fromhex(fingerprint(canonical, "CRC-64-AVRO"))
    plain_raw = without_logical_types(raw)
    plain = fastavro.parse_schema(plain_raw, _force=True)
    header = MAGIC + fp
    return SchemaInfo(
        name=name,
        parsed=parsed,
        plain=plain,
        canonical_form=canonical,
        fingerprint=fp,
        field_names=frozenset(f["name"] for f in parsed["fields"]),
        fast_writer=compile_writer(raw, header),
        plain_writer=compile_writer(plain_raw, header),
    )


def without_logical_types(schema: Any) -> Any:
    """The schema with logical types dropped (the canonical form drops them too), so that
    timestamp-micros reads as int microseconds: exact, and cheaper than building datetimes."""
    if isinstance(schema, list):
        return [without_logical_types(s) for s in schema]
    if isinstance(schema, dict):
        if "logicalType" in schema and isinstance(schema.get("type"), str):
            return schema["type"]
        return {k: without_logical_types(v) for k, v in schema.items()}
    return schema


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
        """The schemas of ``directory`` as readers, and the earlier versions kept in its
        ``previous/`` folder (``<Name>.<n>.avsc``) as writers: records an older producer wrote
        (and a compacted topic keeps) still decode, resolved to the current schema."""
        files = sorted(directory.glob("*.avsc"))
        if not files:
            raise SchemaLoadError(f"no .avsc files in {directory}")
        readers = [load_schema_file(p) for p in files]
        writers = [load_schema_file(p) for p in sorted(directory.glob("previous/*.avsc"))]
        known = {info.name for info in readers}
        for info in writers:
            if info.name not in known:
                raise SchemaLoadError(f"previous version of {info.name}: no current schema")
        return cls(readers, writers)

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


def encode_with(info: SchemaInfo, record: Mapping[str, Any], *, validate: bool = True) -> bytes:
    """Encode one record. ``validate=False`` skips the type check (~4 us) for records built with
    checked types (the SDK's builders, the stream processor's outputs); if such a record still
    does not fit, the check runs after all and raises EncodeError, so a wrong type is never
    written converted (fastavro alone writes ``"1.5"`` for a double, ``1.5`` as the long 1)."""
    if validate:
        _validate(info, record)
    if info.fast_writer is not None:
        try:
            return info.fast_writer(record)  # type: ignore[arg-type]
        except (KeyError, TypeError, ValueError, AttributeError, OverflowError, struct.error):
            if not validate:
                _validate(info, record)
            # Valid but not compiled-writable (e.g. a missing field that has a default).
    buf = io.BytesIO()
    buf.write(MAGIC)
    buf.write(info.fingerprint)
    try:
        fastavro.schemaless_writer(buf, info.parsed, record, strict_allow_default=True)
    except (ValueError, TypeError, AttributeError, KeyError, OverflowError) as exc:
        raise EncodeError(f"{info.short_name}: {exc}") from exc
    return buf.getvalue()


def _validate(info: SchemaInfo, record: Any) -> None:
    if not isinstance(record, Mapping):
        raise EncodeError(f"{info.short_name}: expected a record (dict), got {record!r}")
    extra = record.keys() - info.field_names
    if extra:
        raise EncodeError(
            f"{info.short_name}: fields not in the schema: {', '.join(sorted(extra))}"
        )
    try:
        fastavro.validation.validate(record, info.parsed, raise_errors=True)
    except fastavro.validation.ValidationError as exc:
        problems = "; ".join(str(e) for e in exc.errors) if exc.errors else str(exc)
        raise EncodeError(f"{info.short_name}: {problems}") from exc


_NEGATIVE_LENGTH = re.compile(r"Expected -\d+ bytes")


def _read(data: bytes, writer: SchemaInfo, reader: SchemaInfo | None) -> Record:
    buf = io.BytesIO(data)
    buf.seek(HEADER_LEN)
    try:
        reader_schema = None if reader is None else reader.plain
        record = fastavro.schemaless_reader(buf, writer.plain, reader_schema)
    except fastavro.read.SchemaResolutionError as exc:
        raise IncompatibleSchema(f"{writer.short_name}: {exc}") from exc
    except (EOFError, IndexError) as exc:
        # fastavro signals "ran out of bytes" with EOFError, or with IndexError when a varint
        # runs off the end. A negative length or an enum/union index past the symbols is not
        # truncation but damage.
        message = str(exc)
        ran_out = buf.tell() >= len(data) or isinstance(exc, EOFError)
        if ran_out and not _NEGATIVE_LENGTH.search(message) and "list index" not in message:
            raise TruncatedMessage(
                f"{writer.short_name}: body ended early ({len(data) - HEADER_LEN} body bytes)"
            ) from exc
        raise CorruptMessage(f"{writer.short_name}: invalid encoding: {exc!r}") from exc
    except (UnicodeDecodeError, ValueError, TypeError, OverflowError, KeyError, MemoryError) as exc:
        raise CorruptMessage(f"{writer.short_name}: invalid encoding: {exc!r}") from exc
    if buf.tell() != len(data):
        raise CorruptMessage(
            f"{writer.short_name}: {len(data) - buf.tell()} trailing bytes after the record"
        )
    if not isinstance(record, dict):
        raise CorruptMessage(f"{writer.short_name}: decoded to {type(record).__name__}")
    return record


def decode_body(data: bytes, writer: SchemaInfo, reader: SchemaInfo) -> Record:
    """Decode and check the body. fastavro accepts a negative enum or union index as a Python
    list index (-1 = last symbol), which would be a silently wrong value; every writer emits the
    canonical encoding (minimal varints, one block per array or map), so the record is written
    again and must give the same bytes."""
    record = _read(data, writer, None)
    try:
        if writer.plain_writer is not None:
            again = writer.plain_writer(record)
        else:
            buf = io.BytesIO()
            buf.write(data[:HEADER_LEN])
            fastavro.schemaless_writer(buf, writer.plain, record)
            again = buf.getvalue()
    except (ValueError, TypeError, AttributeError, KeyError, OverflowError, struct.error) as exc:
        raise CorruptMessage(f"{writer.short_name}: record does not re-encode: {exc}") from exc
    if again != data:
        raise CorruptMessage(
            f"{writer.short_name}: not a canonical encoding (negative enum or union index, "
            "or a non-minimal varint)"
        )
    if reader is writer:
        return record
    return _read(data, writer, reader)


@cache
def default_codec() -> Codec:
    """The codec for the schemas shipped in ``schemas/avro`` (parsed once per process)."""
    return Codec.from_directory()
