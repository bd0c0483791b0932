"""Input validation for everything the ledger stores. Raises ValueError/TypeError subclasses, never asserts."""

from __future__ import annotations

import datetime as _dt
import re
from collections.abc import Callable, Iterable
from functools import lru_cache
from typing import Any

from .canonical import canonical_json, canonical_json_unchecked
from .errors import UnbalancedEntry, UnsafeDetails
from .model import Posting, check_fen

KIND = re.compile(r"[a-z][a-z0-9_]{0,31}")
CARD_SERIAL = re.compile(r"[0-9A-Z]{1,40}")
TAC = re.compile(r"[0-9A-F]{8}")
CARD_TIME = re.compile(r"\d{14}")
TERMINAL_ID = re.compile(r"[A-Za-z0-9_.-]{1,32}")

# Words that must never name a value in `details` (any word of the key, split at _ - . space and camelCase).
_FORBIDDEN_WORDS = frozenset(
    {"pin", "pins", "pinblock", "key", "keys", "secret", "secrets", "password", "passwd", "pwd", "passphrase",
     "passcode", "cvv", "cvc", "cvn", "token", "track2", "mk", "dk", "sk", "dtk", "privkey", "seed"}
)
_FORBIDDEN_PARTS = ("secret", "passw", "pinblock", "privkey")
_WORDS = re.compile(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+|\d+")
MAX_DETAILS_BYTES = 4096
MAX_TEXT = 256


@lru_cache(maxsize=4096)
def forbidden_name(name: str) -> bool:
    """True if a details key looks like it names a PIN, a key or a secret (deliberately over-eager).

    A pure function of the name; cached, as the same few keys come back in every booking."""
    low = name.lower()
    if any(part in low for part in _FORBIDDEN_PARTS):
        return True
    for word in _WORDS.findall(name):
        w = word.lower()
        if w in _FORBIDDEN_WORDS or w.endswith("pin") or w.endswith("key") or w.startswith("pin"):
            return True
    return False


class _Refused(Exception):
    """Internal: a refused value deep in details; the path is built on the way out (only when refusing)."""

    def __init__(self, make: Callable[[str], str]) -> None:
        self.make = make
        self.parts: list[str] = []


def _walk(value: Any, depth: int) -> None:
    """Raise _Refused for what `details` may not hold; the path is prepended level by level."""
    if depth > 4:
        raise _Refused(lambda path: f"details nested too deep at {path}")
    if value is None or isinstance(value, (bool, int)):
        return
    if isinstance(value, str):
        if len(value) > MAX_TEXT:
            raise _Refused(lambda path: f"details.{path} is longer than {MAX_TEXT} characters")
        return
    if isinstance(value, float):
        raise _Refused(lambda path: f"details.{path} is a float; use integers (fen)")
    if isinstance(value, dict):
        for k, item in value.items():
            if not isinstance(k, str):
                raise _Refused(lambda path: f"details.{path} has a non-string key")
            if forbidden_name(k):
                raise _Refused(
                    lambda path, k=k: f"details may not hold {path + '.' if path else ''}{k}: PINs, keys and secrets are never stored"
                )
            try:
                _walk(item, depth + 1)
            except _Refused as refused:
                refused.parts.append(k)
                raise
        return
    if isinstance(value, (list, tuple)):
        for i, item in enumerate(value):
            try:
                _walk(item, depth + 1)
            except _Refused as refused:
                refused.parts.append(f"[{i}]")
                raise
        return
    kind_name = type(value).__name__
    raise _Refused(lambda path: f"details.{path} is a {kind_name}; only JSON types are stored")


def _check_value(value: Any, path: str, depth: int) -> None:
    """Refuse (UnsafeDetails) floats, over-long text, secret-looking keys, non-JSON types, deep nesting."""
    try:
        _walk(value, depth)
    except _Refused as refused:
        where = path
        for part in reversed(refused.parts):  # outermost first
            if part.startswith("["):
                where = f"{where}{part}"
            else:
                where = f"{where}.{part}" if where else part
        raise UnsafeDetails(refused.make(where)) from None


def details_json(details: dict[str, Any] | None) -> str:
    """Validate `details` and return its canonical JSON text."""
    if details is None:
        details = {}
    if not isinstance(details, dict):
        raise UnsafeDetails("details must be a dict")
    _check_value(details, "", 0)
    text = canonical_json_unchecked(details)  # _check_value refused every float already
    if len(text.encode("utf-8")) > MAX_DETAILS_BYTES:
        raise UnsafeDetails(f"details longer than {MAX_DETAILS_BYTES} bytes")
    return text


def kind(value: str) -> str:
    if not isinstance(value, str) or not KIND.fullmatch(value):
        raise ValueError(f"bad kind {value!r} (lower-case identifier)")
    return value


def text(value: str, name: str, *, max_len: int = 64) -> str:
    if not isinstance(value, str) or not value.strip() or len(value) > max_len or any(ord(c) < 32 for c in value):
        raise ValueError(f"{name} must be 1-{max_len} printable characters, got {value!r}")
    return value


def business_day(value: str) -> str:
    try:
        if not isinstance(value, str) or len(value) != 10:
            raise ValueError
        _dt.date.fromisoformat(value)
    except ValueError:
        raise ValueError(f"business_day must be YYYY-MM-DD, got {value!r}") from None
    return value


def card_serial(value: str | None) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not CARD_SERIAL.fullmatch(value.upper()):
        raise ValueError(f"bad card serial {value!r} (1-40 letters/digits)")
    return value.upper()


def opt_int(value: int | None, name: str, lo: int, hi: int) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int, not {type(value).__name__}")
    if not lo <= value <= hi:
        raise ValueError(f"{name} {value} outside {lo}..{hi}")
    return value


def tac(value: str | None) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not TAC.fullmatch(value.upper()):
        raise ValueError(f"bad TAC {value!r} (8 hex digits)")
    return value.upper()


def card_time(value: str | None) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not CARD_TIME.fullmatch(value):
        raise ValueError(f"bad card time {value!r} (YYYYMMDDhhmmss)")
    return value


def terminal_id(value: str) -> str:
    if not isinstance(value, str) or not TERMINAL_ID.fullmatch(value):
        raise ValueError(f"bad terminal id {value!r} (1-32 of A-Z a-z 0-9 _ . -)")
    return value


def postings(lines: Iterable[Posting]) -> tuple[Posting, ...]:
    """A journal entry: at least two Posting lines summing to zero."""
    result = tuple(lines)
    for p in result:
        if not isinstance(p, Posting):
            raise TypeError(f"postings must be Posting objects, not {type(p).__name__}")
        check_fen(p.amount_fen)
    if len(result) < 2:
        raise UnbalancedEntry(f"a journal entry needs at least two postings, got {len(result)}")
    total = sum(p.amount_fen for p in result)
    if total != 0:
        raise UnbalancedEntry(f"postings sum to {total} fen, not 0")
    return result


def postings_json(lines: tuple[Posting, ...]) -> str:
    """The canonical JSON of checked postings (Posting holds a str account and an int amount: no float)."""
    return canonical_json_unchecked([p.to_json() for p in lines])
