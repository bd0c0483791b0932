"""Ledger benchmarks for scripts/bench: `run(quick) -> dict` of named figures (medians; never pass/fail).

- durable_bookings_per_s: begin_intent + commit_intent (two synchronous=FULL commits), single-threaded
- verify_s_per_1m_rows: full `verify` (integrity_check, chain, HMACs, sums) scaled to 1,000,000 chain rows
- report_s_100k_day: `report` for a business day of 100,000 transactions

Large ledgers are built with the chain writer in big transactions (same hashing, no per-row fsync); the
folder is $YKT_BENCH_DIR or the system temp folder (durable figures depend on its disk).
"""

from __future__ import annotations

import datetime as _dt
import os
import statistics
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from . import accounts as chart
from .canonical import canonical_json
from .chain import ChainWriter
from .ledger import Ledger

DAY = "2024-05-01"


def _bench_dir() -> Path:
    return Path(tempfile.mkdtemp(prefix="ykt-ledger-bench-", dir=os.environ.get("YKT_BENCH_DIR")))


def durable_bookings(path: Path, n: int) -> list[float]:
    """Seconds per booking (begin + commit of a purse purchase) for `n` bookings."""
    samples: list[float] = []
    with Ledger.open(path, terminal_id="BENCH") as book:
        for i in range(n):
            t0 = time.perf_counter()
            intent = book.begin_intent(kind="purse_purchase", amount_fen=100 + i % 900, card_serial=f"{i % 97:016d}",
                                       operator="op1", business_day=DAY, details={"items": 1},
                                       postings=chart.purse_purchase(100 + i % 900), card_counter=i // 97,
                                       txn_type=chart.TXN_EP_PURCHASE)
            book.commit_intent(intent.intent_id, tac="0A0B0C0D", terminal_seq=i, card_time="20240501120000")
            samples.append(time.perf_counter() - t0)
    return samples


def build_ledger(path: Path, transactions: int, *, day: str = DAY, batch: int = 20_000) -> int:
    """Append `transactions` committed cash sales (5 chain rows each) fast; returns the chain length."""
    with Ledger.open(path, terminal_id="BENCH") as book:
        conn = book.conn
        conn.execute("PRAGMA synchronous=OFF")
        stamp = "2024-05-01T08:00:00.000Z"
        planned = canonical_json([["cash_drawer", 1], ["revenue:goods", -1]])
        done = 0
        while done < transactions:
            conn.execute("BEGIN IMMEDIATE")
            chain = ChainWriter(conn, book._mac, book._meta)  # noqa: SLF001 - the bench reuses the writer
            totals = {"cash_drawer": 0, "revenue:goods": 0}
            for i in range(done, min(transactions, done + batch)):
                amount = 100 + i % 5_000
                operator = f"op{i % 4}"
                intent_id = str(uuid.UUID(int=i + 1))
                chain.append("intents", {
                    "intent_id": intent_id, "kind": "cash_sale", "amount_fen": amount, "card_serial": None,
                    "card_counter": None, "txn_type": None, "operator": operator, "business_day": day,
                    "details": "{}", "planned_postings": planned, "created_at": stamp,
                })
                txn = chain.append("transactions", {
                    "intent_id": intent_id, "kind": "cash_sale", "amount_fen": amount, "card_serial": None,
                    "card_counter": None, "txn_type": None, "tac": None, "terminal_seq": None, "card_time": None,
                    "operator": operator, "business_day": day, "committed_at": stamp,
                })
                chain.append("postings", {"txn_id": txn, "line": 1, "account": "cash_drawer", "amount_fen": amount})
                chain.append("postings", {"txn_id": txn, "line": 2, "account": "revenue:goods", "amount_fen": -amount})
                chain.append("outbox", {"txn_id": txn, "created_at": stamp})
                totals["cash_drawer"] += amount
                totals["revenue:goods"] -= amount
            conn.executemany("UPDATE balances SET balance_fen = balance_fen + ? WHERE account = ?",
                             [(v, k) for k, v in totals.items()])
            chain.store_head()
            conn.execute("COMMIT")
            done = min(transactions, done + batch)
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        return conn.execute("SELECT seq FROM chain_head").fetchone()[0]


def _timed(func: Any, repeat: int) -> list[float]:
    samples = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        func()
        samples.append(time.perf_counter() - t0)
    return samples


def run(quick: bool) -> dict[str, Any]:
    """All ledger figures. quick: smaller ledgers, figures scaled (verify is linear in rows)."""
    folder = _bench_dir()
    try:
        bookings = durable_bookings(folder / "durable.sqlite", 200 if quick else 2_000)
        verify_txns = 20_000 if quick else 200_000  # 5 chain rows each: 100k / 1M rows
        verify_path = folder / "verify.sqlite"
        rows = build_ledger(verify_path, verify_txns)
        with Ledger.open(verify_path, create=False) as book:
            reports = []
            for _ in range(1 if quick else 3):
                reports.append(book.verify())
            if not all(r.ok for r in reports):
                raise RuntimeError(f"bench ledger does not verify: {reports[0].first}")
            verify_s = statistics.median(r.seconds for r in reports)
            chain_only = _timed(lambda: book.verify(quick=True), 1 if quick else 3)
        report_txns = 10_000 if quick else 100_000
        report_path = folder / "report.sqlite"
        build_ledger(report_path, report_txns, day="2024-05-02")
        with Ledger.open(report_path, create=False) as book:
            report_s = statistics.median(_timed(lambda: book.report("2024-05-02"), 5))
        per_row = verify_s / rows
        return {
            "what": "durable bookings (synchronous=FULL, begin+commit), verify, day report",
            "folder": str(folder.parent),
            "durable_bookings_per_s": round(1 / statistics.median(bookings), 1),
            "booking_median_ms": round(statistics.median(bookings) * 1000, 3),
            "booking_p99_ms": round(sorted(bookings)[int(0.99 * (len(bookings) - 1))] * 1000, 3),
            "verify_rows": rows,
            "verify_s": round(verify_s, 3),
            "verify_s_per_1m_rows": round(per_row * 1_000_000, 2),
            "verify_quick_check_s_per_1m_rows": round(statistics.median(chain_only) / rows * 1_000_000, 2),
            "verify_target_s_per_1m_rows": 10,
            "report_transactions": report_txns,
            "report_s": round(report_s, 4),
            "report_s_100k_day": round(report_s * 100_000 / report_txns, 4),
            "measured_at": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        }
    finally:
        for p in sorted(folder.glob("*"), reverse=True):
            p.unlink()
        folder.rmdir()
