"""Shared helpers for the ledger tests: fast scratch folders, a fixed clock, template ledgers."""

from __future__ import annotations

import datetime as dt
import itertools
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

from terminal.ledger import Ledger
from terminal.ledger import accounts as chart

DAY = "2024-05-01"
TERMINAL = "000000000001"
SCALE = float(os.environ.get("YKT_LEDGER_SCALE", "1"))  # e.g. 10 for a long soak run


def scaled(n: int) -> int:
    return max(1, int(n * SCALE))


def fast_dir(prefix: str) -> Path:
    """A scratch folder on tmpfs when there is one (kill -9 tests do not need real fsyncs)."""
    base = "/dev/shm" if os.path.isdir("/dev/shm") and os.access("/dev/shm", os.W_OK) else None
    return Path(tempfile.mkdtemp(prefix=prefix, dir=base))


def fixed_clock(start: dt.datetime | None = None) -> Callable[[], dt.datetime]:
    """A clock that ticks one second per call."""
    origin = start or dt.datetime(2024, 5, 1, 8, 0, 0, tzinfo=dt.timezone.utc)
    ticks = itertools.count()
    return lambda: origin + dt.timedelta(seconds=next(ticks))


def new_ledger(path: Path, *, float_fen: int = 100_000) -> Ledger:
    """A ledger with `float_fen` of cash in the till (one committed float_in)."""
    book = Ledger.open(path, terminal_id=TERMINAL, clock=fixed_clock())
    if float_fen:
        intent = book.begin_intent(kind="float_in", amount_fen=float_fen, card_serial=None, operator="op1",
                                   business_day=DAY, details={}, postings=chart.float_in(float_fen))
        book.commit_intent(intent.intent_id)
    return book


def copy_ledger(src: Path, dst: Path) -> None:
    """Copy a closed (checkpointed) ledger and its key file."""
    shutil.copyfile(src, dst)
    shutil.copyfile(src.with_name(src.name + ".key"), dst.with_name(dst.name + ".key"))
