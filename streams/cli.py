"""The ``rtx-analytics`` command: finds its subcommands through entry points and runs one.

Each package registers its own subcommands: pyproject.toml names, in the entry point group
``rtx_analytics.commands``, a ``register(subparsers)`` function that adds them, each with
``set_defaults(func=handler)`` where ``handler(args)`` returns the exit status. So this module
imports none of them (and ``streams`` never imports ``ws_bridge`` or ``infra``)::

    kafka      kafka start|stop|status      infra.kafka_local.cli   (local broker)
    topics     topics apply|list            streams.topics.cli      (topics as code)
    worker     worker, markouts             streams.worker.cli      (stream processing)
    replay     tail, replay                 streams.replay.cli      (print a topic; a time range)
    simulator  produce, simulate            streams.simulator.cli   (sample or realistic traffic)
    bridge     bridge, token                ws_bridge.server.cli    (WebSocket server; a JWT)
    notify     notify                       streams.notify.cli      (webhooks, escalation)

Order: entry points register in :data:`ENTRY_POINTS` order, then the subcommands are listed
(``--help``, argparse's "choose from") in :data:`COMMANDS` order; those of any other entry point
in the group follow, in the order they registered.

Every subcommand prints what it does; errors print one ``error: ...`` line and exit 2.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from importlib.metadata import EntryPoint, entry_points

from streams.logs import configure_logging
from streams.settings import ConfigError

GROUP = "rtx_analytics.commands"
ENTRY_POINTS = ("kafka", "topics", "worker", "replay", "simulator", "bridge", "notify")
COMMANDS = (
    "kafka", "topics", "worker", "markouts", "bridge", "token", "tail", "produce", "simulate",
    "replay", "notify",
)  # fmt: skip
EXIT_OK, EXIT_ERROR, EXIT_INTERRUPTED = 0, 2, 130


def _err(message: str) -> int:
    print(f"error: {message}", file=sys.stderr)
    return EXIT_ERROR


def commands() -> list[EntryPoint]:
    """The group's entry points in registration order (:data:`ENTRY_POINTS`, then by name)."""
    rank = {name: i for i, name in enumerate(ENTRY_POINTS)}
    found = entry_points(group=GROUP)
    return sorted(found, key=lambda ep: (rank.get(ep.name, len(rank)), ep.name))


def build_parser(found: Sequence[EntryPoint] | None = None) -> argparse.ArgumentParser:
    """The parser with every registered subcommand."""
    parser = argparse.ArgumentParser(
        prog="rtx-analytics",
        description="Real-time risk analytics for a hybrid A-book/B-book broker.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for entry_point in commands() if found is None else found:
        entry_point.load()(sub)
    _list_in_order(sub, COMMANDS)
    return parser


def _list_in_order(
    sub: argparse._SubParsersAction[argparse.ArgumentParser], order: Sequence[str]
) -> None:
    """argparse lists subcommands in the order they were added, and an entry point adds its
    own together (tail and replay); put them in the order ``--help`` has always shown."""
    rank = {name: i for i, name in enumerate(order)}

    def place(name: str) -> int:
        return rank.get(name, len(rank))

    sub._choices_actions.sort(key=lambda action: place(action.dest))  # noqa: SLF001 - no API
    ordered = sorted(sub.choices.items(), key=lambda item: place(item[0]))
    sub.choices.clear()
    sub.choices.update(ordered)


def main(argv: Sequence[str] | None = None) -> int:
    found = commands()
    if not found:
        return _err(
            f"no commands registered (entry point group {GROUP}): install the package, "
            "e.g. pip install -e ."
        )
    args = build_parser(found).parse_args(argv)
    try:
        configure_logging()  # RTX_LOG_LEVEL
        code: int = args.func(args)
    except ConfigError as exc:
        return _err(f"configuration: {exc}")
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:  # e.g. `rtx-analytics tail exposure | head`: the reader left
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_OK
    return code


if __name__ == "__main__":
    sys.exit(main())
