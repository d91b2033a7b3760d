"""Prebuilt server frames are byte for byte what ``websockets`` would have sent."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st
from websockets.frames import Frame, Opcode

from ws_bridge.core.frames import text_frame
from ws_bridge.core.messages import Encoded
from ws_bridge.core.outbox import Chunk


@given(st.text(max_size=300))
def test_text_frame_equals_the_websockets_serialisation(text: str) -> None:
    assert text_frame(text) == Frame(Opcode.TEXT, text.encode()).serialize(mask=False)


def test_text_frame_uses_each_length_encoding_at_its_boundary() -> None:
    for size in (0, 125, 126, 65_535, 65_536, 70_000):
        text = "a" * size
        assert text_frame(text) == Frame(Opcode.TEXT, text.encode()).serialize(mask=False)


def test_a_chunks_wire_is_its_frame_as_one_text_frame() -> None:
    item = Encoded('{"type":"x","timestamp":"t","data":{}}', None, {})
    chunk = Chunk([item, item])
    assert chunk.wire == text_frame(chunk.frame)
    assert chunk.wire is chunk.wire  # built once, however many sockets it goes to
