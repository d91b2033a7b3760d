"""The WebSocket bridge: dashboards' contract over Kafka's derived topics.

- :mod:`ws_bridge.core`: sans-I/O decisions (auth, access, protocol, sessions, fan-out, resume);
- :mod:`ws_bridge.server`: the I/O shell (``rtx-analytics bridge``);
- :mod:`ws_bridge.client`: the Python client.

Imports go server -> core, client -> core's nothing (the client stands alone); from ``streams``
the bridge imports only ``settings``, ``topics`` and ``events`` (docs/architecture.md).
"""
