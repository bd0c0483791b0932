"""Medical-insurance settlement at the counter (医保结算): policies and catalogs as data, a pure engine.

See docs/medical.md. Typical use::

    book = load_policies()
    policy = book.for_card(card_region, scheme, retired=retired, category=category)
    cart = [catalog.line("XJ01CAA040A001", 2)]
    s = settle(cart, policy, ytd, account_balance_fen, visit=Visit(VisitType.PHARMACY, "310000", today),
               filing=filings.find(ssn, card_region, "310000", today))
"""

from .catalog import Catalog, CatalogItem, load_catalog, parse_catalog
from .engine import LineParts, Parts, Refund, Settlement, refund, round_half_up, settle
from .errors import MedicalError, PolicyError, PolicyNotFound, RefundError, SettlementRefused, UnknownItem
from .filings import Filing, FilingKind, FilingLookup, FilingRegistry, filings_to_csv, parse_filings
from .model import CartLine, ItemClass, Scheme, Visit, VisitType, YearToDate
from .policy import (
    ByLevel,
    CrossProvinceRule,
    InpatientRules,
    OutpatientRules,
    Policy,
    PolicyBook,
    WithoutFiling,
    category_for,
    load_policies,
    load_policy,
    parse_policy,
)
from .regions import Region, RegionTable, load_regions, parse_regions

__all__ = [
    "ByLevel", "CartLine", "Catalog", "CatalogItem", "CrossProvinceRule", "Filing", "FilingKind", "FilingLookup",
    "FilingRegistry", "InpatientRules", "ItemClass", "LineParts", "MedicalError", "OutpatientRules", "Parts",
    "Policy", "PolicyBook", "PolicyError", "PolicyNotFound", "Refund", "RefundError", "Region", "RegionTable",
    "Scheme", "Settlement", "SettlementRefused", "UnknownItem", "Visit", "VisitType", "WithoutFiling",
    "YearToDate", "category_for", "filings_to_csv", "load_catalog", "load_policies", "load_policy",
    "load_regions", "parse_catalog", "parse_filings", "parse_policy", "parse_regions", "refund",
    "round_half_up", "settle",
]
