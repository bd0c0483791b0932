"""Counter flows (柜台): identify the holder, settle a medical sale against the card, receipts, refunds,
subsidy credits, day close, operators (docs/counter.md). `Counter` is the one object the CLI and the TUI use."""

from terminal.counter.card import Customer
from terminal.counter.counter import Counter
from terminal.counter.dayclose import DayClose, verify_summary
from terminal.counter.errors import (
    AlreadyRefunded,
    BadInput,
    CardNotReady,
    CounterError,
    DayClosed,
    LoginFailed,
    NotAuthorised,
    StaleSettlement,
    UnknownReceipt,
)
from terminal.counter.operators import Operator, Role
from terminal.counter.receipt import Receipt, ReceiptLine
from terminal.counter.refund import RefundResult
from terminal.counter.sale import Draft, Sale
from terminal.counter.subsidy import Batch, Credit

__all__ = [
    "AlreadyRefunded", "BadInput", "Batch", "CardNotReady", "Counter", "CounterError", "Credit", "Customer",
    "DayClose", "DayClosed", "Draft", "LoginFailed", "NotAuthorised", "Operator", "Receipt", "ReceiptLine",
    "RefundResult", "Role", "Sale", "StaleSettlement", "UnknownReceipt", "verify_summary",
]
