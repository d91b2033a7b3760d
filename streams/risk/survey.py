"""A ranking of every account done in slices: candidates picked from one scoring of every
account (numpy, :mod:`streams.risk.table`), their exact figures computed a few at a time, the
result assembled when the last one is in (docs/pnl.md, "Top accounts").

At 500 accounts the exact figures of a top-N's ~60 candidates cost 5-15 ms, at 100,000 accounts
about 90 ms with the scoring: done at once, that blocks everything else the worker's event
loop does (exposure, alerts, the routing pass-through). A caller that steps a survey between
inputs spreads it; :meth:`RiskView.top` and :meth:`RiskView.accounts_over` step it to the end
at once.

A candidate's exact figure is the one of the moment it is computed, a few milliseconds after
the scoring at most; the scoring's margin covers float rounding, not quotes that move in
between, so a figure that moved past the n-th meanwhile is ranked where it now stands but an
account that was not a candidate waits for the next survey (a second later by default).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from streams.risk.records import AccountRisk, AccountRiskTop
from streams.risk.table import AccountTable, Bools, Floats, Scores, rank

Figures = Callable[[str], AccountRisk | None]

# (the AccountRiskTop field, the AccountRisk field it ranks on)
TOP_LISTS = (
    ("byExposure", "exposure"),
    ("byFloatingPnl", "floatingPnl"),
    ("byRealizedToday", "realizedToday"),
)


def top_candidates(table: AccountTable, scores: Scores, n: int) -> dict[str, list[str]]:
    """Per list of the top-N record, the accounts whose exact figure may be among its n
    largest (:meth:`AccountTable.candidates`)."""
    has_positions = scores.positions > 0
    masks: dict[str, tuple[Floats, Bools]] = {
        "byExposure": (scores.exposure, has_positions),
        "byFloatingPnl": (scores.floating, has_positions),
        "byRealizedToday": (scores.realized, scores.realized != 0),
    }
    return {
        name: table.candidates(score, mask, n, scores.magnitude)
        for name, (score, mask) in masks.items()
    }


def level_candidates(
    table: AccountTable, scores: Scores, pnl_today: float | None, exposure: float | None
) -> list[tuple[float, str, list[str]]]:
    """(level, AccountRisk field, the accounts whose exact figure may be at or above it) for
    each level given (:meth:`AccountTable.at_least`)."""
    checks: list[tuple[float, str, list[str]]] = []
    for level, score, field in (
        (pnl_today, scores.floating + scores.realized, "pnlToday"),
        (exposure, scores.exposure, "exposure"),
    ):
        if level is not None:
            checks.append((level, field, table.at_least(score, level, scores.magnitude)))
    return checks


class Survey:
    """The exact figures of a set of accounts, computed by :meth:`step`."""

    def __init__(self, figures: Figures, accounts: Iterable[str]) -> None:
        self._figures = figures
        self._todo = list(dict.fromkeys(accounts))[::-1]  # popped from the end: in order
        self.records: dict[str, AccountRisk | None] = {}

    @property
    def done(self) -> bool:
        return not self._todo

    def step(self, limit: int | None = None) -> bool:
        """Computes up to ``limit`` (None: all) of the figures still to do; True when done."""
        todo = self._todo
        count = len(todo) if limit is None else min(limit, len(todo))
        for _ in range(count):
            account = todo.pop()
            self.records[account] = self._figures(account)
        return not todo


class TopSurvey(Survey):
    """A top-N: the candidates of each list, then :meth:`record`."""

    def __init__(
        self,
        figures: Figures,
        header: Callable[[], dict[str, Any]],
        lists: dict[str, list[str]],
        n: int,
    ) -> None:
        super().__init__(figures, (a for found in lists.values() for a in found))
        self._header = header
        self._lists = lists
        self.n = n

    def record(self) -> AccountRiskTop:
        """The AccountRiskTop: exact figures ranked, ties by accountId (after :meth:`step`
        returned True); its eventTime and tradingDay are the view's when it is assembled."""
        if not self.done:
            raise RuntimeError("TopSurvey.record() before its last step")
        out: dict[str, Any] = self._header()
        for name, field in TOP_LISTS:
            out[name] = rank((self.records[a] for a in self._lists[name]), field, self.n)
        return out  # type: ignore[return-value]


class OverSurvey(Survey):
    """Accounts at or above levels: the candidates within the rounding margin of each level
    and the accounts asked about besides (for example those with an open alert)."""

    def __init__(
        self,
        figures: Figures,
        checks: list[tuple[float, str, list[str]]],
        also: Iterable[str] = (),
    ) -> None:
        also = list(also)
        super().__init__(figures, [*(a for _, _, found in checks for a in found), *also])
        self._checks = checks
        self._also = also

    def found(self) -> list[AccountRisk]:
        """The records whose exact figure is at or above a level (sorted by accountId)."""
        if not self.done:
            raise RuntimeError("OverSurvey.found() before its last step")
        hits: dict[str, AccountRisk] = {}
        for level, field, candidates in self._checks:
            for account in candidates:
                record = self.records[account]
                if record is not None and float(record[field]) >= level:  # type: ignore[literal-required]
                    hits[account] = record
        return [hits[a] for a in sorted(hits)]

    def asked(self) -> dict[str, AccountRisk]:
        """The records of the accounts asked about besides the levels (None left out)."""
        return {a: r for a in self._also if (r := self.records[a]) is not None}
