"""The Python client of the bridge (``docs/python-client.md``): :class:`AnalyticsClient` and its
errors. :mod:`.connection` does the I/O; :mod:`.state` holds its pure state (backoff, the alert
cursor, replay frames)."""

from ws_bridge.client.connection import *  # noqa: F403 - the client's public names
from ws_bridge.client.connection import __all__ as __all__
