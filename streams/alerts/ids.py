"""Stable alert ids that stay distinct: :class:`AlertIds` issues ``alert_id(t, cause)``.

The contract's id (``YYYYMMDD-HHMMSS-xxxxxx``) leaves 24 bits per second, so two causes of the
same second can hash to the same id. The issuer remembers the recent ids with a digest of their
cause and gives a colliding new cause the first free ``alert_id(t, cause + "#n")``. Everything it
remembers is part of the engine's snapshot, so a replay or a restore issues the same ids.
"""

from __future__ import annotations

import hashlib
from typing import Any, Final

from streams.alerts.records import alert_id

# Ids remembered to tell two different causes that hash to the same id apart. Only ids of the
# same second can collide, so old ones are dropped.
_RECENT_MAX: Final = 1024
_RECENT_KEEP_S: Final = 300


class AlertIds:
    """The bounded memory of recent ids; deterministic (depends on the issued causes only)."""

    def __init__(self) -> None:
        self._recent: dict[str, tuple[str, int]] = {}
        self._max_s = -(2**62)

    def issue(self, t: int, cause: str) -> str:
        """alert_id(t, cause), unless a different recent cause already has that id: then the
        first free alert_id(t, cause + "#n")."""
        digest = hashlib.sha256(cause.encode("utf-8", "surrogatepass")).hexdigest()[:16]
        aid, n = alert_id(t, cause), 0
        while (seen := self._recent.get(aid)) is not None and seen[0] != digest:
            n += 1
            aid = alert_id(t, f"{cause}#{n}")
        second = t // 1_000_000
        self._recent[aid] = (digest, second)
        self._max_s = max(self._max_s, second)
        size = len(self._recent)
        if size > _RECENT_MAX // 4 and size % 64 == 0:  # amortised; depends on the state only
            horizon = self._max_s - _RECENT_KEEP_S
            self._recent = {i: v for i, v in self._recent.items() if v[1] >= horizon}
        while len(self._recent) > _RECENT_MAX:
            del self._recent[next(iter(self._recent))]
        return aid

    def state(self) -> tuple[list[list[Any]], int]:
        """(recentIds, recentMaxS) as JSON-able data, in issue order."""
        return [[i, d, s] for i, (d, s) in self._recent.items()], self._max_s

    @classmethod
    def restore(cls, recent_ids: Any, max_s: Any) -> AlertIds:
        """The issuer of a snapshot; raises KeyError/TypeError/ValueError when it is malformed."""
        ids = cls()
        ids._recent = {str(i): (str(d), int(s)) for i, d, s in recent_ids}
        ids._max_s = int(max_s)
        return ids
