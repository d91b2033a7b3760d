"""A compiled reader refuses an array or map block with a negative count (the Avro spec's block
with a byte size: valid, but never canonical), so the codec decides, as for any other
non-canonical encoding; it used to read such a block as empty and go on from the wrong byte."""

from __future__ import annotations

import io
import json

import fastavro
import pytest

from schemas.codec import HEADER_LEN, default_codec
from schemas.fastread import NotFast, compile_reader

# An LpMarkout whose horizonsMs is one block of count -1 (zig-zag 01), size 0 (00), item 0 (00),
# then the end (00); the other arrays empty.
VALUE_BODY = "80800104c28000" + "01000000" + "0000000000" + "00050000000400000000"


def test_a_negative_block_count_is_left_to_the_codec() -> None:
    codec = default_codec()
    info = codec.schema("LpMarkout")
    reader = compile_reader(json.loads(info.canonical_form), info.header)
    assert reader is not None
    value = info.header + bytes.fromhex(VALUE_BODY)
    with pytest.raises(NotFast):
        reader(value)
    buf = io.BytesIO(value)
    buf.seek(HEADER_LEN)
    record = fastavro.schemaless_reader(buf, info.plain, None)
    assert isinstance(record, dict) and record["horizonsMs"] == [0]
