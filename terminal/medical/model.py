"""Value types shared by the policy, catalog and engine modules: classes, visit, cart line, year-to-date counters.

Money is always ``int`` fen (1 元 = 100 fen). A float or a bool where fen are expected is a programming error and
raises ``TypeError``; a negative amount raises ``ValueError``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from enum import StrEnum

REGION_RE = re.compile(r"^[0-9]{6}$")


def check_fen(value: object, what: str, *, positive: bool = False) -> int:
    """`value` as int fen >= 0 (> 0 with `positive`); TypeError for float/bool/other, ValueError if out of range.

    >>> check_fen(35000, "total")
    35000
    """
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{what} must be int fen, got {type(value).__name__} {value!r}")
    if value < 0 or (positive and value == 0):
        raise ValueError(f"{what} must be {'> 0' if positive else '>= 0'} fen, got {value}")
    return value


def check_region(code: object, what: str) -> str:
    """A 6-digit administrative division code (GB/T 2260), e.g. ``"310000"``."""
    if not isinstance(code, str) or not REGION_RE.match(code):
        raise ValueError(f"{what} must be a 6-digit region code, got {code!r}")
    return code


def same_province(a: str, b: str) -> bool:
    """True when both region codes lie in one province-level division (same first two digits)."""
    return a[:2] == b[:2]


class ItemClass(StrEnum):
    """Catalog class (医保目录 grade): 甲 fully eligible, 乙 eligible after 先行自付, 丙 not eligible (自费)."""

    A = "甲"
    B = "乙"
    C = "丙"

    @property
    def chrgitm_lv(self) -> str:
        """The national platform's grade code: 01 甲类, 02 乙类, 03 丙类."""
        return {"甲": "01", "乙": "02", "丙": "03"}[self.value]


class VisitType(StrEnum):
    """Where the spending happens; pharmacy and outpatient share the 门诊共济 pool, inpatient has its own."""

    PHARMACY = "pharmacy"
    OUTPATIENT = "outpatient"
    INPATIENT = "inpatient"


class Scheme(StrEnum):
    EMPLOYEE = "employee"  # 职工基本医疗保险
    RESIDENT = "resident"  # 城乡居民基本医疗保险


HOSPITAL_LEVELS = (1, 2, 3)  # 一级 / 二级 / 三级


@dataclass(frozen=True)
class Visit:
    """One settlement's context: visit type, hospital level (None for a pharmacy), where and when care happens.

    >>> Visit(VisitType.OUTPATIENT, "310000", date(2025, 3, 1), hospital_level=2).hospital_level
    2
    """

    visit_type: VisitType
    treatment_region: str
    on: date
    hospital_level: int | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "visit_type", VisitType(self.visit_type))
        check_region(self.treatment_region, "treatment_region")
        if not isinstance(self.on, date):
            raise TypeError(f"on must be a date, got {self.on!r}")
        if self.visit_type is VisitType.PHARMACY:
            if self.hospital_level is not None:
                raise ValueError("a pharmacy visit has no hospital level")
        elif isinstance(self.hospital_level, bool) or self.hospital_level not in HOSPITAL_LEVELS:
            raise ValueError(f"{self.visit_type} needs hospital_level 1, 2 or 3, got {self.hospital_level!r}")


@dataclass(frozen=True)
class CartLine:
    """One line of the bill: `quantity` packs of catalog item `code` at `unit_price_fen` each.

    >>> CartLine("XJ01CAA040A001", 2, 1250, "甲").amount_fen
    2500
    """

    code: str
    quantity: int
    unit_price_fen: int
    item_class: ItemClass
    name: str = ""

    def __post_init__(self) -> None:
        if not isinstance(self.code, str) or not self.code:
            raise ValueError(f"line code must be a non-empty string, got {self.code!r}")
        if isinstance(self.quantity, bool) or not isinstance(self.quantity, int):
            raise TypeError(f"quantity must be int, got {type(self.quantity).__name__} {self.quantity!r}")
        if self.quantity <= 0:
            raise ValueError(f"quantity must be > 0, got {self.quantity}")
        check_fen(self.unit_price_fen, "unit_price_fen")
        object.__setattr__(self, "item_class", ItemClass(self.item_class))

    @property
    def amount_fen(self) -> int:
        return self.quantity * self.unit_price_fen


@dataclass(frozen=True)
class YearToDate:
    """The card's medical record counters for the current calendar year (fen).

    `deductible_used_fen` and `pooled_paid_fen` belong to the outpatient pool (门诊共济: pharmacy + outpatient);
    `inpatient_pooled_paid_fen` to the inpatient pool (its deductible is per admission, so it has no counter).
    The card side resets them when the year changes; the engine never looks at a clock.
    """

    deductible_used_fen: int = 0
    pooled_paid_fen: int = 0
    inpatient_pooled_paid_fen: int = 0

    def __post_init__(self) -> None:
        check_fen(self.deductible_used_fen, "deductible_used_fen")
        check_fen(self.pooled_paid_fen, "pooled_paid_fen")
        check_fen(self.inpatient_pooled_paid_fen, "inpatient_pooled_paid_fen")
