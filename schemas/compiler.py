"""What the compiled writers (:mod:`schemas.fastwrite`) and readers (:mod:`schemas.fastread`)
share: a buffer of generated Python source with the constants it refers to, and the inlining of
named-type references.

A compiled function is generated once per schema from our own ``.avsc`` files (never from
outside input) and runs instead of fastavro's interpreted writer or reader; a schema construct
a generator does not cover raises :class:`Unsupported`, and the caller then uses fastavro.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


class Unsupported(Exception):
    """The schema uses a construct this generator does not compile."""


class Source:
    """The lines of one generated function; ``env`` holds the names they use."""

    def __init__(self, env: dict[str, Any]) -> None:
        self.lines: list[str] = []
        self.env = env
        self._n = 0

    def var(self, prefix: str) -> str:
        """A fresh local name."""
        self._n += 1
        return f"{prefix}{self._n}"

    def const(self, value: Any) -> str:
        """A fresh global name bound to ``value``."""
        name = self.var("k")
        self.env[name] = value
        return name

    def emit(self, schema: Any, target: str, indent: int) -> None:
        """Code for one value of ``schema`` (``target`` names it) at ``indent`` levels."""
        if isinstance(schema, list):
            self.union(schema, target, indent)
        else:
            t = schema if isinstance(schema, str) else schema.get("type")
            self.emit_type(t, schema, target, indent)

    def union(self, branches: list[Any], target: str, indent: int) -> None:
        raise Unsupported("union")

    def emit_type(self, t: Any, schema: Any, target: str, indent: int) -> None:
        """Code for a value of a schema that is not a union; ``t`` is its type name."""
        raise Unsupported(str(t))

    def compile(self, function: str, filename: str) -> Callable[..., Any]:
        """The function named ``function`` defined by the lines; ``filename`` shows in
        tracebacks."""
        namespace = dict(self.env)
        code = compile("\n".join(self.lines), filename, "exec")
        exec(code, namespace)  # noqa: S102 - generated from our own schema files, no outside input
        compiled: Callable[..., Any] = namespace[function]
        return compiled


def resolve_references(
    schema: Any, named: dict[str, Any] | None = None, namespace: str = ""
) -> Any:
    """The schema with references to named types (defined earlier in the same schema) replaced
    by their definitions (Avro specification, "Names")."""
    named = {} if named is None else named
    if isinstance(schema, str):
        full = schema if "." in schema or not namespace else f"{namespace}.{schema}"
        return named.get(full, named.get(schema, schema))
    if isinstance(schema, list):
        return [resolve_references(s, named, namespace) for s in schema]
    t = schema.get("type")
    if t in ("record", "enum", "fixed"):
        ns = schema.get("namespace", namespace)
        name = schema["name"]
        full = name if "." in name else (f"{ns}.{name}" if ns else name)
        named[full] = schema
        if t == "record":
            ns_inner = full.rsplit(".", 1)[0] if "." in full else ""
            resolved = dict(schema)
            resolved["fields"] = [
                dict(f, type=resolve_references(f["type"], named, ns_inner))
                for f in schema["fields"]
            ]
            named[full] = resolved
            return resolved
        return schema
    if t == "array":
        return dict(schema, items=resolve_references(schema["items"], named, namespace))
    if t == "map":
        return dict(schema, values=resolve_references(schema["values"], named, namespace))
    if isinstance(t, (dict, list)):
        return resolve_references(t, named, namespace)
    return schema
