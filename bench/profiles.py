"""Where a bridge spends its CPU while bench/bridge_load.py measures it (``--profile``).

py-spy (``pip install py-spy``; found on PATH or given with ``--py-spy``) samples the bridge
process over the measured window, without stopping it (``--nonblocking``), and writes its stacks
collapsed (one line per distinct stack: ``frame;frame;... count``; idle samples left out). The
summary counts, per function, the samples in which it was running itself (*self*) and those in
which it was anywhere on the stack (*total*), as shares of the busy samples.
"""

from __future__ import annotations

import re
import subprocess
from collections import Counter
from pathlib import Path

from loadkit import progress

# "name (path/to/module.py:123)" -> "name (module.py)": one row per function, not per line.
_FRAME = re.compile(r"^(?P<name>.*?) \((?P<path>[^():]*?)(?::\d+)?\)$")


def frame_key(frame: str) -> str:
    match = _FRAME.match(frame.strip())
    if match is None:
        return frame.strip()
    path = match["path"]
    short = "/".join(path.split("/")[-2:]) if "/" in path else path
    return f"{match['name']} ({short})"


class Sampler:
    """One py-spy recording of a process, started now for ``seconds``."""

    def __init__(self, py_spy: str, pid: int, seconds: float, out: Path, rate: int = 100) -> None:
        self.out = out
        self.proc = subprocess.Popen(  # noqa: S603 - the profiler the user named
            [
                py_spy,
                "record",
                "--pid",
                str(pid),
                "--duration",
                str(max(1, round(seconds))),
                "--rate",
                str(rate),
                "--format",
                "raw",
                "--nonblocking",
                "--output",
                str(out),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

    def finish(self) -> Path | None:
        try:
            self.proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        if self.proc.returncode != 0 or not self.out.exists():
            progress(f"py-spy failed (exit {self.proc.returncode}); no profile in {self.out}")
            return None
        return self.out


def summarize(path: Path, top: int = 15) -> str:
    """The ``top`` functions by self and by total samples, as text."""
    own: Counter[str] = Counter()
    total: Counter[str] = Counter()
    samples = 0
    for line in path.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = [frame_key(f) for f in stack.split(";") if f.strip()]
        if not frames:
            continue
        samples += count
        own[frames[-1]] += count
        for key in set(frames):
            total[key] += count
    if not samples:
        return f"  (no busy samples in {path})"
    lines = [f"  {samples} busy samples ({path})", "  self %  function"]
    lines += [f"  {100 * n / samples:6.1f}  {key}" for key, n in own.most_common(top)]
    lines.append("  total %  function")
    lines += [f"  {100 * n / samples:7.1f}  {key}" for key, n in total.most_common(top + 10)]
    return "\n".join(lines)
