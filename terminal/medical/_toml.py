"""Strict reading of a TOML mapping with errors that name file, line and key path.

``tomllib`` keeps no positions, so :func:`key_lines` scans the text for table headers and ``key =`` lines to
find the line a key path was written on (best effort: the key's own line, else its nearest enclosing table's).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import NoReturn

from .errors import PolicyError

_PART = r'(?:"[^"]*"|\'[^\']*\'|[A-Za-z0-9_-]+)'
_DOTTED = rf"{_PART}(?:\s*\.\s*{_PART})*"
_HEADER_RE = re.compile(rf"^\s*\[\s*({_DOTTED})\s*\]\s*(?:#.*)?$")
_KEY_RE = re.compile(rf"^\s*({_DOTTED})\s*=")
_INLINE_KEY_RE = re.compile(rf"[{{,]\s*({_DOTTED})\s*=")
_PART_RE = re.compile(_PART)

Path = tuple[str, ...]


def _split(dotted: str) -> Path:
    return tuple(p.strip("\"'") for p in _PART_RE.findall(dotted))


def key_lines(text: str) -> dict[Path, int]:
    """First line (1-based) on which each table header or key path appears."""
    found: dict[Path, int] = {}
    table: Path = ()
    for number, line in enumerate(text.splitlines(), start=1):
        header = _HEADER_RE.match(line)
        if header:
            table = _split(header.group(1))
            found.setdefault(table, number)
            continue
        key = _KEY_RE.match(line)
        if not key:
            continue
        path = table + _split(key.group(1))
        found.setdefault(path, number)
        brace = line.find("{", key.end())
        if brace >= 0:
            for inner in _INLINE_KEY_RE.finditer(line, brace):
                found.setdefault(path + _split(inner.group(1)), number)
    return found


class TomlReader:
    """Typed, strict access to a parsed TOML document; every failure is a PolicyError with file, line and key."""

    def __init__(self, source: str, text: str, data: Mapping[str, object]) -> None:
        self.source = source
        self.data = data
        self._lines = key_lines(text)

    def line_of(self, path: Path) -> int | None:
        for end in range(len(path), 0, -1):
            if path[:end] in self._lines:
                return self._lines[path[:end]]
        return None

    def fail(self, path: Path, problem: str) -> NoReturn:
        raise PolicyError(self.source, problem, line=self.line_of(path), key=".".join(path) or None)

    def _lookup(self, path: Path) -> object:
        node: object = self.data
        for i, part in enumerate(path):
            if not isinstance(node, Mapping):
                self.fail(path[:i], "must be a table")
            if part not in node:
                self.fail(path, "missing")
            node = node[part]
        return node

    def has(self, path: Path) -> bool:
        node: object = self.data
        for part in path:
            if not isinstance(node, Mapping) or part not in node:
                return False
            node = node[part]
        return True

    def value(self, path: Path) -> object:
        return self._lookup(path)

    def table(self, path: Path, allowed: Iterable[str]) -> Mapping[str, object]:
        node = self._lookup(path) if path else self.data
        if not isinstance(node, Mapping):
            self.fail(path, f"must be a table, got {node!r}")
        allowed = set(allowed)
        for key in node:
            if key not in allowed:
                self.fail(path + (key,), f"unknown key (expected one of {', '.join(sorted(allowed))})")
        return node

    def integer(self, path: Path, low: int, high: int | None = None) -> int:
        value = self._lookup(path)
        return self.check_int(path, value, low, high)

    def check_int(self, path: Path, value: object, low: int, high: int | None = None) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            self.fail(path, f"must be an integer, got {value!r}")
        if value < low or (high is not None and value > high):
            rng = str(low) if low == high else f"{low}..{high}" if high is not None else f">= {low}"
            self.fail(path, f"must be {rng}, got {value}")
        return value

    def boolean(self, path: Path) -> bool:
        value = self._lookup(path)
        if not isinstance(value, bool):
            self.fail(path, f"must be true or false, got {value!r}")
        return value

    def string(self, path: Path, choices: Iterable[str] | None = None) -> str:
        value = self._lookup(path)
        if not isinstance(value, str) or not value.strip():
            self.fail(path, f"must be a non-empty string, got {value!r}")
        if choices is not None:
            options = list(choices)
            if value not in options:
                self.fail(path, f"must be one of {', '.join(options)}, got {value!r}")
        return value

    def strings(self, path: Path, choices: Iterable[str]) -> tuple[str, ...]:
        value = self._lookup(path)
        options = list(choices)
        if not isinstance(value, list) or not value:
            self.fail(path, f"must be a non-empty list of {', '.join(options)}, got {value!r}")
        for item in value:
            if item not in options:
                self.fail(path, f"must be one of {', '.join(options)}, got {item!r}")
        if len(set(value)) != len(value):
            self.fail(path, f"has duplicates: {value!r}")
        return tuple(value)
