"""The sync client's own tables in the ledger database (the ledger's chained tables are never touched).

| table | rows |
|---|---|
| `sync_state` | key/value: `server`, `cursor` (the last outbox seq the server acknowledged), `last_sync_at`, `last_error` |
| `sync_acks` | one per acknowledged upload: when, first/last outbox seq sent, the cursor answered, counts |

Own connection, WAL (the ledger set it), `synchronous=FULL`, each write its own transaction: a crash after
the server acknowledged and before the cursor was saved only means the next sync asks the server again.
"""

from __future__ import annotations

import datetime as _dt
import sqlite3
from pathlib import Path
from typing import Any

from terminal.ledger import LedgerNotFound

_DDL = (
    "CREATE TABLE IF NOT EXISTS sync_state (key TEXT PRIMARY KEY, value TEXT NOT NULL) STRICT",
    "CREATE TABLE IF NOT EXISTS sync_acks (id INTEGER PRIMARY KEY, at TEXT NOT NULL, first_seq INTEGER NOT NULL,"
    " last_seq INTEGER NOT NULL, cursor INTEGER NOT NULL, records INTEGER NOT NULL, new INTEGER NOT NULL,"
    " duplicates INTEGER NOT NULL, quarantined INTEGER NOT NULL) STRICT",
)


def _now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class SyncState:
    """Cursor and settings of the sync client, kept next to the ledger's tables in its database."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        if not self.path.exists():
            raise LedgerNotFound(f"no ledger at {self.path}; create it with `ykt ledger init --db {self.path}`")
        self._conn = sqlite3.connect(str(self.path), isolation_level=None, timeout=30.0)
        self._conn.execute("PRAGMA synchronous=FULL")
        self._conn.execute("BEGIN IMMEDIATE")
        try:
            for sql in _DDL:
                self._conn.execute(sql)
            self._conn.execute("COMMIT")
        except BaseException:
            self._conn.execute("ROLLBACK")
            self._conn.close()
            raise

    def close(self) -> None:
        self._conn.close()

    def __enter__(self) -> SyncState:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def conn(self) -> sqlite3.Connection:
        """The connection (read the ledger's outbox with it; write only through the methods)."""
        return self._conn

    def get(self, key: str, default: str | None = None) -> str | None:
        row = self._conn.execute("SELECT value FROM sync_state WHERE key = ?", (key,)).fetchone()
        return default if row is None else row[0]

    def set(self, **values: Any) -> None:
        self._conn.execute("BEGIN IMMEDIATE")
        try:
            self._conn.executemany(
                "INSERT INTO sync_state (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                [(k, str(v)) for k, v in values.items()])
            self._conn.execute("COMMIT")
        except BaseException:
            self._conn.execute("ROLLBACK")
            raise

    @property
    def cursor(self) -> int:
        return int(self.get("cursor", "0") or 0)

    def acknowledge(self, first_seq: int, last_seq: int, ack: dict[str, Any], records: int) -> None:
        """Remember what the server acknowledged: the cursor and the upload's counts, in one transaction."""
        self._conn.execute("BEGIN IMMEDIATE")
        try:
            self._conn.execute(
                "INSERT INTO sync_acks (at, first_seq, last_seq, cursor, records, new, duplicates, quarantined)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (_now(), first_seq, last_seq, int(ack["cursor"]), records, int(ack.get("new", 0)),
                 int(ack.get("duplicates", 0)), len(ack.get("quarantined", ()))),
            )
            self._conn.execute(
                "INSERT INTO sync_state (key, value) VALUES ('cursor', ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                (str(int(ack["cursor"])),))
            self._conn.execute("COMMIT")
        except BaseException:
            self._conn.execute("ROLLBACK")
            raise

    def quarantined_total(self) -> int:
        return int(self._conn.execute("SELECT COALESCE(SUM(quarantined), 0) FROM sync_acks").fetchone()[0])
