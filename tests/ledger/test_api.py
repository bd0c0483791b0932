"""The ledger API: intents, double entry, idempotency, refusals, recovery, outbox, keys."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from terminal.ledger import (
    DuplicateTransaction,
    IntentAlreadyResolved,
    KeyFileError,
    Ledger,
    LedgerCorrupt,
    LedgerNotFound,
    NegativeBalance,
    PendingIntentExists,
    Posting,
    Resolution,
    TerminalMismatch,
    UnbalancedEntry,
    UnknownAccount,
    UnknownIntent,
    UnsafeDetails,
)
from terminal.ledger import accounts as chart
from terminal.ledger.accounts import CHART, TXN_EP_LOAD, TXN_EP_PURCHASE
from terminal.ledger.validate import forbidden_name

from .helpers import DAY, TERMINAL, fixed_clock

CARD = "1000000000000001"


def head(book: Ledger) -> tuple[int, str]:
    return book.conn.execute("SELECT seq, row_hash FROM chain_head").fetchone()


def purchase(book: Ledger, amount: int = 500, counter: int = 0, serial: str = CARD):
    return book.begin_intent(kind="purse_purchase", amount_fen=amount, card_serial=serial, operator="op1",
                             business_day=DAY, details={"items": 1}, postings=chart.purse_purchase(amount, "drugs"),
                             card_counter=counter, txn_type=TXN_EP_PURCHASE)


def test_open_creates_db_and_key_file_0600_and_seeds_the_chart(tmp_path: Path) -> None:
    with Ledger.open(tmp_path / "l.sqlite", terminal_id=TERMINAL) as book:
        assert [a.code for a in book.accounts()] == [a.code for a in CHART]
        assert book.verify().ok
        assert book.conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert book.conn.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
    key = tmp_path / "l.sqlite.key"
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    assert len(key.read_text().strip()) == 64


def test_open_refusals(tmp_path: Path) -> None:
    with pytest.raises(LedgerNotFound):
        Ledger.open(tmp_path / "missing.sqlite", create=False)
    Ledger.open(tmp_path / "l.sqlite", terminal_id=TERMINAL).close()
    with pytest.raises(TerminalMismatch):
        Ledger.open(tmp_path / "l.sqlite", terminal_id="other")
    key = tmp_path / "l.sqlite.key"
    original = key.read_text()
    key.write_text("ab" * 32 + "\n")
    with pytest.raises(KeyFileError, match="not the key of this ledger"):
        Ledger.open(tmp_path / "l.sqlite")
    key.unlink()
    with pytest.raises(KeyFileError, match="missing"):
        Ledger.open(tmp_path / "l.sqlite")
    key.write_text(original)
    Ledger.open(tmp_path / "l.sqlite", create=False).close()
    with pytest.raises(ValueError, match="terminal_id is required"):
        Ledger.open(tmp_path / "new.sqlite")
    (tmp_path / "junk.sqlite").write_bytes(b"this is not a database" * 200)
    with pytest.raises(LedgerCorrupt, match="not a usable ledger database"):
        Ledger.open(tmp_path / "junk.sqlite", create=False)


def test_purchase_lifecycle_pending_then_committed(book: Ledger) -> None:
    intent = purchase(book)
    assert intent.state == "pending" and len(intent.intent_id) == 36
    assert [i.intent_id for i in book.pending_intents()] == [intent.intent_id]
    txn = book.commit_intent(intent.intent_id, card_counter=0, txn_type=TXN_EP_PURCHASE, tac="0a0b0c0d",
                             terminal_seq=9, card_time="20240501120000")
    assert txn.tac == "0A0B0C0D" and txn.postings == tuple(chart.purse_purchase(500, "drugs"))
    assert book.pending_intents() == []
    assert book.get_intent(intent.intent_id).state == "committed"
    assert book.get_intent(intent.intent_id).txn_id == txn.txn_id
    assert book.balances()["purse_float"].balance_fen == 500
    assert book.balances()["revenue:drugs"].normal_fen == 500
    assert book.find_transaction(CARD.lower(), 0, TXN_EP_PURCHASE) == book.get_transaction(txn.txn_id)
    assert [e.txn_id for e in book.outbox()][-1] == txn.txn_id


def test_commit_is_idempotent_for_the_same_data_and_refuses_other_data(book: Ledger) -> None:
    intent = purchase(book)
    txn = book.commit_intent(intent.intent_id, tac="01020304")
    before = head(book)
    assert book.commit_intent(intent.intent_id, tac="01020304") == txn
    assert book.commit_intent(intent.intent_id) == txn
    assert head(book) == before
    with pytest.raises(IntentAlreadyResolved):
        book.commit_intent(intent.intent_id, tac="FFFFFFFF")
    with pytest.raises(IntentAlreadyResolved):
        book.fail_intent(intent.intent_id, "too late")


def test_replayed_natural_key_is_refused_at_begin_and_commit_and_writes_nothing(book: Ledger) -> None:
    book.commit_intent(purchase(book).intent_id)
    before = head(book)
    with pytest.raises(DuplicateTransaction) as caught:
        purchase(book, counter=0)
    assert caught.value.card_counter == 0 and "already booked" in str(caught.value)
    # an intent begun without the counter, committed with the booked counter
    other = book.begin_intent(kind="purse_purchase", amount_fen=500, card_serial=CARD, operator="op1",
                              business_day=DAY, details={}, postings=chart.purse_purchase(500))
    mid = head(book)
    with pytest.raises(DuplicateTransaction):
        book.commit_intent(other.intent_id, card_counter=0, txn_type=TXN_EP_PURCHASE)
    assert head(book) == mid and mid[0] == before[0] + 1
    # the same counter with another transaction type is another card transaction
    load = book.begin_intent(kind="purse_load", amount_fen=100, card_serial="1000000000000002", operator="op1",
                             business_day=DAY, details={}, postings=chart.purse_load(100), card_counter=0,
                             txn_type=TXN_EP_LOAD)
    book.commit_intent(load.intent_id)


def test_unbalanced_or_float_or_bool_amounts_are_refused_and_nothing_is_written(book: Ledger) -> None:
    intent = book.begin_intent(kind="cash_sale", amount_fen=100, card_serial=None, operator="op1",
                               business_day=DAY, details={})
    before = head(book)
    with pytest.raises(UnbalancedEntry, match="sum to 1 fen"):
        book.commit_intent(intent.intent_id, postings=[Posting("cash_drawer", 101), Posting("revenue:goods", -100)])
    with pytest.raises(ValueError, match="no planned postings"):
        book.commit_intent(intent.intent_id)
    with pytest.raises(UnbalancedEntry, match="at least two"):
        book.commit_intent(intent.intent_id, postings=[Posting("cash_drawer", 100)])
    with pytest.raises(TypeError):
        Posting("cash_drawer", 1.0)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        Posting("cash_drawer", True)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        book.begin_intent(kind="cash_sale", amount_fen=1.5, card_serial=None, operator="op1",  # type: ignore[arg-type]
                          business_day=DAY, details={})
    with pytest.raises(TypeError):
        book.begin_intent(kind="cash_sale", amount_fen=False, card_serial=None, operator="op1",  # type: ignore[arg-type]
                          business_day=DAY, details={})
    with pytest.raises(UnknownAccount):
        book.commit_intent(intent.intent_id, postings=[Posting("cash_drawer", 100), Posting("revenue:nope", -100)])
    assert head(book) == before
    assert book.get_intent(intent.intent_id).state == "pending"
    book.commit_intent(intent.intent_id, postings=chart.cash_sale(100))
    assert book.verify().ok


@pytest.mark.parametrize("details", [
    {"pin": "123456"}, {"PIN": "1"}, {"newPin": "1"}, {"pin_block": "x"}, {"session_key": "00"},
    {"keyIndex": 1}, {"nested": {"secret": "s"}}, {"list": [{"password": "p"}]}, {"amount": 1.5},
    {"raw": b"\x00"}, {"token": "t"}, {"long": "x" * 300},
])
def test_details_never_store_pins_keys_or_secrets(book: Ledger, details: dict) -> None:
    before = head(book)
    with pytest.raises(UnsafeDetails) as caught:
        book.begin_intent(kind="cash_sale", amount_fen=100, card_serial=None, operator="op1", business_day=DAY,
                          details=details, postings=chart.cash_sale(100))
    assert "123456" not in str(caught.value)
    assert head(book) == before


def test_forbidden_names_are_over_eager_but_let_ordinary_fields_through() -> None:
    for ok in ("items", "card_number_masked", "lane", "shipping", "counter", "terminal_id", "ssn_masked"):
        assert not forbidden_name(ok), ok
    for bad in ("pin", "PinTries", "userPIN", "mac_key", "dtk", "Secret", "passwd", "cardPin"):
        assert forbidden_name(bad), bad


def test_one_pending_intent_per_card(book: Ledger) -> None:
    first = purchase(book)
    with pytest.raises(PendingIntentExists) as caught:
        purchase(book, counter=1)
    assert caught.value.intent_id == first.intent_id
    book.fail_intent(first.intent_id, "9401 insufficient balance")
    book.commit_intent(purchase(book).intent_id)


def test_fail_and_cancel_are_final_and_idempotent(book: Ledger) -> None:
    a = purchase(book)
    assert book.fail_intent(a.intent_id, "card refused").state == "failed"
    assert book.fail_intent(a.intent_id, "card refused").state == "failed"
    with pytest.raises(IntentAlreadyResolved):
        book.cancel_intent(a.intent_id)
    with pytest.raises(IntentAlreadyResolved):
        book.commit_intent(a.intent_id)
    b = book.begin_intent(kind="cash_sale", amount_fen=100, card_serial=None, operator="op1", business_day=DAY,
                          details={}, postings=chart.cash_sale(100))
    assert book.cancel_intent(b.intent_id).reason == "cancelled by operator"
    with pytest.raises(UnknownIntent):
        book.fail_intent("no-such-intent", "x")
    assert book.verify().ok


def test_accounts_that_may_not_go_negative_count_pending_reservations(book: Ledger) -> None:
    # the till holds 100,000 fen; a pending refund of 60,000 reserves it
    a = book.begin_intent(kind="cash_refund", amount_fen=60_000, card_serial=None, operator="op1",
                          business_day=DAY, details={}, postings=chart.cash_refund(60_000))
    with pytest.raises(NegativeBalance) as caught:
        book.begin_intent(kind="cash_refund", amount_fen=50_000, card_serial=None, operator="op1",
                          business_day=DAY, details={}, postings=chart.cash_refund(50_000))
    assert caught.value.account == "cash_drawer"
    book.commit_intent(a.intent_id)
    b = book.begin_intent(kind="cash_refund", amount_fen=40_000, card_serial=None, operator="op1",
                          business_day=DAY, details={}, postings=chart.cash_refund(40_000))
    book.commit_intent(b.intent_id)
    assert book.balances()["cash_drawer"].balance_fen == 0
    c = book.begin_intent(kind="cash_refund", amount_fen=1, card_serial=None, operator="op1", business_day=DAY,
                          details={})
    with pytest.raises(NegativeBalance):
        book.commit_intent(c.intent_id, postings=chart.cash_refund(1))
    # purse_float may go negative (loads before purchases)
    load = book.begin_intent(kind="purse_load", amount_fen=5_000, card_serial=CARD, operator="op1",
                             business_day=DAY, details={}, postings=chart.purse_load(5_000), card_counter=0,
                             txn_type=TXN_EP_LOAD)
    book.commit_intent(load.intent_id)
    assert book.balances()["purse_float"].balance_fen == -5_000


def test_resolve_pending_with_the_purse_rule(book: Ledger) -> None:
    done = purchase(book, serial="1000000000000001")
    not_done = purchase(book, serial="1000000000000002")
    unknown = purchase(book, serial="1000000000000003")
    broken = purchase(book, serial="1000000000000004")
    cash = book.begin_intent(kind="cash_sale", amount_fen=100, card_serial=None, operator="op1", business_day=DAY,
                             details={}, postings=chart.cash_sale(100))
    card_counters = {"1000000000000001": 1, "1000000000000002": 0, "1000000000000003": 7}

    def resolver(intent):
        if intent.card_serial is None:
            return Resolution.unknown("no card: ask the operator")
        if intent.card_serial == "1000000000000004":
            raise OSError("reader unplugged")
        now = card_counters[intent.card_serial]
        if now == intent.card_counter + 1:
            return Resolution.done(card_counter=intent.card_counter, txn_type=intent.txn_type, tac="11223344")
        if now == intent.card_counter:
            return Resolution.not_done("counter unchanged")
        return Resolution.unknown(f"counter {now}")

    outcomes = {o.intent.intent_id: o for o in book.resolve_pending(resolver)}
    assert outcomes[done.intent_id].result == "committed"
    assert book.get_transaction(outcomes[done.intent_id].txn_id).tac == "11223344"
    assert outcomes[not_done.intent_id].result == "failed"
    assert book.get_intent(not_done.intent_id).reason == "counter unchanged"
    assert outcomes[unknown.intent_id].result == "pending"
    assert outcomes[broken.intent_id].message == "resolver failed: reader unplugged"
    assert [i.intent_id for i in book.pending_intents()] == [unknown.intent_id, broken.intent_id, cash.intent_id]
    assert book.resolve_pending(resolver)[0].result == "pending"  # running it again changes nothing
    assert book.verify().ok


def test_outbox_has_each_committed_transaction_once_in_commit_order(book: Ledger) -> None:
    intents = [book.begin_intent(kind="cash_sale", amount_fen=100 + i, card_serial=None, operator="op1",
                                 business_day=DAY, details={}, postings=chart.cash_sale(100 + i)) for i in range(5)]
    order = [3, 0, 4, 1]
    txns = [book.commit_intent(intents[i].intent_id) for i in order]
    book.commit_intent(intents[3].intent_id)  # idempotent: no second outbox row
    entries = book.outbox()
    assert [e.txn_id for e in entries][1:] == [t.txn_id for t in txns]
    assert [e.txn_id for e in book.outbox(after_seq=entries[2].seq)] == [t.txn_id for t in txns[2:]]
    assert len(book.outbox(limit=2)) == 2


def test_day_report_totals(book: Ledger) -> None:
    book.commit_intent(purchase(book, 500).intent_id)
    sale = book.begin_intent(kind="medical_sale", amount_fen=10_000, card_serial=None, operator="op2",
                             business_day=DAY, details={"settlement": "2207"},
                             postings=chart.medical_sale(pooled_fen=6_000, personal_fen=3_000, cash_fen=1_000))
    book.commit_intent(sale.intent_id)
    other_day = book.begin_intent(kind="cash_sale", amount_fen=700, card_serial=None, operator="op1",
                                  business_day="2024-05-02", details={}, postings=chart.cash_sale(700))
    book.commit_intent(other_day.intent_id)
    book.fail_intent(purchase(book, 1, counter=1).intent_id, "refused")
    report = book.report(DAY)
    totals = {a.account: (a.debit_fen, a.credit_fen) for a in report.by_account}
    assert totals == {
        "cash_drawer": (101_000, 0), "opening_float": (0, 100_000), "purse_float": (500, 0),
        "pooled_fund_receivable": (6_000, 0), "personal_account": (3_000, 0), "revenue:drugs": (0, 10_500),
    }
    assert [(o.operator, o.kind, o.transactions, o.amount_fen) for o in report.by_operator] == [
        ("op1", "float_in", 1, 100_000), ("op1", "purse_purchase", 1, 500), ("op2", "medical_sale", 1, 10_000)]
    assert report.transactions == 3
    assert report.intents_by_state == {"committed": 3, "failed": 1}


def test_clock_must_be_aware_and_timestamps_are_utc(tmp_path: Path) -> None:
    with Ledger.open(tmp_path / "l.sqlite", terminal_id=TERMINAL, clock=fixed_clock()) as book:
        intent = book.begin_intent(kind="cash_sale", amount_fen=1, card_serial=None, operator="op1",
                                   business_day=DAY, details={}, postings=chart.cash_sale(1))
        assert intent.created_at == "2024-05-01T08:00:01.000Z"


def test_add_account_joins_the_chain(book: Ledger) -> None:
    book.add_account("revenue:optical", "Sales: glasses", "revenue")
    intent = book.begin_intent(kind="cash_sale", amount_fen=100, card_serial=None, operator="op1", business_day=DAY,
                               details={}, postings=chart.cash_sale(100, "optical"))
    book.commit_intent(intent.intent_id)
    with pytest.raises(ValueError):
        book.add_account("revenue:optical", "again", "revenue")
    with pytest.raises(ValueError):
        book.add_account("Bad Code", "x", "revenue")
    assert book.verify().ok


def test_two_processes_share_one_ledger(tmp_path: Path) -> None:
    path = tmp_path / "l.sqlite"
    a = Ledger.open(path, terminal_id=TERMINAL)
    b = Ledger.open(path, terminal_id=TERMINAL)
    intent = a.begin_intent(kind="cash_sale", amount_fen=100, card_serial=None, operator="op1", business_day=DAY,
                            details={}, postings=chart.cash_sale(100))
    b.commit_intent(intent.intent_id)
    assert a.commit_intent(intent.intent_id).txn_id == b.get_intent(intent.intent_id).txn_id
    a.close()
    b.close()
    assert not os.path.exists(str(path) + "-wal")


def test_checkpoint_puts_the_committed_pages_into_the_database_file(book: Ledger, tmp_path: Path) -> None:
    import shutil
    import sqlite3

    assert book.checkpoint() == 0  # the new ledger's schema and chart go into the file
    intent = purchase(book)
    txn = book.commit_intent(intent.intent_id, card_counter=0, txn_type=TXN_EP_PURCHASE, tac="0a0b0c0d")

    def in_the_file_alone() -> int:  # the database file without its WAL: what a checkpoint has copied
        copy = tmp_path / "copy.sqlite"
        shutil.copyfile(book.path, copy)
        with sqlite3.connect(copy) as conn:
            return conn.execute("SELECT count(*) FROM transactions WHERE seq = ?", (txn.txn_id,)).fetchone()[0]

    assert in_the_file_alone() == 0  # still only in the WAL
    assert book.checkpoint() == 0
    assert in_the_file_alone() == 1
    assert book.checkpoint() == 0  # nothing left: cheap
    assert book.verify().ok
