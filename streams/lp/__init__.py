"""LP performance: status transitions, observed uptime, rolling reject rate and fill latency per
liquidity provider. Pure (docs/routing-and-lp.md).

- :mod:`.tracker`: ``LpTracker``, fed LP status events and A-book routing decisions;
- :mod:`.state`: one LP's state and its snapshot record.
"""
