"""Tables that live beside the ledger's in its database (the counter's, the centre link's), each set on a
connection of its own: created if missing, written in durable `BEGIN IMMEDIATE … COMMIT` transactions."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from .opening import immediate


class SideTables:
    """The tables of `SCHEMA` in the ledger database at `path` (which must exist: open the Ledger first)."""

    SCHEMA: tuple[str, ...] = ()
    FOREIGN_KEYS = False
    CHECK_SAME_THREAD = True

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.conn = sqlite3.connect(str(self.path), isolation_level=None, timeout=10.0,
                                    check_same_thread=self.CHECK_SAME_THREAD)
        self.conn.row_factory = sqlite3.Row
        self.conn.execute("PRAGMA synchronous=FULL")
        if self.FOREIGN_KEYS:
            self.conn.execute("PRAGMA foreign_keys=ON")
        with self.write():
            for statement in self.SCHEMA:
                self.conn.execute(statement)

    def close(self) -> None:
        self.conn.close()

    @contextmanager
    def write(self) -> Iterator[sqlite3.Connection]:
        """One durable transaction (BEGIN IMMEDIATE … COMMIT)."""
        with immediate(self.conn):
            yield self.conn
