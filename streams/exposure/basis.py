"""Exposure on a basis: the figures a limit is measured on (pure; docs/exposure.md, "Exposure
basis").

The broker is the counterparty of every B-book position, so its market risk is the clients'
B-book position with the sign flipped: a client BUY EURUSD 100,000 @ 1.08 is, for the broker,
-100,000 EUR and +108,000 USD. :func:`basis_fields` adds to an exposure record the broker's
B-book net position by symbol (base units and USD) and by currency, the shorthand net open
position of those currency legs, and the figures of the chosen basis (``bbook-net``,
``bbook-gross`` or ``gross``) that the limit, ``utilizationPct`` and the per-symbol and
per-currency limits apply to. A-book positions are counterparty exposure to the LPs, reported
apart (``byLP``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from streams.exposure.book import Partial
from streams.market.basis import Basis, net_open_position
from streams.market.exact import SCALE
from streams.market.instruments import Instrument
from streams.market.rates import usd_value

BBOOK = "BBOOK"


def _add(acc: dict[str, int], key: str, amount_u: int) -> None:
    acc[key] = acc.get(key, 0) + amount_u


def basis_fields(
    basis: Basis,
    merged: Partial,
    instruments: Mapping[str, Instrument],
    rates: Mapping[str, float],
    skip: set[str],
    gross: Mapping[str, Any],
) -> dict[str, Any]:
    """The basis fields of an exposure record. ``gross`` holds the record's gross figures
    (``totalExposure``, ``bySymbol``, ``byBook``, ``byCurrency``); symbols in ``skip`` (no USD
    rate) are left out, as everywhere else."""
    net_u: dict[str, int] = {}  # symbol -> the broker's B-book net, millionths of base units
    gross_u: dict[str, int] = {}  # symbol -> B-book gross volume, millionths
    legs_u: dict[str, int] = {}  # currency -> the broker's B-book net position, millionths
    for (sym, book, _lp), sums in merged.items():
        if book != BBOOK or sym in skip:
            continue
        inst = instruments[sym]
        _add(net_u, sym, -sums.net_volume_u)
        _add(gross_u, sym, sums.volume_u)
        _add(legs_u, inst.base, -sums.net_volume_u)
        _add(legs_u, inst.quote, sums.net_quote_u)
    net_by_symbol = {
        s: {"volume": n / SCALE, "usd": usd_value({instruments[s].base: n}, rates)}
        for s, n in sorted(net_u.items())
    }
    net_by_currency = {c: usd_value({c: a}, rates) for c, a in sorted(legs_u.items())}
    nop = net_open_position(legs_u, rates)
    exposure: float
    if basis == "gross":
        exposure = gross["totalExposure"]
        by_symbol = dict(gross["bySymbol"])
        by_currency = dict(gross["byCurrency"])
    elif basis == "bbook-gross":
        exposure = gross["byBook"].get(BBOOK, 0.0)
        by_symbol = {
            s: usd_value({instruments[s].base: g}, rates) for s, g in sorted(gross_u.items())
        }
        by_currency = net_by_currency
    else:
        exposure = nop.nop
        by_symbol = {s: abs(v["usd"]) for s, v in net_by_symbol.items()}
        by_currency = net_by_currency
    return {
        "basis": basis,
        "basisExposure": exposure,
        "basisBySymbol": by_symbol,
        "basisByCurrency": by_currency,
        "bbookNetBySymbol": net_by_symbol,
        "bbookNetByCurrency": net_by_currency,
        "bbookNetLong": nop.long,
        "bbookNetShort": nop.short,
    }
