"""The Go SDK's command, built once per test session from ``clients/go``.

Go is required, not optional: without it these tests fail with the reason (they never skip).
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

GO_MODULE = Path(__file__).resolve().parents[2] / "clients" / "go"


def go_binary() -> str:
    go = shutil.which("go")
    if go is None:
        pytest.fail(
            "'go' not found on PATH: the Go SDK contract tests need Go >= 1.26 "
            "(install it, or put its bin directory on PATH)",
            pytrace=False,
        )
    return go


def go_build(package: str, out: Path) -> Path:
    """Build one package of the Go module (e.g. ``./cmd/rtx-publish``) into ``out``."""
    result = subprocess.run(  # noqa: S603 - our own module, built with the go tool
        [go_binary(), "build", "-o", str(out), package],
        cwd=GO_MODULE,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    if result.returncode != 0:
        pytest.fail(f"go build {package} failed:\n{result.stderr}", pytrace=False)
    return out


@pytest.fixture(scope="session")
def rtx_publish(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``rtx-publish`` (clients/go/cmd/rtx-publish): publishes JSON-lines events with the Go
    SDK, or prints the schemas it embeds (``-schemas``)."""
    return go_build("./cmd/rtx-publish", tmp_path_factory.mktemp("go") / "rtx-publish")


@pytest.fixture(scope="session")
def notify_example(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The README's example program (clients/go/examples/notify)."""
    return go_build("./examples/notify", tmp_path_factory.mktemp("go") / "notify")
