"""CSV / JSON export that opens in a spreadsheet: integer fen plus an exact yuan text column."""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from typing import Any, Literal, TextIO

import sqlite_utils

from .report import yuan

What = Literal["transactions", "postings", "totals"]
Format = Literal["csv", "json"]

_COLUMNS: dict[str, tuple[str, ...]] = {
    "transactions": (
        "txn_id", "business_day", "committed_at", "operator", "kind", "amount_fen", "card_serial", "card_counter",
        "txn_type", "tac", "terminal_seq", "card_time", "intent_id",
    ),
    "postings": (
        "seq", "txn_id", "line", "business_day", "operator", "kind", "account", "debit_fen", "credit_fen", "amount_fen",
    ),
    "totals": ("business_day", "account", "debit_fen", "credit_fen", "net_fen", "postings"),
}
_SOURCES = {"postings": "v_postings", "totals": "v_day_totals"}
_ORDER = {"transactions": "txn_id", "postings": "seq", "totals": "business_day, account"}
_YUAN = {"amount_fen": "amount_yuan", "debit_fen": "debit_yuan", "credit_fen": "credit_yuan", "net_fen": "net_yuan"}


def columns(what: What) -> list[str]:
    """The exported columns: the query's, then an exact yuan text column for each fen column."""
    base = list(_COLUMNS[what])
    return base + [_YUAN[c] for c in base if c in _YUAN]


def rows(db: sqlite_utils.Database, what: What, day: str | None) -> Iterator[dict[str, Any]]:
    if what not in _COLUMNS:
        raise ValueError(f"cannot export {what!r}; choose one of {sorted(_COLUMNS)}")
    source = "(SELECT seq AS txn_id, * FROM transactions)" if what == "transactions" else _SOURCES[what]
    where = "WHERE business_day = :day" if day else ""
    sql = f"SELECT {', '.join(_COLUMNS[what])} FROM {source} {where} ORDER BY {_ORDER[what]}"
    for row in db.query(sql, {"day": day} if day else {}):
        for fen, text in _YUAN.items():
            if fen in row:
                row[text] = yuan(row[fen])
        yield row


def export(db: sqlite_utils.Database, out: TextIO, *, what: What = "transactions", fmt: Format = "csv",
           day: str | None = None) -> int:
    """Write rows to `out`; returns how many. CSV has a header row; JSON is one array of objects."""
    if fmt not in ("csv", "json"):
        raise ValueError(f"format must be csv or json, not {fmt!r}")
    count = 0
    if fmt == "json":
        out.write("[")
        for row in rows(db, what, day):
            out.write(("," if count else "") + "\n" + json.dumps(row, ensure_ascii=False))
            count += 1
        out.write("\n]\n" if count else "]\n")
        return count
    writer = csv.DictWriter(out, fieldnames=columns(what), lineterminator="\r\n")
    writer.writeheader()
    for row in rows(db, what, day):
        writer.writerow(row)
        count += 1
    return count
