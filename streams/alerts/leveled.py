"""The leveled state machine every rule shares: open alerts per rule and subject, hysteresis,
and the RESOLVED/RAISED entries a transition writes (pure; docs/alerts.md, "Hysteresis").

:class:`LeveledRules` holds the state (the open alerts, the last accepted time per input
stream and key, the id issuer); :class:`streams.alerts.engine.RuleEngine` feeds it inputs.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from streams.alerts.ids import AlertIds
from streams.alerts.records import Alert
from streams.alerts.rules import Rule


@dataclass(frozen=True, slots=True)
class Open:
    """An open alert: its id, level and title."""

    id: str
    level: str
    title: str


class LeveledRules:
    """Open alerts per rule and subject, with the hysteresis and the transitions."""

    def __init__(self, rules: tuple[Rule, ...]) -> None:
        self._rules = {r.rule_id: r for r in rules}
        self._open: dict[str, dict[str, Open]] = {rid: {} for rid in self._rules}
        self._last: dict[str, dict[str, int]] = {}
        self.ids = AlertIds()

    def _accept(self, stream: str, key: str, t: int) -> bool:
        """Whether an input of ``stream`` for ``key`` at ``t`` is not older than the last one
        accepted (an older snapshot is superseded; a redelivered one must not flip a rule)."""
        times = self._last.setdefault(stream, {})
        if key in times and t < times[key]:
            return False
        times[key] = t
        return True

    def _leveled(
        self, rule: Rule, subject: str, value: float, t: int, event_id: str, text: str
    ) -> list[Alert]:
        """Hysteresis: enter the highest level reached; leave a level only below its threshold
        minus the margin, for the level the value is then in (or none)."""
        if math.isnan(value):
            return []
        opened = self._open[rule.rule_id].get(subject)
        current = rule.rank(opened.level if opened else None)
        reached = sum(1 for lv in rule.levels if value >= lv.threshold)  # thresholds ascend
        note = None
        if reached > current:
            crossed = rule.levels[reached - 1].threshold
        elif current and value < rule.levels[current - 1].threshold - rule.margin:
            left = rule.levels[current - 1].threshold
            crossed = left - rule.margin
            note = f"{text}: below {crossed:g} ({left:g} minus the {rule.margin:g} margin)"
        else:
            return []
        new = rule.levels[reached - 1].key if reached else None
        return self._transition(rule, subject, new, t, event_id, value, crossed, text, note)

    def _transition(
        self,
        rule: Rule,
        subject: str,
        new: str | None,
        t: int,
        event_id: str,
        value: float | None,
        crossed: float | None,
        text: str,
        note: str | None = None,
    ) -> list[Alert]:
        """Resolve the subject's open alert (if any), then raise ``new`` (if any): at most one
        alert per rule and subject is open at every position of the log. ``text`` describes the
        condition now; a resolution carries ``note`` (default ``text``) and ``crossed``, the
        threshold crossed to leave; a raise carries its level's threshold."""
        out: list[Alert] = []
        opened = self._open[rule.rule_id].pop(subject, None)
        if opened is not None:
            note = text if note is None else note
            if new is not None and rule.rank(new) > rule.rank(opened.level):
                note = f"{text}; superseded by {rule.level(new).title.format(subject=subject)}"
            out.append(self._resolution(rule, opened, t, event_id, value, crossed, note))
        if new is not None:
            out.append(self._raise(rule, subject, new, t, event_id, value, text))
        return out

    def _resolution(
        self,
        rule: Rule,
        opened: Open,
        t: int,
        event_id: str,
        value: float | None,
        crossed: float | None,
        note: str,
    ) -> Alert:
        return {
            "id": self.ids.issue(t, f"resolve|{opened.id}|{t}|{event_id}"),
            "eventTime": t,
            "severity": "info",
            "category": rule.category,
            "title": f"Resolved: {opened.title}",
            "message": note,
            "source": rule.source,
            "actionItems": [],
            "state": "RESOLVED",
            "resolvesId": opened.id,
            "ruleId": f"{rule.rule_id}.{opened.level}",
            "value": value,
            "threshold": crossed,
        }

    def _raise(
        self,
        rule: Rule,
        subject: str,
        new: str,
        t: int,
        event_id: str,
        value: float | None,
        text: str,
    ) -> Alert:
        level = rule.level(new)
        title = level.title.format(subject=subject)
        aid = self.ids.issue(t, f"{rule.rule_id}.{new}|{subject}|{t}|{event_id}")
        self._open[rule.rule_id][subject] = Open(aid, new, title)
        return {
            "id": aid,
            "eventTime": t,
            "severity": level.severity,
            "category": rule.category,
            "title": title,
            "message": text,
            "source": rule.source,
            "actionItems": [a.format(subject=subject) for a in level.action_items],
            "state": "RAISED",
            "resolvesId": None,
            "ruleId": f"{rule.rule_id}.{new}",
            "value": value,
            "threshold": None if math.isnan(level.threshold) else level.threshold,
        }
