"""The terminal's local double-entry, hash-chained, crash-safe ledger (docs/ledger.md)."""

from .errors import (
    DuplicateTransaction,
    IntentAlreadyResolved,
    KeyFileError,
    LedgerCorrupt,
    LedgerError,
    LedgerNotFound,
    NegativeBalance,
    PendingIntentExists,
    TerminalMismatch,
    UnbalancedEntry,
    UnknownAccount,
    UnknownIntent,
    UnsafeDetails,
    VerificationFailed,
)
from .ledger import Ledger
from .model import (
    Account,
    AccountBalance,
    DayReport,
    Intent,
    OutboxEntry,
    Posting,
    Problem,
    RecoveryOutcome,
    Resolution,
    Transaction,
    VerifyReport,
)

__all__ = [
    "Account", "AccountBalance", "DayReport", "DuplicateTransaction", "Intent", "IntentAlreadyResolved",
    "KeyFileError", "Ledger", "LedgerCorrupt", "LedgerError", "LedgerNotFound", "NegativeBalance", "OutboxEntry",
    "PendingIntentExists", "Posting", "Problem", "RecoveryOutcome", "Resolution", "TerminalMismatch", "Transaction",
    "UnbalancedEntry", "UnknownAccount", "UnknownIntent", "UnsafeDetails", "VerificationFailed", "VerifyReport",
]
