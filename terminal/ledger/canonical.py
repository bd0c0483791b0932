"""Canonical JSON (chain format v1): keys sorted by code point, no whitespace, UTF-8, no floats, no NaN."""

from __future__ import annotations

import json
from typing import Any

# check_circular off: rows and details are trees (a cycle would end in RecursionError, never in a ledger row)
_ENCODER = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False,
                            check_circular=False)


def canonical_json(value: Any) -> str:
    """Encode `value` canonically. Floats are refused: money and counters are integers."""
    _refuse_floats(value)
    return _ENCODER.encode(value)


def canonical_bytes(value: Any) -> bytes:
    return canonical_json(value).encode("utf-8")


def _refuse_floats(value: Any) -> None:
    if isinstance(value, float):
        raise TypeError("canonical JSON has no floats")
    if isinstance(value, dict):
        for item in value.values():
            _refuse_floats(item)
    elif isinstance(value, (list, tuple)):
        for item in value:
            _refuse_floats(item)


def canonical_json_unchecked(value: Any) -> str:
    """`canonical_json` for a value already known to hold no float (e.g. details that passed the validator)."""
    return _ENCODER.encode(value)


def encode_row_unchecked(value: dict[str, Any]) -> bytes:
    """Fast path for rows read back from STRICT tables (ints, text and NULL only)."""
    return _ENCODER.encode(value).encode("utf-8")
