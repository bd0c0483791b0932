"""Shared helpers for the ledger tests: fast scratch folders, a fixed clock, template ledgers."""

from __future__ import annotations

import datetime as dt
import itertools
import random
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
    key = dst.with_name(dst.name + ".key")
    shutil.copyfile(src.with_name(src.name + ".key"), key)
    key.chmod(0o600)


CARDS = ("1000000000000001", "1000000000000002", "1000000000000003")


def random_ledger(path: Path, rng: random.Random, n_ops: int) -> Ledger:
    """A ledger after `n_ops` random operations: card purchases/loads/refunds, cash and medical sales, refunds,
    failures, cancellations, one pending intent per card at most, new accounts, Chinese operator names."""
    from terminal.ledger import NegativeBalance, PendingIntentExists
    from terminal.ledger.accounts import TXN_EP_LOAD, TXN_EP_PURCHASE

    book = new_ledger(path)
    counters = {(s, t): 0 for s in CARDS for t in (TXN_EP_PURCHASE, TXN_EP_LOAD)}
    operators = ["op1", "张伟", "李娜"]
    for _ in range(n_ops):
        kind = rng.choice(["purse_purchase", "purse_load", "purse_refund", "cash_sale", "cash_refund", "medical_sale",
                           "add_account"])
        amount = rng.randint(1, 5_000)
        op = rng.choice(operators)
        day = rng.choice([DAY, "2024-05-02"])
        if kind == "add_account":
            code = f"revenue:c{rng.randint(0, 10**6)}"
            if code not in {a.code for a in book.accounts()}:
                book.add_account(code, "Sales: " + code, "revenue")
            continue
        serial, counter, txn_type = None, None, None
        if kind.startswith("purse"):
            serial = rng.choice(CARDS)
            txn_type = TXN_EP_PURCHASE if kind == "purse_purchase" else TXN_EP_LOAD
            counter = counters[(serial, txn_type)]
        lines = {
            "purse_purchase": lambda: chart.purse_purchase(amount, "drugs"),
            "purse_load": lambda: chart.purse_load(amount),
            "purse_refund": lambda: chart.purse_refund(amount),
            "cash_sale": lambda: chart.cash_sale(amount, "otc"),
            "cash_refund": lambda: chart.cash_refund(amount),
            "medical_sale": lambda: chart.medical_sale(pooled_fen=amount, personal_fen=amount // 2, cash_fen=3),
        }[kind]()
        try:
            intent = book.begin_intent(kind=kind, amount_fen=amount, card_serial=serial, operator=op, business_day=day,
                                       details={"n": rng.randint(0, 9), "note": "测试"}, postings=lines,
                                       card_counter=counter, txn_type=txn_type)
        except (PendingIntentExists, NegativeBalance):
            continue
        fate = rng.random()
        if fate < 0.7:
            book.commit_intent(intent.intent_id, tac="%08X" % rng.getrandbits(32) if serial else None,
                               terminal_seq=rng.randint(1, 10**6) if serial else None,
                               card_time="20240501101010" if serial else None)
            if serial:
                counters[(serial, txn_type)] += 1
        elif fate < 0.8:
            book.fail_intent(intent.intent_id, "card said 9401")
        elif fate < 0.9:
            book.cancel_intent(intent.intent_id)
        # else: left pending
    return book
