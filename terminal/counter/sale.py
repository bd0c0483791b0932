"""A medical sale at the counter: preview the split (pure), then pay — the personal-account part and the
card's new year-to-date counters in ONE atomic card transaction, booked in the ledger.

Pay = an ED purchase (type 05) of the personal-account part that carries the medical record 0019 as a
cached update (a 0-amount ED purchase when the account pays nothing), through `PurseBooks` so that the
ledger announces the intent before the DEBIT and books `accounts.medical_sale` (pooled fund receivable,
personal account, cash drawer; revenue) after it. The cash part is taken at the till.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

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
    online: Any = field(default=None, repr=False, compare=False)  # the centre's pre-settlement (OnlineDraft)
    use_account: bool = True

    @property
    def total_fen(self) -> int:
        return self.settlement.total_fen

    @property
    def mode(self) -> str:
        """online: the insurance centre settles it (2102 / 2207); offline: the counter's engine from the card."""
        return "offline" if self.online is None else "online"


class CardOutcome:
    """What a sale and a refund say of their card transaction: committed, or why not."""

    status: str
    booked: Booked | None
    note: str | None

    @property
    def committed(self) -> bool:
        return self.status == "committed"

    @property
    def reason(self) -> str | None:
        if self.committed:
            return None
        if self.booked is None:
            return self.note
        return self.booked.result.reason or self.booked.intent.reason


@dataclass(frozen=True)
class Sale(CardOutcome):
    """The outcome of `pay`: committed (the receipt can be printed), failed (nothing moved; `reason`), or
    pending (the card's answer was lost: present the card again, `Counter.recover`)."""

    receipt_no: str
    status: str
    draft: Draft
    booked: Booked | None  # the card transaction (online: the one that wrote the counters, if any)
    mode: str = "offline"  # online: settled by the insurance centre; offline: by the counter's engine
    setl_id: str | None = None  # the centre's settlement id (online)
    note: str | None = None  # why an online sale was not settled

    @property
    def tac(self) -> str | None:
        if self.booked is None or self.booked.transaction is None:
            return None
        return self.booked.transaction.tac


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
    if ctx.centre is not None and customer.centre is not None:
        online = ctx.centre.preview(ctx, customer, tuple(cart), visit_type=VisitType(visit_type),
                                    hospital_level=hospital_level, use_account=use_account)
        if online is not None:
            return online
    visit = Visit(VisitType(visit_type), ctx.treatment_region, customer.read_on, hospital_level)
    filing = ctx.filings.find_by_hash(customer.identity.ssn_hash, customer.home_region, visit.treatment_region,
                                      visit.on)
    settlement = settle(list(cart), customer.policy, customer.ytd, customer.account_balance_fen, visit=visit,
                        retired=customer.record.retired and "retired" in customer.policy.categories,
                        filing=filing, use_account=use_account)
    return Draft(customer, tuple(cart), settlement, filing, use_account=use_account)


def pay(ctx: Counter, draft: Draft, *, pin: str) -> Sale:
    """Take the personal-account part from the card (with the new counters) and book the sale. The card must
    still hold what the preview read (StaleSettlement otherwise). Ledger refusals (another pending
    transaction of this card, …) raise before anything moves."""
    if draft.online is not None:
        if ctx.centre is None:
            raise StaleSettlement("this preview was made online but the counter has no insurance centre now")
        return ctx.centre.pay(ctx, draft, pin)
    operator = ctx.require_operator("a sale")
    customer, s = draft.customer, draft.settlement
    now = check_date(ctx, draft)
    record = check_unchanged(customer)
    update = updated_record(record, s.ytd_after, on=now, terminal_id=customer.manager.terminal_id)
    postings = accounts.medical_sale(pooled_fen=s.pooled_fen, personal_fen=s.account_fen, cash_fen=s.cash_fen)
    saved = save_settlement(s, draft.cart, filing_id=draft.filing.filing_id if draft.filing else None,
                            category=policy_category(record.scheme, record.retired, record.category),
                            use_account=draft.use_account)
    receipt_no = insert_sale(ctx, customer, saved, update.data.hex().upper(), now, operator.operator_id)
    if ctx.centre is not None:
        ctx.centre.queue_sale(ctx, receipt_no, draft, now.strftime("%Y-%m-%d %H:%M:%S"))
    details = {"receipt": receipt_no, "mode": "offline", **sale_details(s)}
    booked = ctx.books(customer.manager).purchase(
        s.account_fen, postings, txn_type=TXN_ED_PURCHASE, capp_record=update, pin=pin, kind=SALE_KIND,
        details=details,
    )
    return Sale(receipt_no, booked.status, draft, booked)


def check_date(ctx: Counter, draft: Draft) -> datetime:
    """Now, when it is still the preview's day (StaleSettlement otherwise)."""
    now = ctx.now()
    if now.year != draft.customer.read_on.year or now.date() != draft.settlement.visit.on:
        raise StaleSettlement("the date changed since the preview: identify and settle again")
    return now


def sale_details(s: Settlement) -> dict[str, int]:
    """The ledger intent's amounts, under the platform's setlinfo names (fen)."""
    info = s.to_setlinfo()
    return {name: info[name] for name in ("medfee_sumamt", "fund_pay_sumamt", "acct_pay", "psn_cash_pay")}


def insert_sale(ctx: Counter, customer: Customer, saved: dict[str, Any], record_after: str, now: datetime,
                operator_id: str) -> str:
    """The counter_sales row (before the card or the centre is asked); returns its receipt number."""
    holder = {"name": customer.identity.masked_name, "ssn": customer.identity.masked_ssn}
    day = ctx.business_day()
    with ctx.store.write() as conn:
        receipt_no = ctx.store.next_number("counter_sales", f"{ctx.terminal_id}-")
        conn.execute(
            "INSERT INTO counter_sales (receipt_no, created_at, business_day, operator, card_serial, card_number,"
            " holder, settlement, record_after) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (receipt_no, now.isoformat(timespec="seconds"), day, operator_id, customer.card_serial,
             customer.identity.card_number, dumps(holder), dumps(saved), record_after),
        )
    return receipt_no
