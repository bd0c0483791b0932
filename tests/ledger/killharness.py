"""kill -9 harness: purchases, loads and refunds through a card, killed at every SQL statement and card step.

For each scenario (a seeded list of operations) the harness forks a child that runs the operations and
SIGKILLs itself at step k, for k = 1, 2, … until a child finishes without reaching k. A step is every SQL
statement the ledger runs (sqlite3 trace callback, called before the statement executes) and every card step
(read, write temp file, fsync, rename). After each kill the parent "restarts": opens the ledger, resolves
pending intents with the purse recovery rule against the card, and checks that card and ledger agree:
0 lost, 0 double-booked, nothing pending, verify clean, a replay of a booked card transaction refused.
Then it finishes the scenario in-process and checks again.

The card side is pluggable (`CardSide`, `make_cards`, `resolver`); by default a small deterministic fake card
whose state is a JSON file replaced atomically (temp + fsync + rename). docs/ledger.md says how the real
purse plugs in.

    python -m tests.ledger.killharness --runs 20000
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from terminal.ledger import DuplicateTransaction, Intent, Ledger, Resolution, Transaction
from terminal.ledger import accounts as chart
from terminal.ledger.accounts import TXN_EP_LOAD, TXN_EP_PURCHASE

from .forkrun import HarnessFailure, HarnessResult, Killer, Step, harness_main, kill_runs, run_parallel

DAY = "2024-05-01"
OPENING_FLOAT = 50_000


class InsufficientBalance(Exception):
    """The card refused a debit (SW 9401)."""


class CardSide(Protocol):
    """What the harness needs from a card: the purse engineer's emulated card implements the same."""

    serial: str

    def balance(self) -> int: ...

    def counter(self, txn_type: int) -> int: ...

    def debit(self, amount_fen: int, txn_type: int) -> tuple[int, str]: ...

    def credit(self, amount_fen: int, txn_type: int) -> tuple[int, str]: ...

    def proof(self, txn_type: int, counter: int) -> str | None: ...


class FakeCard:
    """A deterministic e-purse: balance, one counter per transaction type, the last proof per type.

    Every change is one atomic file replacement, so a kill leaves the card wholly before or after it.
    `debit`/`credit` return (counter used = counter before, TAC); the counter then is counter + 1.
    """

    def __init__(self, path: Path, on_step: Step | None = None) -> None:
        self.path = path
        self._step = on_step or (lambda name: None)
        self._state = json.loads(path.read_text())
        self.serial: str = self._state["serial"]

    @staticmethod
    def create(path: Path, serial: str, balance: int = 0) -> None:
        path.write_text(json.dumps({"serial": serial, "balance": balance, "counters": {}, "last": {}}))

    def _read(self) -> dict:
        self._step("card.read")
        self._state = json.loads(self.path.read_text())
        return self._state

    def _write(self, state: dict) -> None:
        tmp = self.path.with_name(self.path.name + ".tmp")
        self._step("card.write")
        with open(tmp, "w") as f:
            f.write(json.dumps(state))
            f.flush()
            self._step("card.fsync")
            os.fsync(f.fileno())
        self._step("card.rename")
        os.replace(tmp, self.path)
        self._state = state

    def balance(self) -> int:
        return self._read()["balance"]

    def counter(self, txn_type: int) -> int:
        return self._read()["counters"].get(str(txn_type), 0)

    def proof(self, txn_type: int, counter: int) -> str | None:
        last = self._read()["last"].get(str(txn_type))
        return last["tac"] if last and last["counter"] == counter else None

    def _move(self, amount_fen: int, txn_type: int, sign: int) -> tuple[int, str]:
        state = self._read()
        if state["balance"] + sign * amount_fen < 0:
            raise InsufficientBalance(f"9401: balance {state['balance']} < {amount_fen}")
        counter = state["counters"].get(str(txn_type), 0)
        tac = hashlib.sha256(f"{self.serial}/{txn_type}/{counter}/{amount_fen}".encode()).hexdigest()[:8].upper()
        new = {
            "serial": self.serial,
            "balance": state["balance"] + sign * amount_fen,
            "counters": {**state["counters"], str(txn_type): counter + 1},
            "last": {**state["last"], str(txn_type): {"counter": counter, "tac": tac}},
        }
        self._write(new)
        return counter, tac

    def debit(self, amount_fen: int, txn_type: int) -> tuple[int, str]:
        return self._move(amount_fen, txn_type, -1)

    def credit(self, amount_fen: int, txn_type: int) -> tuple[int, str]:
        return self._move(amount_fen, txn_type, +1)


SERIALS = ("1000000000000001", "1000000000000002")


def make_cards(directory: Path, on_step: Step | None = None) -> dict[str, CardSide]:
    return {s: FakeCard(directory / f"card-{s}.json", on_step) for s in SERIALS}


def create_cards(directory: Path) -> None:
    for s in SERIALS:
        FakeCard.create(directory / f"card-{s}.json", s, balance=2_000)


def resolver(cards: dict[str, CardSide]) -> Callable[[Intent], Resolution]:
    """The purse recovery rule: counter = old + 1 -> done (with the proof); counter = old -> not done."""

    def resolve(intent: Intent) -> Resolution:
        if intent.card_serial is None:
            return Resolution.not_done("interrupted before the sale completed (no card involved)")
        card = cards[intent.card_serial]
        if intent.card_counter is None or intent.txn_type is None:
            return Resolution.unknown("intent has no card counter")
        now = card.counter(intent.txn_type)
        if now == intent.card_counter + 1:
            return Resolution.done(card_counter=intent.card_counter, txn_type=intent.txn_type,
                                   tac=card.proof(intent.txn_type, intent.card_counter))
        if now == intent.card_counter:
            return Resolution.not_done("card counter unchanged: the card did not do it")
        return Resolution.unknown(f"card counter {now}, intent expected {intent.card_counter}")

    return resolve


# ------------------------------------------------------------------------------------------------ flows
@dataclass(frozen=True)
class Op:
    kind: str
    amount_fen: int
    serial: str | None = None


def run_op(book: Ledger, cards: dict[str, CardSide], op: Op) -> Transaction | None:
    """The shape of every card flow: read the counter, begin the intent, move money on the card, commit."""
    if op.serial is None:
        lines = chart.cash_sale(op.amount_fen) if op.kind == "cash_sale" else chart.cash_refund(op.amount_fen)
        intent = book.begin_intent(kind=op.kind, amount_fen=op.amount_fen, card_serial=None, operator="op1",
                                   business_day=DAY, details={"till": 1}, postings=lines)
        return book.commit_intent(intent.intent_id)
    card = cards[op.serial]
    purchase = op.kind == "purse_purchase"
    txn_type = TXN_EP_PURCHASE if purchase else TXN_EP_LOAD
    lines = {"purse_purchase": chart.purse_purchase, "purse_load": chart.purse_load,
             "purse_refund": chart.purse_refund}[op.kind](op.amount_fen)
    counter = card.counter(txn_type)  # INITIALIZE FOR PURCHASE / LOAD: not money-moving
    intent = book.begin_intent(kind=op.kind, amount_fen=op.amount_fen, card_serial=op.serial, operator="op2",
                               business_day=DAY, details={"lane": 3}, postings=lines, card_counter=counter,
                               txn_type=txn_type)
    try:
        used, tac = card.debit(op.amount_fen, txn_type) if purchase else card.credit(op.amount_fen, txn_type)
    except InsufficientBalance as exc:
        book.fail_intent(intent.intent_id, str(exc))
        return None
    return book.commit_intent(intent.intent_id, card_counter=used, txn_type=txn_type, tac=tac,
                              terminal_seq=used + 1, card_time="20240501120000")


def scenario(rng: random.Random, length: int) -> list[Op]:
    ops: list[Op] = []
    for _ in range(length):
        kind = rng.choice(["purse_purchase", "purse_purchase", "purse_load", "purse_refund", "cash_sale", "cash_refund"])
        serial = rng.choice(SERIALS) if kind.startswith("purse") else None
        ops.append(Op(kind, rng.choice([100, 250, 1_000, 2_500]), serial))
    return ops


# ------------------------------------------------------------------------------------------------ checks
def check(book: Ledger, cards: dict[str, CardSide], initial: dict[str, dict[int, int]], balance0: int,
          verify: bool = True) -> None:
    """Card and ledger agree; nothing pending; verify clean; a replay is refused."""
    if book.pending_intents():
        raise HarnessFailure(f"pending after recovery: {book.pending_intents()}")
    if verify:
        report = book.verify(quick=True)
        if not report.ok:
            raise HarnessFailure(f"verify: {report.first}")
    rows = book.conn.execute(
        "SELECT card_serial, txn_type, card_counter, kind, amount_fen FROM transactions WHERE card_serial IS NOT NULL"
    ).fetchall()
    for serial, card in cards.items():
        mine = [r for r in rows if r[0] == serial]
        for txn_type in (TXN_EP_PURCHASE, TXN_EP_LOAD):
            counters = sorted(r[2] for r in mine if r[1] == txn_type)
            start = initial[serial].get(txn_type, 0)
            expected = list(range(start, card.counter(txn_type)))
            if counters != expected:
                raise HarnessFailure(f"card {serial} type {txn_type}: booked counters {counters}, card did {expected}")
        delta = sum(-r[4] if r[3] == "purse_purchase" else r[4] for r in mine)
        if card.balance() != balance0 + delta:
            raise HarnessFailure(f"card {serial}: balance {card.balance()} but ledger says {balance0 + delta}")
    if rows:  # replay the newest card transaction: must be refused
        serial, txn_type, counter = rows[-1][0], rows[-1][1], rows[-1][2]
        try:
            book.begin_intent(kind="purse_purchase", amount_fen=1, card_serial=serial, operator="replay",
                              business_day=DAY, postings=chart.purse_purchase(1), card_counter=counter, txn_type=txn_type)
        except DuplicateTransaction:
            pass
        else:
            raise HarnessFailure(f"replay of {serial}/{counter}/{txn_type} was accepted")


# ------------------------------------------------------------------------------------------------ runner
def _child(run_dir: Path, ops: list[Op], kill_at: int) -> None:
    killer = Killer(kill_at, run_dir / "killed-at")
    cards = make_cards(run_dir, killer.step)
    book = Ledger.open(run_dir / "ledger.sqlite", create=False, on_sql=killer.sql)
    for op in ops:
        run_op(book, cards, op)
    book.close()


def make_template(directory: Path) -> Path:
    template = directory / "template"
    template.mkdir()
    with Ledger.open(template / "ledger.sqlite", terminal_id="KILL9") as book:
        intent = book.begin_intent(kind="float_in", amount_fen=OPENING_FLOAT, card_serial=None, operator="op1",
                                   business_day=DAY, postings=chart.float_in(OPENING_FLOAT))
        book.commit_intent(intent.intent_id)
    create_cards(template)
    return template


def run_harness(runs: int, seed: int = 1, workdir: Path | None = None, ops_per_scenario: int = 4,
                workers: int = 1) -> HarnessResult:
    """Run at least `runs` killed/completed children; raises HarnessFailure on the first disagreement.

    `workers` > 1 forks that many harness processes (each with its own seed and folder) and sums them up.
    """
    if workers > 1:
        return run_parallel(workers, "ykt-kill9-results-", workdir,
                            lambda i: run_harness(-(-runs // workers), seed * 1000 + i, workdir, ops_per_scenario),
                            HarnessResult())
    started = time.perf_counter()
    base = Path(tempfile.mkdtemp(prefix="ykt-kill9-", dir=workdir))
    result = HarnessResult()
    try:
        template = make_template(base)
        rng = random.Random(seed)
        for run_dir, ops, k, _ in kill_runs(result, runs, base, template, lambda: scenario(rng, ops_per_scenario),
                                            _child):
            _restart_and_check(run_dir, ops, result, f"scenario {result.scenarios} {ops} kill at step {k}")
    finally:
        shutil.rmtree(base, ignore_errors=True)
    result.seconds = time.perf_counter() - started
    return result


def _restart_and_check(run_dir: Path, ops: list[Op], result: HarnessResult, where: str) -> None:
    cards = make_cards(run_dir)
    initial = {s: {TXN_EP_PURCHASE: 0, TXN_EP_LOAD: 0} for s in cards}
    try:
        with Ledger.open(run_dir / "ledger.sqlite", create=False) as book:
            for outcome in book.resolve_pending(resolver(cards)):
                if outcome.result == "committed":
                    result.recovered_committed += 1
                elif outcome.result == "failed":
                    result.recovered_failed += 1
            check(book, cards, initial, 2_000, verify=False)
            # The operator carries on: ringing up again must work after the crash. The chain is append-only,
            # so the verify after that also covers every row written before and during recovery.
            for op in ops[:2]:
                run_op(book, cards, op)
            check(book, cards, initial, 2_000)
    except HarnessFailure as exc:
        raise HarnessFailure(f"{where}: {exc}") from None


def main(argv: list[str] | None = None) -> int:
    return harness_main(__doc__, run_harness, runs=2_000, ops=4, argv=argv)


if __name__ == "__main__":
    sys.exit(main())
