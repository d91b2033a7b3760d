"""The Python client of the bridge (``docs/python-client.md``): :class:`AnalyticsClient` and its
errors. :mod:`.connection` runs the connection; :mod:`.errors` holds the errors (root
``ClientError``), :mod:`.state` the pure state and checks (backoff, the alert cursor, replay
frames), :mod:`.handshake`, :mod:`.delivery` and :mod:`.replay` the rest (see each docstring).

``ConfigError`` is the deprecated old name of :class:`InvalidArgument`: it still works, with a
DeprecationWarning, and is the same class (``except ConfigError`` catches what it caught).
"""

import warnings

from ws_bridge.client.connection import *  # noqa: F403 - the client's public names
from ws_bridge.client.connection import InvalidArgument
from ws_bridge.client.connection import __all__ as __all__

_DEPRECATED = {"ConfigError": ("InvalidArgument", InvalidArgument)}


def __getattr__(name: str) -> type[InvalidArgument]:
    """The deprecated names (PEP 562), each with a DeprecationWarning naming its successor."""
    if name in _DEPRECATED:
        new_name, value = _DEPRECATED[name]
        warnings.warn(
            f"ws_bridge.client.{name} is deprecated; use {new_name} (the same class)",
            DeprecationWarning,
            stacklevel=2,
        )
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
