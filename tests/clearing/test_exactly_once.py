"""Exactly once, whatever the network does: ≥ 10,000 randomized runs (SQLite; a few hundred on PostgreSQL),
each a terminal whose records reach the server through drops, lost answers, cut batches, duplicates, late
replays in any order, shuffled direct batches and client crashes (a new client with no memory, sometimes
with too few retries). After each run: the server holds every record once (0 duplicates, 0 losses), the
cursor is at the last record, nothing is quarantined, and the totals per account match the terminal's."""

from __future__ import annotations

import os
import random
import time

from terminal.clearing import ClearingHouse, TacVerifier
from terminal.sync import ListSource, LocalTransport, RetryPolicy, Syncer, SyncError
from terminal.sync.faults import FaultRates, FlakyTransport
from tests.purse.helpers import MASTERS

from .helpers import RecordMaker, totals

RUNS = {"sqlite": int(os.environ.get("YKT_CLEARING_RUNS", "10000")), "postgres": int(os.environ.get("YKT_CLEARING_PG_RUNS", "300"))}


def _split(records: list[dict], rng: random.Random) -> list[list[dict]]:
    out, i = [], 0
    while i < len(records):
        k = rng.randrange(1, 6)
        out.append(records[i:i + k])
        i += k
    return out


def one_run(house: ClearingHouse, rng: random.Random, i: int) -> dict[str, int]:
    tid = f"{i + 1:012X}"
    records = RecordMaker(tid, rng, [f"{i:08X}{k:08X}" for k in range(3)]).make(rng.randrange(1, 16))
    rate = rng.choice((0.0, 0.05, 0.15, 0.3))
    transport = FlakyTransport(LocalTransport(house, tid), rng, FaultRates(rate, rate, rate, rate, rate))
    if rng.random() < 0.3:  # batches straight to the server: shuffled, duplicated, cut short
        batches = _split(records, rng)
        batches += [b[: rng.randrange(1, len(b) + 1)] for b in rng.sample(batches, rng.randrange(0, len(batches) + 1))]
        rng.shuffle(batches)
        for batch in batches[: rng.randrange(0, len(batches) + 1)]:
            house.ingest(tid, batch)
    crashes = 0
    for _ in range(200):
        syncer = Syncer(ListSource(records), transport, batch_size=rng.randrange(1, 6),
                        retry=RetryPolicy(attempts=rng.randrange(1, 5)), sleep=lambda s: None, rng=rng)
        try:
            if syncer.upload().complete:
                break
        except SyncError:
            crashes += 1  # the client gives up (or dies): a new one starts with no memory
    else:
        raise AssertionError(f"run {i}: never completed")
    if rng.random() < 0.3:
        transport.replay_all()
    rows = house.db.query("SELECT seq, status FROM txns WHERE terminal_id = ?", (tid,))
    seqs = [s for s, _ in rows]
    sent = [r["seq"] for r in records]
    assert sorted(seqs) == sent, f"run {i}: server holds {sorted(seqs)}, terminal sent {sent}"
    assert {s for _, s in rows} == {"valid"}, f"run {i}: {rows}"
    assert house.cursor(tid) == sent[-1]
    held = dict(house.db.query("SELECT account, SUM(amount_fen) FROM postings WHERE terminal_id = ? GROUP BY account", (tid,)))
    assert {a: int(v) for a, v in held.items() if v} == totals(records)
    return {"records": len(records), "crashes": crashes, **transport.faults}


def test_randomized_replay_reorder_cut_duplicate(db_url: str) -> None:
    backend = "postgres" if db_url.startswith("postgres") else "sqlite"
    url = db_url if backend == "postgres" else "sqlite:///:memory:"
    house = ClearingHouse.open(url, TacVerifier(MASTERS))
    rng = random.Random(20240501)
    summary: dict[str, int] = {}
    started = time.perf_counter()
    try:
        for i in range(RUNS[backend]):
            for k, v in one_run(house, rng, i).items():
                summary[k] = summary.get(k, 0) + v
        stats = house.stats()
        total = int(house.db.scalar("SELECT COUNT(*) FROM txns"))
        distinct = int(house.db.scalar("SELECT COUNT(*) FROM (SELECT DISTINCT terminal_id, seq FROM txns) x"))
    finally:
        house.close()
    assert total == distinct == summary["records"] == stats["valid"]  # 0 duplicates, 0 losses
    assert stats["quarantined"] == 0 and stats["conflicts"] == 0
    assert all(summary[k] > 0 for k in ("drop", "lost_answer", "cut", "duplicate", "replay", "crashes"))
    print(f"{RUNS[backend]} runs on {backend} in {time.perf_counter() - started:.1f} s: {summary}")
