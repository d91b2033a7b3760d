"""``rtx-analytics bridge`` (serve the WebSocket bridge) and ``rtx-analytics token`` (mint a JWT
with the configured secret); :func:`main` is ``python -m ws_bridge``, the same as ``bridge``.

Registered through the ``rtx_analytics.commands`` entry point ``bridge`` (pyproject.toml).
Errors print one ``error: ...`` line and exit 2.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Sequence

from streams.logs import configure_logging as configure_cli_logging
from streams.settings import ConfigError, KafkaSettings

EXIT_OK, EXIT_ERROR, EXIT_INTERRUPTED = 0, 2, 130


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``bridge`` and ``token``."""
    bridge = subparsers.add_parser("bridge", help="serve the WebSocket bridge (/ws/analytics)")
    bridge.set_defaults(func=cmd_bridge)

    token = subparsers.add_parser(
        "token", help="mint a JWT for the bridge with the configured secret"
    )
    token.add_argument("--sub", required=True, help="user (the sub claim)")
    token.add_argument("--roles", default="", help="comma-separated roles, e.g. admin,risk")
    token.add_argument("--ttl", default="1h", help="lifetime: 90s, 15m, 1h, 7d (default 1h)")
    token.add_argument("--account", default=None, help="account claim")
    token.set_defaults(func=cmd_token)


def _err(message: str) -> int:
    print(f"error: {message}", file=sys.stderr)
    return EXIT_ERROR


def cmd_bridge(args: argparse.Namespace) -> int:
    """Serve the WebSocket bridge until SIGTERM/SIGINT."""
    # Imported here: the server's dependencies load only for the command that serves.
    from ws_bridge.core.config import DEV_WARNING, BridgeSettings
    from ws_bridge.server.actions import ActionLog, ActionsError
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
    server = BridgeServer(
        settings,
        KafkaSource(kafka, alert_history=settings.alert_history, settings=settings),
        actions=ActionLog(kafka, settings, write_timeout_s=settings.write_timeout_s),
    )
    try:
        asyncio.run(server.serve_forever())
    except (SourceError, ActionsError) as exc:
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


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m ws_bridge [-h]``: ``rtx-analytics bridge`` without the other commands."""
    parser = argparse.ArgumentParser(prog="rtx-analytics")
    register(parser.add_subparsers(dest="command", metavar="COMMAND", required=True))
    args = parser.parse_args(["bridge", *(sys.argv[1:] if argv is None else argv)])
    try:
        configure_cli_logging()  # RTX_LOG_LEVEL, as rtx-analytics does
        return cmd_bridge(args)
    except ConfigError as exc:
        return _err(f"configuration: {exc}")
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
