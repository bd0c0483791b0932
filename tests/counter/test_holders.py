"""End to end, for every demo holder, through the emulated reader: identify with the PIN, preview, pay,
receipt, refund — the card's ED balance and medical record move with the ledger, or the holder is refused
with one clear reason."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from terminal.counter import AlreadyRefunded, NotAuthorised
from terminal.counter.cart import load_cart
from terminal.identity import IdentityRefused, Reason
from terminal.ledger import accounts
from terminal.medical import SettlementRefused
from tests.counter.helpers import DATA, HOLDERS, NOW, PIN, Desk, make_desk

COLD = DATA / "carts" / "cold.csv"
CHRONIC = DATA / "carts" / "chronic.csv"


def sell(desk: Desk, name: str, cart: Path = COLD):
    card = desk.card(name)
    customer = desk.counter.identify(card.reader, card.manager, pin=PIN)
    draft = desk.counter.preview(customer, load_cart(cart, desk.counter.catalog))
    return card, customer, draft, desk.counter.pay(draft, pin=PIN)


def assert_card_matches(card, settlement) -> None:
    balance, record = card.committed()
    assert balance == settlement.account_balance_after_fen
    ytd = settlement.ytd_after
    assert (record.year, record.deductible_used_fen, record.pooled_paid_fen, record.inpatient_pooled_paid_fen) == (
        NOW.year, ytd.deductible_used_fen, ytd.pooled_paid_fen, ytd.inpatient_pooled_paid_fen)


def test_the_demo_holders_are_all_covered() -> None:
    assert set(HOLDERS) == {"zhang-wei", "li-na", "wang-jianguo", "chen-xiaoyu", "zhao-min", "ayguli", "liu-yang"}


@pytest.mark.parametrize("name", ["zhang-wei", "li-na", "wang-jianguo", "chen-xiaoyu", "zhao-min"])
def test_sale_receipt_and_refund(desk: Desk, name: str) -> None:
    card, customer, draft, sale = sell(desk, name, CHRONIC)
    s = draft.settlement
    assert sale.committed, sale.reason
    assert s.pooled_fen + s.account_fen + s.cash_fen == s.total_fen
    assert_card_matches(card, s)
    txn = sale.booked.transaction
    assert txn is not None and txn.txn_type == 0x05 and txn.tac == sale.tac
    assert set(txn.postings) == set(accounts.medical_sale(pooled_fen=s.pooled_fen, personal_fen=s.account_fen,
                                                          cash_fen=s.cash_fen))
    text = desk.counter.receipt(sale.receipt_no).to_text()
    assert sale.tac in text and "310100000001" in text and customer.identity.masked_ssn in text
    assert customer.identity.name not in text and PIN not in text

    # the whole sale back: the card and the counters as before the sale
    desk.login("sup1")
    back = desk.counter.refund(sale.receipt_no, manager=card.manager, pin=PIN)
    assert back.committed, back.reason
    balance, record = card.committed()
    assert balance == s.account_balance_before_fen
    assert (record.deductible_used_fen, record.pooled_paid_fen) == (s.ytd_before.deductible_used_fen, s.ytd_before.pooled_paid_fen)
    with pytest.raises(AlreadyRefunded):
        desk.counter.refund(sale.receipt_no, manager=card.manager, pin=PIN)
    assert desk.counter.ledger.verify().ok


def test_li_na_has_no_personal_account_so_a_zero_debit_carries_the_counters(desk: Desk) -> None:
    card, customer, draft, sale = sell(desk, "li-na", CHRONIC)
    assert not customer.policy.account_available and customer.account_balance_fen == 80_000
    assert draft.settlement.account_fen == 0 and draft.settlement.pooled_fen > 0
    assert sale.committed and sale.booked.result.amount == 0
    assert_card_matches(card, draft.settlement)


def test_wang_jianguo_is_settled_as_a_retiree(desk: Desk) -> None:
    _, customer, draft, sale = sell(desk, "wang-jianguo", CHRONIC)
    assert customer.policy.categories == ("retired",) and draft.settlement.retired and sale.committed


def test_zhao_min_cross_province_with_and_without_filing(desk: Desk, tmp_path: Path) -> None:
    card, customer, draft, _ = sell(desk, "zhao-min", CHRONIC)
    assert draft.settlement.cross_province and not draft.settlement.filed
    assert draft.settlement.ratio_percent == customer.policy.outpatient.pharmacy_ratio_percent - 15
    desk.counter.import_filings(DATA / "filings.example.csv")
    customer = desk.counter.identify(card.reader, card.manager, pin=PIN)
    filed = desk.counter.preview(customer, load_cart(CHRONIC, desk.counter.catalog))
    assert filed.settlement.filed and filed.filing is not None and filed.filing.filing_id == "BA5101002024011500001"
    assert filed.settlement.ratio_percent == customer.policy.outpatient.pharmacy_ratio_percent


def test_ayguli_is_refused_without_a_filing(desk: Desk) -> None:
    card = desk.card("ayguli")
    customer = desk.counter.identify(card.reader, card.manager, pin=PIN)
    with pytest.raises(SettlementRefused, match="备案"):
        desk.counter.preview(customer, load_cart(COLD, desk.counter.catalog))
    assert card.committed()[0] == 20_000


def test_liu_yang_blocked_pin_is_refused(desk: Desk) -> None:
    card = desk.card("liu-yang")
    with pytest.raises(IdentityRefused) as e:
        desk.counter.identify(card.reader, card.manager, pin=PIN)
    assert e.value.reason is Reason.PIN_BLOCKED and "issuer" in str(e.value)


def test_counters_travel_with_the_card_across_pharmacies(tmp_path: Path) -> None:
    """Settled at one pharmacy (its own ledger), then at another: the second starts from the card's counters."""
    first = make_desk(tmp_path / "a")
    _, _, d1, s1 = sell(first, "zhang-wei", CHRONIC)
    assert s1.committed
    second = make_desk(tmp_path / "b", region="310100")
    second.cards["zhang-wei"] = replace(first.card("zhang-wei"), manager=second.counter.manager(
        first.card("zhang-wei").reader, second.psam_reader))
    _, customer, d2, s2 = sell(second, "zhang-wei", COLD)
    assert customer.ytd == d1.settlement.ytd_after and d2.settlement.ytd_before == d1.settlement.ytd_after
    assert customer.account_balance_fen == d1.settlement.account_balance_after_fen
    assert s2.committed
    first.counter.close()
    second.counter.close()


def test_partial_refunds_add_up_and_lines_go_back_once(desk: Desk) -> None:
    card, _, draft, sale = sell(desk, "zhang-wei", CHRONIC)
    desk.login("sup1")
    r1 = desk.counter.refund(sale.receipt_no, [1, 3], manager=card.manager, pin=PIN)
    assert r1.committed and r1.refund.line_indexes == (1, 3)
    with pytest.raises(AlreadyRefunded, match="line 1 was already refunded"):
        desk.counter.refund(sale.receipt_no, [1], manager=card.manager, pin=PIN)
    r2 = desk.counter.refund(sale.receipt_no, manager=card.manager, pin=PIN)
    assert r2.committed and set(r2.refund.line_indexes) == {0, 2, 4, 5}
    parts = [r1.refund.totals, r2.refund.totals]
    s = draft.settlement
    assert sum(p.pooled_fen for p in parts) == s.pooled_fen and sum(p.account_fen for p in parts) == s.account_fen
    assert sum(p.cash_fen for p in parts) == s.cash_fen
    balance, record = card.committed()
    assert balance == s.account_balance_before_fen and record.pooled_paid_fen == 0 and record.deductible_used_fen == 0
    refund_text = desk.counter.receipt(r1.refund_no).to_text()
    assert f"refund of {sale.receipt_no}" in refund_text


def test_refunds_need_a_supervisor_and_the_sales_card(desk: Desk) -> None:
    card, _, _, sale = sell(desk, "zhang-wei")
    with pytest.raises(NotAuthorised, match="supervisor"):
        desk.counter.refund(sale.receipt_no, manager=card.manager, pin=PIN)
    desk.login("sup1")
    other = desk.card("wang-jianguo")
    with pytest.raises(Exception, match="not the card of sale"):
        desk.counter.refund(sale.receipt_no, manager=other.manager, pin=PIN)


def test_a_stale_preview_is_not_paid(desk: Desk) -> None:
    card, customer, draft, sale = sell(desk, "zhang-wei")
    assert sale.committed
    with pytest.raises(Exception, match="changed since the preview"):
        desk.counter.pay(draft, pin=PIN)


def test_not_enough_in_the_account_declines_and_changes_nothing(desk: Desk) -> None:
    card = desk.card("zhang-wei")
    customer = desk.counter.identify(card.reader, card.manager, pin=PIN)
    draft = desk.counter.preview(customer, load_cart(CHRONIC, desk.counter.catalog))
    # the holder spends from the account elsewhere (another terminal) before paying here
    assert card.manager.purchase(100_000, 0x05, pin=PIN).done
    before = card.committed()
    sale = desk.counter.pay(draft, pin=PIN)
    assert sale.status == "failed" and "insufficient balance" in (sale.reason or "")
    assert card.committed() == before
    assert desk.counter.receipt(sale.receipt_no).status == "failed"


def test_no_refund_onto_a_hotlisted_card(desk: Desk) -> None:
    from terminal.hotlist import Hotlist

    card, _, _, sale = sell(desk, "zhang-wei")
    desk.login("sup1")
    desk.counter.hotlist = Hotlist.of(["A00000001"])
    with pytest.raises(Exception, match="on the hotlist"):
        desk.counter.refund(sale.receipt_no, manager=card.manager, pin=PIN)


def test_a_cash_refund_needs_the_cash_in_the_drawer(desk: Desk) -> None:
    from terminal.ledger import NegativeBalance

    card, _, draft, sale = sell(desk, "zhao-min", CHRONIC)
    cash = draft.settlement.cash_fen
    assert sale.committed and cash > 0
    ledger = desk.counter.ledger
    taken = ledger.begin_intent(kind="float_out", amount_fen=cash, card_serial=None, operator="sup1",
                                business_day="2025-03-01", postings=accounts.float_out(cash))
    ledger.commit_intent(taken.intent_id)
    desk.login("sup1")
    before = card.committed()
    with pytest.raises(NegativeBalance):
        desk.counter.refund(sale.receipt_no, manager=card.manager, pin=PIN)
    assert card.committed() == before  # refused before the CREDIT: nothing moved
    back = ledger.begin_intent(kind="float_in", amount_fen=cash, card_serial=None, operator="sup1",
                               business_day="2025-03-01", postings=accounts.float_in(cash))
    ledger.commit_intent(back.intent_id)
    assert desk.counter.refund(sale.receipt_no, manager=card.manager, pin=PIN).committed
