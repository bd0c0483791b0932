"""Power loss: the WAL cut, zero-filled, scribbled or torn at ≥1,000 random points. After reopening, SQLite's
integrity_check passes, the chain verifies, and the ledger is exactly the state after some commit (whole
transactions only, in order)."""

from __future__ import annotations

import random
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

from terminal.ledger import Ledger, NegativeBalance, PendingIntentExists
from terminal.ledger import accounts as chart
from terminal.ledger.accounts import TXN_EP_PURCHASE
from terminal.ledger.schema import CHAINED

from .helpers import DAY, new_ledger, scaled

POINTS = scaled(1_000)
WAL_HEADER = 32
FRAME_HEADER = 24


@dataclass(frozen=True)
class Snapshot:
    head: int
    counts: tuple[int, ...]


def snapshot(book: Ledger) -> Snapshot:
    conn = book.conn
    counts = tuple(conn.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0] for t in (*CHAINED, "open_intents"))
    return Snapshot(conn.execute("SELECT seq FROM chain_head").fetchone()[0], counts)


def build(folder: Path) -> tuple[bytes, bytes, bytes, list[Snapshot], int]:
    """A checkpointed ledger, then ~40 commits kept in the WAL; returns db, wal, key, snapshots, page size."""
    path = folder / "base.sqlite"
    new_ledger(path).close()
    book = Ledger.open(path, create=False)
    book.conn.execute("PRAGMA wal_autocheckpoint=0")
    db_bytes = path.read_bytes()
    snaps = [snapshot(book)]
    rng = random.Random(7)
    counter = 0
    for i in range(20):
        try:
            intent = book.begin_intent(kind="purse_purchase", amount_fen=rng.randint(1, 900), card_serial="1000000000000001",
                                       operator="张伟", business_day=DAY, details={"i": i},
                                       postings=chart.purse_purchase(100 + i), card_counter=counter,
                                       txn_type=TXN_EP_PURCHASE)
        except (PendingIntentExists, NegativeBalance):
            continue
        snaps.append(snapshot(book))
        if i % 5 == 4:
            book.fail_intent(intent.intent_id, "9401")
        else:
            book.commit_intent(intent.intent_id, tac="%08X" % i)
            counter += 1
        snaps.append(snapshot(book))
    wal = path.with_name(path.name + "-wal").read_bytes()
    key = path.with_name(path.name + ".key").read_bytes()
    page_size = book.conn.execute("PRAGMA page_size").fetchone()[0]
    book.close()
    return db_bytes, wal, key, snaps, page_size


def damage(wal: bytes, rng: random.Random, page_size: int) -> tuple[str, bytes]:
    frame = FRAME_HEADER + page_size
    frames = (len(wal) - WAL_HEADER) // frame
    how = rng.choice(["truncate", "truncate_frame", "zero_tail", "garbage_tail", "torn_sector"])
    if how == "truncate_frame":  # cut exactly at a frame boundary, or inside a frame header
        at = WAL_HEADER + rng.randint(0, frames) * frame + rng.choice([0, 0, rng.randint(1, FRAME_HEADER)])
        return how, wal[:at]
    at = rng.randint(0, len(wal))
    if how == "truncate":
        return how, wal[:at]
    if how == "zero_tail":
        return how, wal[:at] + bytes(len(wal) - at)
    if how == "garbage_tail":
        return how, wal[:at] + rng.randbytes(len(wal) - at)
    sector = at - at % 512  # one 512-byte sector of a frame written only partly
    return how, wal[:sector] + rng.randbytes(min(512, len(wal) - sector)) + wal[sector + 512:]


def test_torn_wal_leaves_whole_transactions_only(scratch: Path) -> None:
    started = time.perf_counter()
    db_bytes, wal, key, snaps, page_size = build(scratch)
    assert len(snaps) > 30 and len(wal) > 30 * page_size
    by_head = {s.head: s for s in snaps}
    rng = random.Random(1)
    seen_heads: set[int] = set()
    kinds: dict[str, int] = {}
    point = scratch / "point"
    for i in range(POINTS):
        if point.exists():
            shutil.rmtree(point)
        point.mkdir()
        how, damaged = damage(wal, rng, page_size)
        kinds[how] = kinds.get(how, 0) + 1
        (point / "ledger.sqlite").write_bytes(db_bytes)
        (point / "ledger.sqlite-wal").write_bytes(damaged)
        (point / "ledger.sqlite.key").write_bytes(key)
        (point / "ledger.sqlite.key").chmod(0o600)
        with Ledger.open(point / "ledger.sqlite", create=False) as book:
            report = book.verify()
            assert report.ok, (i, how, report.first)
            state = snapshot(book)
            assert state.head in by_head, (i, how, state)
            assert state == by_head[state.head], (i, how, "partial transaction", state)
            seen_heads.add(state.head)
    # the damage landed all over the WAL: many different commit points survived
    assert len(seen_heads) > len(by_head) // 2
    assert snaps[0].head in seen_heads and max(seen_heads) >= snaps[-3].head
    print(f"torn WAL: {POINTS} points {kinds}, {len(seen_heads)}/{len(by_head)} commit points seen,"
          f" {time.perf_counter() - started:.1f}s")
