"""Subsidy credit (补贴待遇进卡): a batch file's lines loaded onto the card's EP, each at most once."""

from __future__ import annotations

from pathlib import Path

import pytest

from reader.emulated import Faults
from terminal.counter import BadInput
from terminal.counter.subsidy import parse_batch
from tests.counter.helpers import DATA, PIN, Desk

BATCH = DATA / "subsidy.example.csv"


def test_credit_each_line_once(desk: Desk) -> None:
    card = desk.card("zhang-wei")
    ep = card.ep_balance()
    batch, identity, credits = desk.counter.subsidy(BATCH, card.reader, card.manager)
    assert batch.batch_id == "BT2025030001" and identity.card_number == "A00000001"
    assert [(c.line.line_no, c.status) for c in credits] == [(1, "committed"), (3, "committed")]
    assert card.ep_balance() == ep + 5_000 + 1_200
    _, _, again = desk.counter.subsidy(BATCH, card.reader, card.manager)
    assert [c.status for c in again] == ["skipped", "skipped"] and card.ep_balance() == ep + 6_200
    balances = desk.counter.ledger.balances()
    assert balances["subsidy_payable"].normal_fen == batch.total_fen - 6_200  # the advance, drawn down
    assert balances["settlement_receivable"].balance_fen == batch.total_fen  # booked once
    assert desk.counter.ledger.verify().ok


def test_li_na_needs_her_pin_to_be_identified(desk: Desk) -> None:
    card = desk.card("li-na")
    with pytest.raises(Exception, match="PIN"):
        desk.counter.subsidy(BATCH, card.reader, card.manager)
    _, _, credits = desk.counter.subsidy(BATCH, card.reader, card.manager, pin=PIN)
    assert [c.status for c in credits] == ["committed"]


def test_a_card_without_lines_gets_nothing(desk: Desk) -> None:
    card = desk.card("chen-xiaoyu")
    assert desk.counter.subsidy(BATCH, card.reader, card.manager)[2] == []


def test_a_lost_answer_is_resolved_before_crediting_again(desk: Desk) -> None:
    card = desk.card("wang-jianguo")
    ep = card.ep_balance()
    card.reader.faults = Faults(lose_response=card.reader.apdu_count + 40)  # somewhere in the load
    try:
        desk.counter.subsidy(BATCH, card.reader, card.manager)
    except Exception:
        pass
    card.reinsert()
    _, _, credits = desk.counter.subsidy(BATCH, card.reader, card.manager)
    assert card.ep_balance() == ep + 20_000
    assert [c.status for c in credits] in (["skipped"], ["committed"])
    assert not desk.counter.ledger.pending_intents()


def test_same_batch_id_with_other_content_is_refused(desk: Desk, tmp_path: Path) -> None:
    card = desk.card("zhang-wei")
    desk.counter.subsidy(BATCH, card.reader, card.manager)
    changed = tmp_path / "b.csv"
    changed.write_text(BATCH.read_text(encoding="utf-8").replace("5000", "50000"), encoding="utf-8")
    with pytest.raises(BadInput, match="imported before with other content"):
        desk.counter.subsidy(changed, card.reader, card.manager)


@pytest.mark.parametrize("text,message", [
    ("card_number,amount_fen,reason\n", "the first line must be batch,ID"),
    ("batch,B1\ncard,amount,reason\n", "b.csv:2: the header must be card_number,amount_fen,reason"),
    ("batch,B1\ncard_number,amount_fen,reason\nA0000001,100,x\n", "b.csv:3: card number must be 9"),
    ("batch,B1\ncard_number,amount_fen,reason\nA00000001,1.50,x\n", "b.csv:3: amount_fen must be a whole number"),
    ("batch,B1\ncard_number,amount_fen,reason\nA00000001,0,x\n", "b.csv:3: amount_fen"),
    ("batch,B1\ncard_number,amount_fen,reason\nA00000001,100,\n", "b.csv:3: reason must be 1-64"),
    ("batch,B1\ncard_number,amount_fen,reason\n", "b.csv: the batch has no lines"),
])
def test_bad_batches_name_file_and_line(text: str, message: str) -> None:
    with pytest.raises(BadInput) as e:
        parse_batch(text.encode(), "b.csv")
    assert message in str(e.value)
