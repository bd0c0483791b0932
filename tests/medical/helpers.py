"""Shared test helpers: the shipped policies by file stem, a visit/cart builder."""

from __future__ import annotations

from datetime import date
from functools import cache
from pathlib import Path

from terminal.medical import CartLine, Policy, Visit, VisitType, load_policies, load_policy

DATA = Path(__file__).parent / "data"
DAY = date(2025, 3, 1)


@cache
def policies() -> dict[str, Policy]:
    """Every shipped policy, keyed by file stem (e.g. ``shanghai-employee-active``)."""
    return {Path(p.source).stem: p for p in load_policies()}


def worked_example_policy() -> Policy:
    return load_policy(DATA / "worked-example.toml")


def visit(kind: str, region: str, level: int | None = None, on: date = DAY) -> Visit:
    return Visit(VisitType(kind), region, on, hospital_level=level)


def cart(*items: tuple[str, int]) -> list[CartLine]:
    """Lines of quantity 1 from (class, price fen) pairs, coded L0, L1, …"""
    return [CartLine(f"L{i}", 1, price, cls) for i, (cls, price) in enumerate(items)]
