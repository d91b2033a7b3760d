"""The WebSocket bridge's sans-I/O core: everything ``rtx-analytics bridge`` decides, without
sockets, Kafka or clocks of its own (time is passed in as float seconds).

Modules: ``config`` (settings from ``RTX_BRIDGE_*``/``RTX_JWT_*``), ``keys`` (JWT key loading),
``auth`` (token verification, extraction, redaction, minting), ``access`` (origins, IPs, channel
roles, connection limits), ``protocol``/``messages`` (the wire contract, docs/bridge.md),
``session`` (one connection: commands, rate limit, token expiry) on ``outgoing`` (its batching,
pacing and queue), ``outbox`` (bounded queue, gaps), ``ratelimit``, ``refusal_log`` (which refusals
get a log line), ``alertlog``/``resume``
(alert resume and replay), ``fanout`` (once-per-set encoding and snapshots), ``frames``
(a frame's bytes on the wire, RFC 6455), ``errors`` (the root, ``BridgeError``). Nothing here
imports ``websockets`` or ``aiokafka`` (an import-linter contract in ``make lint``).
"""
