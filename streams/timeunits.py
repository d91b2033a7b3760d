"""Time units shared by the domain packages (pure, imports nothing).

Event times on the wire are int microseconds since the epoch (UTC); these constants convert
settings given in seconds. A module of its own so that the domain packages (routing, lp, ...)
need not import one another for a constant."""

from __future__ import annotations

from typing import Final

MICROS_PER_S: Final = 1_000_000
"""Microseconds in a second: event time (int micros) per second of a setting."""
