"""End to end: a counter (emulated cards, in-memory PSAM, ledger on disk) settling with a real centre over
HTTP — online, then the centre goes down mid-day, offline sales (and a refund), the centre comes back, the
upload settles the queued sales exactly once, the cards' counters and ED agree with the centre, and 3201 at
day close is balanced. On SQLite and on PostgreSQL (the centre's storage)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from terminal.centre import Centre
from terminal.centre_client import CentreLink
from terminal.counter.cart import load_cart
from terminal.medical import YearToDate
from tests.counter.helpers import DATA, PIN, Desk, make_desk

from .conftest import Clock
from .server import CentreServer

COLD = DATA / "carts" / "cold.csv"
CHRONIC = DATA / "carts" / "chronic.csv"
ZW_PSN = "31000019800315000001"


def link_for(server: CentreServer, clock: Clock, **kwargs: Any) -> CentreLink:
    return CentreLink.connect(server.url, clock=clock, timeout=kwargs.pop("timeout", 1.0),
                              retry_after_s=kwargs.pop("retry_after_s", 0.0), **kwargs)


@pytest.fixture
def desk(tmp_path: Path, server: CentreServer, clock: Clock) -> Iterator[Desk]:
    d = make_desk(tmp_path, clock=clock, centre=link_for(server, clock))
    yield d
    d.counter.close()


def sell(desk: Desk, name: str, cart: Path = COLD) -> Any:
    card = desk.card(name)
    customer = desk.counter.identify(card.reader, card.manager, pin=PIN)
    draft = desk.counter.preview(customer, load_cart(cart, desk.counter.catalog))
    return card, customer, draft, desk.counter.pay(draft, pin=PIN)


def account(centre: Centre, psn_no: str) -> tuple[int, int, YearToDate]:
    balc, allowance, d, p, i = centre.db.one("SELECT balc_fen, allowance_fen, deductible_used_fen, pooled_paid_fen,"
                                             " inpatient_pooled_paid_fen FROM accounts WHERE psn_no = ?", (psn_no,))
    return balc, allowance, YearToDate(d, p, i)


def card_ytd(card: Any) -> tuple[int, YearToDate]:
    balance, record = card.committed()
    return balance, YearToDate(record.deductible_used_fen, record.pooled_paid_fen, record.inpatient_pooled_paid_fen)


def test_online_then_down_then_offline_then_upload_then_balanced(desk: Desk, centre: Centre,
                                                                   server: CentreServer, tmp_path: Path) -> None:
    counter = desk.counter
    link = counter.centre
    assert link.client.sign_no  # 9001 at login

    # ---- online: the centre settles, the personal account at the centre pays, the card gets the counters
    balc0, allowance0, _ = account(centre, ZW_PSN)
    card, customer, draft, sale = sell(desk, "zhang-wei", CHRONIC)
    assert customer.mode == "online" and draft.mode == "online"
    assert sale.committed and sale.mode == "online" and sale.setl_id and sale.tac
    s = sale.draft.settlement
    balc1, allowance1, ytd1 = account(centre, ZW_PSN)
    assert balc1 == balc0 - s.account_fen and allowance1 == allowance0
    assert card_ytd(card) == (allowance0, ytd1)  # the ED untouched (the offline allowance), the counters the centre's
    txn = sale.booked.transaction
    assert txn.amount_fen == 0 and dict((p.account, p.amount_fen) for p in txn.postings)["revenue:drugs"] == -s.total_fen
    receipt = counter.receipt(sale.receipt_no)
    assert receipt.mode == "online" and receipt.setl_id == sale.setl_id and "mode     online" in receipt.to_text()
    assert receipt.to_dict()["setlinfo"]["medfee_sumamt"] == s.total_fen

    # an online refund of one line: revoked at the centre (2103), the account part back at the centre
    desk.login("sup1")
    back = counter.refund(sale.receipt_no, [0], manager=card.manager, pin=PIN)
    assert back.committed and back.mode == "online", back.reason
    balc2, _, ytd2 = account(centre, ZW_PSN)
    assert balc2 == balc1 + back.refund.account_fen and card_ytd(card) == (allowance0, ytd2)
    desk.login("c001")

    _, li, _, li_sale = sell(desk, "li-na", CHRONIC)  # a resident without personal account, online too
    assert li_sale.committed and li_sale.mode == "online" and li_sale.draft.settlement.account_fen == 0

    # ---- the centre goes down mid-day: offline sales with the card's counters and ED, queued
    server.stop()
    _, customer, draft, off1 = sell(desk, "zhang-wei", COLD)
    assert customer.mode == "offline" and draft.mode == "offline" and off1.committed and off1.mode == "offline"
    ed_after_offline, _ = card_ytd(card)
    assert ed_after_offline == allowance0 - off1.draft.settlement.account_fen
    wj_card, _, _, off2 = sell(desk, "wang-jianguo", CHRONIC)
    assert off2.committed and off2.mode == "offline"
    desk.login("sup1")
    off_refund = counter.refund(off2.receipt_no, [1], manager=wj_card.manager, pin=PIN)  # offline: onto the ED
    assert off_refund.committed and off_refund.mode == "offline"
    desk.login("c001")
    assert "mode     offline" in counter.receipt(off1.receipt_no).to_text()

    # ---- the centre is back: the upload settles the queued sales (and the refund) exactly once
    server.start()
    report = counter.upload()
    assert (report.uploaded, report.refunds, report.refused, report.error) == (2, 1, [], None)
    again = counter.upload()
    assert (again.uploaded, again.refunds) == (0, 0)
    rows = centre.db.query("SELECT mode, kind, state, offline_ref FROM settlements ORDER BY setl_time, msgid")
    offline_refs = [r[3] for r in rows if r[0] == "offline"]
    assert sorted(offline_refs) == sorted([off1.receipt_no, off2.receipt_no, off_refund.refund_no])
    # the centre's view of zhang-wei's card now equals the card: allowance = ED, counters = the card's
    balc3, allowance3, ytd3 = account(centre, ZW_PSN)
    assert balc3 == balc2 and (allowance3, ytd3) == card_ytd(card)
    customer = counter.identify(card.reader, card.manager, pin=PIN)
    assert customer.mode == "online" and customer.centre.allowance_fen == customer.account_balance_fen
    assert customer.centre.ytd == customer.ytd
    _, wj_allowance, wj_ytd = account(centre, "31000019550412000003")
    assert (wj_allowance, wj_ytd) == card_ytd(wj_card)

    # ---- day close: 3201 per insurance type and clearing type, balanced
    desk.login("sup1")
    closed = counter.close_day(tmp_path / "close")
    assert closed.summary["centre"]["balanced"] is True, closed.summary["centre"]
    assert {(g["insutype"], g["clr_type"]) for g in closed.summary["centre"]["groups"]} == {("310", "41"), ("390", "41")}
    assert counter.ledger.verify().ok
    counter.logout()
    assert centre.db.scalar("SELECT COUNT(*) FROM signins WHERE signout_time IS NOT NULL") >= 1


def test_allowance_load_moves_account_money_onto_the_ed(desk: Desk, centre: Centre) -> None:
    card = desk.card("zhang-wei")
    counter = desk.counter
    customer = counter.identify(card.reader, card.manager, pin=PIN)
    balc0, allowance0, _ = account(centre, ZW_PSN)
    booked = counter.load_allowance(customer, 10_000, pin=PIN)
    assert booked.status == "committed"
    balc1, allowance1, _ = account(centre, ZW_PSN)
    assert (balc1, allowance1) == (balc0 - 10_000, allowance0 + 10_000)
    assert card.committed()[0] == allowance1  # the card's ED is the allowance the centre knows


def test_a_clinic_settles_online_through_2201_to_2207_and_refunds_with_2208(tmp_path: Path, server: CentreServer,
                                                                             clock: Clock, centre: Centre) -> None:
    link = link_for(server, clock, fixmedins_code="H31000000001")
    d = make_desk(tmp_path, clock=clock, centre=link)
    try:
        card = d.card("zhang-wei")
        customer = d.counter.identify(card.reader, card.manager, pin=PIN)
        draft = d.counter.preview(customer, load_cart(COLD, d.counter.catalog), visit_type="outpatient",
                                  hospital_level=1)
        assert draft.mode == "online" and draft.online.infno == "2207" and draft.settlement.visit.hospital_level == 1
        sale = d.counter.pay(draft, pin=PIN)
        assert sale.committed and sale.mode == "online"
        assert centre.db.one("SELECT infno, state FROM settlements WHERE setl_id = ?", (sale.setl_id,)) == ("2207",
                                                                                                           "settled")
        d.login("sup1")
        back = d.counter.refund(sale.receipt_no, manager=card.manager, pin=PIN)
        assert back.committed and back.mode == "online", back.reason
        assert centre.db.one("SELECT infno, state FROM settlements WHERE setl_id = ?", (sale.setl_id,)) == ("2207",
                                                                                                           "revoked")
        assert centre.db.scalar("SELECT infno FROM settlements WHERE orig_setl_id = ?", (sale.setl_id,)) == "2208"
    finally:
        d.counter.close()


def test_1101_with_the_e_credential(desk: Desk) -> None:
    from datetime import timezone

    from terminal.datafiles import data_dir
    from terminal.identity.qr import issue_qr
    from terminal.issuer import load_profile

    link = desk.counter.centre
    payload = issue_qr(load_profile(data_dir() / "cards" / "zhang-wei.toml"),
                       link.client._clock().astimezone(timezone.utc))
    person = link.person_by_qr(payload)
    assert person is not None and person.psn_no == ZW_PSN and person.card_no == "A00000001"
