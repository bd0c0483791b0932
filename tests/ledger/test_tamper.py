"""Tamper evidence: ≥10,000 random edits/deletes/reorders/inserts/rewrites are all detected by verify, and
untouched ledgers never raise a false alarm."""

from __future__ import annotations

import random
import time
from collections import Counter
from pathlib import Path

from terminal.ledger import Ledger
from terminal.ledger.chain import Mac
from terminal.ledger.verify import verify_connection

from . import tamper
from .helpers import random_ledger, scaled

CASES = scaled(10_000)


def _bases(tmp_path: Path, n: int) -> list[tuple[bytes, Mac]]:
    bases = []
    for i in range(n):
        path = tmp_path / f"base{i}.sqlite"
        book = random_ledger(path, random.Random(100 + i), 12 + 4 * i)
        assert book.verify().ok
        book.close()
        key = bytes.fromhex(path.with_name(path.name + ".key").read_text().strip())
        bases.append((tamper.without_triggers(path.read_bytes()), Mac(key)))
    return bases


def test_every_random_tampering_is_detected(tmp_path: Path) -> None:
    started = time.perf_counter()
    bases = []
    for data, mac in _bases(tmp_path, 4):
        conn = tamper.load(data)
        assert verify_connection(conn, mac, quick=True, triggers=False).ok
        bases.append((conn, mac, tamper.dump(conn)))
    rng = random.Random(20240501)
    kinds, weights = list(tamper.WEIGHTS), list(tamper.WEIGHTS.values())
    detected: Counter[str] = Counter()
    noops = 0
    missed: list[tuple[str, int]] = []
    case = 0
    while sum(detected.values()) + len(missed) < CASES:
        case += 1
        conn, mac, before = bases[case % len(bases)]
        kind = rng.choices(kinds, weights)[0]
        state = rng.getstate()
        conn.execute("BEGIN")
        try:
            if not tamper.mutate(conn, rng, kind, before):
                noops += 1
            elif verify_connection(conn, mac, quick=True, triggers=False).ok:
                missed.append((kind, hash(state)))
            else:
                detected[kind] += 1
        finally:
            conn.execute("ROLLBACK")
    for conn, mac, before in bases:  # every case was undone: the bases are still the good ledgers
        assert tamper.dump(conn) == before and verify_connection(conn, mac, triggers=False).ok
    assert missed == [], f"undetected: {missed[:5]}"
    assert sum(detected.values()) >= CASES
    assert set(detected) == set(kinds)
    print(f"tamper: {sum(detected.values())} detected {dict(detected)}, {noops} no-ops skipped,"
          f" {time.perf_counter() - started:.1f}s")


def test_no_false_alarms_on_untouched_ledgers(tmp_path: Path) -> None:
    # random ledgers of many shapes (pending, failed, cancelled intents, extra accounts, two days)
    for i in range(scaled(40)):
        path = tmp_path / f"clean{i}.sqlite"
        with random_ledger(path, random.Random(i), i % 30) as book:
            report = book.verify()
            assert report.ok, (i, report.first)
        with Ledger.open(path, create=False) as book:  # and after a close / reopen (checkpointed)
            assert book.verify().ok
