"""Print a memprobe file (bench/memprobe/sitecustomize.py) as a table, MiB per column.

.venv/bin/python bench/memprobe/summary.py /tmp/memprobe-bridge-1234.jsonl
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

MIB = 1024 * 1024

COLUMNS = (
    ("min", 5),
    ("rss", 7),
    ("anon", 7),
    ("[heap]", 7),
    ("anon map", 8),
    ("glibc heap", 10),
    ("glibc used", 10),
    ("glibc free", 10),
    ("mmapped", 8),
    ("py arenas", 9),
    ("py used", 8),
    ("py avail", 8),
    ("gc objs", 8),
)


def row(sample: dict[str, Any]) -> str:
    smaps, mall, py = sample["smaps_kib"], sample["mallinfo"], sample["pymalloc"]
    mib = (
        sample["rss_kib"] / 1024,
        sample["anon_kib"] / 1024,
        smaps.get("heap", 0) / 1024,
        smaps.get("anon", 0) / 1024,
        mall.get("arena", 0) / MIB,
        mall.get("uordblks", 0) / MIB,
        mall.get("fordblks", 0) / MIB,
        mall.get("hblkhd", 0) / MIB,
    )
    counts = (py.get("arenas", 0),)
    py_mib = (py.get("allocated_bytes", 0) / MIB, py.get("available_bytes", 0) / MIB)
    values = [f"{sample['t_s'] / 60:.1f}", *(f"{v:.1f}" for v in mib), *map(str, counts)]
    values += [*(f"{v:.1f}" for v in py_mib), str(sample["gc_tracked"])]
    return " ".join(f"{v:>{width}}" for v, (_, width) in zip(values, COLUMNS, strict=True))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("path", type=Path)
    args = parser.parse_args()
    print(" ".join(f"{name:>{width}}" for name, width in COLUMNS))
    for line in args.path.read_text().splitlines():
        sample = json.loads(line)
        if "error" in sample:
            print(f"probe error: {sample['error']}")
            continue
        print(row(sample))
        if sample.get("types_grown"):
            print("      grown:", ", ".join(f"{k} {n:+d}" for k, n in sample["types_grown"][:6]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
