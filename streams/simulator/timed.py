"""The generator's events as records stamped with *simulated* time (pure: no I/O, no clock).

``rtx-analytics simulate`` leaves event times to the SDK (the wall clock when sent). For the
markouts benchmark and tests, which compare what the pipeline finds with the trader labels in
event time, :func:`timed_events` builds each event with the input builders of
:mod:`streams.events` at ``start_us`` + the generator's simulated time, with ids of the run:
the same records for the same config, however fast they are processed.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any, Final

from streams import events
from streams.simulator.generator import Simulator

SCHEMAS: Final = {
    "quote": "Quote",
    "lp_status": "LpStatus",
    "routing_decision": "RoutingDecision",
    "position": "PositionState",
    "alert": "ServiceAlert",
}
"""Generator event (Publisher method) -> the schema of its record."""

_BUILDERS: Final[dict[str, Callable[..., dict[str, Any]]]] = {
    "quote": events.quote,
    "lp_status": events.lp_status,
    "routing_decision": events.routing_decision,
    "position": events.position,
    "alert": events.service_alert,
}


def event_time(sim: Simulator, start_us: int) -> int:
    """The event time of the generator's current event: ``start_us`` + simulated time."""
    return start_us + round(sim.now * 1_000_000)


def timed_events(
    sim: Simulator, count: int, start_us: int
) -> Iterator[tuple[str, str, dict[str, Any], dict[str, Any]]]:
    """``count`` events as ``(method, schema, kwargs, record)``: the Publisher call's keyword
    arguments with ``event_id`` and ``event_time`` added, and the validated record they give."""
    prefix = f"{sim.config.ids}-e"
    for n in range(count):
        method, kwargs = next(sim)
        stamped = {**kwargs, "event_id": f"{prefix}{n}", "event_time": event_time(sim, start_us)}
        yield method, SCHEMAS[method], stamped, _BUILDERS[method](**stamped)
