"""Stateful property test (hypothesis RuleBasedStateMachine, ≥10,000 steps per run) against a model:
postings always sum to 0, accounts that may not go negative never do, replays are refused, every refusal
writes nothing, and verify is clean at the end of every example."""

from __future__ import annotations

import shutil
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import Bundle, RuleBasedStateMachine, consumes, invariant, multiple, rule, run_state_machine_as_test

from terminal.ledger import (
    DuplicateTransaction,
    IntentAlreadyResolved,
    Ledger,
    NegativeBalance,
    PendingIntentExists,
    Posting,
    Resolution,
    UnbalancedEntry,
)
from terminal.ledger import accounts as chart
from terminal.ledger.accounts import NORMAL_SIGN, TXN_EP_LOAD, TXN_EP_PURCHASE

from .helpers import DAY, copy_ledger, fast_dir, new_ledger, scaled

STEPS = scaled(10_000)
CARDS = ("1000000000000001", "1000000000000002")
KINDS = ("purse_purchase", "purse_load", "purse_refund", "cash_sale", "cash_refund", "float_out", "medical_sale")


@dataclass
class Planned:
    kind: str
    postings: tuple[Posting, ...]
    serial: str | None
    counter: int | None
    txn_type: int | None


class Steps:
    count = 0
    outcomes: dict[str, int] = {}

    @classmethod
    def saw(cls, what: str) -> None:
        cls.outcomes[what] = cls.outcomes.get(what, 0) + 1


class LedgerMachine(RuleBasedStateMachine):
    folder: Path
    template: Path

    intents = Bundle("intents")

    def __init__(self) -> None:
        super().__init__()
        self.dir = self.folder / f"ex{Steps.count}-{id(self)}"
        self.dir.mkdir()
        copy_ledger(self.template, self.dir / "l.sqlite")
        self.book = Ledger.open(self.dir / "l.sqlite", create=False)
        self.types = {a.code: (a.type, a.may_go_negative) for a in self.book.accounts()}
        self.balances = {code: b.balance_fen for code, b in self.book.balances().items()}
        self.pending: dict[str, Planned] = {}
        self.state: dict[str, str] = {}
        self.txn_of: dict[str, int] = {}
        self.booked: dict[tuple[str, int, int], int] = {}
        self.next_counter = {(s, t): 0 for s in CARDS for t in (TXN_EP_PURCHASE, TXN_EP_LOAD)}

    # ------------------------------------------------------------------ model helpers
    def head(self) -> tuple[int, str]:
        return self.book.conn.execute("SELECT seq, row_hash FROM chain_head").fetchone()

    def would_go_negative(self, postings: tuple[Posting, ...], exclude: str | None) -> bool:
        deltas: dict[str, int] = {}
        for p in postings:
            deltas[p.account] = deltas.get(p.account, 0) + p.amount_fen
        for account, delta in deltas.items():
            typ, may = self.types[account]
            sign = NORMAL_SIGN[typ]
            if may or sign * delta >= 0:
                continue
            reserved = sum(min(sign * p.amount_fen, 0) for iid, plan in self.pending.items() if iid != exclude
                           for p in plan.postings if p.account == account)
            if sign * (self.balances[account] + delta) + reserved < 0:
                return True
        return False

    def apply(self, intent_id: str, txn_id: int) -> None:
        plan = self.pending.pop(intent_id)
        for p in plan.postings:
            self.balances[p.account] += p.amount_fen
        self.state[intent_id] = "committed"
        self.txn_of[intent_id] = txn_id
        if plan.serial is not None:
            self.booked[(plan.serial, plan.counter, plan.txn_type)] = txn_id
            self.next_counter[(plan.serial, plan.txn_type)] = plan.counter + 1

    # ------------------------------------------------------------------ rules
    @rule(target=intents, kind=st.sampled_from(KINDS), amount=st.integers(1, 60_000),
          card=st.sampled_from(CARDS), replay=st.booleans())
    def begin(self, kind: str, amount: int, card: str, replay: bool):
        Steps.count += 1
        lines = tuple({
            "purse_purchase": lambda: chart.purse_purchase(amount, "drugs"),
            "purse_load": lambda: chart.purse_load(amount),
            "purse_refund": lambda: chart.purse_refund(amount),
            "cash_sale": lambda: chart.cash_sale(amount),
            "cash_refund": lambda: chart.cash_refund(amount),
            "float_out": lambda: chart.float_out(amount),
            "medical_sale": lambda: chart.medical_sale(pooled_fen=amount, personal_fen=amount // 3, cash_fen=0),
        }[kind]())
        serial = counter = txn_type = None
        if kind.startswith("purse"):
            serial = card
            txn_type = TXN_EP_PURCHASE if kind == "purse_purchase" else TXN_EP_LOAD
            counter = self.next_counter[(serial, txn_type)]
            if replay and counter > 0:
                counter -= 1  # a card transaction that is already booked
        if serial is not None and any(p.serial == serial for p in self.pending.values()):
            expected: type[Exception] | None = PendingIntentExists
        elif serial is not None and (serial, counter, txn_type) in self.booked:
            expected = DuplicateTransaction
        elif self.would_go_negative(lines, None):
            expected = NegativeBalance
        else:
            expected = None
        before = self.head()
        try:
            intent = self.book.begin_intent(kind=kind, amount_fen=amount, card_serial=serial, operator="op1",
                                            business_day=DAY, details={"k": kind}, postings=lines,
                                            card_counter=counter, txn_type=txn_type)
        except (PendingIntentExists, DuplicateTransaction, NegativeBalance) as exc:
            assert type(exc) is expected, (exc, expected)
            assert self.head() == before
            Steps.saw(type(exc).__name__)
            return multiple()
        assert expected is None, f"expected {expected}"
        Steps.saw("begun")
        self.pending[intent.intent_id] = Planned(kind, lines, serial, counter, txn_type)
        self.state[intent.intent_id] = "pending"
        return intent.intent_id

    @rule(intent_id=intents)
    def commit(self, intent_id: str) -> None:
        Steps.count += 1
        state = self.state[intent_id]
        if state == "pending":
            plan = self.pending[intent_id]
            txn = self.book.commit_intent(intent_id, tac="0A0B0C0D" if plan.serial else None)
            self.apply(intent_id, txn.txn_id)
            Steps.saw("committed")
        elif state == "committed":
            before = self.head()
            assert self.book.commit_intent(intent_id).txn_id == self.txn_of[intent_id]
            assert self.head() == before
        else:
            with pytest.raises(IntentAlreadyResolved):
                self.book.commit_intent(intent_id)

    @rule(intent_id=consumes(intents), cancel=st.booleans())
    def fail_or_cancel(self, intent_id: str, cancel: bool) -> None:
        Steps.count += 1
        state = self.state[intent_id]
        before = self.head()
        call = self.book.cancel_intent if cancel else self.book.fail_intent
        if state == "pending":
            call(intent_id, "customer left")
            del self.pending[intent_id]
            self.state[intent_id] = "cancelled" if cancel else "failed"
        elif state == ("cancelled" if cancel else "failed"):
            call(intent_id, "customer left")
            assert self.head() == before
        else:
            with pytest.raises(IntentAlreadyResolved):
                call(intent_id, "customer left")
            assert self.head() == before

    @rule(intent_id=intents, extra=st.integers(1, 1_000))
    def unbalanced_commit_writes_nothing(self, intent_id: str, extra: int) -> None:
        Steps.count += 1
        before = self.head()
        with pytest.raises(UnbalancedEntry):
            self.book.commit_intent(intent_id, postings=[Posting("cash_drawer", extra), Posting("revenue:goods", -extra - 1)])
        assert self.head() == before

    @rule(data=st.data())
    def replay_booked_commit(self, data: st.DataObject) -> None:
        Steps.count += 1
        if not self.booked or any(p.serial for p in self.pending.values()):
            return
        serial, counter, txn_type = data.draw(st.sampled_from(sorted(self.booked)))
        intent = self.book.begin_intent(kind="purse_purchase", amount_fen=1, card_serial=serial, operator="op1",
                                        business_day=DAY, details={}, postings=chart.purse_purchase(1))
        before = self.head()
        with pytest.raises(DuplicateTransaction):
            self.book.commit_intent(intent.intent_id, card_counter=counter, txn_type=txn_type)
        assert self.head() == before
        self.book.cancel_intent(intent.intent_id, "replay refused")

    @rule(bad=st.sampled_from([1.0, 2.5, True, False, "100", None]))
    def non_int_amounts_are_type_errors(self, bad: object) -> None:
        Steps.count += 1
        with pytest.raises(TypeError):
            Posting("cash_drawer", bad)  # type: ignore[arg-type]
        with pytest.raises(TypeError):
            self.book.begin_intent(kind="cash_sale", amount_fen=bad, card_serial=None, operator="op1",  # type: ignore[arg-type]
                                   business_day=DAY, details={})

    @rule(data=st.data())
    def recover(self, data: st.DataObject) -> None:
        Steps.count += 1
        answers = {iid: data.draw(st.sampled_from(["done", "not_done", "unknown"])) for iid in self.pending}

        def resolver(intent):
            answer = answers[intent.intent_id]
            if answer == "done":
                return Resolution.done(tac="11223344" if intent.card_serial else None)
            return Resolution.not_done("no") if answer == "not_done" else Resolution.unknown("no card")

        for outcome in self.book.resolve_pending(resolver):
            iid = outcome.intent.intent_id
            Steps.saw("recovered " + outcome.result)
            assert outcome.result == {"done": "committed", "not_done": "failed", "unknown": "pending"}[answers[iid]]
            if outcome.result == "committed":
                self.apply(iid, outcome.txn_id)
            elif outcome.result == "failed":
                del self.pending[iid]
                self.state[iid] = "failed"

    # ------------------------------------------------------------------ invariants
    @invariant()
    def postings_sum_to_zero_and_balances_match(self) -> None:
        conn = self.book.conn
        assert conn.execute("SELECT COALESCE(SUM(amount_fen), 0) FROM postings").fetchone()[0] == 0
        balances = self.book.balances()
        assert {c: b.balance_fen for c, b in balances.items()} == self.balances
        for b in balances.values():
            assert b.may_go_negative or b.normal_fen >= 0, b
        assert {i.intent_id for i in self.book.pending_intents()} == set(self.pending)

    def teardown(self) -> None:
        report = self.book.verify(quick=True)
        self.book.close()
        shutil.rmtree(self.dir, ignore_errors=True)
        assert report.ok, report.first


def test_ledger_state_machine() -> None:
    started = time.perf_counter()
    folder = fast_dir("ykt-ledger-sm-")
    try:
        new_ledger(folder / "template.sqlite", float_fen=10_000).close()
        LedgerMachine.folder = folder
        LedgerMachine.template = folder / "template.sqlite"
        Steps.count = 0
        Steps.outcomes = {}
        runs = 0
        while Steps.count < STEPS:
            runs += 1
            run_state_machine_as_test(LedgerMachine, settings=settings(
                max_examples=60, stateful_step_count=50, deadline=None, database=None,
                suppress_health_check=list(HealthCheck)))
        print(f"state machine: {Steps.count} steps in {runs} run(s), {time.perf_counter() - started:.1f}s,"
              f" {dict(sorted(Steps.outcomes.items()))}")
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    assert Steps.count >= STEPS
    for what in ("begun", "committed", "PendingIntentExists", "DuplicateTransaction", "NegativeBalance",
                 "recovered committed", "recovered failed", "recovered pending"):
        assert Steps.outcomes.get(what, 0) > 0, f"the state machine never reached {what}"
