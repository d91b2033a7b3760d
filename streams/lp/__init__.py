"""LP performance: status transitions, observed uptime, rolling reject rate and fill latency per
liquidity provider (:mod:`.tracker`). Pure (docs/routing-and-lp.md)."""
