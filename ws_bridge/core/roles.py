"""Role rules of a setting: ``name=role|role;other=*`` (RTX_BRIDGE_CHANNEL_ROLES for channels,
RTX_BRIDGE_ACTION_ROLES for alert actions). No I/O."""

from __future__ import annotations

from collections.abc import Sequence

from streams.settings import ConfigError

RoleRules = tuple[tuple[str, frozenset[str]], ...]


def role_rules(name: str, raw: str, known: Sequence[str], what: str) -> RoleRules:
    """The rules of variable ``name``, sorted; each key one of ``known`` (a ``what``: channel,
    action) with at least one role. ConfigError naming the variable."""
    rules: dict[str, frozenset[str]] = {}
    for entry in (e.strip() for e in raw.split(";")):
        if not entry:
            continue
        key, sep, roles = entry.partition("=")
        role_set = frozenset(r.strip() for r in roles.split("|") if r.strip())
        if not sep or not role_set:
            raise ConfigError(f"{name}: {entry!r} is not {what}=role|role|... (or {what}=*)")
        if key.strip() not in known:
            raise ConfigError(f"{name}: unknown {what} {key.strip()!r}; known: {tuple(known)}")
        rules[key.strip()] = role_set
    return tuple(sorted(rules.items()))
