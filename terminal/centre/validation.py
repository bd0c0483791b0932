"""Strict reading of a request's `input`: every problem is a `Refused` whose message names the field by its
path (``input.drugdetail[1].pric``) and says what is wrong with the value — what a counter developer needs to
fix their side. Unknown keys are ignored (real counter systems send many optional fields)."""

from __future__ import annotations

import datetime as _dt
import re
from collections.abc import Iterable
from decimal import Decimal
from typing import Any

from applets.holder import ssn_valid

from .errors import Refused
from .wire import MoneyError, fen_of, json_text, parse_time

REGION_RE = re.compile(r"^[0-9]{6}$")
CARD_NO_RE = re.compile(r"^[A-Z0-9]{9}$")
CARD_SN_RE = re.compile(r"^[0-9A-F]{32}$")
CERTNO_RE = re.compile(r"^[0-9]{17}[0-9X]$")
CERT_TYPES = {"01": "e-credential (医保电子凭证)", "02": "ID number (居民身份证)", "03": "social security card (社保卡)"}


def _printable(text: str) -> bool:
    return all(ord(c) >= 32 and c != "\x7f" for c in text)


class Fields:
    """The fields of one JSON object of the request, addressed as `where`."""

    def __init__(self, data: object, where: str) -> None:
        if not isinstance(data, dict):
            raise Refused(f"{where} must be a JSON object, got {json_text(data)}")
        self.data = data
        self.where = where

    def path(self, name: str) -> str:
        return f"{self.where}.{name}" if self.where else name

    def has(self, name: str) -> bool:
        value = self.data.get(name)
        return value is not None and value != ""

    def raw(self, name: str) -> Any:
        return self.data.get(name)

    def text(self, name: str, *, max_len: int = 100, required: bool = True, pattern: re.Pattern[str] | None = None,
             choices: Iterable[str] | None = None, what: str = "") -> str:
        """A string field ('' when optional and absent). Numbers are accepted for code fields with `pattern`
        (e.g. med_type 41) and turned into text."""
        value = self.data.get(name)
        if value is None or value == "":
            if required:
                raise Refused(f"{self.path(name)} is missing{' (' + what + ')' if what else ''}")
            return ""
        if isinstance(value, int) and not isinstance(value, bool) and (pattern is not None or choices is not None):
            value = str(value)
        if not isinstance(value, str):
            raise Refused(f"{self.path(name)} must be a string, got {json_text(value)}")
        if len(value) > max_len:
            raise Refused(f"{self.path(name)} is longer than {max_len} characters ({len(value)})")
        if not _printable(value):
            raise Refused(f"{self.path(name)} contains control characters")
        if choices is not None:
            options = list(choices)
            if value not in options:
                raise Refused(f"{self.path(name)} must be one of {', '.join(options)}, got {json_text(value)}")
        if pattern is not None and not pattern.match(value):
            raise Refused(f"{self.path(name)} is not {what or 'well-formed'}: {json_text(value)}")
        return value

    def region(self, name: str, *, required: bool = True) -> str:
        return self.text(name, max_len=6, required=required, pattern=REGION_RE, what="a 6-digit region code")

    def money(self, name: str, *, required: bool = True) -> int:
        """An amount in yuan → int fen (exact)."""
        value = self.data.get(name)
        if value is None or value == "":
            if required:
                raise Refused(f"{self.path(name)} is missing")
            return 0
        try:
            return fen_of(value, self.path(name))
        except MoneyError as exc:
            raise Refused(str(exc)) from None

    def count(self, name: str) -> int:
        """A whole positive quantity (packs): 2 or 2.0 or "2"; 1.5 is refused."""
        value = self.data.get(name)
        if value is None or value == "":
            raise Refused(f"{self.path(name)} is missing")
        if isinstance(value, bool):
            raise Refused(f"{self.path(name)} must be a number, got {json_text(value)}")
        if isinstance(value, str) and re.match(r"^[0-9]+(\.0+)?$", value):
            value = Decimal(value)
        if isinstance(value, Decimal):
            if not value.is_finite() or value != value.to_integral_value():
                raise Refused(f"{self.path(name)} must be a whole number of packs, got {value}")
            value = int(value)
        if not isinstance(value, int):
            raise Refused(f"{self.path(name)} must be a number, got {json_text(value)}")
        if not 0 < value <= 100_000:
            raise Refused(f"{self.path(name)} must be 1..100000, got {value}")
        return value

    def integer(self, name: str, *, low: int = 0, high: int = 10**9) -> int:
        """A whole number low..high (0 allowed by default)."""
        value = self.data.get(name)
        if isinstance(value, Decimal) and value.is_finite() and value == value.to_integral_value():
            value = int(value)
        if isinstance(value, str) and value.isdigit():
            value = int(value)
        if isinstance(value, bool) or not isinstance(value, int):
            raise Refused(f"{self.path(name)} must be a whole number, got {json_text(value)}")
        if not low <= value <= high:
            raise Refused(f"{self.path(name)} must be {low}..{high}, got {value}")
        return value

    def flag(self, name: str, *, default: str | None = None) -> str:
        """A 0/1 flag (acct_used_flag …)."""
        if default is not None and not self.has(name):
            return default
        return self.text(name, max_len=1, choices=("0", "1"))

    def time(self, name: str, *, required: bool = True) -> _dt.datetime | None:
        value = self.text(name, max_len=19, required=required)
        if not value:
            return None
        try:
            return parse_time(value)
        except ValueError:
            raise Refused(f"{self.path(name)} must be yyyy-MM-dd HH:mm:ss, got {json_text(value)}") from None

    def date(self, name: str) -> _dt.date:
        value = self.text(name, max_len=19)
        try:
            return _dt.date.fromisoformat(value[:10]) if len(value) in (10, 19) else _dt.date.fromisoformat("x")
        except ValueError:
            raise Refused(f"{self.path(name)} must be yyyy-MM-dd, got {json_text(value)}") from None

    def obj(self, name: str) -> Fields:
        if name not in self.data:
            raise Refused(f"{self.path(name)} is missing")
        return Fields(self.data[name], self.path(name))

    def items(self, name: str, *, min_items: int = 1, max_items: int = 500) -> list[Fields]:
        value = self.data.get(name)
        if value is None:
            raise Refused(f"{self.path(name)} is missing")
        if not isinstance(value, list):
            raise Refused(f"{self.path(name)} must be a list, got {json_text(value)}")
        if not min_items <= len(value) <= max_items:
            raise Refused(f"{self.path(name)} must have {min_items}..{max_items} entries, got {len(value)}")
        return [Fields(item, f"{self.path(name)}[{i}]") for i, item in enumerate(value)]


def cert(f: Fields) -> tuple[str, str, str]:
    """(mdtrt_cert_type, mdtrt_cert_no, card_sn) of a request, checked for shape (who it is: see persons)."""
    kind = f.text("mdtrt_cert_type", max_len=2)
    if kind not in CERT_TYPES:
        options = ", ".join(f"{k} ({v})" for k, v in CERT_TYPES.items())
        raise Refused(f"{f.path('mdtrt_cert_type')} must be {options}, got {json_text(kind)}")
    number = f.text("mdtrt_cert_no", max_len=600)
    card_sn = ""
    if kind == "02":
        if not CERTNO_RE.match(number):
            raise Refused(f"{f.path('mdtrt_cert_no')} must be an 18-character ID number for mdtrt_cert_type 02")
        if not ssn_valid(number):
            raise Refused(f"{f.path('mdtrt_cert_no')} fails the GB 11643 check digit")
    elif kind == "03":
        if not CARD_NO_RE.match(number):
            raise Refused(f"{f.path('mdtrt_cert_no')} must be a 9-character social security card number for "
                          f"mdtrt_cert_type 03, got {json_text(number)}")
        card_sn = f.text("card_sn", max_len=32, pattern=CARD_SN_RE,
                         what="the card's 32-hex-digit identification code (required for mdtrt_cert_type 03)")
    return kind, number, card_sn
