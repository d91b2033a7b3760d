"""Exposure: open positions as exact integer sums per group, their USD figures, limits, risk
bands and the publication coalescer. Pure: no Kafka, no clock of its own (docs/exposure.md).
Instruments, rates and exact sums come from :mod:`streams.market`, shared with risk.

- :mod:`.book`: positions per partition, partials (``Sums`` per group), the closed-id memory;
- :mod:`.usd`: USD rates through crosses, currency legs, the ``exposure-change`` record;
- :mod:`.basis`: the figures the limit is measured on (bbook-net, bbook-gross, gross);
- :mod:`.limits`: limits and risk bands; :mod:`.coalesce`: at most one message per interval.
"""

from streams.exposure.book import HOUR_US, MAX_CLOSED, Partial, PositionBook, Sums
from streams.exposure.coalesce import Coalescer
from streams.exposure.limits import ExposureLimits, RiskBands

__all__ = [
    "HOUR_US",
    "MAX_CLOSED",
    "Coalescer",
    "ExposureLimits",
    "Partial",
    "PositionBook",
    "RiskBands",
    "Sums",
]
