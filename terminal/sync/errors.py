"""Errors of the sync client, one base class (style.md 6)."""

from __future__ import annotations

from terminal.errors import TerminalError


class SyncError(TerminalError):
    """Sync did not finish; the message says why and that the next sync resumes where this one stopped."""


class TransientError(SyncError):
    """The server could not be reached or answered 5xx / 429: retried with backoff."""


class RefusedError(SyncError):
    """The server refused the request (4xx): not retried. `code` is the server's error word."""

    def __init__(self, code: str, message: str, status: int = 400, body: dict | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.status = status
        self.body = body or {}
