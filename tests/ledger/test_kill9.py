"""kill -9 at every SQL statement and every card step (≥2,000 runs): after restart and recovery the card and
the ledger agree, nothing is lost or booked twice, nothing stays pending, verify is clean.

Scale up with YKT_KILL9_RUNS=20000 (or YKT_LEDGER_SCALE), or run `python -m tests.ledger.killharness --runs N`.
"""

from __future__ import annotations

import os
import shutil

import pytest

from .helpers import fast_dir, scaled
from .killharness import run_harness

RUNS = int(os.environ.get("YKT_KILL9_RUNS", scaled(2_000)))

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")


def test_kill9_at_every_step_loses_nothing_and_books_nothing_twice() -> None:
    workdir = fast_dir("ykt-kill9-")
    try:
        result = run_harness(RUNS, seed=1, workdir=workdir, workers=min(2, os.cpu_count() or 1))
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    print(f"kill -9: {result.runs} runs, {result.kills} killed ({result.kill_steps}), {result.completed} ran to the end,"
          f" {result.scenarios} scenarios, recovery committed {result.recovered_committed}"
          f" and failed {result.recovered_failed} pending intents, {result.seconds:.1f}s")
    assert result.runs >= RUNS
    assert result.completed >= 2 and result.kills >= RUNS * 0.9
    for step in ("sql", "card.read", "card.write", "card.fsync", "card.rename"):
        assert result.kill_steps.get(step, 0) > 0, step
    assert result.recovered_committed > 0 and result.recovered_failed > 0
