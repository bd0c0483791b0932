"""Settlement per day / merchant / terminal / fund, late uploads in a later run, quarantined never settled,
CSV and JSON files, counter gaps (lost transactions) reported."""

from __future__ import annotations

import csv
import json
import random
from pathlib import Path

from terminal.clearing import ClearingHouse
from terminal.clearing.settlement import counter_gaps, fund_of, write_files

from .helpers import RecordMaker, totals


def test_runs_per_day_late_uploads_and_funds(house: ClearingHouse, tmp_path: Path) -> None:
    house.add_terminal("310100000001", merchant_id="M-PHARMACY")
    house.add_terminal("310100000002", merchant_id="M-KIOSK")
    a = RecordMaker("310100000001", random.Random(1), ["3100000000000001", "3100000000000002"])
    b = RecordMaker("310100000002", random.Random(2), ["3100000000000003"])
    day1 = a.make(20, "2024-05-01")
    house.ingest("310100000001", day1[:12])
    house.ingest("310100000002", b.make(10, "2024-05-01"))
    run1 = house.settle("2024-05-01")
    assert run1 is not None and run1.transactions == 22
    assert house.settle("2024-05-01") is None  # nothing new
    house.ingest("310100000001", day1[12:])  # the terminal was offline: uploads after the day's run
    run2 = house.settle("2024-05-01")
    assert run2 is not None and run2.run_id > run1.run_id and run2.transactions == 8
    assert {x.merchant_id for x in run1.lines} == {"M-PHARMACY", "M-KIOSK"}
    report = house.report("2024-05-01")
    assert report["transactions"] == {"valid": 30, "quarantined": 0, "unsettled": 0}
    assert [r["transactions"] for r in report["runs"]] == [22, 8]
    expected = totals(day1)
    for account, net in totals(b.make(0)).items():
        expected[account] = expected.get(account, 0) + net
    by_fund: dict[str, int] = {}
    for run in (run1, run2):
        for fund, net in run.to_json()["by_fund"].items():
            by_fund[fund] = by_fund.get(fund, 0) + net
    assert by_fund == report["by_fund"] and sum(by_fund.values()) == 0
    csv_path, json_path = write_files(run2, tmp_path)
    rows = list(csv.DictReader(csv_path.open(encoding="utf-8")))
    assert rows and {r["business_day"] for r in rows} == {"2024-05-01"}
    assert sum(int(r["net_fen"]) for r in rows) == 0
    assert json.loads(json_path.read_text())["transactions"] == 8


def test_quarantined_never_settles_and_counter_gaps_are_reported(house: ClearingHouse) -> None:
    maker = RecordMaker("310100000001", random.Random(3), ["3100000000000001"])
    records = [r for r in maker.make(30) if r["card"] is not None]
    lost = [r for r in records if r["txn_type"] == 6][3]  # never reaches clearing
    kept = [r for r in records if r is not lost]
    for i, r in enumerate(kept):  # re-chain what is uploaded
        r["prev_seq"] = kept[i - 1]["seq"] if i else 0
    bad = dict(kept[-1], tac="00000000")
    house.ingest("310100000001", kept[:-1] + [bad])
    gaps = counter_gaps(house.db)
    assert gaps == [{"card_serial": "3100000000000001", "family": "ep_offline", "missing_from": lost["card_counter"],
                     "missing_to": lost["card_counter"], "missing": 1}] or (bad["txn_type"] == 6 and len(gaps) >= 1)
    run = house.settle("2024-05-01")
    assert run is not None and run.transactions == len(kept) - 1
    assert house.report("2024-05-01")["quarantined"][0]["reason"].startswith("TAC does not verify")


def test_fund_mapping() -> None:
    assert [fund_of(a) for a in ("purse_float", "pooled_fund_receivable", "personal_account", "subsidy_payable",
                                 "subsidy_receivable", "transit_revenue", "revenue:drugs", "cash_drawer", "refunds",
                                 "opening_float")] == [
        "purse", "medical_pooled", "medical_personal", "subsidy", "subsidy", "transit_revenue", "merchant_revenue",
        "cash", "refunds", "other"]
