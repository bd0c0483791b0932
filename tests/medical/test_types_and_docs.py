"""Money is int fen only; inputs are validated; the modules' docstring examples run."""

from __future__ import annotations

import doctest
import importlib
from datetime import date

import pytest

from terminal.medical import CartLine, Visit, VisitType, YearToDate, settle

from .helpers import cart, policies, visit

MODULES = ["model", "catalog", "regions", "filings", "policy", "engine"]


@pytest.mark.parametrize("name", MODULES)
def test_doctests(name: str) -> None:
    module = importlib.import_module(f"terminal.medical.{name}")
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
    assert result.failed == 0


@pytest.mark.parametrize("bad", [12.5, 1250.0, True, "1250", None])
def test_price_must_be_int_fen(bad: object) -> None:
    with pytest.raises(TypeError, match="unit_price_fen must be int fen"):
        CartLine("X", 1, bad, "甲")  # type: ignore[arg-type]


@pytest.mark.parametrize("bad", [1.0, False])
def test_quantity_must_be_int(bad: object) -> None:
    with pytest.raises(TypeError, match="quantity must be int"):
        CartLine("X", bad, 100, "甲")  # type: ignore[arg-type]


@pytest.mark.parametrize("bad", [15000.0, True])
def test_balance_must_be_int_fen(bad: object) -> None:
    with pytest.raises(TypeError, match="account_balance_fen must be int fen"):
        settle(cart(("甲", 100)), policies()["shanghai-employee-active"], YearToDate(), bad,  # type: ignore[arg-type]
               visit=visit("pharmacy", "310000"))


def test_counters_must_be_int_fen() -> None:
    with pytest.raises(TypeError, match="pooled_paid_fen must be int fen, got float 1.5"):
        YearToDate(0, 1.5)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="deductible_used_fen must be >= 0 fen, got -1"):
        YearToDate(-1, 0)


def test_value_checks() -> None:
    with pytest.raises(ValueError, match="quantity must be > 0, got 0"):
        CartLine("X", 0, 100, "甲")
    with pytest.raises(ValueError):
        CartLine("X", 1, 100, "丁")
    with pytest.raises(ValueError, match="a pharmacy visit has no hospital level"):
        Visit(VisitType.PHARMACY, "310000", date(2025, 1, 1), hospital_level=1)
    with pytest.raises(ValueError, match="inpatient needs hospital_level 1, 2 or 3, got None"):
        Visit(VisitType.INPATIENT, "310000", date(2025, 1, 1))
    with pytest.raises(ValueError, match="treatment_region must be a 6-digit region code"):
        Visit(VisitType.PHARMACY, "31", date(2025, 1, 1))
    with pytest.raises(ValueError, match="cannot settle an empty cart"):
        settle([], policies()["shanghai-employee-active"], YearToDate(), 0, visit=visit("pharmacy", "310000"))


def test_retired_flag_must_match_the_policy() -> None:
    p = policies()
    v = visit("pharmacy", "310000")
    with pytest.raises(ValueError, match="is not for retirees"):
        settle(cart(("甲", 100)), p["shanghai-employee-active"], YearToDate(), 0, visit=v, retired=True)
    with pytest.raises(ValueError, match="is only for retirees"):
        settle(cart(("甲", 100)), p["shanghai-employee-retired"], YearToDate(), 0, visit=v)


def test_zero_priced_lines_and_quantities() -> None:
    s = settle([CartLine("X", 3, 0, "乙"), CartLine("Y", 3, 1001, "乙")], policies()["guangzhou-resident"],
               YearToDate(), 0, visit=visit("pharmacy", "440100"))
    assert s.total_fen == 3003
    assert s.lines[1].preselfpay_fen == 150  # 30.03 × 5 % = 1.5015 → 1.50
    assert s.pooled_fen == 1427  # 28.53 × 50 % = 14.265 → 14.27


def test_docs_example_runs_and_every_public_name_is_documented() -> None:
    import re

    import terminal.medical as medical
    from terminal.datafiles import data_dir

    text = (data_dir().parent / "docs" / "medical.md").read_text(encoding="utf-8")
    code = re.search(r"```python\n(.*?)```", text, re.S)
    assert code is not None
    namespace: dict[str, object] = {}
    exec(compile(code.group(1).replace('Path("data/', 'data_dir() / Path("'), "docs/medical.md", "exec"),
         {"data_dir": data_dir}, namespace)
    assert namespace["s"].total_fen == 2500  # type: ignore[attr-defined]
    undocumented = [name for name in medical.__all__ if name not in text and not name.startswith("parse_")]
    assert undocumented == []


def test_engine_is_pure() -> None:
    """engine.py imports nothing that does I/O, reads a clock or draws randomness (loading is policy/catalog's)."""
    import ast

    import terminal.medical.engine as engine

    tree = ast.parse(open(engine.__file__, encoding="utf-8").read())
    imported = {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
    imported |= {node.module or "" for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and not node.level}
    assert imported <= {"__future__", "collections.abc", "dataclasses"}
    names = {node.attr for node in ast.walk(tree) if isinstance(node, ast.Attribute)}
    assert not names & {"now", "today", "open", "read_text", "read_bytes", "random"}
