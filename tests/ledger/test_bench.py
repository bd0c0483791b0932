"""Smoke test of the benchmark helpers (the figures themselves come from `scripts/bench --only ledger`)."""

from __future__ import annotations

from pathlib import Path

from terminal.ledger import Ledger
from terminal.ledger.bench import build_ledger, durable_bookings


def test_bench_helpers_build_verifiable_ledgers(tmp_path: Path) -> None:
    assert len(durable_bookings(tmp_path / "d.sqlite", 5)) == 5
    rows = build_ledger(tmp_path / "v.sqlite", 250, batch=100)
    assert rows == 15 + 5 * 250
    with Ledger.open(tmp_path / "v.sqlite", create=False) as book:
        report = book.verify()
        assert report.ok and report.rows_checked == rows and report.transactions == 250
        day = book.report("2024-05-01")
        assert day.transactions == 250 and sum(a.net_fen for a in day.by_account) == 0
