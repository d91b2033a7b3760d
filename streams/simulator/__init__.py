"""Realistic broker traffic for the demo, benchmarks and tests: ``rtx-analytics simulate``.

- :mod:`.market`: instruments with moving quotes, LPs that degrade, disconnect and reconnect;
- :mod:`.model`: :class:`SimConfig` and the records the generator keeps (pure);
- :mod:`.generator`: :class:`Simulator`, the deterministic event sequence for a seed (pure);
- :mod:`.samples`: the few fixed sample events of ``rtx-analytics produce`` (pure);
- :mod:`.runner`: pacing, progress, signals and the flush (the I/O shell);
- :mod:`.cli`: ``rtx-analytics simulate`` and ``produce``.

See ``docs/simulator.md``.
"""

from streams.simulator.generator import EVENT_TYPES, SimConfig, SimEvent, Simulator

__all__ = ["EVENT_TYPES", "SimConfig", "SimEvent", "Simulator"]
