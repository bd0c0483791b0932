"""Counter-flow errors: one base class, names that say the condition. Messages are one line, fit to show an
operator: never a PIN or a password, identities masked."""

from __future__ import annotations

from terminal.errors import TerminalError


class CounterError(TerminalError):
    """Base class for everything a counter flow refuses."""


class LoginFailed(CounterError):
    """Wrong operator id or password (the message does not say which), or the operator is disabled."""


class NotAuthorised(CounterError):
    """The operator's role does not allow this (refunds and day close need a supervisor)."""


class CardNotReady(CounterError):
    """The card cannot be used for a medical settlement: no medical record, no purse, another card."""


class StaleSettlement(CounterError):
    """The card's counters or personal account changed since the preview: settle again."""


class UnknownReceipt(CounterError, LookupError):
    """No sale or refund with that receipt number in this ledger."""


class AlreadyRefunded(CounterError):
    """The sale, or one of the lines, was already refunded (or a refund of it is pending)."""


class BadInput(CounterError, ValueError):
    """A cart, subsidy batch, operator or filing file is wrong: names the file, the line and the problem."""


class DayClosed(CounterError):
    """The business day is already closed, or not yet open."""
