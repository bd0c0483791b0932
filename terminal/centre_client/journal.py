"""The counter's record of its dealings with the centre, in the ledger database (tables created if missing,
on a connection of their own, like the counter's tables):

| table | rows |
|---|---|
| `centre_calls` | every state-changing request (msgid, infno, reference) before it is sent, then its fate: answered, refused, unsent, lost → reversed / reverse_owed |
| `centre_sales` | one per sale made with a centre configured: mode online (settled by 2102/2207) or offline (the engine, queued for upload by Y201), the setl_id and the setlinfo totals the centre holds |
| `centre_refunds` | one per refund of such a sale: online (2103/2208) or offline (queued, Y202) |
| `centre_state` | the last msgid (msgids keep growing across restarts) |

The ledger stays the book of record: whether a sale happened is its ledger intent's state; these rows say
how the centre knows about it.
"""

from __future__ import annotations

import sqlite3
from typing import Any

from terminal.ledger.sidetables import SideTables

SCHEMA = (
    """CREATE TABLE IF NOT EXISTS centre_calls (
        msgid TEXT PRIMARY KEY, infno TEXT NOT NULL, ref TEXT, state TEXT NOT NULL, request TEXT NOT NULL,
        insuplc TEXT NOT NULL DEFAULT '', answer TEXT, reason TEXT, created_at TEXT NOT NULL, updated_at TEXT NOT NULL)""",
    "CREATE INDEX IF NOT EXISTS centre_calls_state ON centre_calls (state)",
    """CREATE TABLE IF NOT EXISTS centre_sales (
        receipt_no TEXT PRIMARY KEY, mode TEXT NOT NULL, card_no TEXT NOT NULL, card_sn TEXT NOT NULL,
        insuplc TEXT NOT NULL, insutype TEXT NOT NULL, med_type TEXT NOT NULL, clr_type TEXT NOT NULL,
        psn_no TEXT, msgid TEXT, setl_id TEXT, setl_time TEXT NOT NULL, setl_day TEXT NOT NULL,
        medfee_fen INTEGER NOT NULL, fund_fen INTEGER NOT NULL, acct_fen INTEGER NOT NULL, cash_fen INTEGER NOT NULL,
        upload_state TEXT NOT NULL, upload_msgid TEXT, upload_note TEXT, created_at TEXT NOT NULL)""",
    "CREATE INDEX IF NOT EXISTS centre_sales_upload ON centre_sales (upload_state)",
    """CREATE TABLE IF NOT EXISTS centre_refunds (
        refund_no TEXT PRIMARY KEY, receipt_no TEXT NOT NULL, mode TEXT NOT NULL, lines TEXT NOT NULL,
        msgid TEXT, setl_id TEXT, setl_time TEXT NOT NULL, setl_day TEXT NOT NULL, medfee_fen INTEGER NOT NULL,
        fund_fen INTEGER NOT NULL, acct_fen INTEGER NOT NULL, cash_fen INTEGER NOT NULL, ytd_before TEXT NOT NULL,
        upload_state TEXT NOT NULL, upload_msgid TEXT, upload_note TEXT, created_at TEXT NOT NULL)""",
    "CREATE TABLE IF NOT EXISTS centre_state (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
)

SALE_COLUMNS = ("receipt_no", "mode", "card_no", "card_sn", "insuplc", "insutype", "med_type", "clr_type", "psn_no",
                "msgid", "setl_id", "setl_time", "setl_day", "medfee_fen", "fund_fen", "acct_fen", "cash_fen",
                "upload_state", "upload_msgid", "upload_note", "created_at")
REFUND_COLUMNS = ("refund_no", "receipt_no", "mode", "lines", "msgid", "setl_id", "setl_time", "setl_day",
                  "medfee_fen", "fund_fen", "acct_fen", "cash_fen", "ytd_before", "upload_state", "upload_msgid",
                  "upload_note", "created_at")


class Journal(SideTables):
    """The centre tables of the ledger database at `path`."""

    SCHEMA = SCHEMA
    CHECK_SAME_THREAD = False

    # ---- calls ----
    def last_msgid(self) -> str | None:
        row = self.conn.execute("SELECT value FROM centre_state WHERE key = 'last_msgid'").fetchone()
        return row[0] if row else None

    def begin_call(self, msgid: str, infno: str, ref: str | None, request: dict[str, Any], insuplc: str, now: str) -> None:
        """Durably, before the request is sent."""
        with self.write() as conn:
            conn.execute("INSERT INTO centre_calls (msgid, infno, ref, state, request, insuplc, created_at, updated_at)"
                         " VALUES (?, ?, ?, 'sent', ?, ?, ?, ?)",
                         (msgid, infno, ref, _dumps(request), insuplc, now, now))
            conn.execute("INSERT INTO centre_state (key, value) VALUES ('last_msgid', ?) ON CONFLICT (key) DO UPDATE"
                         " SET value = excluded.value WHERE excluded.value > centre_state.value", (msgid,))

    def end_call(self, msgid: str, state: str, now: str, *, answer: dict[str, Any] | None = None,
                 reason: str | None = None) -> None:
        with self.write() as conn:
            conn.execute("UPDATE centre_calls SET state = ?, answer = COALESCE(?, answer), reason = ?, updated_at = ?"
                         " WHERE msgid = ?", (state, None if answer is None else _dumps(answer), reason, now, msgid))

    def mark_reversed(self, msgid: str) -> None:
        """A sale or refund whose settlement's reversal was owed: now delivered."""
        with self.write() as conn:
            for table in ("centre_sales", "centre_refunds"):
                conn.execute(f"UPDATE {table} SET upload_state = 'reversed' WHERE msgid = ? AND"
                             " upload_state = 'reverse_owed'", (msgid,))

    def call(self, msgid: str) -> sqlite3.Row | None:
        return self.conn.execute("SELECT * FROM centre_calls WHERE msgid = ?", (msgid,)).fetchone()

    def calls(self, state: str) -> list[sqlite3.Row]:
        return self.conn.execute("SELECT * FROM centre_calls WHERE state = ? ORDER BY created_at, msgid",
                                 (state,)).fetchall()

    # ---- sales and refunds ----
    def add_sale(self, row: dict[str, Any]) -> None:
        with self.write() as conn:
            conn.execute(f"INSERT OR REPLACE INTO centre_sales ({', '.join(SALE_COLUMNS)}) VALUES"
                         f" ({', '.join('?' * len(SALE_COLUMNS))})", tuple(row.get(c) for c in SALE_COLUMNS))

    def add_refund(self, row: dict[str, Any]) -> None:
        with self.write() as conn:
            conn.execute(f"INSERT OR REPLACE INTO centre_refunds ({', '.join(REFUND_COLUMNS)}) VALUES"
                         f" ({', '.join('?' * len(REFUND_COLUMNS))})", tuple(row.get(c) for c in REFUND_COLUMNS))

    def update(self, table: str, key: str, value: str, **fields: Any) -> None:
        if table not in ("centre_sales", "centre_refunds") or key not in ("receipt_no", "refund_no"):
            raise ValueError(table)
        sets = ", ".join(f"{name} = ?" for name in fields)
        with self.write() as conn:
            conn.execute(f"UPDATE {table} SET {sets} WHERE {key} = ?", (*fields.values(), value))

    def sale(self, receipt_no: str) -> dict[str, Any] | None:
        row = self.conn.execute("SELECT * FROM centre_sales WHERE receipt_no = ?", (receipt_no,)).fetchone()
        return None if row is None else dict(row)

    def sales(self, where: str = "1 = 1", params: tuple[Any, ...] = ()) -> list[dict[str, Any]]:
        return [dict(r) for r in self.conn.execute(f"SELECT * FROM centre_sales WHERE {where} ORDER BY created_at,"
                                                   " receipt_no", params)]

    def refunds(self, where: str = "1 = 1", params: tuple[Any, ...] = ()) -> list[dict[str, Any]]:
        return [dict(r) for r in self.conn.execute(f"SELECT * FROM centre_refunds WHERE {where} ORDER BY created_at,"
                                                   " refund_no", params)]


def _dumps(value: Any) -> str:
    from terminal.centre.wire import dumps

    return dumps(value).decode("utf-8")


def loads(text: str | None) -> Any:
    from terminal.centre.wire import loads as wire_loads

    return None if text is None else wire_loads(text)


__all__ = ["Journal", "loads"]
