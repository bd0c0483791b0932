"""Medical-settlement errors: one base class, names that say the condition."""

from __future__ import annotations


class MedicalError(Exception):
    """Base class for everything the medical engine or its data loaders refuse."""


class PolicyError(MedicalError, ValueError):
    """A medical data file (policy TOML, catalog / region / filing CSV) is wrong.

    The message names the file, where in it (a line number, and for TOML values the key path) and the problem,
    e.g. ``shanghai-employee.toml:14: outpatient.ratio_percent.2: must be 0..100, got 120``.
    """

    def __init__(self, file: str, problem: str, *, line: int | None = None, key: str | None = None) -> None:
        where = file if line is None else f"{file}:{line}"
        text = f"{where}: {key}: {problem}" if key else f"{where}: {problem}"
        super().__init__(text)
        self.file = file
        self.line = line
        self.key = key
        self.problem = problem


class PolicyNotFound(MedicalError, LookupError):
    """No policy file covers that region, scheme and insured category."""


class UnknownItem(MedicalError, LookupError):
    """The catalog has no item with that code."""


class SettlementRefused(MedicalError):
    """The home policy refuses direct settlement (e.g. cross-province without a filing); `reason` says why."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class RefundError(MedicalError, ValueError):
    """A refund names a line that does not exist or was already refunded, or the counters cannot be restored."""
