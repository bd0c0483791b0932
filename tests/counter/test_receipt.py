"""Receipts: itemised with the split, terminal id and TAC; text, structured dict and HTML agree; only masked
identity; no PIN, password or hash anywhere the counter writes."""

from __future__ import annotations

import json
import logging
import re
from pathlib import Path

import pytest

from terminal.counter.cart import load_cart
from terminal.counter.receipt import _width
from tests.counter.helpers import DATA, PASSWORDS, PIN, Desk

ZHANG_SSN, ZHANG_NAME = "31010519800315001X", "张伟"


@pytest.fixture
def sold(desk: Desk):
    card = desk.card("zhang-wei")
    customer = desk.counter.identify(card.reader, card.manager, pin=PIN)
    sale = desk.counter.pay(desk.counter.preview(customer, load_cart(DATA / "carts" / "chronic.csv",
                                                                     desk.counter.catalog)), pin=PIN)
    assert sale.committed
    return sale


def test_the_three_forms_agree(desk: Desk, sold) -> None:
    r = desk.counter.receipt(sold.receipt_no)
    s = sold.draft.settlement
    t = r.totals
    assert (t["amount"], t["pooled"], t["account"], t["cash"]) == (s.total_fen, s.pooled_fen, s.account_fen, s.cash_fen)
    assert t["amount"] == t["pooled"] + t["account"] + t["cash"] == t["pooled"] + t["self_share"] + t["selfpay"]
    d = r.to_dict()
    assert d["tac"] == sold.tac and d["terminal_id"] == "310100000001" and len(d["lines"]) == len(s.lines)
    assert d["totals_yuan"]["amount"] == f"{s.total_fen // 100}.{s.total_fen % 100:02d}"
    json.dumps(d, ensure_ascii=False)  # JSON-able as it is
    text = r.to_text()
    for word in ("统筹基金", "个人账户", "现金", "自付", "自费", f"TAC {sold.tac}", "terminal 310100000001"):
        assert word in text
    html = r.to_html()
    assert html.startswith("<!DOCTYPE html>") and sold.tac in html and "统筹" in html and "@page" in html


def test_text_lines_fit_the_paper(desk: Desk, sold) -> None:
    text = desk.counter.receipt(sold.receipt_no).to_text(width=44)
    money_lines = [line for line in text.splitlines() if line.startswith(("合计", "统筹基金", "个人账户 ", "现金"))]
    assert money_lines and {_width(line) for line in money_lines} == {44}


def test_masked_identity_only(desk: Desk, sold) -> None:
    r = desk.counter.receipt(sold.receipt_no)
    for form in (r.to_text(), r.to_html(), json.dumps(r.to_dict(), ensure_ascii=False)):
        assert "310105********001X" in form and "张*" in form and "A0000**01" in form
        assert ZHANG_SSN not in form and ZHANG_NAME not in form and "A00000001" not in form


def test_html_escapes_text(desk: Desk, sold) -> None:
    r = desk.counter.receipt(sold.receipt_no)
    from dataclasses import replace
    html = replace(r, notes=("<script>alert(1)</script>",)).to_html()
    assert "<script>" not in html and "&lt;script&gt;" in html


def test_no_secret_in_the_database_logs_or_outputs(desk: Desk, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    card = desk.card("li-na")
    customer = desk.counter.identify(card.reader, card.manager, pin=PIN)
    sale = desk.counter.pay(desk.counter.preview(customer, load_cart(DATA / "carts" / "cold.csv", desk.counter.catalog)),
                            pin=PIN)
    desk.login("sup1")
    desk.counter.refund(sale.receipt_no, manager=card.manager, pin=PIN)
    closed = desk.counter.close_day(tmp_path / "out")
    desk.counter.store.conn.execute("PRAGMA wal_checkpoint(FULL)")
    blobs = [p.read_bytes() for p in desk.counter.ledger.path.parent.glob("ledger.sqlite*") if not p.name.endswith(".key")]
    blobs += [p.read_bytes() for p in closed.files]
    blobs.append(caplog.text.encode())
    blobs.append(desk.counter.receipt(sale.receipt_no).to_html().encode())
    secrets = [*PASSWORDS.values(), "110105199207080049", "李娜", customer.identity.ssn_hash]
    pin = re.compile(rb"(?<![0-9A-Fa-f])" + PIN.encode() + rb"(?![0-9A-Fa-f])")  # not inside hashes, MACs, uuids
    for blob in blobs:
        assert not pin.search(blob)
        for secret in secrets:
            assert secret.encode() not in blob, secret
