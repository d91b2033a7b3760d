"""The markout package's errors (its root is the project's :class:`streams.errors.StateError`).

StateError (streams.errors)
 +-- MarkoutStateError   a snapshot given to a stage or board's restore() does not parse
"""

from __future__ import annotations

from streams.errors import StateError


class MarkoutStateError(StateError):
    """A snapshot given to a markout stage or board does not parse."""
