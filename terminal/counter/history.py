"""What the counter sold and refunded: stored sales and refunds with the state of their ledger intents, and
the receipts built from them."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from terminal.counter.errors import UnknownReceipt
from terminal.counter.receipt import Receipt, mask_card_number, receipt_lines

if TYPE_CHECKING:
    from terminal.counter.counter import Counter

SALE_KIND = "medical_sale"
REFUND_KIND = "medical_refund"


@dataclass(frozen=True)
class StoredSale:
    receipt_no: str
    created_at: str
    business_day: str
    operator: str
    card_serial: str
    card_number: str
    holder: dict[str, str]
    settlement: dict[str, Any]
    state: str  # committed | pending | failed | void (the ledger intent's)
    txn_id: int | None
    reason: str | None


@dataclass(frozen=True)
class StoredRefund:
    refund_no: str
    receipt_no: str
    created_at: str
    business_day: str
    operator: str
    lines: tuple[int, ...]
    parts: dict[str, Any]
    state: str
    txn_id: int | None
    reason: str | None


def load_sale(ctx: Counter, receipt_no: str) -> StoredSale:
    row = ctx.store.one("SELECT * FROM counter_sales WHERE receipt_no = ?", (receipt_no,))
    if row is None:
        raise UnknownReceipt(f"no sale {receipt_no} in {ctx.ledger.path}")
    state, txn_id, reason, _ = ctx.store.intent_state(SALE_KIND, "receipt", receipt_no)
    return StoredSale(row["receipt_no"], row["created_at"], row["business_day"], row["operator"], row["card_serial"],
                      row["card_number"], json.loads(row["holder"]), json.loads(row["settlement"]), state, txn_id,
                      reason)


def _refund(ctx: Counter, row: Any) -> StoredRefund:
    state, txn_id, reason, _ = ctx.store.intent_state(REFUND_KIND, "refund", row["refund_no"])
    return StoredRefund(row["refund_no"], row["receipt_no"], row["created_at"], row["business_day"], row["operator"],
                        tuple(json.loads(row["lines"])), json.loads(row["parts"]), state, txn_id, reason)


def refunds_of(ctx: Counter, receipt_no: str) -> list[StoredRefund]:
    rows = ctx.store.all("SELECT * FROM counter_refunds WHERE receipt_no = ? ORDER BY seq", (receipt_no,))
    return [_refund(ctx, row) for row in rows]


def load_refund(ctx: Counter, refund_no: str) -> StoredRefund:
    row = ctx.store.one("SELECT * FROM counter_refunds WHERE refund_no = ?", (refund_no,))
    if row is None:
        raise UnknownReceipt(f"no refund {refund_no} in {ctx.ledger.path}")
    return _refund(ctx, row)


def _card_facts(ctx: Counter, txn_id: int | None) -> tuple[str, str | None, int | None]:
    """(time, TAC, terminal seq) of the booked card transaction."""
    if txn_id is None:
        return "-", None, None
    txn = ctx.ledger.get_transaction(txn_id)
    t = txn.card_time or ""
    when = f"{t[:4]}-{t[4:6]}-{t[6:8]} {t[8:10]}:{t[10:12]}:{t[12:14]}" if len(t) == 14 else txn.committed_at
    return when, txn.tac, txn.terminal_seq


def sale_receipt(ctx: Counter, receipt_no: str) -> Receipt:
    sale = load_sale(ctx, receipt_no)
    s = sale.settlement
    when, tac, seq = _card_facts(ctx, sale.txn_id)
    return Receipt(
        kind="sale", number=sale.receipt_no, status=sale.state, institution=ctx.institution,
        terminal_id=ctx.terminal_id, operator=sale.operator, business_day=sale.business_day, time=when, tac=tac,
        terminal_seq=seq, holder_name=sale.holder["name"], holder_ssn=sale.holder["ssn"],
        card_number=mask_card_number(sale.card_number), policy_name=s["policy"]["name"], visit=s["visit"]["type"],
        treatment_region=s["visit"]["region"], cross_province=s["cross_province"], filed=s["filed"],
        lines=receipt_lines(s["lines"]), ytd_after=tuple(s["ytd_after"]), account_after_fen=s["account_after_fen"],
        notes=tuple(s.get("notes", ())), mode=s.get("mode", "offline"), setl_id=s.get("setl_id"),
        setlinfo=dict(s.get("setlinfo") or {}),
    )


def refund_receipt(ctx: Counter, refund_no: str) -> Receipt:
    refund = load_refund(ctx, refund_no)
    sale = load_sale(ctx, refund.receipt_no)
    s = sale.settlement
    when, tac, seq = _card_facts(ctx, refund.txn_id)
    return Receipt(
        kind="refund", number=refund.refund_no, status=refund.state, institution=ctx.institution,
        terminal_id=ctx.terminal_id, operator=refund.operator, business_day=refund.business_day, time=when, tac=tac,
        terminal_seq=seq, holder_name=sale.holder["name"], holder_ssn=sale.holder["ssn"],
        card_number=mask_card_number(sale.card_number), policy_name=s["policy"]["name"], visit=s["visit"]["type"],
        treatment_region=s["visit"]["region"], cross_province=s["cross_province"], filed=s["filed"],
        lines=receipt_lines(s["lines"], set(refund.lines)), ytd_after=tuple(refund.parts["ytd_after"]),
        account_after_fen=refund.parts.get("account_after_fen"), original=sale.receipt_no,
        mode=refund.parts.get("mode", "offline"), setlinfo=dict(refund.parts.get("setlinfo") or {}),
    )


def receipt(ctx: Counter, number: str) -> Receipt:
    """The receipt of a sale or a refund, by its number."""
    if ctx.store.one("SELECT 1 FROM counter_refunds WHERE refund_no = ?", (number,)):
        return refund_receipt(ctx, number)
    return sale_receipt(ctx, number)
