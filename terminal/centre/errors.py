"""Errors of the insurance-centre simulator, one base class (style.md 6)."""

from __future__ import annotations

from terminal.errors import TerminalError


class CentreError(TerminalError):
    """Base class of the centre's errors."""


class Refused(CentreError):
    """A request the centre answers with infcode −1; the message is the answer's `err_msg`.

    Raised before anything is written, or inside the request's database transaction (which then rolls
    back): a refused request never leaves anything half-written."""


class SeedError(CentreError, ValueError):
    """A seed file under data/centre/ (or a demo card profile it reads) is wrong: names the file and line
    (called like terminal.datafile's error types: ``SeedError(file, problem, line=…)``)."""

    def __init__(self, file: str, problem: str = "", *, line: int | None = None, key: str | None = None) -> None:
        where = file if line is None else f"{file}:{line}"
        where = f"{where}: {key}" if key else where
        super().__init__(f"{where}: {problem}" if problem else where)
