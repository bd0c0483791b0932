"""Errors of the centre client, one base class (style.md 6)."""

from __future__ import annotations

from terminal.errors import TerminalError


class CentreClientError(TerminalError):
    """Base class: talking to the insurance centre did not give a usable answer."""


class CentreUnreachable(CentreClientError):
    """No answer (connection refused, timeout, broken connection, HTTP error). `sent`: the request may have
    reached the centre, so a state-changing transaction must be confirmed (same msgid) or reversed (2601)."""

    def __init__(self, message: str, *, sent: bool) -> None:
        super().__init__(message)
        self.sent = sent


class CentreRefused(CentreClientError):
    """The centre answered infcode −1: `err_msg` says why; nothing happened there."""

    def __init__(self, err_msg: str, *, infno: str = "", msgid: str = "") -> None:
        super().__init__(f"the insurance centre refused {infno}: {err_msg}" if infno else err_msg)
        self.err_msg = err_msg
        self.infno = infno
        self.msgid = msgid


class CentreProtocolError(CentreClientError):
    """The centre's answer is not what the platform's interface promises (not JSON, parts that do not add up)."""
