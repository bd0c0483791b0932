"""terminal.booking: purse purchases and loads booked through the ledger — intent before the DEBIT/CREDIT,
committed with TAC / counter / terminal seq / card time, failed on a decline, pending when the card's answer
is lost and resolved by the purse recovery rule when the card comes back; refusals before any money moves."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from applets.purse.layout import TxnType
from terminal.booking import PurseBooks, attempt_of, is_declined, recover_at_start
from terminal.ledger import (
    DuplicateTransaction,
    Ledger,
    NegativeBalance,
    PendingIntentExists,
    Posting,
    TerminalMismatch,
    UnsafeDetails,
)
from terminal.ledger import accounts as chart
from terminal.purse import Outcome
from tests.purse.helpers import PIN, Rig, purse_image, rig

from .helpers import DAY, fixed_clock

TERMINAL = "310100000001"  # the test PSAM's terminal id
SERIAL = "3100000000000042"


@pytest.fixture
def book(tmp_path: Path) -> Iterator[Ledger]:
    ledger = Ledger.open(tmp_path / "ledger.sqlite", terminal_id=TERMINAL, clock=fixed_clock())
    yield ledger
    ledger.close()


def books_for(book: Ledger, r: Rig, operator: str = "op1") -> PurseBooks:
    return PurseBooks(book, r.manager, operator=operator, business_day=lambda: DAY)


def tear_next_save(r: Rig, after_write: bool) -> None:
    r.card_storage.tear_at_save = r.card_storage.saves + 1
    r.card_storage.after_write = after_write


def test_purchase_is_booked_with_tac_counter_terminal_seq_and_card_time(book: Ledger) -> None:
    r = rig()
    seen: list[int] = []
    book_begin = book.begin_intent

    def spy(**kwargs: object) -> object:  # the intent is durable before the DEBIT reaches the card
        seen.append(r.card_storage.saves)
        return book_begin(**kwargs)  # type: ignore[arg-type]

    book.begin_intent = spy  # type: ignore[method-assign]
    booked = books_for(book, r).purchase(250, chart.purse_purchase(250, "drugs"), details={"lane": 2})
    assert booked.status == "committed" and booked.result.outcome is Outcome.DONE
    assert seen == [0] and r.card_storage.saves == 1
    txn = booked.transaction
    assert txn is not None and booked.intent.state == "committed" and booked.intent.txn_id == txn.txn_id
    assert (txn.card_serial, txn.card_counter, txn.txn_type, txn.terminal_seq) == (SERIAL, 0, 6, 1)
    assert txn.tac == booked.result.tac.hex().upper() and r.host.verify_tac(booked.result)
    assert txn.card_time == "20240301083000" and txn.operator == "op1" and txn.business_day == DAY
    assert txn.postings == tuple(chart.purse_purchase(250, "drugs"))
    attempt = attempt_of(booked.intent)
    assert attempt is not None and (attempt.counter, attempt.terminal_seq, attempt.amount) == (0, 1, 250)
    assert booked.intent.details["lane"] == 2
    assert book.verify().ok


def test_load_and_refund_use_the_online_counter(book: Ledger) -> None:
    r = rig()
    books = books_for(book, r)
    load = books.load(1_000, chart.purse_load(1_000))
    refund = books.load(300, chart.purse_refund(300), purpose="refund", kind="purse_refund")
    assert [b.status for b in (load, refund)] == ["committed", "committed"]
    assert [(b.transaction.kind, b.transaction.card_counter, b.transaction.txn_type) for b in (load, refund)] == [
        ("purse_load", 0, 2), ("purse_refund", 1, 2)]
    assert refund.intent.details["purpose"] == "refund" and attempt_of(refund.intent).host_mac2 is not None
    assert r.committed()["ep"]["balance"] == 11_300
    assert book.balances()["purse_float"].balance_fen == -1_300


def test_ed_purchase_with_the_pin(book: Ledger) -> None:
    r = rig(purse_image(ep=0, ed=5_000))
    lines = [Posting("personal_account", 700), Posting("revenue:drugs", -700)]
    booked = books_for(book, r).purchase(700, lines, txn_type=TxnType.ED_PURCHASE, pin=PIN)
    assert booked.status == "committed" and booked.transaction.txn_type == 5
    assert r.committed()["ed"]["balance"] == 4_300


def test_a_decline_is_a_failed_intent_and_nothing_is_booked(book: Ledger) -> None:
    r = rig()
    booked = books_for(book, r).purchase(20_000, chart.purse_purchase(20_000))
    assert booked.status == "failed" and booked.transaction is None
    assert booked.intent.state == "failed" and booked.intent.reason == "INITIALIZE: insufficient balance"
    assert is_declined(booked.intent) and booked.intent.card_serial == SERIAL
    assert book.pending_intents() == [] and r.committed()["ep"]["balance"] == 10_000


@pytest.mark.parametrize("after_write", [False, True])
def test_lost_answer_stays_pending_then_the_card_resolves_it(book: Ledger, after_write: bool) -> None:
    r = rig()
    books = books_for(book, r)
    tear_next_save(r, after_write)
    booked = books.purchase(300, chart.purse_purchase(300))
    assert booked.status == "pending" and booked.result.outcome is Outcome.UNKNOWN
    assert [i.intent_id for i in book.pending_intents()] == [booked.intent.intent_id]
    r.card_storage.tear_at_save = None
    # without the card: listed for the operator
    listed = recover_at_start(book, None)
    assert listed.resolved == () and [i.intent_id for i in listed.listed] == [booked.intent.intent_id]
    r.reinsert()
    outcomes = books.resolve_pending()
    assert [o.result for o in outcomes] == ["committed" if after_write else "failed"]
    assert book.pending_intents() == []
    if after_write:
        txn = book.get_transaction(outcomes[0].txn_id)
        assert (txn.card_counter, txn.terminal_seq, txn.card_time) == (0, 1, "20240301083000")
        assert txn.tac is not None and r.committed()["ep"]["balance"] == 9_700
    else:
        assert book.get_intent(booked.intent.intent_id).reason.startswith("recovered: the card did not execute")
    assert book.verify().ok


def test_a_pending_intent_is_resolved_before_the_next_purchase(book: Ledger) -> None:
    r = rig()
    books = books_for(book, r)
    tear_next_save(r, True)
    first = books.purchase(300, chart.purse_purchase(300))
    assert first.status == "pending"
    r.card_storage.tear_at_save = None
    r.reinsert()
    second = books.purchase(200, chart.purse_purchase(200))
    assert second.status == "committed" and second.transaction.card_counter == 1
    assert book.get_intent(first.intent.intent_id).state == "committed"
    assert r.committed()["ep"]["balance"] == 9_500


def test_a_card_whose_intent_cannot_be_resolved_is_refused_until_the_operator_decides(book: Ledger) -> None:
    r = rig()
    books = books_for(book, r)
    tear_next_save(r, True)
    first = books.purchase(300, chart.purse_purchase(300))
    r.card_storage.tear_at_save = None
    r.reinsert()
    r.psam_reader.remove()  # the PSAM cannot verify the card's MAC2: recovery says unknown
    with pytest.raises(PendingIntentExists):
        books.purchase(200, chart.purse_purchase(200))
    assert book.get_intent(first.intent.intent_id).state == "pending"
    book.fail_intent(first.intent.intent_id, "supervisor: card debited, clearing decides from the TAC")
    r.reinsert()
    assert books.purchase(200, chart.purse_purchase(200)).status == "committed"


@pytest.mark.parametrize("refusal", ["negative", "duplicate", "details", "terminal"])
def test_ledger_refusals_raise_before_any_money_moves(tmp_path: Path, refusal: str) -> None:
    r = rig()
    terminal = "000000000009" if refusal == "terminal" else TERMINAL
    with Ledger.open(tmp_path / "l.sqlite", terminal_id=terminal, clock=fixed_clock()) as book:
        books = books_for(book, r)
        lines = chart.purse_purchase(100)
        details: dict[str, object] = {}
        error: type[Exception] = TerminalMismatch
        if refusal == "negative":  # a till that would go below zero
            lines, error = [Posting("purse_float", 100), Posting("cash_drawer", -100)], NegativeBalance
        elif refusal == "duplicate":  # counter 0 of this card is already booked
            intent = book.begin_intent(kind="purse_purchase", amount_fen=1, card_serial=SERIAL, operator="x",
                                       business_day=DAY, postings=chart.purse_purchase(1), card_counter=0, txn_type=6)
            book.commit_intent(intent.intent_id)
            error = DuplicateTransaction
        elif refusal == "details":
            details, error = {"card_pin": PIN}, UnsafeDetails
        with pytest.raises(error):
            books.purchase(100, lines, details=details)
        assert r.committed()["ep"]["balance"] == 10_000 and r.committed()["ep"]["offline"] == 0
        assert book.pending_intents() == []


def test_reserved_detail_names_are_refused(book: Ledger) -> None:
    books = books_for(book, rig())
    for name in ("attempt", "purpose", "declined"):
        with pytest.raises(ValueError, match="booking layer"):
            books.purchase(100, chart.purse_purchase(100), details={name: 1})


def test_a_decline_left_pending_by_a_crash_fails_at_start_without_a_card(book: Ledger) -> None:
    intent = book.begin_intent(kind="purse_purchase", amount_fen=100, card_serial=None, operator="op1",
                               business_day=DAY, details={"declined": True})
    cash = book.begin_intent(kind="cash_sale", amount_fen=100, card_serial=None, operator="op1", business_day=DAY,
                             postings=chart.cash_sale(100))
    start = recover_at_start(book, None)
    assert [(o.intent.intent_id, o.result) for o in start.resolved] == [(intent.intent_id, "failed")]
    assert [i.intent_id for i in start.listed] == [cash.intent_id]


def test_recover_at_start_takes_a_manager_or_a_factory_and_lists_without_a_card(book: Ledger) -> None:
    from reader.errors import NoCard

    r = rig()
    tear_next_save(r, True)
    pending = books_for(book, r).purchase(300, chart.purse_purchase(300))
    r.card_storage.tear_at_save = None

    def no_card() -> PurseBooks:
        raise NoCard("no card in the reader")

    start = recover_at_start(book, no_card)
    assert start.card_error == "no card in the reader" and [i.intent_id for i in start.listed] == [pending.intent.intent_id]
    r.reinsert()
    start = recover_at_start(book, lambda: r.manager)
    assert start.card_serial == SERIAL and [o.result for o in start.resolved] == ["committed"] and start.listed == ()
