"""Ledger errors: one base class, names that say the condition."""

from __future__ import annotations


class LedgerError(Exception):
    """Base class for everything the ledger refuses or cannot do."""


class LedgerNotFound(LedgerError):
    """No ledger database at that path (and `create` was false)."""


class LedgerCorrupt(LedgerError):
    """The database is not a complete ledger (half-created schema, unknown schema or chain version)."""


class KeyFileError(LedgerError):
    """The per-terminal HMAC key file is missing, unreadable, malformed or not the key this ledger was made with."""


class TerminalMismatch(LedgerError):
    """The ledger belongs to another terminal id than the one that opened it."""


class UnbalancedEntry(LedgerError, ValueError):
    """The postings of a journal entry do not sum to zero (or there are fewer than two)."""


class UnknownAccount(LedgerError, ValueError):
    """A posting names an account that is not in the chart of accounts."""


class UnsafeDetails(LedgerError, ValueError):
    """The details dict holds something the ledger must never store (a PIN, a key, a secret) or a non-JSON value."""


class NegativeBalance(LedgerError):
    """Booking would take an account that may not go negative below zero."""

    def __init__(self, account: str, balance_fen: int) -> None:
        super().__init__(f"account {account} would go negative ({balance_fen} fen)")
        self.account = account
        self.balance_fen = balance_fen


class UnknownIntent(LedgerError):
    """No intent with that id."""


class IntentAlreadyResolved(LedgerError):
    """The intent is no longer pending (committed, failed or cancelled) and cannot move to that state."""


class PendingIntentExists(LedgerError):
    """The card already has a pending intent: it must be resolved before the card is used again."""

    def __init__(self, card_serial: str, intent_id: str) -> None:
        super().__init__(f"card {card_serial} has a pending intent {intent_id}; resolve it first (ykt ledger recover)")
        self.card_serial = card_serial
        self.intent_id = intent_id


class DuplicateTransaction(LedgerError):
    """The natural key (card serial, card counter, transaction type) is already booked."""

    def __init__(self, card_serial: str, card_counter: int, txn_type: int, txn_id: int) -> None:
        super().__init__(
            f"card transaction already booked: card {card_serial} counter {card_counter} type {txn_type:02X}"
            f" is transaction {txn_id}"
        )
        self.card_serial = card_serial
        self.card_counter = card_counter
        self.txn_type = txn_type
        self.txn_id = txn_id


class VerificationFailed(LedgerError):
    """`verify` found a problem; the message names the first bad row."""
