"""Transit errors: one base class, names that say the condition. Taps themselves never raise for what a
card, a reader or tearing can do — they end as a `TapOutcome`; these are for set-up and data files."""

from __future__ import annotations

from terminal.errors import TerminalError


class TransitError(TerminalError):
    """Base class of the transit flows' errors; the message is fit for an operator."""


class FareDataError(TransitError, ValueError):
    """A fare data file (data/fares/*.toml, *.csv) is wrong. The message names the file, the line (when
    known), the key and the problem, e.g. ``data/fares/network.toml:17: metro.band[2].fare: must be > 0``."""

    def __init__(self, file: str, problem: str, *, line: int | None = None, key: str | None = None) -> None:
        where = file if line is None else f"{file}:{line}"
        super().__init__(f"{where}: {key}: {problem}" if key else f"{where}: {problem}")
        self.file = file
        self.line = line
        self.key = key
        self.problem = problem


class UnknownStation(TransitError, LookupError):
    """The station, route or gate id given to a validator is not in the fare data."""
