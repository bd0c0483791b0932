"""Receipts (结算单) for medical sales and refunds: itemised, with the split 统筹 / 个人账户 / 现金 and
自付 / 自费, the terminal id, the card's TAC; as plain text (a receipt printer, the terminal), as a
structured dict (a PDF form filler, JSON) and as self-contained HTML (print to PDF from any browser).

Only masked identity is ever on a receipt: 张*, 310105********001X, card A0000***01. No PIN, no hash.

自费 = 丙类 amounts (fulamt_ownpay_amt). 自付 = what the patient bears inside the policy scope:
乙类 先行自付 + the part under the deductible (起付线) + the patient's share above it (+ what the annual cap cut
off). Identities: total = 统筹 + 个人账户 + 现金 = 统筹 + 自付 + 自费.
"""

from __future__ import annotations

import html
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from terminal.ledger.report import yuan

CLASS_NAMES = {"甲": "甲类", "乙": "乙类", "丙": "丙类"}
VISIT_NAMES = {"pharmacy": "定点药店购药", "outpatient": "门诊", "inpatient": "住院"}


@dataclass(frozen=True)
class ReceiptLine:
    index: int
    code: str
    name: str
    item_class: str  # 甲 / 乙 / 丙
    quantity: int
    unit_price_fen: int
    amount_fen: int
    selfpay_fen: int  # 自费
    self_share_fen: int  # 自付
    pooled_fen: int
    account_fen: int
    cash_fen: int


@dataclass(frozen=True)
class Receipt:
    """One receipt. `kind` "sale" or "refund" (a refund's amounts are what goes back)."""

    kind: str
    number: str
    status: str  # committed | pending | failed | void
    institution: str
    terminal_id: str
    operator: str
    business_day: str
    time: str  # the card transaction's time, YYYY-MM-DD hh:mm:ss
    tac: str | None
    terminal_seq: int | None
    holder_name: str
    holder_ssn: str
    card_number: str
    policy_name: str
    visit: str
    treatment_region: str
    cross_province: bool
    filed: bool
    lines: tuple[ReceiptLine, ...]
    ytd_after: tuple[int, int, int]
    account_after_fen: int | None
    notes: tuple[str, ...] = ()
    original: str | None = None  # the sale a refund reverses
    extra: dict[str, Any] = field(default_factory=dict, compare=False)
    mode: str = "offline"  # online: settled by the insurance centre; offline: by the counter's engine
    setl_id: str | None = None  # the centre's settlement id (online)
    setlinfo: dict[str, int] = field(default_factory=dict, compare=False)  # the platform's names, fen

    # ---- totals ----
    def _sum(self, name: str) -> int:
        return sum(getattr(line, name) for line in self.lines)

    @property
    def totals(self) -> dict[str, int]:
        return {name: self._sum(f"{name}_fen") for name in ("amount", "pooled", "account", "cash", "selfpay",
                                                              "self_share")}

    # ---- forms ----
    def to_dict(self) -> dict[str, Any]:
        """The structured form (fen as int, yuan as exact text): what a PDF form or a JSON consumer needs."""
        t = self.totals
        return {
            "kind": self.kind, "number": self.number, "status": self.status, "institution": self.institution,
            "terminal_id": self.terminal_id, "operator": self.operator, "business_day": self.business_day,
            "time": self.time, "tac": self.tac, "terminal_seq": self.terminal_seq, "original": self.original,
            "holder": {"name": self.holder_name, "ssn": self.holder_ssn, "card_number": self.card_number},
            "policy": self.policy_name, "visit": self.visit, "treatment_region": self.treatment_region,
            "cross_province": self.cross_province, "filed": self.filed,
            "lines": [{**line.__dict__, "amount_yuan": yuan(line.amount_fen)} for line in self.lines],
            "totals_fen": t, "totals_yuan": {k: yuan(v) for k, v in t.items()},
            "ytd_after_fen": {"deductible_used": self.ytd_after[0], "pooled_paid": self.ytd_after[1],
                              "inpatient_pooled_paid": self.ytd_after[2]},
            "account_after_fen": self.account_after_fen, "notes": list(self.notes),
            "mode": self.mode, "setl_id": self.setl_id, "setlinfo": dict(self.setlinfo),
            "setlinfo_yuan": {k: yuan(v) for k, v in self.setlinfo.items()},
        }

    def to_text(self, width: int = 44) -> str:
        """Fixed-width text for a receipt printer (CJK counted as two columns)."""
        t = self.totals
        title = "医保结算单 / receipt" if self.kind == "sale" else "医保退费单 / refund"
        rule = "-" * width
        out = [_center(self.institution, width), _center(title, width), rule,
               f"No. {self.number}" + ("" if self.status == "committed" else f"  [{self.status.upper()}]")]
        if self.original:
            out.append(f"refund of {self.original}")
        out += [f"time     {self.time}   day {self.business_day}",
                f"terminal {self.terminal_id}" + (f"  seq {self.terminal_seq}" if self.terminal_seq is not None else ""),
                f"operator {self.operator}",
                f"holder   {self.holder_name}  {self.holder_ssn}",
                f"card     {self.card_number}",
                f"policy   {self.policy_name}",
                f"visit    {VISIT_NAMES.get(self.visit, self.visit)} @ {self.treatment_region}"
                + ("  跨省异地" + ("(已备案)" if self.filed else "(未备案)") if self.cross_province else ""),
                f"mode     {self.mode}" + (f"  {self.setl_id}" if self.setl_id else ""),
                rule]
        for line in self.lines:
            left = f"{line.index + 1} {line.name or line.code}"
            right = f"{line.quantity}x{yuan(line.unit_price_fen)} {yuan(line.amount_fen):>8} {line.item_class}"
            out.append(_fit(left, right, width))
            out.append(f"   统筹 {yuan(line.pooled_fen)} 个账 {yuan(line.account_fen)} 现金 {yuan(line.cash_fen)}")
        out.append(rule)
        for label, value in (("合计 total", t["amount"]), ("统筹基金 pooled fund", t["pooled"]),
                             ("个人账户 personal account", t["account"]), ("现金 cash", t["cash"]),
                             ("  其中 自付 self-share", t["self_share"]), ("  其中 自费 self-pay", t["selfpay"])):
            out.append(_fit(label, yuan(value), width))
        out.append(rule)
        d, p, i = self.ytd_after
        out.append(f"起付线已付 {yuan(d)}  统筹累计 {yuan(p)}" + (f"  住院 {yuan(i)}" if i else ""))
        if self.account_after_fen is not None:
            out.append(f"个人账户余额 balance {yuan(self.account_after_fen)}")
        out.append(f"TAC {self.tac or '-'}")
        out += [f"* {note}" for note in self.notes]
        return "\n".join(out) + "\n"

    def to_html(self) -> str:
        """A self-contained HTML page (inline CSS, A5/80 mm friendly) that prints to PDF as is."""
        e = html.escape
        t = self.totals
        rows = "".join(
            f"<tr><td>{line.index + 1}</td><td>{e(line.name or line.code)}<br><small>{e(line.code)}</small></td>"
            f"<td>{e(CLASS_NAMES.get(line.item_class, line.item_class))}</td><td class=n>{line.quantity}</td>"
            f"<td class=n>{yuan(line.unit_price_fen)}</td><td class=n>{yuan(line.amount_fen)}</td>"
            f"<td class=n>{yuan(line.pooled_fen)}</td><td class=n>{yuan(line.account_fen)}</td>"
            f"<td class=n>{yuan(line.cash_fen)}</td><td class=n>{yuan(line.self_share_fen)}</td>"
            f"<td class=n>{yuan(line.selfpay_fen)}</td></tr>"
            for line in self.lines
        )
        head = ("<tr><th>#</th><th>项目 item</th><th>类别</th><th>数量</th><th>单价</th><th>金额</th><th>统筹</th>"
                "<th>个人账户</th><th>现金</th><th>自付</th><th>自费</th></tr>")
        total = (f"<tr class=t><td></td><td>合计 total</td><td></td><td></td><td></td><td class=n>{yuan(t['amount'])}</td>"
                 f"<td class=n>{yuan(t['pooled'])}</td><td class=n>{yuan(t['account'])}</td>"
                 f"<td class=n>{yuan(t['cash'])}</td><td class=n>{yuan(t['self_share'])}</td>"
                 f"<td class=n>{yuan(t['selfpay'])}</td></tr>")
        facts = [("No.", self.number), ("status", self.status), ("refund of", self.original), ("time", self.time),
                 ("business day", self.business_day), ("terminal", self.terminal_id),
                 ("terminal seq", None if self.terminal_seq is None else str(self.terminal_seq)),
                 ("operator", self.operator), ("holder", f"{self.holder_name} {self.holder_ssn}"),
                 ("card", self.card_number), ("policy", self.policy_name),
                 ("visit", f"{VISIT_NAMES.get(self.visit, self.visit)} @ {self.treatment_region}"),
                 ("mode", self.mode), ("setl_id", self.setl_id), ("TAC", self.tac)]
        dl = "".join(f"<dt>{e(k)}</dt><dd>{e(v)}</dd>" for k, v in facts if v)
        notes = "".join(f"<li>{e(n)}</li>" for n in self.notes)
        title = "医保结算单" if self.kind == "sale" else "医保退费单"
        return (
            "<!DOCTYPE html><html lang=zh><head><meta charset=utf-8>"
            f"<title>{e(title)} {e(self.number)}</title><style>"
            "body{font-family:sans-serif;font-size:10pt;margin:8mm}h1{font-size:13pt;text-align:center}"
            "dl{display:grid;grid-template-columns:auto 1fr;gap:0 1em}dt{color:#555}dd{margin:0}"
            "table{border-collapse:collapse;width:100%}th,td{border-bottom:1px solid #ccc;padding:2px 4px}"
            ".n{text-align:right;font-variant-numeric:tabular-nums}.t td{font-weight:bold;border-top:2px solid #000}"
            "@page{size:A5;margin:8mm}</style></head><body>"
            f"<h1>{e(self.institution)}<br>{e(title)}</h1><dl>{dl}</dl>"
            f"<table>{head}{rows}{total}</table>"
            f"<p>起付线已付 {yuan(self.ytd_after[0])} · 统筹累计 {yuan(self.ytd_after[1])}"
            + (f" · 个人账户余额 {yuan(self.account_after_fen)}" if self.account_after_fen is not None else "")
            + f"</p><ul>{notes}</ul></body></html>\n"
        )


def receipt_lines(saved_lines: Sequence[dict[str, Any]], only: set[int] | None = None) -> tuple[ReceiptLine, ...]:
    out = []
    for e in saved_lines:
        if only is not None and e["index"] not in only:
            continue
        self_share = e["preselfpay_fen"] + e["deductible_part_fen"] + e["coinsurance_fen"] + e["over_cap_fen"]
        out.append(ReceiptLine(e["index"], e["code"], e["name"], e["class"], e["quantity"], e["unit_price_fen"],
                               e["amount_fen"], e["selfpay_fen"], self_share, e["pooled_fen"], e["account_fen"],
                               e["cash_fen"]))
    return tuple(out)


def mask_card_number(number: str) -> str:
    """A0000***01: enough to recognise the card, not to copy it."""
    return number[:5] + "*" * max(0, len(number) - 7) + number[-2:] if len(number) > 7 else number


def _width(text: str) -> int:
    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)


def _center(text: str, width: int) -> str:
    pad = max(0, width - _width(text))
    return " " * (pad // 2) + text


def _fit(left: str, right: str, width: int) -> str:
    gap = width - _width(left) - _width(right)
    return f"{left}{' ' * max(1, gap)}{right}"
