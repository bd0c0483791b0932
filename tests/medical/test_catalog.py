"""The pharmacy catalog: shipped file, search by code / name / pinyin initials, bad files named by line."""

from __future__ import annotations

from pathlib import Path

import pytest

from terminal.medical import ItemClass, PolicyError, UnknownItem, load_catalog, parse_catalog

HEADER = "code,name,pinyin,class,unit_price_fen,spec\n"


def test_shipped_catalog() -> None:
    cat = load_catalog()
    assert len(cat) >= 40
    assert {item.item_class for item in cat} == set(ItemClass)
    for name in ("阿莫西林胶囊", "布洛芬缓释胶囊", "板蓝根颗粒"):
        assert any(item.name == name for item in cat)
    amox = cat["XJ01CAA040A001"]
    assert (amox.name, amox.pinyin, amox.item_class, amox.unit_price_fen, amox.spec) == (
        "阿莫西林胶囊", "amxljn", ItemClass.A, 1250, "0.25g×24粒/盒")


def test_line_from_catalog() -> None:
    line = load_catalog().line("XM01AEB010A001", 2)
    assert (line.code, line.name, line.quantity, line.unit_price_fen, line.item_class, line.amount_fen) == (
        "XM01AEB010A001", "布洛芬缓释胶囊", 2, 1580, ItemClass.A, 3160)


def test_unknown_item() -> None:
    with pytest.raises(UnknownItem, match="no item 'X0000000' in the catalog"):
        load_catalog()["X0000000"]


@pytest.mark.parametrize(
    ("query", "first"),
    [
        ("blg", "板蓝根颗粒"),  # pinyin initials
        ("BLFH", "布洛芬缓释胶囊"),  # case-insensitive
        ("阿莫西林", "阿莫西林胶囊"),  # name
        ("XJ01CAA040A001", "阿莫西林胶囊"),  # exact code
        ("jdp", "银翘解毒片"),  # inside the initials (yqjdp, nhjdp); ties by code
        ("deej", "东阿阿胶"),  # polyphonic 阿 read e
    ],
)
def test_search(query: str, first: str) -> None:
    assert load_catalog().search(query)[0].name == first


def test_search_ranking_and_limit() -> None:
    cat = load_catalog()
    assert cat.search("   ") == []
    assert [i.name for i in cat.search("jdp")] == ["银翘解毒片", "牛黄解毒片"]
    assert len(cat.search("X", limit=5)) == 5
    found = cat.search("XC")
    codes = [i.code for i in found if i.code.startswith("XC")]
    assert [i.code for i in found[: len(codes)]] == sorted(codes)  # code prefix first, by code
    assert found[len(codes):][0].name == "小柴胡颗粒"  # then pinyin initials xchkl


@pytest.mark.parametrize(
    ("rows", "message"),
    [
        ("XJ01CAA040A001,阿莫西林胶囊,amxljn,丁,1250,盒\n", ":2: class must be 甲, 乙 or 丙, got '丁'"),
        ("XJ01CAA040A001,阿莫西林胶囊,amxljn,甲,12.50,盒\n", ":2: unit_price_fen must be a whole number, got '12.50'"),
        ("XJ01CAA040A001,阿莫西林胶囊,amxljn,甲,0,盒\n", ":2: unit_price_fen must be >= 1, got 0"),
        ("XJ01CAA040A001,阿莫西林胶囊,AMX,甲,1250,盒\n", ":2: pinyin must be lower-case initials a-z/0-9, got 'AMX'"),
        ("xj01,阿莫西林胶囊,amxljn,甲,1250,盒\n",
         ":2: code must be an upper-case letter then 5-29 letters/digits, got 'xj01'"),
        ("XJ01CAA040A001,阿莫西林胶囊,amxljn,甲,1250\n", ":2: expected 6 fields, got 5"),
        ("XJ01CAA040A001,,amxljn,甲,1250,盒\n", ":2: name must not be empty"),
        ("XJ01CAA040A001,阿莫西林胶囊,amxljn,甲,1250,\n", ":2: spec must not be empty"),
        ("XJ01CAA040A001,阿莫西林胶囊,amxljn,甲,1250,盒\n# comment\n\nXJ01CAA040A001,阿莫西林胶囊,amxljn,甲,1250,盒\n",
         ":5: duplicate code XJ01CAA040A001 (first on line 2)"),
        ('XJ01CAA040A001,"阿莫西林胶囊,amxljn,甲,1250,盒\n', ":2: bad CSV: unexpected end of data"),
    ],
)
def test_bad_catalog(tmp_path: Path, rows: str, message: str) -> None:
    path = tmp_path / "c.csv"
    path.write_text(HEADER + rows, encoding="utf-8")
    with pytest.raises(PolicyError) as err:
        load_catalog(path)
    assert str(err.value) == f"{path}{message}"


def test_bad_header() -> None:
    with pytest.raises(PolicyError) as err:
        parse_catalog("# about\ncode,name,class\n", "c.csv")
    assert str(err.value) == "c.csv:2: header must be code,name,pinyin,class,unit_price_fen,spec, got code,name,class"


def test_empty_catalog_file() -> None:
    with pytest.raises(PolicyError) as err:
        parse_catalog("# only a comment\n", "c.csv")
    assert str(err.value) == "c.csv: empty file, expected header code,name,pinyin,class,unit_price_fen,spec"
