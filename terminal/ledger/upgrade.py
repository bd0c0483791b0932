"""Upgrading a ledger database in place to the current schema, one version step per SQLite transaction.

Schema 1 → 2 (write cost per booking): `open_intents` becomes a WITHOUT ROWID table (one B-tree, no card
index: the pending set is a handful of rows), and the indexes `intents_card` and `postings_account`, which no
query of the terminal used, are dropped. No chained row changes; the head MAC is made again because it
covers `meta` (whose `schema_version` changes), after checking the old one with the ledger's key.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from .chain import CHAIN_VERSION, ChainWriter, Mac
from .errors import LedgerCorrupt
from .opening import immediate, read_meta
from .schema import OPEN_INTENTS_DDL, SCHEMA_VERSION, VIEWS

_V1_TO_V2: tuple[str, ...] = (
    "DROP VIEW v_pending",  # names open_intents: a rename would check it against a missing table
    OPEN_INTENTS_DDL.replace("open_intents", "open_intents_v2", 1),
    "INSERT INTO open_intents_v2 (intent_id, card_serial) SELECT intent_id, card_serial FROM open_intents",
    "DROP TABLE open_intents",
    "ALTER TABLE open_intents_v2 RENAME TO open_intents",
    "DROP INDEX intents_card",
    "DROP INDEX postings_account",
    next(v for v in VIEWS if v.startswith("CREATE VIEW v_pending ")),
)


def upgrade(conn: sqlite3.Connection, mac: Mac, meta: dict[str, str], path: Path) -> dict[str, str]:
    """Bring a schema-1 ledger to the current schema (others are returned unchanged, for check_meta to
    judge). Call only with the ledger's own key: the old head MAC is checked before anything is written."""
    if meta.get("schema_version") != "1" or meta.get("chain_version") != str(CHAIN_VERSION):
        return meta
    if meta.get("key_id") != mac.key_id():
        return meta  # check_meta names the wrong key file
    with immediate(conn):
        meta = read_meta(conn)  # another process may have upgraded it while we waited for the lock
        if meta.get("schema_version") == "1":
            head = conn.execute("SELECT seq, row_hash, mac FROM chain_head WHERE id = 1").fetchone()
            if head is None or not mac.check_head(seq=head[0], row_hash_hex=head[1], meta=meta, mac_hex=head[2]):
                raise LedgerCorrupt(
                    f"{path}: schema 1, and its chain head's MAC does not match its key: it was changed outside this"
                    " program, so it is left as it is and not upgraded (examine a copy with the previous release's"
                    " `ykt ledger verify`)"
                )
            for sql in _V1_TO_V2:
                conn.execute(sql)
            conn.execute("UPDATE meta SET value = ? WHERE key = 'schema_version'", (str(SCHEMA_VERSION),))
            meta = read_meta(conn)
            ChainWriter(conn, mac, meta).store_head()
    return meta
