"""Why an identity check (card or QR) was refused: one exception with a stable reason code."""

from __future__ import annotations

from enum import StrEnum

from terminal.errors import TerminalError


class Reason(StrEnum):
    """Stable reason codes (logged, shown, tested); the message carries the human explanation."""

    # the card
    NO_APPLICATION = "no-application"
    APPLICATION_BLOCKED = "application-blocked"
    CARD_UNREADABLE = "card-unreadable"
    CARD_EXPIRED = "card-expired"
    CARD_NOT_YET_VALID = "card-not-yet-valid"
    SSN_INVALID = "ssn-invalid"
    UNKNOWN_REGION = "unknown-region"
    HOTLISTED = "hotlisted"
    PIN_REQUIRED = "pin-required"
    PIN_FORMAT = "pin-format"
    PIN_WRONG = "pin-wrong"
    PIN_BLOCKED = "pin-blocked"
    CARD_AUTH_FAILED = "card-auth-failed"
    # the QR electronic card
    QR_GARBAGE = "qr-garbage"
    QR_WRONG_VERSION = "qr-wrong-version"
    QR_TRUNCATED = "qr-truncated"
    QR_FORGED = "qr-forged"
    QR_INVALID = "qr-invalid"
    QR_EXPIRED = "qr-expired"
    QR_NOT_YET_VALID = "qr-not-yet-valid"
    QR_REUSED = "qr-reused"


class IdentityRefused(TerminalError):
    """The holder's identity was not accepted. `reason` is a Reason; `tries_left` is set for PIN
    refusals (0 = blocked). The message never holds a PIN or a full SSN."""

    def __init__(self, reason: Reason, message: str, tries_left: int | None = None) -> None:
        super().__init__(message)
        self.reason = reason
        self.tries_left = tries_left

    def __repr__(self) -> str:
        return f"IdentityRefused({self.reason.value!r}, {str(self)!r})"
