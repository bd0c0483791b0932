"""A settlement as the counter keeps it (JSON in `counter_sales.settlement`): every line's parts, the totals'
inputs and what was applied, enough to print the receipt again and to refund exactly the original parts.

Lines are never re-settled: a refund reverses the stored parts (terminal.medical.refund), whatever the policy
files say by then.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Any

from terminal.medical import (
    CartLine,
    ItemClass,
    LineParts,
    PolicyBook,
    PolicyNotFound,
    Settlement,
    Visit,
    VisitType,
    YearToDate,
    category_for,
)

FORMAT = 1
_PARTS = ("amount_fen", "selfpay_fen", "preselfpay_fen", "eligible_fen", "deductible_part_fen", "coinsurance_fen",
          "over_cap_fen", "pooled_fen", "account_fen", "cash_fen")


def _ytd(y: YearToDate) -> list[int]:
    return [y.deductible_used_fen, y.pooled_paid_fen, y.inpatient_pooled_paid_fen]


def save_settlement(s: Settlement, cart: Sequence[CartLine], *, category: str, filing_id: str | None,
                    mode: str = "offline", setl_id: str | None = None, use_account: bool = True) -> dict[str, Any]:
    """The JSON-able form of a settlement of `cart` (same order as `s.lines`). `mode`: online (settled by the
    insurance centre, `setl_id`) or offline (the counter's engine from the card); `setlinfo` holds the
    totals under the platform's names (fen)."""
    if len(cart) != len(s.lines):
        raise ValueError("the cart and the settlement differ in length")
    lines = []
    for line, parts in zip(cart, s.lines):
        entry: dict[str, Any] = {"index": parts.index, "code": parts.code, "name": line.name, "class": parts.item_class.value,
                                 "quantity": line.quantity, "unit_price_fen": line.unit_price_fen}
        entry.update({name: getattr(parts, name) for name in _PARTS})
        lines.append(entry)
    return {
        "format": FORMAT,
        "policy": {"source": s.policy.source, "region": s.policy.region, "scheme": s.policy.scheme.value,
                   "category": category, "name": s.policy.name},
        "retired": s.retired,
        "visit": {"type": s.visit.visit_type.value, "region": s.visit.treatment_region, "on": s.visit.on.isoformat(),
                  "level": s.visit.hospital_level},
        "ratio_percent": s.ratio_percent,
        "deductible_fen": s.deductible_fen,
        "cross_province": s.cross_province,
        "filed": s.filed,
        "filing_id": filing_id,
        "ytd_before": _ytd(s.ytd_before),
        "ytd_after": _ytd(s.ytd_after),
        "account_before_fen": s.account_balance_before_fen,
        "account_after_fen": s.account_balance_after_fen,
        "lines": lines,
        "notes": list(s.notes),
        "mode": mode,
        "setl_id": setl_id,
        "use_account": use_account,
        "setlinfo": s.to_setlinfo(),
    }


def line_parts(saved: dict[str, Any]) -> tuple[LineParts, ...]:
    return tuple(
        LineParts(index=e["index"], code=e["code"], item_class=ItemClass(e["class"]),
                  **{name: e[name] for name in _PARTS})
        for e in saved["lines"]
    )


def load_settlement(saved: dict[str, Any], policies: PolicyBook) -> Settlement:
    """The Settlement back (for `terminal.medical.refund`). The policy is looked up again only to fill the
    field: a refund uses the stored lines, counters and visit type, not the policy; when the policy is no
    longer installed any installed one stands in."""
    if saved.get("format") != FORMAT:
        raise ValueError(f"unsupported saved settlement format {saved.get('format')!r}")
    p = saved["policy"]
    try:
        policy = policies.find(p["region"], p["scheme"], p["category"])
    except PolicyNotFound:
        policy = next(iter(policies))
    visit = saved["visit"]
    return Settlement(
        policy=policy,
        visit=Visit(VisitType(visit["type"]), visit["region"], date.fromisoformat(visit["on"]), visit["level"]),
        lines=line_parts(saved),
        ratio_percent=saved["ratio_percent"],
        deductible_fen=saved["deductible_fen"],
        cross_province=saved["cross_province"],
        filed=saved["filed"],
        retired=saved["retired"],
        ytd_before=YearToDate(*saved["ytd_before"]),
        ytd_after=YearToDate(*saved["ytd_after"]),
        account_balance_before_fen=saved["account_before_fen"],
        account_balance_after_fen=saved["account_after_fen"],
    )


def policy_category(scheme: str, retired: bool, category: str) -> str:
    return category_for(scheme, retired, category)
