"""USD rates for the markouts of crosses, from the quotes this process marks out.

A markout is converted to USD with ``quote_usd`` (:mod:`streams.markouts.usd`): a symbol quoted
in USD or based on USD needs nothing but its own mid; a cross (EURGBP) needs USD per unit of its
quote currency, which :class:`ProcessRates` derives (:func:`streams.market.rates.usd_rates`)
from the newest quote of every symbol the process has read (as it reads them, ahead of the
stages' event-time merge). A cross whose quote currency's USD pair is on a partition another
process owns has no rate here: its markouts' USD is null (the stage counts ``usdUnknown``);
run one stage process where that matters.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import cache
from typing import Any

from streams.market.instruments import instrument
from streams.market.rates import quote_mid, usd_rates
from streams.markouts.stage import UsdRate
from streams.markouts.usd import quote_usd


class ProcessRates:
    """USD per unit of a currency, from the newest quote of each symbol, recomputed at most
    once per batch (:meth:`refresh`)."""

    def __init__(self, overrides: Mapping[str, tuple[str, str]]) -> None:
        self._overrides = dict(overrides)
        self._mids: dict[str, tuple[int, float]] = {}  # symbol -> (eventTime, mid)
        self._rates: dict[str, float] | None = None
        self.usd_rate: UsdRate = quote_usd(self.split, self.usd_per_unit)

    def observe(self, quote: Mapping[str, Any]) -> None:
        """A validated quote: its mid, unless the symbol has a newer one."""
        t = int(quote["eventTime"])
        known = self._mids.get(quote["symbol"])
        if known is None or t >= known[0]:
            self._mids[quote["symbol"]] = (t, quote_mid(quote))

    def refresh(self) -> None:
        """New quotes may have come: the next question recomputes the rates."""
        self._rates = None

    @cache  # noqa: B019 - one instance per process; symbols are few
    def split(self, symbol: str) -> tuple[str, str]:
        inst = instrument(symbol, self._overrides)
        return inst.base, inst.quote

    def usd_per_unit(self, currency: str) -> float | None:
        if self._rates is None:
            mids = {symbol: mid for symbol, (_, mid) in self._mids.items()}
            instruments = {s: instrument(s, self._overrides) for s in mids}
            self._rates = usd_rates(mids, instruments)
        return self._rates.get(currency)
