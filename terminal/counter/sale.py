"""A medical sale at the counter: preview the split (pure), then pay — the personal-account part and the
card's new year-to-date counters in ONE atomic card transaction, booked in the ledger.

Pay = an ED purchase (type 05) of the personal-account part that carries the medical record 0019 as a
cached update (a 0-amount ED purchase when the account pays nothing), through `PurseBooks` so that the
ledger announces the intent before the DEBIT and books `accounts.medical_sale` (pooled fund receivable,
personal account, cash drawer; revenue) after it. The cash part is taken at the till.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from terminal.booking import Booked
from terminal.counter.card import Customer, check_unchanged, updated_record
from terminal.counter.errors import BadInput, StaleSettlement
from terminal.counter.saved import policy_category, save_settlement
from terminal.counter.store import dumps
from terminal.ledger import accounts
from terminal.medical import CartLine, Filing, Settlement, Visit, VisitType, settle

if TYPE_CHECKING:
    from terminal.counter.counter import Counter

SALE_KIND = "medical_sale"
TXN_ED_PURCHASE = 0x05


@dataclass(frozen=True)
class Draft:
    """A previewed settlement: what the holder will pay, before anything moves."""

    customer: Customer
    cart: tuple[CartLine, ...]
    settlement: Settlement
    filing: Filing | None

    @property
    def total_fen(self) -> int:
        return self.settlement.total_fen


@dataclass(frozen=True)
class Sale:
    """The outcome of `pay`: committed (the receipt can be printed), failed (nothing moved; `reason`), or
    pending (the card's answer was lost: present the card again, `Counter.recover`)."""

    receipt_no: str
    status: str
    draft: Draft
    booked: Booked

    @property
    def committed(self) -> bool:
        return self.status == "committed"

    @property
    def reason(self) -> str | None:
        return None if self.committed else (self.booked.result.reason or self.booked.intent.reason)

    @property
    def tac(self) -> str | None:
        return None if self.booked.transaction is None else self.booked.transaction.tac


def preview(
    ctx: Counter,
    customer: Customer,
    cart: Sequence[CartLine],
    *,
    visit_type: VisitType | str = VisitType.PHARMACY,
    hospital_level: int | None = None,
    use_account: bool = True,
) -> Draft:
    """Split `cart` for `customer` (pure: no card, no ledger). SettlementRefused when the home policy refuses
    (cross-province without a filing under a `refuse` policy)."""
    if not cart:
        raise BadInput("the cart is empty")
    visit = Visit(VisitType(visit_type), ctx.treatment_region, customer.read_on, hospital_level)
    filing = ctx.filings.find_by_hash(customer.identity.ssn_hash, customer.home_region, visit.treatment_region,
                                      visit.on)
    settlement = settle(list(cart), customer.policy, customer.ytd, customer.account_balance_fen, visit=visit,
                        retired=customer.record.retired and "retired" in customer.policy.categories,
                        filing=filing, use_account=use_account)
    return Draft(customer, tuple(cart), settlement, filing)


def pay(ctx: Counter, draft: Draft, *, pin: str) -> Sale:
    """Take the personal-account part from the card (with the new counters) and book the sale. The card must
    still hold what the preview read (StaleSettlement otherwise). Ledger refusals (another pending
    transaction of this card, …) raise before anything moves."""
    operator = ctx.require_operator("a sale")
    customer, s = draft.customer, draft.settlement
    now = ctx.now()
    if now.year != customer.read_on.year or now.date() != s.visit.on:
        raise StaleSettlement("the date changed since the preview: identify and settle again")
    record = check_unchanged(customer)
    update = updated_record(record, s.ytd_after, on=now, terminal_id=customer.manager.terminal_id)
    postings = accounts.medical_sale(pooled_fen=s.pooled_fen, personal_fen=s.account_fen, cash_fen=s.cash_fen)
    saved = save_settlement(s, draft.cart, filing_id=draft.filing.filing_id if draft.filing else None,
                            category=policy_category(record.scheme, record.retired, record.category))
    holder = {"name": customer.identity.masked_name, "ssn": customer.identity.masked_ssn}
    day = ctx.business_day()
    with ctx.store.write() as conn:
        receipt_no = ctx.store.next_number("counter_sales", f"{ctx.terminal_id}-")
        conn.execute(
            "INSERT INTO counter_sales (receipt_no, created_at, business_day, operator, card_serial, card_number,"
            " holder, settlement, record_after) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (receipt_no, now.isoformat(timespec="seconds"), day, operator.operator_id, customer.card_serial,
             customer.identity.card_number, dumps(holder), dumps(saved), update.data.hex().upper()),
        )
    details = {"receipt": receipt_no, "total_fen": s.total_fen, "pooled_fen": s.pooled_fen,
               "account_fen": s.account_fen, "cash_fen": s.cash_fen}
    booked = ctx.books(customer.manager).purchase(
        s.account_fen, postings, txn_type=TXN_ED_PURCHASE, capp_record=update, pin=pin, kind=SALE_KIND,
        details=details,
    )
    return Sale(receipt_no, booked.status, draft, booked)
