"""The WebSocket bridge: dashboards' contract over Kafka's derived topics.

- :mod:`ws_bridge.core`: sans-I/O decisions (auth, access, protocol, sessions, fan-out, resume);
- :mod:`ws_bridge.server`: the I/O shell (``rtx-analytics bridge``);
- :mod:`ws_bridge.client`: the Python client.

Imports go server -> core; the client imports neither (it stands alone). From ``streams`` the
bridge imports only ``settings``, ``topics``, ``events``, ``logs`` and ``errors``
(docs/architecture.md). Errors: ``BridgeError`` (:mod:`ws_bridge.core.errors`) for the core and
server, ``ClientError`` (:mod:`ws_bridge.client.errors`) for the client.
"""
