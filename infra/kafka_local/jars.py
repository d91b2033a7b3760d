"""Java and the Kafka jars: find a Java 17+ runtime, fetch the jars once with Maven, build argv.

The jars of a Kafka release are resolved with ``mvn dependency:copy-dependencies`` on
``infra/kafka/pom.xml`` into ``$XDG_CACHE_HOME/rtx-analytics/kafka-<version>/libs``; Maven writes
into a temporary folder that is renamed into place with a ``.complete`` marker, so an interrupted
download is never taken for a complete one. :func:`java_argv` builds the command line of a broker
or tool JVM with the project's log4j2 configuration.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import tempfile
import time
from collections import deque
from collections.abc import Sequence
from pathlib import Path

from infra.kafka_local.model import DEFAULT_KAFKA_VERSION, DownloadFailed, Out, PrerequisiteMissing

_KAFKA_DIR = Path(__file__).resolve().parent.parent / "kafka"
_POM = _KAFKA_DIR / "pom.xml"
_LOG4J_CONFIG = _KAFKA_DIR / "log4j2.yaml"
_COMPLETE_MARKER = ".complete"
_USE_EXISTING = (
    "or set KAFKA_BOOTSTRAP_SERVERS to use an existing broker, or run Kafka with Docker: "
    "docker compose -f infra/docker-compose.yml up -d"
)
# Kafka's bin/kafka-server-start.sh and kafka-run-class.sh defaults.
BROKER_JVM_OPTS = (
    "-XX:+UseG1GC",
    "-XX:MaxGCPauseMillis=20",
    "-XX:InitiatingHeapOccupancyPercent=35",
    "-XX:+ExplicitGCInvokesConcurrent",
    "-XX:MaxInlineLevel=15",
    "-Djava.awt.headless=true",
)
# Short-lived tool JVMs: Kafka's -Xmx256M; C1 only starts faster.
TOOL_JVM_OPTS = ("-Xmx256M", "-XX:TieredStopAtLevel=1", "-Djava.awt.headless=true")


def libs_dir(kafka_version: str = DEFAULT_KAFKA_VERSION) -> Path:
    """Where the jars of ``kafka_version`` are cached."""
    cache = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(cache).expanduser() / "rtx-analytics" / f"kafka-{kafka_version}" / "libs"


# --- prerequisites and jars -----------------------------------------------------------------


def find_java() -> str:
    java_home = os.environ.get("JAVA_HOME")
    java = shutil.which("java", path=str(Path(java_home) / "bin")) if java_home else None
    java = java or shutil.which("java")
    if java is None:
        raise PrerequisiteMissing(
            "java not found (JAVA_HOME unset or without bin/java, none on PATH): install a "
            "Java 17+ runtime, e.g. `apt-get install openjdk-17-jre-headless`, " + _USE_EXISTING
        )
    proc = subprocess.run(  # noqa: S603 - argv list, no shell
        [java, "-version"], capture_output=True, text=True, check=False
    )
    found = re.search(r'version "(\d+)(?:\.(\d+))?', proc.stderr)
    if found:
        major = int(found[1]) if found[1] != "1" else int(found[2] or 0)
        if major < 17:
            raise PrerequisiteMissing(
                f"{java} is Java {major}; Kafka 4 needs Java 17 or newer: install one and set "
                "JAVA_HOME, " + _USE_EXISTING
            )
    return java


def ensure_libs(kafka_version: str, out: Out) -> Path:
    """The jar folder for ``kafka_version``, fetched with Maven on first use."""
    libs = libs_dir(kafka_version)
    if (libs / _COMPLETE_MARKER).is_file():
        return libs
    mvn = shutil.which("mvn")
    if mvn is None:
        raise PrerequisiteMissing(
            f"mvn not found on PATH; it is needed once to fetch the Kafka {kafka_version} jars "
            f"into {libs}: install Maven 3.8+, e.g. `apt-get install maven`, " + _USE_EXISTING
        )
    libs.parent.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    out(f"Fetching Kafka {kafka_version} jars from Maven Central into {libs} (first run only)")
    partial = Path(tempfile.mkdtemp(prefix="libs.partial-", dir=libs.parent))
    try:
        _run_mvn(mvn, kafka_version, partial, out)
        jars = sorted(p.name for p in partial.glob("*.jar"))
        if f"kafka_2.13-{kafka_version}.jar" not in jars:
            raise DownloadFailed(f"mvn finished but kafka_2.13-{kafka_version}.jar is not there")
        size_mb = sum(p.stat().st_size for p in partial.glob("*.jar")) / 1e6
        (partial / _COMPLETE_MARKER).write_text(json.dumps({"jars": jars}, indent=1) + "\n")
        partial.chmod(0o755)  # mkdtemp made it private; the cache may be shared
        if libs.exists() and not (libs / _COMPLETE_MARKER).is_file():
            shutil.rmtree(libs)  # left by an older, interrupted fetch
        try:
            partial.rename(libs)
        except OSError:
            if not (libs / _COMPLETE_MARKER).is_file():  # else: another process won the race
                raise
        out(f"Fetched {len(jars)} jars ({size_mb:.0f} MB) in {time.monotonic() - started:.1f} s")
    finally:
        shutil.rmtree(partial, ignore_errors=True)
    return libs


def _run_mvn(mvn: str, kafka_version: str, dest: Path, out: Out) -> None:
    argv = [
        mvn,
        "-B",
        "-f",
        str(_POM),
        f"-Dkafka.version={kafka_version}",
        "dependency:copy-dependencies",
        "-DincludeScope=runtime",
        f"-DoutputDirectory={dest}",
    ]
    tail: deque[str] = deque(maxlen=30)
    downloaded = copied = 0
    last_report = time.monotonic()
    proc = subprocess.Popen(  # noqa: S603 - argv list, no shell
        argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, text=True
    )
    assert proc.stdout is not None  # noqa: S101 - for mypy; stdout=PIPE
    with proc:
        for line in proc.stdout:
            tail.append(line.rstrip())
            downloaded += "Downloaded from" in line
            copied += "Copying " in line
            if time.monotonic() - last_report >= 2.0:
                out(f"  ... downloaded {downloaded} artifacts, copied {copied} jars")
                last_report = time.monotonic()
    if proc.returncode != 0:
        raise DownloadFailed(
            f"mvn exited with status {proc.returncode} while fetching Kafka {kafka_version} "
            f"(is Maven Central reachable? is {kafka_version} a Kafka release?); "
            "last lines of its output:\n" + "\n".join("    " + t for t in tail)
        )
    out(f"  downloaded {downloaded} artifacts, copied {copied} jars")


def java_argv(java: str, libs: Path, opts: Sequence[str], main: str, *args: str) -> list[str]:
    return [
        java,
        *opts,
        f"-Dlog4j2.configurationFile={_LOG4J_CONFIG}",
        "-cp",
        str(libs / "*"),
        main,
        *args,
    ]
