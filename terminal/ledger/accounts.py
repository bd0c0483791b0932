"""The chart of accounts and the standard journal entries of the terminal.

Sign convention: a posting's `amount_fen` is positive for a debit and negative for a credit; every entry
sums to zero. An account's normal balance is its debit-minus-credit balance times `NORMAL_SIGN[type]`, so a
till with cash in it and revenue that was earned are both positive. Accounts whose `may_go_negative` is
false must keep a normal balance >= 0 (checked when an intent is begun, when it is committed, and by verify).
"""

from __future__ import annotations

from .model import Account, Posting

NORMAL_SIGN: dict[str, int] = {
    "asset": 1,
    "expense": 1,
    "contra_revenue": 1,
    "liability": -1,
    "equity": -1,
    "revenue": -1,
}

REVENUE_CATEGORIES: tuple[str, ...] = ("drugs", "otc", "devices", "services", "goods")

CHART: tuple[Account, ...] = (
    Account("cash_drawer", "Cash in the till", "asset", False),
    Account("purse_float", "E-purse clearing with the card issuer (+ purchases owed to us, - loads we owe)", "asset", True),
    Account("pooled_fund_receivable", "Medical pooled fund share of sales, owed by the insurance centre", "asset", False),
    Account("personal_account", "Medical personal-account share of sales, owed by the insurance centre", "asset", False),
    Account("settlement_receivable", "Amounts settled through the shop's bank account", "asset", True),
    *(Account(f"revenue:{c}", f"Sales: {c}", "revenue", False) for c in REVENUE_CATEGORIES),
    Account("transit_revenue", "Transit fares (full fare, before subsidy)", "revenue", False),
    Account("refunds", "Refunds given to customers (contra revenue)", "contra_revenue", False),
    Account("subsidy_payable", "Subsidy advanced by the programme, not yet given out as loads or fare discounts", "liability", False),
    Account("opening_float", "Owner's cash float put into / taken out of the till", "equity", True),
    Account("cash_over_short", "Till count differences", "expense", True),
)

# PBOC transaction types (purse.md): the natural key of a card transaction includes the type because loads
# use the card's online counter and purchases its offline counter.
TXN_ED_LOAD = 0x01
TXN_EP_LOAD = 0x02
TXN_ED_PURCHASE = 0x05
TXN_EP_PURCHASE = 0x06
TXN_EP_CAPP_PURCHASE = 0x09


def normal_balance(account_type: str, balance_fen: int) -> int:
    """Debit-minus-credit balance seen from the account's normal side."""
    return NORMAL_SIGN[account_type] * balance_fen


def _pos(amount_fen: int) -> int:
    if isinstance(amount_fen, bool) or not isinstance(amount_fen, int):
        raise TypeError(f"amount_fen must be an int number of fen, not {type(amount_fen).__name__}")
    if amount_fen <= 0:
        raise ValueError(f"amount must be positive, got {amount_fen} fen")
    return amount_fen


def purse_purchase(amount_fen: int, category: str = "goods") -> list[Posting]:
    """Sale paid from the card's e-purse: the issuer owes us the amount."""
    a = _pos(amount_fen)
    return [Posting("purse_float", a), Posting(f"revenue:{category}", -a)]


def purse_load(amount_fen: int) -> list[Posting]:
    """Cash taken at the till and loaded onto the card: we owe the issuer the cash."""
    a = _pos(amount_fen)
    return [Posting("cash_drawer", a), Posting("purse_float", -a)]


def purse_refund(amount_fen: int) -> list[Posting]:
    """Refund credited back onto the card's e-purse (a load on the card)."""
    a = _pos(amount_fen)
    return [Posting("refunds", a), Posting("purse_float", -a)]


def cash_sale(amount_fen: int, category: str = "goods") -> list[Posting]:
    a = _pos(amount_fen)
    return [Posting("cash_drawer", a), Posting(f"revenue:{category}", -a)]


def cash_refund(amount_fen: int) -> list[Posting]:
    """Refund paid out of the till (refused if the till would go below zero)."""
    a = _pos(amount_fen)
    return [Posting("refunds", a), Posting("cash_drawer", -a)]


def medical_sale(*, pooled_fen: int, personal_fen: int, cash_fen: int, category: str = "drugs") -> list[Posting]:
    """Medical-insurance settlement: pooled fund + personal account + cash (self-pay) = total."""
    parts = [("pooled_fund_receivable", pooled_fen), ("personal_account", personal_fen), ("cash_drawer", cash_fen)]
    for _, v in parts:
        if isinstance(v, bool) or not isinstance(v, int) or v < 0:
            raise ValueError(f"medical sale parts must be int fen >= 0, got {v!r}")
    total = sum(v for _, v in parts)
    _pos(total)
    return [Posting(acct, v) for acct, v in parts if v] + [Posting(f"revenue:{category}", -total)]


def transit_fare(charged_fen: int, subsidy_fen: int = 0) -> list[Posting]:
    """Fare taken from the e-purse; a concession's discount is drawn from the subsidy advance."""
    if isinstance(subsidy_fen, bool) or not isinstance(subsidy_fen, int) or subsidy_fen < 0:
        raise ValueError(f"subsidy must be int fen >= 0, got {subsidy_fen!r}")
    full = _pos(charged_fen + subsidy_fen)
    lines = [Posting("purse_float", charged_fen)] if charged_fen else []
    if subsidy_fen:
        lines.append(Posting("subsidy_payable", subsidy_fen))
    return lines + [Posting("transit_revenue", -full)]


def float_in(amount_fen: int) -> list[Posting]:
    a = _pos(amount_fen)
    return [Posting("cash_drawer", a), Posting("opening_float", -a)]


def float_out(amount_fen: int) -> list[Posting]:
    a = _pos(amount_fen)
    return [Posting("opening_float", a), Posting("cash_drawer", -a)]
