"""Purse-flow errors. Transactions never raise for a declined or torn card — they return a result with
an outcome and a reason (terminal/purse/results.py); these are for the queries and the set-up."""

from __future__ import annotations

from terminal.errors import TerminalError


class PurseError(TerminalError):
    """Base class of the purse flows' errors; the message is fit for an operator (no keys)."""

    def __init__(self, message: str, sw: int | None = None) -> None:
        super().__init__(message)
        self.sw = sw


class BadAnswer(PurseError):
    """The card or PSAM answered something the protocol does not allow (length, SW, values)."""


class PsamError(PurseError):
    """The PSAM is missing, answered wrongly, or has no key for the card."""


class LoadRefused(PurseError):
    """The issuer's load host refused to authorise a load (MAC1 wrong, unknown key, limits)."""


class NotSameCard(PurseError):
    """Recovery was asked for on a card other than the one of the pending transaction."""
