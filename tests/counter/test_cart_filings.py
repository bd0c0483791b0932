"""Cart files and the filings (备案) table in the ledger database."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from terminal.counter import BadInput
from terminal.counter.cart import load_cart, parse_cart
from terminal.identity import ssn_hash
from tests.counter.helpers import DATA, Desk

ZHAO = "510104198802030103"


def test_example_carts_load(desk: Desk) -> None:
    for path in sorted((DATA / "carts").glob("*.csv")):
        cart = load_cart(path, desk.counter.catalog)
        assert cart and all(line.unit_price_fen > 0 for line in cart)


@pytest.mark.parametrize("text,message", [
    ("", "c.csv: empty cart"),
    ("code,qty\nX,1\n", "c.csv:1: the header must be code,quantity"),
    ("code,quantity\nXJ01CAA040A001\n", "c.csv:2: expected code,quantity"),
    ("code,quantity\nXJ01CAA040A001,two\n", "c.csv:2: quantity must be a whole number"),
    ("code,quantity\n# c\nNOPE000,1\n", "c.csv:3: no item 'NOPE000' in the catalog"),
    ("code,quantity\nXJ01CAA040A001,0\n", "c.csv:2: quantity must be 1..999"),
])
def test_bad_carts_name_file_and_line(desk: Desk, text: str, message: str) -> None:
    with pytest.raises(BadInput) as e:
        parse_cart(text, "c.csv", desk.counter.catalog)
    assert str(e.value).startswith(message)


def test_filings_import_find_and_privacy(desk: Desk, tmp_path: Path) -> None:
    filings = desk.counter.filings
    assert desk.counter.import_filings(DATA / "filings.example.csv") == 3
    found = filings.find_by_hash(ssn_hash(ZHAO), "510100", "310104", date(2025, 3, 1))
    assert found is not None and found.filing_id == "BA5101002024011500001"
    assert filings.find(ZHAO, "510100", "440103", date(2025, 7, 1)).filing_id == "BA5101002025060100002"
    assert filings.find(ZHAO, "510100", "440103", date(2025, 9, 1)) is None
    assert filings.find(ZHAO, "510100", "110000", date(2025, 3, 1)) is None
    dump = str([tuple(r) for r in desk.counter.store.all("SELECT * FROM counter_filings")])
    assert ZHAO not in dump and "510104********0103" in dump
    with pytest.raises(BadInput, match="already imported; nothing imported"):
        desk.counter.import_filings(DATA / "filings.example.csv")
    bad = tmp_path / "f.csv"
    bad.write_text("filing_id,person_id,home_region,destination_region,kind,start_date,end_date\n"
                   "N1,510104198802030103,510100,310000,residence,2025-01-01,\n"
                   "N2,510104198802030103,510100,310000,holiday,2025-01-01,\n", encoding="utf-8")
    with pytest.raises(BadInput, match="f.csv:3: kind must be one of"):
        desk.counter.import_filings(bad)
    assert len(filings) == 3
