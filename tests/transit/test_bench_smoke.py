"""scripts/bench_transit.py keeps working (small counts, no pcscd): the in-process taps and the hotlist."""

from __future__ import annotations

from pathlib import Path

from scripts import bench_transit


def test_bench_transit_smoke(tmp_path: Path) -> None:
    taps = bench_transit.inprocess(20, tmp_path)
    assert taps["n"] == 20 and taps["transactions_booked"] == 25 and taps["taps_per_s"] > 0
    listed = bench_transit.hotlist(10_000, 200, tmp_path)
    assert listed["listed"]["n"] == 200 and listed["listed"]["median_us"] < 1_000
