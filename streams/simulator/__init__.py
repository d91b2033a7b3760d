"""Realistic broker traffic for the demo, benchmarks and tests: ``rtx-analytics simulate``.

- :mod:`.market`: instruments with moving quotes, LPs that degrade, disconnect and reconnect;
- :mod:`.generator`: :class:`Simulator`, the deterministic event sequence for a seed (pure);
- :mod:`.runner`: the command: pacing, progress, signals and the flush (the I/O shell).

See ``docs/simulator.md``.
"""

from streams.simulator.generator import EVENT_TYPES, SimConfig, SimEvent, Simulator

__all__ = ["EVENT_TYPES", "SimConfig", "SimEvent", "Simulator"]
