"""One catalog for every user-visible string of the TUI: `locales/<lang>.toml`, looked up by dotted key.

Example::

    >>> from terminal.tui.i18n import Catalog
    >>> Catalog("en").t("login.title")
    'Operator sign-in'
    >>> Catalog("zh").t("counter.tries_left", n=2)
    '还可尝试 2 次'

A key missing in one language falls back to English, then to the key itself (a test checks that both
catalogs hold the same keys and that every key the code uses exists).
"""

from __future__ import annotations

import tomllib
from functools import lru_cache
from pathlib import Path
from typing import Any

LANGUAGES = ("zh", "en")
LOCALES = Path(__file__).resolve().parent / "locales"


def _flatten(table: dict[str, Any], prefix: str = "") -> dict[str, str]:
    out: dict[str, str] = {}
    for key, value in table.items():
        full = f"{prefix}{key}"
        if isinstance(value, dict):
            out.update(_flatten(value, full + "."))
        elif isinstance(value, str):
            out[full] = value
        else:
            raise ValueError(f"locale key {full} must be a string, not {type(value).__name__}")
    return out


@lru_cache(maxsize=None)
def load_strings(language: str) -> dict[str, str]:
    if language not in LANGUAGES:
        raise ValueError(f"language must be one of {', '.join(LANGUAGES)}, not {language!r}")
    with open(LOCALES / f"{language}.toml", "rb") as f:
        return _flatten(tomllib.load(f))


class Catalog:
    """The strings of one language. `t(key, **values)` formats with str.format."""

    def __init__(self, language: str = "zh") -> None:
        self.language = language
        self._strings = load_strings(language)
        self._fallback = load_strings("en") if language != "en" else self._strings

    def t(self, key: str, **values: Any) -> str:
        text = self._strings.get(key) or self._fallback.get(key) or key
        if values:
            try:
                return text.format(**values)
            except (KeyError, IndexError, ValueError):
                return text
        return text

    def has(self, key: str) -> bool:
        return key in self._strings


def yuan(fen: int | None) -> str:
    """Integer fen as yuan text: 12345 → '123.45' (no float on the way)."""
    if fen is None:
        return "—"
    sign = "-" if fen < 0 else ""
    fen = abs(fen)
    return f"{sign}{fen // 100}.{fen % 100:02d}"
