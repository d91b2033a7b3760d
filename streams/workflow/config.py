"""The workflow's part of the config file (``RTX_CONFIG_FILE``): ``[workflow.escalation]``.

::

    [workflow.escalation]
    severities = ["critical"]   # which alerts escalate (info, warning, error, critical)
    ack_within_min = 2.0        # not acknowledged within this long after it was raised (or
                                # reopened, or woken): escalate
    renotify_every_min = 5.0    # after an escalation, notify again this often until acknowledged

A key left out keeps its default; an unknown key or a bad value raises
:class:`~streams.settings.ConfigError` naming the key path (e.g.
``workflow.escalation.ack_within_min``). Other top-level tables belong to other components
and are ignored here.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, Final

from streams.settings import ConfigError, check_keys
from streams.workflow.escalation import MINUTE_US, EscalationPolicy

SEVERITIES: Final = ("info", "warning", "error", "critical")
_KEYS: Final = ("severities", "ack_within_min", "renotify_every_min")
_MAX_MINUTES: Final = 7 * 24 * 60.0


def escalation_policy(doc: Mapping[str, Any]) -> EscalationPolicy:
    """The policy from a parsed config document (the whole file)."""
    workflow = doc.get("workflow", {})
    check_keys("workflow", workflow, ("escalation",))
    table = workflow.get("escalation", {})
    prefix = "workflow.escalation"
    check_keys(prefix, table, _KEYS)
    default = EscalationPolicy()
    severities = table.get("severities", sorted(default.severities))
    if not isinstance(severities, list) or not all(s in SEVERITIES for s in severities):
        raise ConfigError(f"{prefix}.severities={severities!r}: a list of {', '.join(SEVERITIES)}")
    return EscalationPolicy(
        severities=frozenset(severities),
        ack_within_us=_minutes(f"{prefix}.ack_within_min", table, default.ack_within_us),
        renotify_every_us=_minutes(
            f"{prefix}.renotify_every_min", table, default.renotify_every_us
        ),
    )


def _minutes(key: str, table: Mapping[str, Any], default_us: int) -> int:
    value = table.get(key.rsplit(".", 1)[1])
    if value is None:
        return default_us
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ConfigError(f"{key}={value!r}: expected a number of minutes")
    if not 0 < value <= _MAX_MINUTES:
        raise ConfigError(f"{key}={value}: must be > 0 and <= {_MAX_MINUTES:g} (a week)")
    return round(value * MINUTE_US)
