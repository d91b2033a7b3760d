"""``python -m ws_bridge``: the same as ``rtx-analytics bridge``."""

from __future__ import annotations

import sys

from ws_bridge.server.cli import main

if __name__ == "__main__":
    sys.exit(main())
