"""The layout's rules that import-linter cannot express (docs/architecture.md, "Rules").

- A test module never imports another test module: shared test code lives in ``tests/helpers``
  (or a ``conftest.py``), so moving or deleting one test file never breaks another.
- A module of the shipped packages stays under :data:`MAX_MODULE_LINES` lines unless its
  docstring has a line starting ``Size:`` that says why.
- A function stays under :data:`MAX_FUNCTION_LINES` lines.

The import contracts themselves (pure domains, sans-I/O core, no cycles) run as ``lint-imports``
in ``make lint``; the last test here checks that the contracts cover every shipped package.
"""

from __future__ import annotations

import ast
import tomllib
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("streams", "schemas", "ws_bridge", "infra")
MAX_MODULE_LINES = 400
MAX_FUNCTION_LINES = 60


def _modules(*roots: str) -> Iterator[Path]:
    for root in roots:
        yield from sorted((ROOT / root).rglob("*.py"))


def _imported(tree: ast.Module, path: Path) -> Iterator[str]:
    """Absolute names of the modules a file imports (relative imports resolved)."""
    package = path.relative_to(ROOT).with_suffix("").parts[:-1]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = list(package[: len(package) - node.level + 1]) if node.level else []
            module = ".".join([*base, *(node.module.split(".") if node.module else [])])
            yield module
            yield from (f"{module}.{alias.name}" for alias in node.names)


def _is_test_module(name: str) -> bool:
    parts = name.split(".")
    return parts[0] == "tests" and parts[-1].startswith("test_")


def test_no_test_module_imports_another_test_module() -> None:
    offenders = [
        f"{path.relative_to(ROOT)} imports {name}"
        for path in _modules("tests")
        for name in _imported(ast.parse(path.read_text()), path)
        if _is_test_module(name)
    ]
    assert offenders == [], "move shared code to tests/helpers:\n" + "\n".join(offenders)


def test_the_import_scan_sees_test_module_imports() -> None:
    """The scan above would catch both spellings (guards against a scan that sees nothing)."""
    here = ROOT / "tests" / "streams" / "x.py"
    absolute = ast.parse("from tests.streams.worker.test_pipeline import helper")
    relative = ast.parse("from .worker.test_pipeline import helper\nimport tests.test_a")
    assert any(_is_test_module(n) for n in _imported(absolute, here))
    found = [n for n in _imported(relative, here) if _is_test_module(n)]
    assert "tests.streams.worker.test_pipeline" in found and "tests.test_a" in found


def _size_reason(tree: ast.Module) -> bool:
    doc = ast.get_docstring(tree) or ""
    return any(line.strip().startswith("Size:") for line in doc.splitlines())


@pytest.mark.parametrize("package", PACKAGES)
def test_modules_stay_small_or_say_why(package: str) -> None:
    offenders = []
    for path in _modules(package):
        text = path.read_text()
        lines = text.count("\n")
        if lines > MAX_MODULE_LINES and not _size_reason(ast.parse(text)):
            offenders.append(f"{path.relative_to(ROOT)}: {lines} lines, no 'Size:' reason")
    assert offenders == [], "\n".join(offenders)


@pytest.mark.parametrize("package", PACKAGES)
def test_functions_stay_short(package: str) -> None:
    offenders = []
    for path in _modules(package):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                length = (node.end_lineno or node.lineno) - node.lineno + 1
                if length > MAX_FUNCTION_LINES:
                    where = f"{path.relative_to(ROOT)}:{node.lineno}"
                    offenders.append(f"{where} {node.name}: {length} lines")
    assert offenders == [], "\n".join(offenders)


def test_import_contracts_cover_every_shipped_package() -> None:
    """Each top-level package appears in an import-linter contract, and the cycle contract
    lists every one of them: a new package cannot slip past the rules unnoticed."""
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]
    assert set(PACKAGES) <= set(config["root_packages"])
    named = " ".join(str(contract) for contract in config["contracts"])
    missing = [p for p in PACKAGES if p not in named]
    assert missing == []
    cycles = [c for c in config["contracts"] if c["type"] == "acyclic_siblings"]
    assert cycles, "a contract must forbid import cycles"
