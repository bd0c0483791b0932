"""kill -9 with the REAL emulated card (issue 5): purchases, ED purchases with a PIN, loads and refunds booked
through `PurseBooks`, the process killed at every APDU, every card / PSAM save and every SQL statement
(≥ 1,000 runs; with test_kill9.py's fake card ≥ 3,000 in CI). After restart + recovery with the cards
present: nothing pending, card balances and counters agree with the ledger, 0 lost, 0 booked twice, verify
clean; a third of the restarts are themselves killed in the middle of recovery first.

Scale up with YKT_KILL9_CARD_RUNS=20000 (or YKT_LEDGER_SCALE=10), or
`python -m tests.ledger.card_harness --runs 20000 --workers 8`.
"""

from __future__ import annotations

import os
import shutil

import pytest

from .card_harness import run_harness
from .helpers import fast_dir, scaled

RUNS = int(os.environ.get("YKT_KILL9_CARD_RUNS", scaled(1_000)))

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")


def test_kill9_with_the_real_card_loses_nothing_and_books_nothing_twice() -> None:
    workdir = fast_dir("ykt-kill9-card-")
    try:
        result = run_harness(RUNS, seed=1, workdir=workdir, workers=min(2, os.cpu_count() or 1))
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    print(f"kill -9 (real card): {result.runs} runs, {result.kills} killed ({result.kill_steps}), APDUs"
          f" {result.apdus_killed}, {result.completed} ran to the end, {result.scenarios} scenarios,"
          f" {result.recovery_kills} restarts killed during recovery, recovery committed"
          f" {result.recovered_committed} and failed {result.recovered_failed}, {result.seconds:.1f}s")
    assert result.runs >= RUNS
    assert result.completed >= 2 and result.kills >= RUNS * 0.9
    for step in ("sql", "apdu", "card.save", "psam.save"):
        assert result.kill_steps.get(step, 0) > 0, step
    for apdu in ("VERIFY", "INITIALIZE FOR PURCHASE", "INIT SAM FOR PURCHASE", "DEBIT FOR PURCHASE",
                 "CREDIT SAM FOR PURCHASE", "INITIALIZE FOR LOAD", "CREDIT FOR LOAD"):
        assert result.apdus_killed.get(apdu, 0) > 0, apdu
    assert result.recovered_committed > 0 and result.recovered_failed > 0 and result.recovery_kills > 0
