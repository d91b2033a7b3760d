"""ws_bridge package."""
