"""``rtx-analytics notify``: send alerts and escalations to webhooks (:mod:`.runner`).

Registered through the ``rtx_analytics.commands`` entry point ``notify`` (pyproject.toml). The
webhooks and the escalation policy come from the config file ``RTX_CONFIG_FILE`` (``[notify]``,
``[workflow.escalation]``; infra/rtx.example.toml). Errors print one ``error: ...`` line and
exit 2.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import sys
from typing import TYPE_CHECKING

from streams.settings import KafkaSettings

if TYPE_CHECKING:  # the runner (aiokafka) loads only for the command that runs it
    from streams.notify.runner import Notifier

EXIT_OK, EXIT_ERROR = 0, 2


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``notify``."""
    notify = subparsers.add_parser(
        "notify", help="send alerts and escalations to webhooks; escalate unacknowledged alerts"
    )
    notify.set_defaults(func=cmd_notify)


def cmd_notify(args: argparse.Namespace) -> int:
    """Run the notifier until SIGTERM/SIGINT."""
    from streams.notify.config import notify_config
    from streams.notify.runner import Notifier, NotifyError
    from streams.worker.pipeline.config import load_document
    from streams.workflow.config import escalation_policy

    kafka = KafkaSettings.from_env()
    path = os.environ.get("RTX_CONFIG_FILE", "").strip() or None
    doc = load_document(path)
    config, policy = notify_config(doc), escalation_policy(doc)
    hooks = ", ".join(f"{h.name} ({h.format}, {h.where})" for h in config.webhooks) or "none"
    print(
        f"notify: Kafka {kafka.bootstrap_servers}, topics {kafka.topic_prefix}*, "
        f"config {path or '(none: defaults)'}; webhooks: {hooks}; escalating "
        f"{'/'.join(sorted(policy.severities))} alerts not acknowledged within "
        f"{policy.ack_within_us / 60e6:g} min, reminders every "
        f"{policy.renotify_every_us / 60e6:g} min",
        flush=True,
    )
    notifier = Notifier(kafka, config, policy)
    try:
        asyncio.run(_serve(notifier))
    except NotifyError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_ERROR
    print(f"notify: stopped ({notifier.sent} sent, {notifier.dead} dead-lettered)", flush=True)
    return EXIT_OK


async def _serve(notifier: Notifier) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await notifier.run(stop)
