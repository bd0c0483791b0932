"""Errors of the clearing service, one base class (style.md 6)."""

from __future__ import annotations

from terminal.errors import TerminalError


class ClearingError(TerminalError):
    """Base class of the clearing service's errors."""


class StorageError(ClearingError):
    """The clearing database cannot be opened or used (bad URL, driver missing, schema too new)."""


class AuthError(ClearingError):
    """A request is not authenticated: unknown or disabled terminal, bad signature, stale or replayed.

    `code` is a short machine word (`unknown_terminal`, `bad_signature`, `clock_skew`, `replayed`, …)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


class BatchRejected(ClearingError):
    """A whole upload batch is malformed (not JSON, no records, a record without seq / prev_seq)."""


class UnknownArtifact(ClearingError):
    """No published hotlist / policy / fare version by that kind and number."""
