"""Sales and refunds torn at every APDU (card pulled before it, pulled after its answer, answer lost), at every
PSAM APDU and at every card save: after the card is presented again and the counter recovers, the sale or
refund is committed with the card debited / credited and its counters written, or it did not happen and the
card is untouched — never half, never pending with the card present, never booked twice. A refund that did
not happen can be made again; one that happened cannot.

Two paths each: the personal account pays (ED purchase > 0 / ED load) and it does not (a 0-amount ED purchase
carries the counters: li-na's resident scheme has no personal account)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from reader.emulated import Faults
from reader.errors import ReaderError
from terminal.counter import AlreadyRefunded
from terminal.counter.cart import load_cart
from terminal.counter.history import load_refund, load_sale
from terminal.errors import TerminalError
from tests.counter.helpers import DATA, PIN, Card, Desk, make_desk

CART = {"zhang-wei": DATA / "carts" / "cold.csv", "li-na": DATA / "carts" / "chronic.csv"}
KINDS = ("remove_before_apdu", "remove_after_apdu", "lose_response")
CARD_APDUS = 11  # more than any pay / refund sends after the identity check
PSAM_APDUS = 3
SAVES = 3


@dataclass(frozen=True)
class Tear:
    target: str  # card | psam | save
    kind: str
    n: int


def tears() -> list[Tear]:
    out = [Tear("card", k, n) for k in KINDS for n in range(1, CARD_APDUS + 1)]
    out += [Tear("psam", k, n) for k in KINDS for n in range(1, PSAM_APDUS + 1)]
    out += [Tear("save", w, n) for w in ("before-write", "after-write") for n in range(1, SAVES + 1)]
    return out


def arm(desk: Desk, card: Card, tear: Tear) -> None:
    if tear.target == "card":
        card.reader.faults = Faults(**{tear.kind: card.reader.apdu_count + tear.n})
    elif tear.target == "psam":
        desk.psam_reader.faults = Faults(**{tear.kind: desk.psam_reader.apdu_count + tear.n})
    else:
        card.storage.tear_at_save = card.storage.saves + tear.n
        card.storage.after_write = tear.kind == "after-write"


def disarm(desk: Desk, card: Card) -> None:
    card.reinsert()
    desk.reinsert_psam()


def fresh_sale(desk: Desk, card: Card):
    desk.login("c001")
    customer = desk.counter.identify(card.reader, card.manager, pin=PIN)
    return desk.counter.preview(customer, load_cart(CART[card.name], desk.counter.catalog))


def recover(desk: Desk, card: Card) -> None:
    outcomes = desk.counter.recover(card.manager, pin=PIN)
    assert all(o.result != "pending" for o in outcomes), [o.message for o in outcomes]


@pytest.mark.parametrize("holder", ["zhang-wei", "li-na"])
def test_sale_torn_anywhere_is_all_or_nothing(tmp_path: Path, holder: str) -> None:
    desk = make_desk(tmp_path)
    card = desk.card(holder)
    seen = {"committed": 0, "failed": 0, "void": 0, "pending_then_resolved": 0}
    for tear in tears():
        draft = fresh_sale(desk, card)
        before = card.committed()
        arm(desk, card, tear)
        receipt_no = None
        try:
            sale = desk.counter.pay(draft, pin=PIN)
            receipt_no = sale.receipt_no
            seen["pending_then_resolved"] += sale.status == "pending"
        except (ReaderError, TerminalError):
            pass
        disarm(desk, card)
        recover(desk, card)
        if receipt_no is None:  # torn before the sale row: nothing may have moved
            assert card.committed() == before, tear
            seen["void"] += 1
            continue
        state = load_sale(desk.counter, receipt_no).state
        s = draft.settlement
        if state == "committed":
            balance, record = card.committed()
            assert balance == s.account_balance_after_fen, tear
            assert (record.deductible_used_fen, record.pooled_paid_fen) == (
                s.ytd_after.deductible_used_fen, s.ytd_after.pooled_paid_fen), tear
        else:
            assert state in ("failed", "void"), (tear, state)
            assert card.committed() == before, tear
        seen[state] += 1
    assert seen["committed"] and seen["failed"] and seen["void"] and seen["pending_then_resolved"], seen
    report = desk.counter.ledger.verify()
    assert report.ok, report.first
    assert not desk.counter.ledger.pending_intents()
    desk.counter.close()


@pytest.mark.parametrize("holder", ["zhang-wei", "li-na"])
def test_refund_torn_anywhere_is_all_or_nothing_and_never_twice(tmp_path: Path, holder: str) -> None:
    desk = make_desk(tmp_path)
    card = desk.card(holder)
    done = pending = 0
    for tear in tears():
        sale = desk.counter.pay(fresh_sale(desk, card), pin=PIN)
        assert sale.committed, sale.reason
        desk.login("sup1")
        before = card.committed()
        arm(desk, card, tear)
        refund_no = None
        try:
            result = desk.counter.refund(sale.receipt_no, manager=card.manager, pin=PIN)
            refund_no, pending = result.refund_no, pending + (result.status == "pending")
        except (ReaderError, TerminalError):
            pass
        disarm(desk, card)
        recover(desk, card)
        s = sale.draft.settlement
        state = load_refund(desk.counter, refund_no).state if refund_no else "void"
        if state == "committed":
            done += 1
            balance, record = card.committed()
            assert balance == before[0] + s.account_fen, tear
            assert (record.deductible_used_fen, record.pooled_paid_fen) == (
                s.ytd_before.deductible_used_fen, s.ytd_before.pooled_paid_fen), tear
            with pytest.raises(AlreadyRefunded):
                desk.counter.refund(sale.receipt_no, manager=card.manager, pin=PIN)
        else:
            assert state in ("failed", "void"), (tear, state)
            assert card.committed() == before, tear
            again = desk.counter.refund(sale.receipt_no, manager=card.manager, pin=PIN)
            assert again.committed, (tear, again.reason)
        assert card.committed()[0] == s.account_balance_before_fen, tear
    assert done and pending
    report = desk.counter.ledger.verify()
    assert report.ok, report.first
    assert not desk.counter.ledger.pending_intents()
    desk.counter.close()
