"""The bridge's I/O shell: the WebSocket server and its hub, the Kafka source, the HTTP routes
(status, health, metrics, the dashboard's files), memory trimming and log lines. It feeds the
sans-I/O core (:mod:`ws_bridge.core`) with frames, tokens and records and writes what the core
decides. ``rtx-analytics bridge`` and ``rtx-analytics token`` are registered from :mod:`.cli`.
"""
