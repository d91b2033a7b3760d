"""Risk: the broker's own risk from its clients' positions (pure: no Kafka, no clock).

The broker is the counterparty of every B-book position: its result is its clients' B-book
P&L with the sign flipped. Per account, the clients' own figures (positions, exposure on the
basis, floating and realised P&L, largest position) and the top accounts. Formulas and worked
examples: docs/pnl.md. Two stages, like exposure:

- :mod:`.book`: stage 1, per positions partition: :class:`RiskBook` applies PositionState
  events and drains :class:`AccountPartial` per changed account;
- :mod:`.view`: the global stage: :class:`RiskView` merges the partials, takes quotes and
  gives ``PnlChange``, ``AccountRisk`` and ``AccountRiskTop`` records (:mod:`.records`);
- :mod:`.day` (trading day and its roll), :mod:`.marks` (which side a position closes at),
  :mod:`.figures` (exact figures), :mod:`.table` (numpy scores to rank 100,000 accounts),
  :mod:`.survey` (that ranking done in slices, between the worker's inputs),
  :mod:`.partial`, :mod:`.config`.

Errors: :class:`RiskStateError` (a malformed partial or state; a ``StateError``) and
:class:`streams.settings.ConfigError` (bad settings).
"""

from streams.risk.book import RiskBook
from streams.risk.config import RiskConfig
from streams.risk.day import TradingCalendar
from streams.risk.marks import Price
from streams.risk.partial import AccountPartial, RiskStateError
from streams.risk.records import AccountRisk, AccountRiskTop, PnlChange, PnlFigures
from streams.risk.view import RiskView

__all__ = [
    "AccountPartial",
    "AccountRisk",
    "AccountRiskTop",
    "PnlChange",
    "PnlFigures",
    "Price",
    "RiskBook",
    "RiskConfig",
    "RiskStateError",
    "RiskView",
    "TradingCalendar",
]
