"""Strict reading of the fare data files (`terminal.datafile`, errors as FareDataError): TOML values and CSV
rows, every error naming file, line and key.

Key paths count array-of-tables entries (`[[a.b]]`), shown to people from 1: `metro.band[2].fare`.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterator, Sequence
from decimal import Decimal, InvalidOperation
from pathlib import Path

from terminal import datafile
from terminal.transit.errors import FareDataError

def read_text(path: Path) -> str:
    """UTF-8 text (a BOM tolerated); unreadable or non-UTF-8 files are FareDataErrors."""
    return datafile.read_text(path, FareDataError)


class TomlDoc(datafile.TomlDoc):
    """Typed, strict access to one parsed TOML file."""

    error = FareDataError
    inline_tables = False

    def __init__(self, path: Path) -> None:
        source = str(path)
        text = read_text(path)
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            match = re.search(r"line (\d+)", str(exc))
            raise FareDataError(source, f"not valid TOML ({exc})", line=int(match.group(1)) if match else None) from None
        super().__init__(source, text, data)


def csv_rows(path: Path, header: Sequence[str]) -> Iterator[tuple[int, dict[str, str]]]:
    """(line number, row) of every data row; blank lines and `#` comments skipped; the first other line must
    be exactly `header`, and every row must have that many fields."""
    yield from datafile.csv_rows(read_text(path), str(path), header, FareDataError, no_header="empty file, expected the header")


def parse_int(value: str, source: str, line: int, field: str, low: int, high: int) -> int:
    return datafile.parse_int(value, source, line, field, FareDataError, low, high)


def parse_km(value: str, source: str, line: int, field: str) -> int:
    """A distance in km with up to 3 decimals ('12.4') → metres (int)."""
    try:
        km = Decimal(value)
    except InvalidOperation:
        raise FareDataError(source, f"{field} must be a distance in km (e.g. 12.4), got {value!r}", line=line) from None
    metres = km * 1000
    if not km.is_finite() or metres != metres.to_integral_value() or km < 0:
        raise FareDataError(source, f"{field} must be ≥ 0 km with at most 3 decimals, got {value!r}", line=line)
    return int(metres)
