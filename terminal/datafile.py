"""Strict reading of one data file — UTF-8 text, TOML values, CSV rows — shared by the medical and transit loaders.

(Where the shipped files are is `terminal.datafiles`.) Each package binds this to its own error type: anything
called as ``error(file, problem, line=…, key=…)`` — `PolicyError` for medical, `FareDataError` for transit — so
every failure names the file, the line when known and, for TOML values, the key path.

``tomllib`` keeps no positions, so :func:`key_lines` scans the text for table headers and ``key =`` lines to
find the line a key path was written on (best effort: the key's own line, else its nearest enclosing table's).
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import ClassVar, NoReturn, Protocol

Key = tuple[str | int, ...]
"""A TOML key path; an int is an array-of-tables entry (0-based): ('metro', 'band', 1, 'fare')."""


class ErrorType(Protocol):
    """The error a package raises for a bad data file (PolicyError, FareDataError)."""

    def __call__(self, file: str, problem: str, *, line: int | None = None, key: str | None = None) -> Exception: ...


# ---------------------------------------------------------------- text


def read_text(path: Path, error: ErrorType) -> str:
    """The file as text (UTF-8, a BOM tolerated); an unreadable or non-UTF-8 file is an `error`."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise error(str(path), f"cannot read: {exc.strerror or exc}") from None
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise error(str(path), "not UTF-8 text", line=raw[: exc.start].count(b"\n") + 1) from None


def bounds(low: int, high: int | None) -> str:
    """'1..100', or '>= 1' without an upper bound."""
    return f"{low}..{high}" if high is not None else f">= {low}"


# ---------------------------------------------------------------- CSV


def csv_rows(
    text: str, source: str, header: Sequence[str], error: ErrorType, *, no_header: str = "empty file, expected header"
) -> Iterator[tuple[int, dict[str, str]]]:
    """(line number, row) for every data row; blank lines and lines starting with '#' are skipped.

    The first other line must be exactly `header` (a file without one is `error(source, f"{no_header} a,b,c")`);
    every row must have exactly that many fields.
    """
    # Comment lines become empty lines so the csv reader's line numbers stay the file's line numbers.
    cleaned = "".join("\n" if ln.lstrip().startswith("#") else ln for ln in text.splitlines(keepends=True))
    reader = csv.reader(io.StringIO(cleaned, newline=""), strict=True)
    seen_header = False
    try:
        for row in reader:
            line = reader.line_num
            if not row or all(not cell.strip() for cell in row):
                continue
            cells = [cell.strip() for cell in row]
            if not seen_header:
                if cells != list(header):
                    raise error(source, f"header must be {','.join(header)}, got {','.join(cells)}", line=line)
                seen_header = True
                continue
            if len(cells) != len(header):
                raise error(source, f"expected {len(header)} fields, got {len(cells)}", line=line)
            yield line, dict(zip(header, cells, strict=True))
    except csv.Error as exc:
        raise error(source, f"bad CSV: {exc}", line=reader.line_num) from None
    if not seen_header:
        raise error(source, f"{no_header} {','.join(header)}")


def parse_int(value: str, source: str, line: int, field: str, error: ErrorType, low: int = 0, high: int | None = None) -> int:
    """A decimal integer cell (digits only, no sign or decimal point) in low..high."""
    if not value.isascii() or not value.isdigit():
        raise error(source, f"{field} must be a whole number, got {value!r}", line=line)
    number = int(value)
    if number < low or (high is not None and number > high):
        raise error(source, f"{field} must be {bounds(low, high)}, got {number}", line=line)
    return number


# ---------------------------------------------------------------- TOML

_PART = r'(?:"[^"]*"|\'[^\']*\'|[A-Za-z0-9_-]+)'
_DOTTED = rf"{_PART}(?:\s*\.\s*{_PART})*"
_ARRAY_RE = re.compile(rf"^\s*\[\[\s*({_DOTTED})\s*\]\]\s*(?:#.*)?$")
_TABLE_RE = re.compile(rf"^\s*\[\s*({_DOTTED})\s*\]\s*(?:#.*)?$")
_KEY_RE = re.compile(rf"^\s*({_DOTTED})\s*=")
_INLINE_KEY_RE = re.compile(rf"[{{,]\s*({_DOTTED})\s*=")
_PART_RE = re.compile(_PART)


def _split(dotted: str) -> tuple[str, ...]:
    return tuple(p.strip("\"'") for p in _PART_RE.findall(dotted))


def shown(path: Key) -> str:
    """('metro', 'band', 1, 'fare') → 'metro.band[2].fare' (array entries counted from 1 for people)."""
    out = ""
    for part in path:
        out += f"[{part + 1}]" if isinstance(part, int) else (f".{part}" if out else part)
    return out


def key_lines(text: str, *, arrays: bool = True, inline_tables: bool = True) -> dict[Key, int]:
    """First line (1-based) on which each table header, array-of-tables entry and key path appears.

    With `arrays`, ``[[a.b]]`` headers are counted (the keys of the second entry are under ``('a', 'b', 1)``);
    without, those lines are passed over. With `inline_tables`, the keys of ``k = { a = 1 }`` are found too.
    """
    found: dict[Key, int] = {}
    counts: dict[tuple[str, ...], int] = {}
    table: Key = ()
    for number, line in enumerate(text.splitlines(), start=1):
        array = _ARRAY_RE.match(line) if arrays else None
        if array:
            name = _split(array.group(1))
            index = counts.get(name, 0)
            counts[name] = index + 1
            table = (*name, index)
            found.setdefault(table, number)
            continue
        header = _TABLE_RE.match(line)
        if header:
            table = _split(header.group(1))
            found.setdefault(table, number)
            continue
        key = _KEY_RE.match(line)
        if not key:
            continue
        path = table + _split(key.group(1))
        found.setdefault(path, number)
        brace = line.find("{", key.end()) if inline_tables else -1
        if brace >= 0:
            for inner in _INLINE_KEY_RE.finditer(line, brace):
                found.setdefault(path + _split(inner.group(1)), number)
    return found


class TomlDoc:
    """Typed, strict access to one parsed TOML document; every failure is an `error` naming file, line and key.

    A package subclasses it to set `error` and, where its files or messages differ, the class settings below.
    """

    error: ClassVar[ErrorType]
    arrays: ClassVar[bool] = True  # key_lines(arrays=…)
    inline_tables: ClassVar[bool] = True  # key_lines(inline_tables=…)
    integer_noun: ClassVar[str] = "a whole number"  # "must be a whole number, got 'x'"

    def __init__(self, source: str, text: str, data: Mapping[str, object]) -> None:
        self.source = source
        self.data = data
        self._lines = key_lines(text, arrays=self.arrays, inline_tables=self.inline_tables)

    def line_of(self, path: Key) -> int | None:
        for end in range(len(path), 0, -1):
            if path[:end] in self._lines:
                return self._lines[path[:end]]
        return None

    def key_text(self, path: Key) -> str:
        """The key path as the error message shows it."""
        return shown(path)

    def bounds(self, low: int, high: int | None) -> str:
        """The range as the error message shows it."""
        return bounds(low, high)

    def fail(self, path: Key, problem: str) -> NoReturn:
        raise self.error(self.source, problem, line=self.line_of(path), key=self.key_text(path) or None)

    def has(self, path: Key) -> bool:
        node: object = self.data
        for part in path:
            if isinstance(part, int):
                if not isinstance(node, list) or part >= len(node):
                    return False
            elif not isinstance(node, Mapping) or part not in node:
                return False
            node = node[part]  # type: ignore[index]
        return True

    def value(self, path: Key) -> object:
        node: object = self.data
        for i, part in enumerate(path):
            if isinstance(part, int):
                if not isinstance(node, list):
                    self.fail(path[:i], "must be a list of tables")
                node = node[part]
                continue
            if not isinstance(node, Mapping):
                self.fail(path[:i], "must be a table")
            if part not in node:
                self.fail(path, "missing")
            node = node[part]
        return node

    def table(self, path: Key, allowed: Iterable[str]) -> Mapping[str, object]:
        node = self.value(path) if path else self.data
        if not isinstance(node, Mapping):
            self.fail(path, f"must be a table, got {node!r}")
        allowed = set(allowed)
        for key in node:
            if key not in allowed:
                self.fail((*path, key), f"unknown key (expected one of {', '.join(sorted(allowed))})")
        return node

    def tables(self, path: Key) -> int:
        """How many [[path]] entries there are (0 when absent)."""
        if not self.has(path):
            return 0
        node = self.value(path)
        if not isinstance(node, list) or not all(isinstance(x, Mapping) for x in node):
            self.fail(path, "must be a list of tables ([[...]] entries)")
        return len(node)

    def integer(self, path: Key, low: int, high: int | None = None, default: int | None = None) -> int:
        if default is not None and not self.has(path):
            return default
        return self.check_int(path, self.value(path), low, high)

    def check_int(self, path: Key, value: object, low: int, high: int | None = None) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            self.fail(path, f"must be {self.integer_noun}, got {value!r}")
        if value < low or (high is not None and value > high):
            self.fail(path, f"must be {self.bounds(low, high)}, got {value}")
        return value

    def boolean(self, path: Key, default: bool | None = None) -> bool:
        if default is not None and not self.has(path):
            return default
        value = self.value(path)
        if not isinstance(value, bool):
            self.fail(path, f"must be true or false, got {value!r}")
        return value

    def string(self, path: Key, choices: Iterable[str] | None = None, pattern: str | None = None) -> str:
        value = self.value(path)
        if not isinstance(value, str) or not value.strip():
            self.fail(path, f"must be a non-empty string, got {value!r}")
        if choices is not None:
            options = list(choices)
            if value not in options:
                self.fail(path, f"must be one of {', '.join(options)}, got {value!r}")
        if pattern is not None and not re.fullmatch(pattern, value):
            self.fail(path, f"{value!r} does not have the expected form ({pattern})")
        return value

    def strings(self, path: Key, choices: Iterable[str] | None = None, *, allow_empty: bool = False) -> tuple[str, ...]:
        value = self.value(path)
        if not isinstance(value, list) or (not value and not allow_empty) or not all(isinstance(v, str) for v in value):
            self.fail(path, f"must be a list of strings, got {value!r}")
        return self.members(path, value, choices)

    def members(self, path: Key, value: list[object], choices: Iterable[str] | None) -> tuple[str, ...]:
        """The list `value` at `path` as a tuple, each item one of `choices` (when given), none twice."""
        if choices is not None:
            options = list(choices)
            for item in value:
                if item not in options:
                    self.fail(path, f"must be one of {', '.join(options)}, got {item!r}")
        if len(set(value)) != len(value):
            self.fail(path, f"has duplicates: {value!r}")
        return tuple(value)  # type: ignore[arg-type]
