"""Reading the medical data files (`terminal.datafile`, errors as PolicyError): UTF-8 text, CSV rows with their
line numbers, integer cells, and strict typed access to a policy TOML."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path

from .. import datafile
from .errors import PolicyError


def read_text(path: Path) -> str:
    """The file as text (UTF-8, a BOM tolerated); an unreadable or non-UTF-8 file is a PolicyError."""
    return datafile.read_text(path, PolicyError)


def csv_rows(text: str, source: str, header: Sequence[str]) -> Iterator[tuple[int, dict[str, str]]]:
    """(line number, row) for every data row; blank lines and lines starting with '#' are skipped.

    The first non-comment line must be exactly `header`; every row must have exactly that many fields.
    """
    return datafile.csv_rows(text, source, header, PolicyError)


def parse_int(value: str, source: str, line: int, field: str, *, minimum: int = 0) -> int:
    """A decimal integer cell (digits only, no sign or decimal point) >= `minimum`."""
    return datafile.parse_int(value, source, line, field, PolicyError, minimum)


class TomlReader(datafile.TomlDoc):
    """Typed, strict access to a parsed policy TOML; every failure is a PolicyError with file, line and key.

    Policies have no arrays of tables: a ``[[…]]`` line is passed over when finding lines.
    """

    error = PolicyError
    arrays = False
    integer_noun = "an integer"

    def key_text(self, path: datafile.Key) -> str:
        return ".".join(map(str, path))

    def bounds(self, low: int, high: int | None) -> str:
        return str(low) if low == high else datafile.bounds(low, high)

    def strings(self, path: datafile.Key, choices: Iterable[str] | None = None, *, allow_empty: bool = False) -> tuple[str, ...]:
        """A list (non-empty unless `allow_empty`) of `choices`, none twice."""
        value = self.value(path)
        options = list(choices or ())
        if not isinstance(value, list) or (not value and not allow_empty):
            self.fail(path, f"must be a non-empty list of {', '.join(options)}, got {value!r}")
        return self.members(path, value, options)
