"""A memory probe for a running worker or bridge: where its resident memory is, once a minute.

Put this directory on ``PYTHONPATH`` and name the process to watch; Python imports this module at
start-up in every process, and the probe starts only in the one whose command line has that word
(``rtx-analytics bridge`` -> ``bridge``)::

    PYTHONPATH=bench/memprobe RTX_MEMPROBE=bridge rtx-analytics bridge
    .venv/bin/python bench/soak.py --memprobe bridge   # does the same for the soak's bridge

Each sample is one JSON line in ``$RTX_MEMPROBE_DIR/memprobe-<name>-<pid>.jsonl`` (default
/tmp): RSS and anonymous RSS; the resident size of glibc's ``[heap]``, of other anonymous
mappings (where pymalloc keeps its 1 MiB arenas) and of files; glibc's ``mallinfo2`` (heap size,
bytes in use, bytes free, mmapped chunks); pymalloc's ``sys._debugmallocstats()`` totals (arenas,
bytes in allocated and in available blocks); threads; and the number of gc-tracked objects.
``RTX_MEMPROBE_TYPES=1`` adds the types whose object count grew most since the first sample (a
``gc.get_objects()`` walk each time: fine for the bridge, slower for a worker with millions of
objects). ``bench/memprobe/summary.py`` prints the file as a table.

This is how the bridge's residual slope in the soak was found (docs/reliability.md): pymalloc's
bytes in use grew ~0.12 MiB a minute while glibc's heap and everything else stayed flat, and
the type counts pointed at the alert store's evicted entries.

The probe runs in a daemon thread. It redirects file descriptor 2 for the moment
``_debugmallocstats`` writes its report, and its own allocations (a few KiB a sample) are part
of what it measures.
"""

from __future__ import annotations

import os
import sys

_NAME = os.environ.get("RTX_MEMPROBE", "")

if _NAME and _NAME in sys.argv:
    import ctypes
    import gc
    import json
    import re
    import tempfile
    import threading
    import time
    from collections import Counter
    from typing import Any

    _PERIOD_S = float(os.environ.get("RTX_MEMPROBE_S", "60"))
    _TYPES = os.environ.get("RTX_MEMPROBE_TYPES", "") == "1"
    _OUT = os.path.join(
        os.environ.get("RTX_MEMPROBE_DIR", tempfile.gettempdir()),
        f"memprobe-{_NAME}-{os.getpid()}.jsonl",
    )
    _MALLINFO_FIELDS = (
        "arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks",
        "fordblks", "keepcost",
    )  # fmt: skip
    _PYMALLOC_KEYS = {
        "arenas": "# arenas allocated current",
        "arenas_highwater": "# arenas highwater mark",
        "allocated_bytes": "bytes in allocated blocks",
        "available_bytes": "bytes in available blocks",
        "total_bytes": "Total",
    }

    class _MallInfo2(ctypes.Structure):
        _fields_ = [(name, ctypes.c_size_t) for name in _MALLINFO_FIELDS]

    def _mallinfo() -> dict[str, int]:
        try:
            fn = ctypes.CDLL("libc.so.6").mallinfo2
        except (OSError, AttributeError):
            return {}
        fn.restype = _MallInfo2
        info = fn()
        return {name: int(getattr(info, name)) for name in _MALLINFO_FIELDS}

    def _smaps() -> dict[str, int]:
        """Resident KiB by kind of mapping."""
        kib: dict[str, int] = {}
        kind = "anon"
        with open("/proc/self/smaps") as f:
            for line in f:
                fields = line.split()
                if re.match(r"^[0-9a-f]+-[0-9a-f]+ ", line):
                    name = fields[5] if len(fields) > 5 else ""
                    kind = (
                        "heap" if name == "[heap]"
                        else "stack" if name.startswith("[stack")
                        else "file" if name
                        else "anon"
                    )  # fmt: skip
                elif fields and fields[0] == "Rss:":
                    kib[kind] = kib.get(kind, 0) + int(fields[1])
        return kib

    def _pymalloc() -> dict[str, int]:
        fd, path = tempfile.mkstemp()
        saved = os.dup(2)
        try:
            os.dup2(fd, 2)
            sys._debugmallocstats()
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            os.close(fd)
        with open(path) as f:
            text = f.read()
        os.unlink(path)
        out: dict[str, int] = {}
        for key, label in _PYMALLOC_KEYS.items():
            found = re.search(re.escape(label) + r"\s*=\s*([\d,]+)", text)
            if found:
                out[key] = int(found.group(1).replace(",", ""))
        return out

    def _status() -> dict[str, str]:
        with open("/proc/self/status") as f:
            return dict(line.split(":", 1) for line in f.read().splitlines() if ":" in line)

    def _loop() -> None:
        os.makedirs(os.path.dirname(_OUT), exist_ok=True)
        started = time.monotonic()
        first_types: Counter[str] | None = None
        while True:
            time.sleep(_PERIOD_S)
            row: dict[str, Any]
            try:
                status = _status()
                row = {
                    "t_s": round(time.monotonic() - started, 1),
                    "rss_kib": int(status["VmRSS"].split()[0]),
                    "anon_kib": int(status["RssAnon"].split()[0]),
                    "threads": int(status["Threads"]),
                    "smaps_kib": _smaps(),
                    "mallinfo": _mallinfo(),
                    "pymalloc": _pymalloc(),
                    "gc_tracked": len(gc.get_objects()),
                }
                if _TYPES:
                    types = Counter(type(o).__name__ for o in gc.get_objects())
                    if first_types is None:
                        first_types = types
                    grown = {k: n - first_types.get(k, 0) for k, n in types.items()}
                    row["types_grown"] = sorted(grown.items(), key=lambda kv: -kv[1])[:12]
            except Exception as exc:  # noqa: BLE001 - a probe must never take the process down
                row = {"error": repr(exc)}
            with open(_OUT, "a") as f:
                f.write(json.dumps(row) + "\n")

    print(
        f"memprobe: sampling {_NAME} (pid {os.getpid()}) every {_PERIOD_S:g} s to {_OUT}",
        file=sys.stderr,
    )
    threading.Thread(target=_loop, daemon=True, name="memprobe").start()
