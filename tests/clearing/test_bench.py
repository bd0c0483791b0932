"""Smoke test of scripts/bench_clearing.py: its generator makes records that all verify, and ingest counts them."""

from __future__ import annotations

from pathlib import Path

from scripts.bench_clearing import ingest


def test_bench_ingest_smoke(tmp_path: Path) -> None:
    result = ingest(str(tmp_path / "b.sqlite"), 2_500, terminals=3)
    assert result["stored"] == 2_500 and result["per_s"] > 0
