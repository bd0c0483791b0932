"""Day close (日结): totals per operator and payment source, pending transactions to chase, CSV / JSON / signed
summary, supervisor only, once per day; later sales go into the next business day."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from reader.emulated import Faults
from terminal.counter import DayClosed, NotAuthorised, verify_summary
from terminal.counter.cart import load_cart
from terminal.ledger import keyfile
from tests.counter.helpers import DATA, PIN, Desk


def sale(desk: Desk, name: str, cart: str = "cold.csv"):
    card = desk.card(name)
    customer = desk.counter.identify(card.reader, card.manager, pin=PIN)
    return card, desk.counter.pay(desk.counter.preview(customer, load_cart(DATA / "carts" / cart, desk.counter.catalog)), pin=PIN)


def test_close_day_totals_files_signature_and_next_day(desk: Desk, tmp_path: Path) -> None:
    _, s1 = sale(desk, "zhang-wei", "chronic.csv")
    card, s2 = sale(desk, "li-na", "chronic.csv")
    desk.login("sup1")
    r = desk.counter.refund(s1.receipt_no, [0], manager=desk.card("zhang-wei").manager, pin=PIN)
    assert s1.committed and s2.committed and r.committed
    # a pending sale (the answer of the DEBIT lost and the card gone) is listed to chase
    desk.login("c001")
    wang = desk.card("wang-jianguo")
    customer = desk.counter.identify(wang.reader, wang.manager, pin=PIN)
    draft = desk.counter.preview(customer, load_cart(DATA / "carts" / "cold.csv", desk.counter.catalog))
    n = wang.reader.apdu_count + 9  # the DEBIT: its answer lost, then the card pulled
    wang.reader.faults = Faults(lose_response=n, remove_before_apdu=n + 1)
    pending = desk.counter.pay(draft, pin=PIN)
    assert pending.status == "pending"
    with pytest.raises(NotAuthorised):
        desk.counter.close_day(tmp_path / "out")
    desk.login("sup1")
    closed = desk.counter.close_day(tmp_path / "out")
    s = closed.summary
    assert s["business_day"] == "2025-03-01" and s["sales"] == 2 and s["refunds"] == 1
    d1, d2 = s1.draft.settlement, s2.draft.settlement
    assert s["by_source_fen"]["pooled_fund"] == d1.pooled_fen + d2.pooled_fen - r.refund.pooled_fen
    assert s["by_source_fen"]["cash"] == d1.cash_fen + d2.cash_fen - r.refund.cash_fen
    assert s["refunds_fen"] == r.refund.totals.amount_fen
    ops = {(g["operator"], g["kind"]): g for g in s["by_operator"]}
    assert ops[("c001", "medical_sale")]["count"] == 2 and ops[("sup1", "medical_refund")]["count"] == 1
    assert [p["reference"] for p in s["to_chase"]] == [pending.receipt_no]
    names = sorted(p.name for p in closed.files)
    assert names == ["dayclose-2025-03-01.csv", "dayclose-2025-03-01.json", "dayclose-2025-03-01.signed.json"]
    rows = list(csv.DictReader((tmp_path / "out" / "dayclose-2025-03-01.csv").read_text(encoding="utf-8-sig").splitlines()))
    assert rows[-1]["operator"] == "*" and int(rows[-1]["count"]) == s["transactions"]
    key = keyfile.load(keyfile.key_path(desk.counter.ledger.path))
    signed = tmp_path / "out" / "dayclose-2025-03-01.signed.json"
    assert verify_summary(signed, key)
    doc = json.loads(signed.read_text(encoding="utf-8"))
    doc["summary"]["by_source_fen"]["cash"] += 100
    signed.write_text(json.dumps(doc), encoding="utf-8")
    assert not verify_summary(signed, key)
    assert desk.counter.business_day() == "2025-03-02"
    with pytest.raises(DayClosed, match="already closed"):
        desk.counter.close_day(tmp_path / "out", "2025-03-01")
    with pytest.raises(DayClosed, match="has not started"):
        desk.counter.close_day(tmp_path / "out", "2025-03-05")
    # a sale after the close is booked on the next business day
    desk.login("c001")
    card, later = sale(desk, "chen-xiaoyu")
    assert later.booked.intent.business_day == "2025-03-02"
    # the pending sale resolves when the card comes back; it stays on its own day
    wang.reinsert()
    outcomes = desk.counter.recover(wang.manager, pin=PIN)
    assert [o.result for o in outcomes] == ["committed"] and outcomes[0].intent.business_day == "2025-03-01"


def test_a_day_without_transactions_closes_empty(desk: Desk, tmp_path: Path) -> None:
    desk.login("sup1")
    closed = desk.counter.close_day(tmp_path)
    assert closed.summary["transactions"] == 0 and closed.summary["to_chase"] == []
