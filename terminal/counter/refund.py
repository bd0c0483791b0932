"""Refund of a whole sale or of some of its lines (supervisor only).

It reverses exactly the original parts of the chosen lines (terminal.medical.refund: lines are never
re-settled): the personal-account part goes back onto the card's ED through a load authorised by the issuer's
load host (CREDIT FOR LOAD, type 01), and that same card commit restores the year-to-date counters of the
medical record 0019; when the lines had no personal-account part, a 0-amount ED purchase carries the
counters instead. The ledger books the reversal: refunds (contra revenue) against pooled fund receivable,
personal account and cash drawer. A line is refunded at most once: lines of a committed or pending refund
are taken, and the card's counters can only go down by what was added.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from applets.purse.medical import MedicalRecord
from terminal.booking import Booked
from terminal.counter.card import read_record, updated_record, ytd_of
from terminal.counter.errors import AlreadyRefunded, CardNotReady, CounterError
from terminal.counter.history import REFUND_KIND, StoredSale, load_sale, refunds_of
from terminal.counter.operators import require_supervisor
from terminal.counter.sale import CardOutcome
from terminal.counter.saved import load_settlement
from terminal.counter.store import dumps
from terminal.ledger import Posting
from terminal.medical import Refund, RefundError
from terminal.medical import refund as reverse
from terminal.purse import PurseManager
from terminal.purse.errors import PurseError

if TYPE_CHECKING:
    from terminal.counter.counter import Counter

TXN_ED_PURCHASE = 0x05


@dataclass(frozen=True)
class RefundResult(CardOutcome):
    """committed: money and counters are back; failed: nothing moved (`reason`); pending: the card's answer
    was lost — present the card again (`Counter.recover`); its lines stay taken until then."""

    refund_no: str
    receipt_no: str
    status: str
    refund: Refund
    booked: Booked | None  # the card transaction (online: the one that wrote the counters, if any)
    mode: str = "offline"  # online: revoked at the insurance centre (2103 / 2208)
    setl_id: str | None = None  # the centre's id of the revocation (online)
    note: str | None = None  # why an online refund did not happen


def refund_postings(r: Refund) -> list[Posting]:
    """The reversal of `accounts.medical_sale` for the refunded lines: refunds (debit) against each original part."""
    lines = [Posting("refunds", r.totals.amount_fen)]
    for account, fen in (("pooled_fund_receivable", r.pooled_fen), ("personal_account", r.account_fen),
                         ("cash_drawer", r.cash_fen)):
        if fen:
            lines.append(Posting(account, -fen))
    return lines


def taken_lines(ctx: Counter, receipt_no: str) -> set[int]:
    """Lines of the sale already refunded, or in a refund still pending at the card."""
    taken: set[int] = set()
    for refund in refunds_of(ctx, receipt_no):
        if refund.state in ("committed", "pending"):
            taken |= set(refund.lines)
    return taken


@dataclass(frozen=True)
class Prepared:
    """A refund checked and computed, before anything moves."""

    sale: StoredSale
    record: MedicalRecord
    balance_fen: int
    refund: Refund
    now: datetime


def refund(ctx: Counter, receipt_no: str, lines: Sequence[int] | None, *, manager: PurseManager, pin: str) -> RefundResult:
    """Refund `lines` (0-based indexes; None = every line not refunded yet) of sale `receipt_no`, with the
    sale's card in `manager`'s reader and the holder's PIN. A sale the insurance centre settled is revoked
    there (2103 / 2208) when a centre link is configured."""
    operator = require_supervisor(ctx.operator, "a refund")
    if ctx.centre is not None:
        online = ctx.centre.refund(ctx, load_sale(ctx, receipt_no), lines, manager=manager, pin=pin)
        if online is not None:
            return online
    p = prepare(ctx, receipt_no, lines, manager=manager, pin=pin)
    record, balance, r, now = p.record, p.balance_fen, p.refund, p.now
    update = updated_record(record, r.ytd_after, on=now, terminal_id=manager.terminal_id)
    refund_no = insert_refund(ctx, receipt_no, r, balance, now, operator.operator_id)
    details = {"refund": refund_no, "receipt": receipt_no, "lines": list(r.line_indexes), "mode": "offline",
               **refund_details(r)}
    books = ctx.books(manager)
    postings = refund_postings(r)
    if r.account_fen:
        booked = books.load(r.account_fen, postings, purse="ed", purpose="refund", kind=REFUND_KIND, details=details,
                            capp_record=update)
    else:
        booked = books.purchase(0, postings, txn_type=TXN_ED_PURCHASE, capp_record=update, pin=pin,
                                kind=REFUND_KIND, details=details)
    result = RefundResult(refund_no, receipt_no, booked.status, r, booked)
    if ctx.centre is not None and booked.status != "failed":
        ctx.centre.queue_refund(ctx, result, r.ytd_before)
    return result


def refund_details(r: Refund) -> dict[str, int]:
    """The ledger intent's amounts, under the platform's setlinfo names (fen)."""
    t = r.totals
    return {"medfee_sumamt": t.amount_fen, "fund_pay_sumamt": t.pooled_fen, "acct_pay": t.account_fen,
            "psn_cash_pay": t.cash_fen}


def insert_refund(ctx: Counter, receipt_no: str, r: Refund, balance_fen: int, now: datetime, operator_id: str,
                  *, account_back_to_card: bool = True) -> str:
    """The counter_refunds row (before the card or the centre is asked); returns its refund number."""
    parts = {"amount_fen": r.totals.amount_fen, "pooled_fen": r.pooled_fen, "account_fen": r.account_fen,
             "cash_fen": r.cash_fen, "ytd_before": list(_ytd(r.ytd_before)), "ytd_after": list(_ytd(r.ytd_after)),
             "account_after_fen": balance_fen + (r.account_fen if account_back_to_card else 0),
             "setlinfo": r.totals.to_setlinfo(), "mode": "offline" if account_back_to_card else "online"}
    with ctx.store.write() as conn:
        refund_no = ctx.store.next_number("counter_refunds", f"{ctx.terminal_id}-R")
        conn.execute(
            "INSERT INTO counter_refunds (refund_no, receipt_no, created_at, business_day, operator, lines, parts)"
            " VALUES (?, ?, ?, ?, ?, ?, ?)",
            (refund_no, receipt_no, now.isoformat(timespec="seconds"), ctx.business_day(), operator_id,
             dumps(list(r.line_indexes)), dumps(parts)),
        )
    return refund_no


def prepare(ctx: Counter, receipt_no: str, lines: Sequence[int] | None, *, manager: PurseManager,
            pin: str) -> Prepared:
    """Every check of a refund (the sale, the card, the holder's PIN, the year) and its parts."""
    sale = load_sale(ctx, receipt_no)
    if sale.state == "pending":
        raise CounterError(f"sale {receipt_no} is still pending at the card: present the card to resolve it first")
    if sale.state != "committed":
        raise CounterError(f"sale {receipt_no} was not completed ({sale.state}): there is nothing to refund")
    if any(r.state == "pending" for r in refunds_of(ctx, receipt_no)):
        raise AlreadyRefunded(f"a refund of {receipt_no} is pending at the card: present the card to resolve it first")
    try:
        purse = manager.identity()
    except PurseError as e:
        raise CardNotReady(str(e)) from None
    if purse.factor.hex().upper() != sale.card_serial:
        raise CardNotReady(f"this is not the card of sale {receipt_no}: present card {sale.card_number[:5]}…")
    if _listed(ctx, sale.card_serial) or _listed(ctx, sale.card_number):
        raise CardNotReady(f"card {sale.card_number} is on the hotlist: a refund to a lost or blocked card goes "
                           "through the card issuer")
    manager.channel.verify_pin(pin)  # the holder's consent; PinError says how many tries are left
    record = read_record(manager, reopen=False)
    balance = manager.balance("ed")
    sale_year = int(sale.settlement["visit"]["on"][:4])
    now = ctx.now()
    if record.year != sale_year or now.year != sale_year:
        raise CounterError(f"sale {receipt_no} belongs to {sale_year}: a refund in another year goes through the "
                           "insurance centre, not the counter")
    original = load_settlement(sale.settlement, ctx.policies)
    try:
        r = reverse(original, None if lines is None else list(lines), ytd=ytd_of(record),
                    already_refunded=taken_lines(ctx, receipt_no))
    except RefundError as e:
        text = str(e)
        if "already refunded" in text:
            raise AlreadyRefunded(f"sale {receipt_no}: {text}") from None
        raise CounterError(f"sale {receipt_no}: {text}") from None
    return Prepared(sale, record, balance, r, now)


def _listed(ctx: Counter, key: str) -> bool:
    try:
        return ctx.hotlist.contains(key)
    except ValueError:
        return False


def _ytd(y: object) -> tuple[int, int, int]:
    return (y.deductible_used_fen, y.pooled_paid_fen, y.inpatient_pooled_paid_fen)  # type: ignore[attr-defined]
