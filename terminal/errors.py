"""Terminal-side errors: what a counter or validator flow reports to its operator."""

from __future__ import annotations


class TerminalError(Exception):
    """Base class; the message is fit to show an operator (no secrets, no traceback)."""


class ProfileError(TerminalError):
    """A holder profile or key file is wrong: names the file and the problem."""


class CardAnswerError(TerminalError):
    """The card answered something the protocol does not allow (short data, bad TLV, wrong SW)."""

    def __init__(self, message: str, sw: int | None = None) -> None:
        super().__init__(message)
        self.sw = sw


class PinError(TerminalError):
    """VERIFY failed: `tries_left` is None when unknown, 0 when the PIN is now blocked."""

    def __init__(self, message: str, tries_left: int | None) -> None:
        super().__init__(message)
        self.tries_left = tries_left


class HotlistError(TerminalError):
    """The local hotlist cannot be used or updated: names the file and the problem."""


class HotlistImportError(HotlistError):
    """A hotlist source file has bad lines; `errors` holds one `FILE:LINE: problem` per bad line."""

    def __init__(self, message: str, errors: tuple[str, ...]) -> None:
        super().__init__(message)
        self.errors = errors
