"""Policy files: the shipped ones load and cover the demo holders; bad ones are named with file, line, key."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from terminal.datafiles import data_dir
from terminal.medical import PolicyError, PolicyNotFound, Scheme, VisitType, load_policies, load_policy

from .helpers import policies

GOOD = """\
format = 1
region = "310000"
scheme = "employee"
categories = ["active", "retired"]
name = "test"

[class_b]
preselfpay_percent = 10

[personal_account]
available = true
pays_selfpay = true

[retiree]
bonus_points = 5

[outpatient]
deductible_fen = 50000
cap_fen = 300000

[outpatient.ratio_percent]
pharmacy = 60
1 = 70
2 = 60
3 = 50

[inpatient]
deductible_fen = { 1 = 30000, 2 = 60000, 3 = 90000 }
ratio_percent = 80
cap_fen = 30000000

[cross_province]
without_filing = "reduce"
reduce_points = 10
"""


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "p.toml"
    path.write_text(text, encoding="utf-8")
    return path


def _error(tmp_path: Path, old: str, new: str) -> str:
    assert old in GOOD
    path = _write(tmp_path, GOOD.replace(old, new, 1))
    with pytest.raises(PolicyError) as err:
        load_policy(path)
    return str(err.value).removeprefix(f"{path}")


def test_good_file_loads(tmp_path: Path) -> None:
    p = load_policy(_write(tmp_path, GOOD))
    assert p.scheme is Scheme.EMPLOYEE
    assert p.base_ratio_percent(VisitType.OUTPATIENT, 1) == 70
    assert p.base_ratio_percent(VisitType.INPATIENT, 2) == 80  # one integer for every level
    assert p.deductible_fen(VisitType.INPATIENT, 3) == 90000
    assert p.deductible_fen(VisitType.PHARMACY, None) == 50000


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        ("2 = 60", "2 = 120", ":24: outpatient.ratio_percent.2: must be 0..100, got 120"),
        ("cap_fen = 300000\n", "", ":17: outpatient.cap_fen: missing"),
        ("deductible_fen = 50000", "deductable_fen = 50000",
         ":18: outpatient.deductable_fen: unknown key (expected one of cap_fen, deductible_fen, ratio_percent)"),
        ("cap_fen = 300000", 'cap_fen = "300000"', ":19: outpatient.cap_fen: must be an integer, got '300000'"),
        ("cap_fen = 300000", "cap_fen = 3000.00", ":19: outpatient.cap_fen: must be an integer, got 3000.0"),
        ("preselfpay_percent = 10", "preselfpay_percent = true",
         ":8: class_b.preselfpay_percent: must be an integer, got True"),
        ('scheme = "employee"', 'scheme = "worker"', ":3: scheme: must be one of employee, resident, got 'worker'"),
        ('["active", "retired"]', '["active", "student"]',
         ":4: categories: must be one of active, retired, got 'student'"),
        ('["active", "retired"]', '["active"]', ":15: retiree.bonus_points: a retiree bonus needs 'retired' in "
                                               "categories"),
        ("available = true", "available = false",
         ":12: personal_account.pays_selfpay: is true but the scheme has no personal account"),
        ("format = 1", "format = 2", ":1: format: must be 1, got 2"),
        ('region = "310000"', 'region = "31000"', ":2: region: must be a 6-digit region code, got '31000'"),
        ("2 = 60000", "2 = -1", ":28: inpatient.deductible_fen.2: must be 0..100000000000, got -1"),
        ("ratio_percent = 80", "ratio_percent = { 1 = 80, 4 = 80 }",
         ":29: inpatient.ratio_percent.4: unknown key (expected one of 1, 2, 3)"),
        ('without_filing = "reduce"', 'without_filing = "deny"',
         ":33: cross_province.without_filing: must be one of reduce, refuse, got 'deny'"),
        ('without_filing = "reduce"', 'without_filing = "refuse"',
         ":34: cross_province.reduce_points: only allowed with without_filing = \"reduce\""),
        ('without_filing = "reduce"\nreduce_points = 10', 'without_filing = "refuse"',
         ":32: cross_province.reason: missing (say why direct settlement is refused)"),
        ("reduce_points = 10", "reduce_points = 0", ":34: cross_province.reduce_points: must be 1..100, got 0"),
        ("[retiree]\nbonus_points = 5\n", "", ": retiree: missing"),
        ('name = "test"', 'name = ""', ":5: name: must be a non-empty string, got ''"),
        ("pharmacy = 60", "pharmacy = 60\nnurse = 1", ":23: outpatient.ratio_percent.nurse: unknown key "
                                                      "(expected one of 1, 2, 3, pharmacy)"),
    ],
)
def test_bad_policy_messages(tmp_path: Path, old: str, new: str, message: str) -> None:
    assert _error(tmp_path, old, new) == message


def test_unknown_region_against_the_region_table(tmp_path: Path) -> None:
    path = _write(tmp_path, GOOD.replace('"310000"', '"999999"'))
    (tmp_path / "other.txt").write_text("")
    with pytest.raises(PolicyError) as err:
        load_policies(tmp_path)
    assert str(err.value) == f"{path}:2: region: unknown region code 999999 (not in {data_dir() / 'regions.csv'})"


def test_toml_syntax_error_names_the_line(tmp_path: Path) -> None:
    path = _write(tmp_path, GOOD.replace("cap_fen = 300000", "cap_fen = "))
    with pytest.raises(PolicyError) as err:
        load_policy(path)
    assert str(err.value) == f"{path}:19: invalid TOML: Invalid value (column 11)"


def test_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "p.toml"
    path.write_bytes(GOOD.encode().replace(b'name = "test"', 'name = "上海"'.encode("gbk")))
    with pytest.raises(PolicyError) as err:
        load_policy(path)
    assert str(err.value) == f"{path}:5: not UTF-8 text"


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(PolicyError) as err:
        load_policy(tmp_path / "nope.toml")
    assert str(err.value) == f"{tmp_path / 'nope.toml'}: cannot read: No such file or directory"


def test_empty_policy_directory(tmp_path: Path) -> None:
    with pytest.raises(PolicyError) as err:
        load_policies(tmp_path)
    assert str(err.value) == f"{tmp_path}: no *.toml policy files"


def test_two_files_covering_the_same_holders(tmp_path: Path) -> None:
    (tmp_path / "a.toml").write_text(GOOD, encoding="utf-8")
    (tmp_path / "b.toml").write_text(GOOD.replace('["active", "retired"]', '["retired"]'), encoding="utf-8")
    with pytest.raises(PolicyError) as err:
        load_policies(tmp_path)
    assert str(err.value) == (f"{tmp_path / 'b.toml'}: categories: 310000 employee retired is already covered by "
                              f"{tmp_path / 'a.toml'}")


def test_shipped_policies() -> None:
    shipped = policies()
    assert set(shipped) >= {
        "shanghai-employee-active", "shanghai-employee-retired", "shanghai-resident", "beijing-resident",
        "hangzhou-resident", "hangzhou-resident-student", "chengdu-employee", "urumqi-employee",
        "guangzhou-resident",
    }
    for path in (data_dir() / "policies").glob("*.toml"):
        assert "ILLUSTRATIVE" in path.read_text(encoding="utf-8")


def test_every_demo_holder_has_a_home_policy() -> None:
    book = load_policies()
    found = {}
    for card in sorted((data_dir() / "cards").glob("*.toml")):
        doc = tomllib.loads(card.read_text(encoding="utf-8"))
        ins = doc["insurance"]
        policy = book.for_card(doc["card"]["region"], ins["scheme"], retired=ins["retired"], category=ins["category"])
        found[card.stem] = Path(policy.source).stem
    assert found == {
        "ayguli": "urumqi-employee", "chen-xiaoyu": "hangzhou-resident-student", "li-na": "beijing-resident",
        "liu-yang": "guangzhou-resident", "wang-jianguo": "shanghai-employee-retired",
        "zhang-wei": "shanghai-employee-active", "zhao-min": "chengdu-employee",
    }


def test_policy_not_found() -> None:
    with pytest.raises(PolicyNotFound, match="no policy for region 120000, scheme employee, category active"):
        load_policies().find("120000", "employee", "active")
