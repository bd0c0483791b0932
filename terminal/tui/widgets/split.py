"""The settlement split as text: per line (class, amount, 自付/先行自付, deductible, pooled fund, personal
account, cash) and the totals, ratio, balance before / after and the engine's notes."""

from __future__ import annotations

from typing import Any

from rich.cells import cell_len

from terminal.tui.i18n import yuan


def _pad(text: str, width: int) -> str:
    return text + " " * max(0, width - cell_len(text))


def split_text(app: Any, preview: Any) -> str:
    t = app.t
    s = preview.settlement  # terminal.counter.Draft
    rows = [(t("split.line"), t("split.amount"), t("split.pooled"), t("split.account"), t("split.cash"))]
    for line in s.lines:
        rows.append((f"{line.index + 1} {line.item_class.value}", yuan(line.amount_fen), yuan(line.pooled_fen),
                     yuan(line.account_fen), yuan(line.cash_fen)))
    rows.append((t("split.total"), yuan(s.total_fen), yuan(s.pooled_fen), yuan(s.account_fen), yuan(s.cash_fen)))
    widths = [max(cell_len(r[i]) for r in rows) + 1 for i in range(5)]
    out = ["".join(_pad(c, w) for c, w in zip(r, widths)).rstrip() for r in rows]
    tot = s.totals
    out.append("")
    out.append(t("split.selfpay", a=yuan(tot.selfpay_fen), b=yuan(tot.preselfpay_fen)))
    out.append(t("split.deductible", d=yuan(tot.deductible_part_fen), r=s.ratio_percent))
    out.append(t("split.balance", before=yuan(s.account_balance_before_fen), after=yuan(s.account_balance_after_fen)))
    if s.cross_province:
        out.append(t("split.cross_filed") if s.filed else t("split.cross_not_filed"))
    out.append("")
    out.append(t("split.due", amount=yuan(s.cash_fen)))
    return "\n".join(out)
