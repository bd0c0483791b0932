"""Hotlist benchmark: load time and lookup latency at 1,000,000 entries (scripts/bench, `hotlist`).

`run(quick)` installs a 1,000,000-entry hotlist (half card serials, half card numbers) in a temporary
folder, then measures opening it and looking up listed and unlisted cards. Without `quick` it also
measures the designs not chosen — a Python set built from the same file, and SQLite with a primary-key
index — so the choice stays checked (docs/identity.md).
"""

from __future__ import annotations

import random
import sqlite3
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

from terminal.hotlist import HEADER_SIZE, RECORD_SIZE, Hotlist, describe_key, install

ENTRIES = 1_000_000


def _keys(n: int, rnd: random.Random) -> list[bytes]:
    serials = {b"S" + rnd.randbytes(8) + b"\x00" for _ in range(n // 2)}
    numbers = [b"N" + f"B{i:08d}".encode("ascii") for i in range(n - len(serials))]
    return list(serials) + numbers


def _timed(samples: int, fn: Callable[[int], object]) -> dict[str, float | int]:
    times: list[int] = []
    for i in range(samples):
        start = time.perf_counter_ns()
        fn(i)
        times.append(time.perf_counter_ns() - start)
    times.sort()
    return {
        "n": samples,
        "median_us": round(statistics.median(times) / 1000, 3),
        "p99_us": round(times[min(samples - 1, round(0.99 * (samples - 1)))] / 1000, 3),
        "max_us": round(times[-1] / 1000, 3),
    }


def run(quick: bool = False) -> dict[str, Any]:
    rnd = random.Random(20260601)
    samples = 2_000 if quick else 100_000
    keys = _keys(ENTRIES, rnd)
    with tempfile.TemporaryDirectory(prefix="ykt-hotlist-bench-") as tmp:
        path = Path(tmp) / "hotlist.ykthl"
        start = time.perf_counter()
        info = install(path, 1, keys, created=0)
        install_s = time.perf_counter() - start

        start = time.perf_counter()
        hotlist = Hotlist.open(path)
        open_ms = (time.perf_counter() - start) * 1000

        listed = [describe_key(keys[rnd.randrange(len(keys))]) for _ in range(samples)]
        unlisted = [rnd.randbytes(8).hex().upper() for _ in range(samples)]
        result: dict[str, Any] = {
            "entries": info.count,
            "file_bytes": path.stat().st_size,
            "design": "sorted fixed-width records, mmap + binary search",
            "install_s": round(install_s, 3),
            "open_ms": round(open_ms, 3),
            "lookup_listed": _timed(samples, lambda i: hotlist.contains(listed[i])),
            "lookup_unlisted": _timed(samples, lambda i: hotlist.contains(unlisted[i])),
        }
        hotlist.close()
        if not quick:
            result["alternatives"] = _alternatives(path, keys, listed, samples, Path(tmp))
    return result


def _alternatives(path: Path, keys: list[bytes], listed: list[str], samples: int, tmp: Path) -> dict[str, Any]:
    from terminal.hotlist import record_key

    probes = [record_key(c) for c in listed]
    start = time.perf_counter()
    raw = path.read_bytes()
    as_set = {raw[o : o + RECORD_SIZE] for o in range(HEADER_SIZE, len(raw), RECORD_SIZE)}
    set_load_ms = (time.perf_counter() - start) * 1000
    set_lookup = _timed(samples, lambda i: probes[i] in as_set)

    db_path = tmp / "hotlist.sqlite"
    start = time.perf_counter()
    db = sqlite3.connect(db_path)
    db.execute("CREATE TABLE hotlist (k BLOB PRIMARY KEY) WITHOUT ROWID")
    db.executemany("INSERT INTO hotlist VALUES (?)", ((k,) for k in keys))
    db.commit()
    db.close()
    sqlite_build_s = time.perf_counter() - start
    start = time.perf_counter()
    db = sqlite3.connect(db_path)
    db.execute("SELECT 1 FROM hotlist LIMIT 1").fetchone()
    sqlite_open_ms = (time.perf_counter() - start) * 1000
    sqlite_lookup = _timed(samples, lambda i: db.execute("SELECT 1 FROM hotlist WHERE k = ?", (probes[i],)).fetchone())
    db.close()
    return {
        "python_set": {"load_ms": round(set_load_ms, 3), "lookup": set_lookup},
        "sqlite": {"build_s": round(sqlite_build_s, 3), "open_ms": round(sqlite_open_ms, 3), "lookup": sqlite_lookup,
                   "file_bytes": db_path.stat().st_size},
    }

