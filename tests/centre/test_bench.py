"""scripts/bench_centre.py runs (a few sales over HTTP on SQLite, and in-process): the benchmark stays usable."""

from __future__ import annotations

from pathlib import Path

from scripts import bench_centre


def test_bench_round_trips_smoke(tmp_path: Path) -> None:
    out = bench_centre.http_round_trips(str(tmp_path / "c.sqlite"), sales=20, threads=2)
    assert out["errors"] == [] and out["sales"] == 20 and out["round_trips"] == 60
    assert out["round_trips_per_s"] > 0 and out["infno_2102"]["p99_ms"] >= out["infno_2102"]["median_ms"]
    inproc = bench_centre.in_process(10, tmp_path)
    assert inproc["round_trips"] == 30
