"""The counter's own tables, in the ledger database (created if missing), on a connection of their own.

The ledger stays the book of record for money: whether a sale, a refund or a subsidy line *happened* is
always read from the state of its ledger intent (found by the receipt number, refund number or batch line
in the intent's details), never from these tables. They keep what the ledger does not: the settlement of
each sale (lines and parts, for receipts and refunds), refunds and their lines, subsidy batches, filings
(备案), operators and day closes. A crash between a row here and its intent leaves a row whose intent does
not exist: such a sale or refund is void (nothing moved at the card: the intent is begun before the DEBIT).
"""

from __future__ import annotations

import json
import sqlite3
from typing import Any

from terminal.ledger.sidetables import SideTables

SCHEMA = (
    """CREATE TABLE IF NOT EXISTS counter_sales (
        seq INTEGER PRIMARY KEY AUTOINCREMENT, receipt_no TEXT NOT NULL UNIQUE, created_at TEXT NOT NULL,
        business_day TEXT NOT NULL, operator TEXT NOT NULL, card_serial TEXT NOT NULL, card_number TEXT NOT NULL,
        holder TEXT NOT NULL, settlement TEXT NOT NULL, record_after TEXT NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS counter_refunds (
        seq INTEGER PRIMARY KEY AUTOINCREMENT, refund_no TEXT NOT NULL UNIQUE,
        receipt_no TEXT NOT NULL REFERENCES counter_sales (receipt_no), created_at TEXT NOT NULL,
        business_day TEXT NOT NULL, operator TEXT NOT NULL, lines TEXT NOT NULL, parts TEXT NOT NULL)""",
    "CREATE INDEX IF NOT EXISTS counter_refunds_receipt ON counter_refunds (receipt_no)",
    """CREATE TABLE IF NOT EXISTS counter_subsidy_batches (
        batch_id TEXT PRIMARY KEY, sha256 TEXT NOT NULL, source TEXT NOT NULL, lines INTEGER NOT NULL,
        total_fen INTEGER NOT NULL, imported_at TEXT NOT NULL, operator TEXT NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS counter_subsidy_lines (
        batch_id TEXT NOT NULL REFERENCES counter_subsidy_batches (batch_id), line_no INTEGER NOT NULL,
        card_number TEXT NOT NULL, amount_fen INTEGER NOT NULL, reason TEXT NOT NULL,
        PRIMARY KEY (batch_id, line_no))""",
    "CREATE INDEX IF NOT EXISTS counter_subsidy_card ON counter_subsidy_lines (card_number)",
    """CREATE TABLE IF NOT EXISTS counter_filings (
        filing_id TEXT PRIMARY KEY, person_hash TEXT NOT NULL, person_masked TEXT NOT NULL,
        home_region TEXT NOT NULL, destination_region TEXT NOT NULL, kind TEXT NOT NULL,
        start_date TEXT NOT NULL, end_date TEXT, imported_at TEXT NOT NULL)""",
    "CREATE INDEX IF NOT EXISTS counter_filings_person ON counter_filings (person_hash)",
    """CREATE TABLE IF NOT EXISTS counter_operators (
        operator_id TEXT PRIMARY KEY, name TEXT NOT NULL, role TEXT NOT NULL, salt TEXT NOT NULL,
        hash TEXT NOT NULL, scrypt_n INTEGER NOT NULL, scrypt_r INTEGER NOT NULL, scrypt_p INTEGER NOT NULL,
        disabled INTEGER NOT NULL DEFAULT 0, failures INTEGER NOT NULL DEFAULT 0, created_at TEXT NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS counter_day_closes (
        business_day TEXT PRIMARY KEY, closed_at TEXT NOT NULL, operator TEXT NOT NULL, summary TEXT NOT NULL,
        mac TEXT NOT NULL)""",
)

# The state of the ledger intent carrying details.<key> = value (latest one), or NULL when none exists.
_INTENT_STATE = ("SELECT state, txn_id, reason, intent_id FROM v_intents WHERE kind = ? AND"
                 " json_extract(details, ?) = ? ORDER BY seq DESC LIMIT 1")


class CounterStore(SideTables):
    """The counter tables of the ledger database at `path` (which must exist: open the Ledger first)."""

    SCHEMA = SCHEMA
    FOREIGN_KEYS = True

    def one(self, sql: str, params: tuple[Any, ...] = ()) -> sqlite3.Row | None:
        return self.conn.execute(sql, params).fetchone()

    def all(self, sql: str, params: tuple[Any, ...] = ()) -> list[sqlite3.Row]:
        return self.conn.execute(sql, params).fetchall()

    def intent_state(self, kind: str, key: str, value: object) -> tuple[str, int | None, str | None, str | None]:
        """(state, txn_id, reason, intent_id) of the latest ledger intent of `kind` whose details.<key> is
        `value`; state "void" when there is none (the flow stopped before the card was asked)."""
        row = self.conn.execute(_INTENT_STATE, (kind, f"$.{key}", value)).fetchone()
        if row is None:
            return "void", None, None, None
        return row[0], row[1], row[2], row[3]

    def next_number(self, table: str, prefix: str) -> str:
        """The next receipt / refund number: `<prefix><seq, 6 digits>` (seq of the row about to be inserted)."""
        row = self.conn.execute("SELECT seq FROM sqlite_sequence WHERE name = ?", (table,)).fetchone()
        return f"{prefix}{(row[0] if row else 0) + 1:06d}"


def dumps(value: object) -> str:
    return json.dumps(value, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
