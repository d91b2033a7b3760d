"""The ``rtx-analytics`` command.

Subcommands: ``kafka start|stop|status`` (local broker, see infra/kafka_local/),
``topics apply|list`` (topics as code), ``produce`` (send sample events), ``worker`` (stream
processing), ``tail`` (print a topic), ``bridge`` (WebSocket server) and ``token`` (mint a JWT
with the configured secret), ``simulate`` (realistic traffic, streams/simulator/) and ``replay``
(a time range of stored alerts or routing, streams/replay/).

Every subcommand prints what it does; errors print one ``error: ...`` line and exit 2.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
from collections.abc import Sequence

from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaError

from streams.logs import configure_logging
from streams.settings import ConfigError, KafkaSettings
from streams.topics import TopicError, apply_topics, table_rows

EXIT_OK, EXIT_DRIFT, EXIT_ERROR = 0, 1, 2


def _err(message: str) -> int:
    print(f"error: {message}", file=sys.stderr)
    return EXIT_ERROR


async def _admin(settings: KafkaSettings, timeout_s: float = 15.0) -> AIOKafkaAdminClient:
    admin = AIOKafkaAdminClient(
        bootstrap_servers=settings.bootstrap_servers, client_id=settings.client_id
    )
    try:
        async with asyncio.timeout(timeout_s):
            await admin.start()
    except (TimeoutError, KafkaError, OSError) as exc:
        await admin.close()
        raise TopicError(
            f"no Kafka broker answered at {settings.bootstrap_servers} within {timeout_s:g} s "
            f"(set KAFKA_BOOTSTRAP_SERVERS, or run 'rtx-analytics kafka start'): {exc!r}"
        ) from exc
    return admin


def cmd_topics_apply(args: argparse.Namespace) -> int:
    settings = KafkaSettings.from_env()
    print(
        f"applying {len(table_rows(settings))} topics to {settings.bootstrap_servers} "
        f"(prefix {settings.topic_prefix!r}, replication {settings.replication_factor}, "
        f"min.insync.replicas {settings.min_insync_replicas})"
    )

    async def run() -> int:
        admin = await _admin(settings)
        try:
            report = await apply_topics(
                admin, settings, fix=args.fix, allow_partition_increase=args.add_partitions
            )
        finally:
            await admin.close()
        unfixed = [d for d in report.drift if d not in report.fixed]
        print(
            f"topics: {len(report.created)} created, {len(report.unchanged)} unchanged, "
            f"{len(report.drift)} drifted settings, {len(report.fixed)} fixed"
        )
        if unfixed:
            print(
                "drift remains: re-run with --fix to set configs back to the table"
                + (
                    " and --add-partitions to add partitions"
                    if any(d.setting == "partitions" for d in unfixed)
                    else ""
                )
                + "; replication factor changes need a partition reassignment",
                file=sys.stderr,
            )
            return EXIT_DRIFT
        return EXIT_OK

    return asyncio.run(run())


def cmd_topics_list(args: argparse.Namespace) -> int:
    settings = KafkaSettings.from_env()
    rows = table_rows(settings)
    header = ("topic", "kind", "parts", "repl", "key", "value schema")
    table = [
        (r["topic"], r["kind"], str(r["partitions"]), str(r["replication"]), r["key"], r["value"])
        for r in rows
    ]
    widths = [max(len(h), *(len(t[i]) for t in table)) for i, h in enumerate(header)]
    print("  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)))
    for t in table:
        print("  ".join(c.ljust(w) for c, w in zip(t, widths, strict=True)))
    if args.verbose:
        for r in rows:
            configs = ", ".join(f"{k}={v}" for k, v in r["configs"].items())
            print(f"\n{r['topic']}: {r['doc']}\n  configs: {configs}")
    return EXIT_OK


def cmd_produce(args: argparse.Namespace) -> int:
    from streams.sdk import Publisher, SdkError
    from streams.simulator.samples import sample_events

    settings = KafkaSettings.from_env()
    print(
        f"producing {args.count} sample events (seed {args.seed}) to {settings.bootstrap_servers}"
    )

    async def run() -> int:
        counts: dict[str, int] = {}
        started = time.monotonic()
        last_report = started
        async with Publisher(settings) as pub:
            for i, (method, kwargs) in enumerate(sample_events(args.count, args.seed), 1):
                await getattr(pub, method)(**kwargs)
                counts[method] = counts.get(method, 0) + 1
                now = time.monotonic()
                if now - last_report >= 1.0:
                    print(f"  queued {i}/{args.count} events", flush=True)
                    last_report = now
            await pub.flush()
        elapsed = time.monotonic() - started
        detail = ", ".join(f"{n} {m}" for m, n in sorted(counts.items()))
        print(f"sent and acknowledged {sum(counts.values())} events in {elapsed:.2f} s: {detail}")
        return EXIT_OK

    try:
        return asyncio.run(run())
    except SdkError as exc:
        return _err(str(exc))


def cmd_tail(args: argparse.Namespace) -> int:
    """Print a topic's messages as JSON lines (decoded with the codec; others as raw text)."""
    import json

    from aiokafka import AIOKafkaConsumer, TopicPartition

    from schemas.codec import DecodeError, default_codec
    from streams.topics import BY_LOGICAL

    settings = KafkaSettings.from_env()
    if args.topic not in BY_LOGICAL:
        return _err(f"unknown topic {args.topic!r}; one of {', '.join(BY_LOGICAL)}")
    topic = BY_LOGICAL[args.topic].name(settings.topic_prefix)
    codec = default_codec()

    async def run() -> int:
        consumer = AIOKafkaConsumer(
            bootstrap_servers=settings.bootstrap_servers, enable_auto_commit=False
        )
        await consumer.start()
        try:
            parts = consumer.partitions_for_topic(topic) or set()
            if not parts:
                await consumer._client.force_metadata_update()  # noqa: SLF001
                parts = consumer.partitions_for_topic(topic) or set()
            tps = [TopicPartition(topic, p) for p in sorted(parts)]
            if not tps:
                return _err(f"topic {topic} does not exist (run 'rtx-analytics topics apply')")
            consumer.assign(tps)
            if args.from_beginning:
                await consumer.seek_to_beginning(*tps)
            else:
                ends = await consumer.end_offsets(tps)
                for tp in tps:
                    consumer.seek(tp, max(0, ends[tp] - args.last))
            shown = 0
            idle_rounds = 0
            while args.limit == 0 or shown < args.limit:
                batch = await consumer.getmany(timeout_ms=500)
                if not batch:
                    idle_rounds += 1
                    if not args.follow and idle_rounds >= 2:
                        break
                    continue
                idle_rounds = 0
                for records in batch.values():
                    for r in records:
                        try:
                            d = codec.decode(r.value) if r.value else None
                            body: object = {"type": d.schema, **d.record} if d else None
                        except DecodeError:
                            body = {"raw": (r.value or b"").decode("utf-8", "replace")[:2000]}
                        line = {"partition": r.partition, "offset": r.offset, "value": body}
                        print(json.dumps(line, default=str), flush=True)
                        shown += 1
        finally:
            await consumer.stop()
        return EXIT_OK

    return asyncio.run(run())


def cmd_worker(args: argparse.Namespace) -> int:
    from streams.worker.run import run

    return run(loglevel=args.loglevel)


def cmd_bridge(args: argparse.Namespace) -> int:
    """Serve the WebSocket bridge until SIGTERM/SIGINT."""
    from ws_bridge.core.config import DEV_WARNING, BridgeSettings
    from ws_bridge.server.kafka_source import KafkaSource, SourceError
    from ws_bridge.server.logs import configure_logging
    from ws_bridge.server.server import BridgeServer

    settings = BridgeSettings.from_env()
    kafka = KafkaSettings.from_env()
    configure_logging(settings.log_format)
    scheme = "wss" if settings.tls else "ws"
    print(f"bridge: {scheme}://{settings.host}:{settings.port}/ws/analytics", flush=True)
    if DEV_WARNING in settings.warnings:
        print(
            "!" * 78 + "\n!! DEV MODE: tokens verified with the PUBLIC dev secret. "
            "NEVER in production !!\n" + "!" * 78,
            file=sys.stderr,
            flush=True,
        )
    server = BridgeServer(settings, KafkaSource(kafka, alert_history=settings.alert_history))
    try:
        asyncio.run(server.serve_forever())
    except SourceError as exc:
        return _err(str(exc))
    return EXIT_OK


def cmd_token(args: argparse.Namespace) -> int:
    """Mint an HS256 token with the configured secret; only the token goes to stdout."""
    from ws_bridge.core.auth import mint_token, parse_ttl
    from ws_bridge.core.config import BridgeSettings

    settings = BridgeSettings.from_env()
    if settings.jwt_secret is None:
        return _err("minting needs an HMAC secret: set RTX_JWT_SECRET or RTX_JWT_SECRET_FILE")
    if "HS256" not in settings.jwt_algorithms:
        print("warning: RTX_JWT_ALGORITHMS does not allow HS256", file=sys.stderr)
    try:
        ttl = parse_ttl(args.ttl)
        roles = [r.strip() for r in args.roles.split(",") if r.strip()]
        token = mint_token(
            settings.jwt_secret,
            args.sub,
            roles,
            ttl,
            args.account,
            roles_claim=settings.jwt_roles_claim,
            account_claim=settings.jwt_account_claim,
            audience=settings.jwt_audience,
            issuer=settings.jwt_issuer,
        )
    except ValueError as exc:
        return _err(str(exc))
    print(token)
    return EXIT_OK


def cmd_replay(args: argparse.Namespace) -> int:
    """Replay stored alerts or routing decisions of a time range (see streams/replay/)."""
    from streams.replay import MissingExtra, ReplayError, run_cli

    kind = "routing-summaries" if args.kind == "routing" and args.summaries else args.kind
    if args.summaries and args.kind != "routing":
        return _err("--summaries goes with routing")
    try:
        return run_cli(
            kind,
            args.start,
            args.end,
            symbol=args.symbol,
            lp=args.lp,
            fmt=args.format,
            out=args.out,
        )
    except (ReplayError, MissingExtra) as exc:
        return _err(str(exc))


def cmd_simulate(args: argparse.Namespace) -> int:
    """Realistic broker traffic through the SDK (streams/simulator, docs/simulator.md)."""
    from streams.simulator.runner import main as simulate_main

    return simulate_main(args)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="rtx-analytics",
        description="Real-time risk analytics for a hybrid A-book/B-book broker.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    from infra.kafka_local import register_cli

    register_cli(sub)

    topics = sub.add_parser("topics", help="apply or list the topic table")
    tsub = topics.add_subparsers(dest="topics_command", metavar="ACTION", required=True)
    apply_p = tsub.add_parser(
        "apply", help="create missing topics, report drift (never deletes anything)"
    )
    apply_p.add_argument("--fix", action="store_true", help="set drifted configs back")
    apply_p.add_argument(
        "--add-partitions",
        action="store_true",
        help="increase partition counts below the table's (moves keys to other partitions)",
    )
    apply_p.set_defaults(func=cmd_topics_apply)
    list_p = tsub.add_parser("list", help="print the topic table")
    list_p.add_argument("-v", "--verbose", action="store_true", help="also configs and purpose")
    list_p.set_defaults(func=cmd_topics_list)

    worker = sub.add_parser(
        "worker", help="run the stream processor (Faust): exposure, alerts, routing, LP metrics"
    )
    worker.add_argument(
        "--loglevel",
        default="info",
        choices=("debug", "info", "warn", "error"),
        help="log level (default info)",
    )
    worker.set_defaults(func=cmd_worker)

    bridge = sub.add_parser("bridge", help="serve the WebSocket bridge (/ws/analytics)")
    bridge.set_defaults(func=cmd_bridge)

    token = sub.add_parser("token", help="mint a JWT for the bridge with the configured secret")
    token.add_argument("--sub", required=True, help="user (the sub claim)")
    token.add_argument("--roles", default="", help="comma-separated roles, e.g. admin,risk")
    token.add_argument("--ttl", default="1h", help="lifetime: 90s, 15m, 1h, 7d (default 1h)")
    token.add_argument("--account", default=None, help="account claim")
    token.set_defaults(func=cmd_token)

    tail = sub.add_parser("tail", help="print a topic's messages as JSON lines")
    tail.add_argument("topic", help="logical topic name, e.g. exposure, alerts, routing_metrics")
    tail.add_argument("--from-beginning", action="store_true", help="start at the oldest message")
    tail.add_argument("--last", type=int, default=5, help="start N messages before the end")
    tail.add_argument("--limit", type=int, default=0, help="stop after N messages (0 = no limit)")
    tail.add_argument("-f", "--follow", action="store_true", help="keep waiting for new ones")
    tail.set_defaults(func=cmd_tail)

    produce = sub.add_parser("produce", help="send sample events through the producer SDK")
    produce.add_argument("--count", type=int, default=200, help="events to send (default 200)")
    produce.add_argument("--seed", type=int, default=7, help="random seed (default 7)")
    produce.set_defaults(func=cmd_produce)

    from streams.simulator.runner import add_arguments as simulate_arguments

    simulate = sub.add_parser("simulate", help="send realistic broker traffic through the SDK")
    simulate_arguments(simulate)
    simulate.set_defaults(func=cmd_simulate)

    replay = sub.add_parser("replay", help="stored alerts or routing decisions of a time range")
    replay.add_argument("kind", choices=("alerts", "routing"), help="what to replay")
    replay.add_argument("--from", dest="start", required=True, help="ISO-8601 start, inclusive")
    replay.add_argument("--to", dest="end", help="ISO-8601 end, exclusive (default: now)")
    replay.add_argument("--symbol", help="only this symbol (comma-separated: any of them)")
    replay.add_argument("--lp", help="only this LP (comma-separated: any of them)")
    replay.add_argument("--summaries", action="store_true", help="routing: window summaries")
    replay.add_argument("--format", choices=("jsonl", "csv", "parquet"), help="default jsonl")
    replay.add_argument("--out", help="output file (default stdout; parquet needs one)")
    replay.set_defaults(func=cmd_replay)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        configure_logging()  # RTX_LOG_LEVEL
        code: int = args.func(args)
    except ConfigError as exc:
        return _err(f"configuration: {exc}")
    except TopicError as exc:
        return _err(str(exc))
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # e.g. `rtx-analytics tail exposure | head`: the reader left
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_OK
    return code


if __name__ == "__main__":
    sys.exit(main())
