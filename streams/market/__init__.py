"""Market: the shared lower layer of the domain packages (pure: no I/O, no clock).

Exposure and risk both need the same instruments, USD rates and exact arithmetic, and must
not import each other; they import this package instead:

- :mod:`.exact`: ``SCALE``, exact scaling of doubles, :class:`ExactSum` (rounded once);
- :mod:`.instruments`: a symbol's base and quote currency (with overrides);
- :mod:`.rates`: quote mids and USD rates through crosses, exact USD values;
- :mod:`.basis`: the exposure bases and the shorthand net open position;
- :mod:`.positions`: which position is open, the bounded memory of closed ids.
"""

from streams.market.basis import (
    BASES,
    DEFAULT_BASIS,
    Basis,
    NetOpenPosition,
    net_open_position,
    parse_basis,
)
from streams.market.exact import SCALE, ExactSum, scaled
from streams.market.instruments import Instrument, instrument
from streams.market.positions import HOUR_US, MAX_CLOSED, ClosedIds, is_open
from streams.market.rates import REPORTING_CURRENCY, quote_mid, usd_rates, usd_value, valid_price

__all__ = [
    "BASES",
    "DEFAULT_BASIS",
    "HOUR_US",
    "MAX_CLOSED",
    "REPORTING_CURRENCY",
    "SCALE",
    "Basis",
    "ClosedIds",
    "ExactSum",
    "Instrument",
    "NetOpenPosition",
    "instrument",
    "is_open",
    "net_open_position",
    "parse_basis",
    "quote_mid",
    "scaled",
    "usd_rates",
    "usd_value",
    "valid_price",
]
