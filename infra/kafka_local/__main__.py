"""``python -m infra.kafka_local kafka start|stop|status``: the launcher's command line."""

import sys

from infra.kafka_local.cli import main

sys.exit(main())
