"""Every account's group sums in numpy columns, to rank 100,000 accounts in milliseconds.

The exact figures of one account come from :mod:`streams.risk.figures`; ranking all of them
that way would cost a second of CPU per refresh at 1,000,000 positions. :class:`AccountTable`
keeps one row per (account, symbol, book, side) with float copies of the exact sums (written
from the exact ints, never accumulated, so they do not drift) and scores every account at once:
floating P&L, exposure on a basis, realised P&L today. The scores only pick candidates; the
view computes the candidates' figures exactly and ranks those (docs/pnl.md, "Top accounts").
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any, NamedTuple, cast

import numpy as np
import numpy.typing as npt

from streams.market.basis import Basis
from streams.market.exact import SCALE
from streams.market.rates import REPORTING_CURRENCY
from streams.risk.figures import GroupSums, Market
from streams.risk.records import AccountRisk

Floats = npt.NDArray[np.float64]
Ints = npt.NDArray[np.int64]
Bools = npt.NDArray[np.bool_]
_COLUMNS = ("volume", "value", "mark")
# A candidate's float score may differ from its exact figure by rounding, at most a few ulps of
# the sum of the absolute terms behind it (``Scores.magnitude``): keep every account within
# this fraction of the largest magnitude, plus a micro-dollar, of the n-th score.
_REL_MARGIN = 1e-12


class Scores(NamedTuple):
    """Per account slot: floating P&L, exposure and realised today (USD), and open positions."""

    floating: Floats
    exposure: Floats
    realized: Floats
    positions: Ints
    magnitude: float  # the largest sum of absolute USD terms behind any account's score


class AccountTable:
    """Rows of (account slot, symbol, book, side, volume, open value, mark value) in units."""

    def __init__(self, capacity: int = 1024) -> None:
        self._slot: dict[str, int] = {}
        self._ids: list[str | None] = []
        self._free_slots: list[int] = []
        self._rows_of: list[list[int]] = []
        self._symbols: dict[str, int] = {}
        self._free_rows: list[int] = list(range(capacity - 1, -1, -1))
        self._acct = np.zeros(capacity, np.int64)
        self._sym = np.zeros(capacity, np.int64)
        self._bbook = np.zeros(capacity, np.bool_)
        self._sign = np.zeros(capacity, np.float64)  # +1 BUY, -1 SELL, 0 a free row
        self._cols = {name: np.zeros(capacity, np.float64) for name in _COLUMNS}
        self._realized = np.zeros(0, np.float64)
        self._positions = np.zeros(0, np.int64)

    def __len__(self) -> int:
        return len(self._slot)

    def account(self, slot: int) -> str:
        account = self._ids[slot]
        assert account is not None  # noqa: S101 - callers pass live slots
        return account

    def _slot_of(self, account: str) -> int:
        slot = self._slot.get(account)
        if slot is not None:
            return slot
        if self._free_slots:
            slot = self._free_slots.pop()
            self._ids[slot] = account
            self._realized[slot] = 0.0
            self._positions[slot] = 0
        else:
            slot = len(self._ids)
            self._ids.append(account)
            self._rows_of.append([])
            if slot >= len(self._realized):
                size = max(1024, 2 * len(self._realized))
                self._realized = np.resize(self._realized, size)
                self._positions = np.resize(self._positions, size)
            self._realized[slot] = 0.0
            self._positions[slot] = 0
        self._slot[account] = slot
        return slot

    def _row(self) -> int:
        if not self._free_rows:
            old = len(self._acct)
            for name in ("_acct", "_sym", "_bbook", "_sign"):
                setattr(self, name, np.resize(getattr(self, name), 2 * old))
            self._sign[old:] = 0.0
            self._cols = {k: np.resize(v, 2 * old) for k, v in self._cols.items()}
            self._free_rows = list(range(2 * old - 1, old - 1, -1))
        return self._free_rows.pop()

    def set_groups(self, account: str, groups: GroupSums) -> None:
        """Replaces the account's rows by its merged group sums."""
        slot = self._slot_of(account)
        rows = self._rows_of[slot]
        self._sign[rows] = 0.0
        self._free_rows += rows
        rows.clear()
        positions = 0
        for (symbol, book, side), (n, volume_u, value_u, mark_u) in groups.items():
            row = self._row()
            rows.append(row)
            self._acct[row] = slot
            self._sym[row] = self._symbols.setdefault(symbol, len(self._symbols))
            self._bbook[row] = book == "BBOOK"
            self._sign[row] = 1.0 if side == "BUY" else -1.0
            self._cols["volume"][row] = volume_u / SCALE
            self._cols["value"][row] = value_u / SCALE
            self._cols["mark"][row] = mark_u / SCALE
            positions += n
        self._positions[slot] = positions
        self._drop_if_empty(account, slot)

    def set_realized(self, account: str, usd: float) -> None:
        slot = self._slot_of(account)
        self._realized[slot] = usd
        self._drop_if_empty(account, slot)

    def reset_realized(self) -> None:
        """A new trading day: nobody has realised anything yet."""
        self._realized[:] = 0.0
        for account, slot in list(self._slot.items()):
            self._drop_if_empty(account, slot)

    def _drop_if_empty(self, account: str, slot: int) -> None:
        if not self._rows_of[slot] and self._realized[slot] == 0.0:
            del self._slot[account]
            self._ids[slot] = None
            self._free_slots.append(slot)

    def scores(self, market: Market, basis: Basis) -> Scores:
        """Every slot's figures in floats (free slots score 0)."""
        n = len(self._ids)
        live = self._sign != 0.0
        acct = self._acct[live]
        sym = self._sym[live]
        sign = self._sign[live]
        vol, val, mark = (self._cols[k][live] for k in _COLUMNS)
        per_symbol = _symbol_arrays(list(self._symbols), market)
        long_mark, short_mark, priced, rate_b, rate_q, ccy_b, ccy_q, n_ccy = per_symbol
        at = np.where(sign > 0, long_mark[sym], short_mark[sym])
        close_value = np.where(priced[sym], at * vol, mark)
        pnl = sign * (close_value - val) * rate_q[sym]
        floating = _floats(np.bincount(acct, np.nan_to_num(pnl), minlength=n))
        bbook = self._bbook[live]
        if basis == "bbook-net":
            legs = np.concatenate([-sign * vol * rate_b[sym], sign * val * rate_q[sym]])
            where = np.concatenate([acct * n_ccy + ccy_b[sym], acct * n_ccy + ccy_q[sym]])
            weights = np.nan_to_num(legs * np.concatenate([bbook, bbook]))
            matrix = _floats(np.bincount(where, weights, minlength=n * n_ccy)).reshape(n, n_ccy)
            matrix[:, 0] = 0.0  # column 0 is the reporting currency
            exposure = np.maximum(np.clip(matrix, 0, None).sum(1), np.clip(-matrix, 0, None).sum(1))
        else:
            gross = vol * rate_b[sym] * (bbook if basis == "bbook-gross" else 1.0)
            exposure = _floats(np.bincount(acct, np.nan_to_num(gross), minlength=n))
        terms = (np.abs(close_value) + np.abs(val)) * np.maximum(rate_q[sym], rate_b[sym])
        magnitude = _floats(np.bincount(acct, np.nan_to_num(terms), minlength=n))
        return Scores(
            floating,
            exposure,
            self._realized[:n].copy(),
            self._positions[:n].copy(),
            float(magnitude.max(initial=0.0)),
        )

    def candidates(self, score: Floats, mask: Bools, n: int, magnitude: float) -> list[str]:
        """Accounts (among ``mask``) whose exact figure may be among the n largest: the n
        largest scores and every score within a rounding margin of the n-th."""
        slots = np.flatnonzero(mask[: len(self._ids)])
        if len(slots) > n:
            values = score[slots]
            nth = np.partition(values, len(values) - n)[len(values) - n]
            margin = _REL_MARGIN * max(magnitude, float(np.abs(values).max())) + 1.0 / SCALE
            slots = slots[values >= nth - margin]
        return [self.account(int(s)) for s in slots]

    def at_least(self, score: Floats, level: float, magnitude: float) -> list[str]:
        """Accounts whose exact figure may be >= ``level``: every score within the rounding
        margin of it."""
        live = score[: len(self._ids)]
        margin = _REL_MARGIN * max(magnitude, abs(level)) + 1.0 / SCALE
        return [self.account(int(s)) for s in np.flatnonzero(live >= level - margin)]


def rank(records: Iterable[AccountRisk | None], field: str, n: int) -> list[AccountRisk]:
    """The n records with the largest ``field`` (exact figures), ties by accountId; a zero
    realised P&L is no entry of the realised list."""
    found = [
        r
        for r in records
        if r is not None and (field != "realizedToday" or r["realizedToday"] != 0)
    ]

    def key(r: AccountRisk) -> tuple[float, str]:
        return (-float(cast(Mapping[str, Any], r)[field]), r["accountId"])

    return sorted(found, key=key)[:n]


def _floats(a: npt.NDArray[np.generic]) -> Floats:
    """bincount with weights returns float64; numpy's stubs say intp."""
    return np.asarray(a, dtype=np.float64)


def _symbol_arrays(
    symbols: Sequence[str], market: Market
) -> tuple[Floats, Floats, Bools, Floats, Floats, Ints, Ints, int]:
    """Per symbol index: long and short marks, priced or not, USD rates of base and quote
    (NaN without one), and the currency indices of base and quote (0 = USD)."""
    k = max(len(symbols), 1)
    long_mark, short_mark = np.zeros(k), np.zeros(k)
    priced = np.zeros(k, np.bool_)
    rate_b, rate_q = np.full(k, np.nan), np.full(k, np.nan)
    ccy_b, ccy_q = np.zeros(k, np.int64), np.zeros(k, np.int64)
    currencies = {REPORTING_CURRENCY: 0}
    for i, symbol in enumerate(symbols):
        inst = market.instrument(symbol)
        price = market.prices.get(symbol)
        if price is not None:
            priced[i] = True
            long_mark[i], short_mark[i] = price.long_mark, price.short_mark
        rate_b[i] = market.rates.get(inst.base, np.nan)
        rate_q[i] = market.rates.get(inst.quote, np.nan)
        if np.isnan(rate_b[i]) or np.isnan(rate_q[i]):
            rate_b[i] = rate_q[i] = np.nan  # left out of every figure, as the exact path does
        ccy_b[i] = currencies.setdefault(inst.base, len(currencies))
        ccy_q[i] = currencies.setdefault(inst.quote, len(currencies))
    return long_mark, short_mark, priced, rate_b, rate_q, ccy_b, ccy_q, len(currencies)
