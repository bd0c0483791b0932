"""Strict reading of the fare data files: TOML values and CSV rows, every error naming file, line and key.

`tomllib` keeps no positions, so `TomlDoc` scans the text for table headers (`[a.b]`, `[[a.b]]`, counting
array-of-tables entries) and `key =` lines to find the line a key path was written on (best effort: the key's
own line, else the nearest enclosing table's).
"""

from __future__ import annotations

import csv
import io
import re
import tomllib
from collections.abc import Iterable, Iterator, Mapping, Sequence
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import NoReturn

from terminal.transit.errors import FareDataError

Key = tuple[str | int, ...]

_PART = r'(?:"[^"]*"|\'[^\']*\'|[A-Za-z0-9_-]+)'
_DOTTED = rf"{_PART}(?:\s*\.\s*{_PART})*"
_ARRAY_RE = re.compile(rf"^\s*\[\[\s*({_DOTTED})\s*\]\]\s*(?:#.*)?$")
_TABLE_RE = re.compile(rf"^\s*\[\s*({_DOTTED})\s*\]\s*(?:#.*)?$")
_KEY_RE = re.compile(rf"^\s*({_DOTTED})\s*=")
_PART_RE = re.compile(_PART)


def _split(dotted: str) -> tuple[str, ...]:
    return tuple(p.strip("\"'") for p in _PART_RE.findall(dotted))


def shown(path: Key) -> str:
    """('metro', 'band', 1, 'fare') → 'metro.band[2].fare' (array entries counted from 1 for people)."""
    out = ""
    for part in path:
        out += f"[{part + 1}]" if isinstance(part, int) else (f".{part}" if out else part)
    return out


def key_lines(text: str) -> dict[Key, int]:
    """First line (1-based) of each table, array-of-tables entry and key path."""
    found: dict[Key, int] = {}
    counts: dict[tuple[str, ...], int] = {}
    table: Key = ()
    for number, line in enumerate(text.splitlines(), start=1):
        array = _ARRAY_RE.match(line)
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
        if key:
            found.setdefault(table + _split(key.group(1)), number)
    return found


def read_text(path: Path) -> str:
    """UTF-8 text (a BOM tolerated); unreadable or non-UTF-8 files are FareDataErrors."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise FareDataError(str(path), f"cannot read: {exc.strerror or exc}") from None
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise FareDataError(str(path), "not UTF-8 text", line=raw[: exc.start].count(b"\n") + 1) from None


class TomlDoc:
    """Typed, strict access to one parsed TOML file."""

    def __init__(self, path: Path) -> None:
        self.source = str(path)
        text = read_text(path)
        try:
            self.data: Mapping[str, object] = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            match = re.search(r"line (\d+)", str(exc))
            raise FareDataError(self.source, f"not valid TOML ({exc})", line=int(match.group(1)) if match else None) from None
        self._lines = key_lines(text)

    def line_of(self, path: Key) -> int | None:
        for end in range(len(path), 0, -1):
            if path[:end] in self._lines:
                return self._lines[path[:end]]
        return None

    def fail(self, path: Key, problem: str) -> NoReturn:
        raise FareDataError(self.source, problem, line=self.line_of(path), key=shown(path) or None)

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
        value = self.value(path)
        if isinstance(value, bool) or not isinstance(value, int):
            self.fail(path, f"must be a whole number, got {value!r}")
        if value < low or (high is not None and value > high):
            self.fail(path, f"must be {low}..{high}, got {value}" if high is not None else f"must be >= {low}, got {value}")
        return value

    def boolean(self, path: Key, default: bool | None = None) -> bool:
        if default is not None and not self.has(path):
            return default
        value = self.value(path)
        if not isinstance(value, bool):
            self.fail(path, f"must be true or false, got {value!r}")
        return value

    def string(self, path: Key, choices: Sequence[str] | None = None, pattern: str | None = None) -> str:
        value = self.value(path)
        if not isinstance(value, str) or not value.strip():
            self.fail(path, f"must be a non-empty string, got {value!r}")
        if choices is not None and value not in choices:
            self.fail(path, f"must be one of {', '.join(choices)}, got {value!r}")
        if pattern is not None and not re.fullmatch(pattern, value):
            self.fail(path, f"{value!r} does not have the expected form ({pattern})")
        return value

    def strings(self, path: Key, choices: Sequence[str] | None = None, *, allow_empty: bool = False) -> tuple[str, ...]:
        value = self.value(path)
        if not isinstance(value, list) or (not value and not allow_empty) or not all(isinstance(v, str) for v in value):
            self.fail(path, f"must be a list of strings, got {value!r}")
        if choices is not None:
            for item in value:
                if item not in choices:
                    self.fail(path, f"must be one of {', '.join(choices)}, got {item!r}")
        if len(set(value)) != len(value):
            self.fail(path, f"has duplicates: {value!r}")
        return tuple(value)


def csv_rows(path: Path, header: Sequence[str]) -> Iterator[tuple[int, dict[str, str]]]:
    """(line number, row) of every data row; blank lines and `#` comments skipped; the first other line must
    be exactly `header`, and every row must have that many fields."""
    source = str(path)
    text = read_text(path)
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
                    raise FareDataError(source, f"header must be {','.join(header)}, got {','.join(cells)}", line=line)
                seen_header = True
                continue
            if len(cells) != len(header):
                raise FareDataError(source, f"expected {len(header)} fields, got {len(cells)}", line=line)
            yield line, dict(zip(header, cells, strict=True))
    except csv.Error as exc:
        raise FareDataError(source, f"bad CSV: {exc}", line=reader.line_num) from None
    if not seen_header:
        raise FareDataError(source, f"empty file, expected the header {','.join(header)}")


def parse_int(value: str, source: str, line: int, field: str, low: int, high: int) -> int:
    if not value.isascii() or not value.isdigit():
        raise FareDataError(source, f"{field} must be a whole number, got {value!r}", line=line)
    number = int(value)
    if not low <= number <= high:
        raise FareDataError(source, f"{field} must be {low}..{high}, got {number}", line=line)
    return number


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
