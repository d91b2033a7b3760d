"""The toxicity score of an account, the "Toxic Flow" rule with hysteresis, and routing advice
(pure). Formulas and the reasons for them: ``docs/markouts.md``, "Toxicity score".

Score: at the score horizon, over the account's window, W trades the client won (broker
markout < 0) and L it lost (> 0); ties do not count. Under "the client has no edge" each
decided trade is a coin flip at best (the spread tilts it towards the broker), so

    z = (W - L) / sqrt(W + L)

is at most a standard normal; the score is ``100 x clamp(z, 0, 5) / 5``, and 0 while the mean
markout at that horizon is >= 0 (the flow does not cost the broker). It is None (not shown)
before ``min_trades`` trades have a known markout at that horizon.

Rule: levels ``watch`` (score >= ``watch_score``, warning) and ``toxic`` (>= ``toxic_score``,
critical); a level is entered at its threshold and left below threshold - ``score_margin``
(the alert rules' hysteresis). Every change resolves the open alert, then raises the new one;
ids derive from the cause (the markout that changed the score), so a replay gives the same ids.
Advice (ABOOK at ``toxic``, else BBOOK) is issued when the account's level changes, including
from and to ``unscored``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Final

from streams.markouts.config import MarkoutConfig
from streams.markouts.errors import MarkoutStateError
from streams.markouts.records import Alert, RoutingAdvice, cause_id, horizon_label

Z_FULL: Final = 5.0
RULE_ID: Final = "markouts.toxic_flow"
SOURCE: Final = "FlowMonitor"
CATEGORY: Final = "routing"

_TITLES: Final = {"watch": "Toxic Flow Suspected: {a}", "toxic": "Toxic Flow: {a}"}
_SEVERITY: Final = {"watch": "warning", "toxic": "critical"}
_ITEMS: Final = {
    "watch": ("Review the trades of {a}", "Consider routing {a} to the A-book"),
    "toxic": ("Route {a} to the A-book", "Review the trades of {a}"),
}


def sign_z(wins: int, losses: int) -> float | None:
    """(W - L) / sqrt(W + L); None without a decided trade."""
    n = wins + losses
    return (wins - losses) / math.sqrt(n) if n else None


def toxicity_score(z: float | None, mean_bps: float | None) -> float:
    """0..100 from z, 0 unless the mean broker markout is negative."""
    if z is None or mean_bps is None or mean_bps >= 0:
        return 0.0
    return 100 * min(max(z, 0.0), Z_FULL) / Z_FULL


@dataclass(frozen=True, slots=True)
class Scored:
    """What the rule is told about an account after a change."""

    account: str
    score: float | None  # None: unscored
    trades: int  # in the window
    known: int  # trades with a known markout at the score horizon
    wins: int
    losses: int
    mean_bps: float | None  # at the score horizon
    horizon_ms: int

    @property
    def detail(self) -> str:
        """The figures behind the score, for messages (built only when one is written)."""
        mean = "n/a" if self.mean_bps is None else f"{self.mean_bps:+.2f} bps"
        return (
            f"client won {self.wins} of {self.wins + self.losses} decided trades at "
            f"{horizon_label(self.horizon_ms)}, mean markout {mean} over {self.known} trades"
        )


def score_of(
    account: str, trades: int, known: int, wins: int, losses: int, mean_bps: float | None,
    config: MarkoutConfig,
) -> Scored:  # fmt: skip
    """The account's score from its window's figures at the score horizon."""
    z = sign_z(wins, losses)
    score = toxicity_score(z, mean_bps) if known >= config.min_trades else None
    return Scored(account, score, trades, known, wins, losses, mean_bps, config.score_horizon_ms)


@dataclass(frozen=True, slots=True)
class OpenAlert:
    id: str
    level: str
    title: str


class ToxicityRule:
    """Per account: the open alert (level) and the advice level last issued."""

    def __init__(self, config: MarkoutConfig) -> None:
        self.config = config
        self.levels = (("watch", config.watch_score), ("toxic", config.toxic_score))
        self.open: dict[str, OpenAlert] = {}
        self.advised: dict[str, str] = {}  # account -> level last advised (absent: unscored)

    def level_of(self, account: str) -> str:
        return self.advised.get(account, "unscored")

    def evaluate(self, s: Scored, t: int, cause: str) -> tuple[list[Alert], RoutingAdvice | None]:
        """Alerts (a resolution, then a raise) and advice when the account's level changes."""
        opened = self.open.get(s.account)
        current = 0 if opened is None else 1 + [k for k, _ in self.levels].index(opened.level)
        new = self._level(s.score, current)
        alerts: list[Alert] = []
        if new != current:
            if opened is not None:
                alerts.append(self._resolve(opened, s, t, cause))
                del self.open[s.account]
            if new:
                alerts.append(self._raise(self.levels[new - 1][0], s, t, cause))
        level = "unscored" if s.score is None else self.levels[new - 1][0] if new else "normal"
        if level == self.level_of(s.account):
            return alerts, None
        if level == "unscored":
            del self.advised[s.account]
        else:
            self.advised[s.account] = level
        return alerts, self._advice(s, level, t)

    def _level(self, score: float | None, current: int) -> int:
        """Hysteresis: the highest level reached, or stay unless below threshold - margin."""
        if score is None:
            return 0
        reached = sum(1 for _, threshold in self.levels if score >= threshold)
        if reached >= current:
            return reached
        if score < self.levels[current - 1][1] - self.config.score_margin:
            return reached
        return current

    def _raise(self, level: str, s: Scored, t: int, cause: str) -> Alert:
        title = _TITLES[level].format(a=s.account)
        aid = cause_id(t, f"{RULE_ID}.{level}|{s.account}|{t}|{cause}")
        self.open[s.account] = OpenAlert(aid, level, title)
        threshold = dict(self.levels)[level]
        return {
            "id": aid,
            "eventTime": t,
            "severity": _SEVERITY[level],
            "category": CATEGORY,
            "title": title,
            "message": f"{s.account}: toxicity score {s.score:.0f} >= {threshold:g}; {s.detail}",
            "source": SOURCE,
            "actionItems": [item.format(a=s.account) for item in _ITEMS[level]],
            "state": "RAISED",
            "resolvesId": None,
            "ruleId": f"{RULE_ID}.{level}",
            "value": s.score,
            "threshold": threshold,
        }

    def _resolve(self, opened: OpenAlert, s: Scored, t: int, cause: str) -> Alert:
        threshold = dict(self.levels)[opened.level]
        if s.score is None:
            crossed, note = None, f"{s.account}: fewer than {self.config.min_trades} trades"
        elif s.score >= threshold:
            crossed, note = threshold, f"{s.account}: score {s.score:.0f}, a higher level"
        else:
            crossed = threshold - self.config.score_margin
            note = f"{s.account}: toxicity score {s.score:.0f} < {crossed:g}"
        return {
            "id": cause_id(t, f"resolve|{opened.id}|{t}|{cause}"),
            "eventTime": t,
            "severity": "info",
            "category": CATEGORY,
            "title": f"Resolved: {opened.title}",
            "message": f"{note}; {s.detail}",
            "source": SOURCE,
            "actionItems": [],
            "state": "RESOLVED",
            "resolvesId": opened.id,
            "ruleId": f"{RULE_ID}.{opened.level}",
            "value": s.score,
            "threshold": crossed,
        }

    def _advice(self, s: Scored, level: str, t: int) -> RoutingAdvice:
        horizon = horizon_label(self.config.score_horizon_ms)
        if level == "toxic":
            reason = f"toxic flow: score {s.score:.0f} at {horizon}; {s.detail}"
        elif level == "watch":
            reason = f"flow under watch: score {s.score:.0f} at {horizon}; {s.detail}"
        elif level == "normal":
            reason = f"no toxic flow: score {s.score:.0f} at {horizon}; {s.detail}"
        else:
            reason = f"not scored: fewer than {self.config.min_trades} trades with a markout"
        return {
            "eventTime": t,
            "accountId": s.account,
            "recommendedBook": "ABOOK" if level == "toxic" else "BBOOK",
            "level": level,
            "score": s.score,
            "trades": s.trades,
            "reason": reason,
        }

    # --- snapshots ----------------------------------------------------------------------------

    def state(self) -> dict[str, object]:
        return {
            "open": {a: [o.id, o.level, o.title] for a, o in sorted(self.open.items())},
            "advised": dict(sorted(self.advised.items())),
        }

    def restore(self, raw: object) -> None:
        """From :meth:`state` (MarkoutStateError when malformed)."""
        levels = {k for k, _ in self.levels}
        if not isinstance(raw, dict):
            raise MarkoutStateError("toxicity rule state: expected an object")
        try:
            opened = {
                str(a): OpenAlert(str(i), str(lv), str(title))
                for a, (i, lv, title) in raw["open"].items()
            }
            advised = {str(a): str(lv) for a, lv in raw["advised"].items()}
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise MarkoutStateError(f"toxicity rule state: {exc!r}") from exc
        known = {"normal", *levels}
        if not all(o.level in levels for o in opened.values()) or set(advised.values()) - known:
            raise MarkoutStateError("toxicity rule state: unknown level")
        self.open, self.advised = opened, advised
