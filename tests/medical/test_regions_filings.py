"""Region codes and the filing (备案) registry: CSV import/export, look-up, bad rows named by line."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from terminal.datafiles import data_dir
from terminal.medical import Filing, FilingRegistry, PolicyError, load_regions, parse_filings, parse_regions
from terminal.medical.filings import region_covers

ZHAO = "510104198802030103"
AYGULI = "650102199006110121"


def test_regions_cover_every_province_and_the_demo_cities() -> None:
    t = load_regions()
    provinces = [r for r in t if r.is_province]
    assert len(provinces) == 34
    for code, name in [("310000", "上海市"), ("110000", "北京市"), ("330100", "杭州市"), ("510100", "成都市"),
                       ("650100", "乌鲁木齐市"), ("440100", "广州市")]:
        assert t[code].name == name
    assert t.province_of("650100").name == "新疆维吾尔自治区"
    assert t.label("510100") == "510100 成都市" and t.label("123456") == "123456"


@pytest.mark.parametrize(
    ("rows", "message"),
    [
        ("310000,上海市,上海市\n310000,上海,上海市\n", "r.csv:3: duplicate code 310000 (first on line 2)"),
        ("3100,上海市,上海市\n", "r.csv:2: code must be 6 digits, got '3100'"),
        ("330100,杭州市,浙江省\n", "r.csv:2: no province-level row 330000 for 330100"),
        ("330000,浙江省,浙江省\n330100,杭州市,江苏省\n", "r.csv:3: province '江苏省' does not match 330000 '浙江省'"),
    ],
)
def test_bad_regions(rows: str, message: str) -> None:
    with pytest.raises(PolicyError) as err:
        parse_regions("code,name,province\n" + rows, "r.csv")
    assert str(err.value) == message


def test_region_covers() -> None:
    assert region_covers("310000", "310104")
    assert region_covers("440100", "440104")
    assert not region_covers("440100", "440300")
    assert region_covers("440104", "440104") and not region_covers("440104", "440105")


def test_example_filings_import_and_lookup() -> None:
    reg = FilingRegistry()
    assert reg.load_csv(data_dir() / "filings.example.csv", load_regions()) == 3
    assert len(reg) == 3 and len(reg.for_person(ZHAO)) == 2
    assert reg.find(ZHAO, "510100", "310000", date(2025, 3, 1)).filing_id == "BA5101002024011500001"
    assert reg.find(ZHAO, "510100", "440100", date(2025, 3, 1)) is None  # temporary filing starts in June
    assert reg.find(ZHAO, "510100", "440100", date(2025, 8, 31)).kind == "temporary"
    assert reg.find(ZHAO, "510100", "440100", date(2025, 9, 1)) is None  # ended
    assert reg.find(ZHAO, "650100", "310000", date(2025, 3, 1)) is None  # another home region
    assert reg.find(AYGULI, "650100", "310000", date(2024, 10, 1)) is None


def test_round_trip_and_all_or_nothing_import(tmp_path: Path) -> None:
    reg = FilingRegistry()
    reg.load_csv(data_dir() / "filings.example.csv")
    out = tmp_path / "f.csv"
    reg.dump_csv(out)
    again = FilingRegistry()
    again.load_csv(out)
    assert list(again) == list(reg)
    with pytest.raises(PolicyError) as err:
        again.load_csv(out)
    assert str(err.value) == f"{out}: filing BA5101002024011500001 is already in the registry"
    assert len(again) == 3


def test_registry_add_remove() -> None:
    f = Filing("BA9", ZHAO, "510100", "310000", "referral", date(2025, 1, 1), date(2025, 1, 31))
    reg = FilingRegistry([f])
    with pytest.raises(ValueError, match="filing BA9 already exists"):
        reg.add(f)
    assert reg.remove("BA9") == f and len(reg) == 0
    with pytest.raises(KeyError):
        reg.remove("BA9")


HEADER = "filing_id,person_id,home_region,destination_region,kind,start_date,end_date\n"


@pytest.mark.parametrize(
    ("row", "message"),
    [
        (f"BA1,{ZHAO},510100,310000,holiday,2025-01-01,\n",
         ":2: kind must be one of residence, posting, referral, temporary, got 'holiday'"),
        (f"BA1,{ZHAO},510100,310000,temporary,2025/01/01,\n", ":2: start_date must be YYYY-MM-DD, got '2025/01/01'"),
        (f"BA1,{ZHAO},510100,310000,temporary,2025-02-01,2025-01-01\n",
         ":2: end 2025-01-01 is before start 2025-02-01"),
        (f"BA1,{ZHAO},510100,510000,temporary,2025-01-01,\n",
         ":2: destination 510000 is in the home province of 510100"),
        (f"BA1,{ZHAO},510100,3100,temporary,2025-01-01,\n",
         ":2: destination_region must be a 6-digit region code, got '3100'"),
        (f"BA1,{ZHAO},510100,990000,temporary,2025-01-01,\n", ":2: destination_region 990000 is not a known region"),
        ("BA1,12345,510100,310000,temporary,2025-01-01,\n",
         ":2: person_id must be an 18-character ID number, got '12345'"),
        (f"BA1,{ZHAO},510100,310000,temporary,2025-01-01,\nBA1,{ZHAO},510100,440100,temporary,2025-01-01,\n",
         ":3: duplicate filing_id BA1 (first on line 2)"),
    ],
)
def test_bad_filings(row: str, message: str) -> None:
    with pytest.raises(PolicyError) as err:
        parse_filings(HEADER + row, "f.csv", load_regions())
    assert str(err.value) == "f.csv" + message
