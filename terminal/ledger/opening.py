"""Opening and creating a ledger database: connection settings, schema creation, meta checks."""

from __future__ import annotations

import datetime as _dt
import sqlite3
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from . import keyfile
from .accounts import CHART
from .chain import CHAIN_VERSION, ChainWriter, Mac
from .errors import KeyFileError, LedgerCorrupt, LedgerNotFound, TerminalMismatch
from .model import Account
from .schema import SCHEMA_VERSION, create_all


def connect(path: Path, *, create: bool, on_sql: Callable[[str], None] | None = None) -> sqlite3.Connection:
    """Open SQLite the way the ledger needs it: autocommit (explicit BEGIN), WAL, synchronous=FULL."""
    if create:
        conn = sqlite3.connect(str(path), isolation_level=None, timeout=10.0)
    else:
        try:
            conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=rw", uri=True, isolation_level=None, timeout=10.0)
        except sqlite3.OperationalError:
            raise LedgerNotFound(f"no ledger at {path}; create it with `ykt ledger init --db {path}`") from None
    if on_sql is not None:
        conn.set_trace_callback(on_sql)
    try:
        mode = conn.execute("PRAGMA journal_mode=WAL").fetchone()[0]
        if mode != "wal":
            raise LedgerCorrupt(f"cannot put {path} in WAL mode (got {mode})")
        conn.execute("PRAGMA synchronous=FULL")
        conn.execute("PRAGMA foreign_keys=ON")
    except sqlite3.DatabaseError as exc:
        conn.close()
        raise LedgerCorrupt(f"{path} is not a usable ledger database: {exc}") from None
    except LedgerCorrupt:
        conn.close()
        raise
    return conn


@contextmanager
def immediate(conn: sqlite3.Connection) -> Iterator[None]:
    """One `BEGIN IMMEDIATE … COMMIT` (the write lock taken at once); rolled back on any exception."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise


def timestamp(moment: _dt.datetime) -> str:
    if moment.tzinfo is None:
        raise ValueError("the ledger clock must return aware datetimes")
    return moment.astimezone(_dt.timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def read_meta(conn: sqlite3.Connection) -> dict[str, str]:
    if not conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'meta'").fetchone():
        return {}
    return dict(conn.execute("SELECT key, value FROM meta"))


def check_meta(meta: dict[str, str], path: Path, mac: Mac, terminal_id: str | None) -> None:
    if meta.get("key_id") != mac.key_id():
        raise KeyFileError(f"{keyfile.key_path(path)} is not the key of this ledger (key id {meta.get('key_id')})")
    if meta.get("schema_version") != str(SCHEMA_VERSION) or meta.get("chain_version") != str(CHAIN_VERSION):
        raise LedgerCorrupt(
            f"{path}: schema {meta.get('schema_version')} / chain {meta.get('chain_version')} not supported"
            f" (this code: schema {SCHEMA_VERSION}, chain {CHAIN_VERSION})"
        )
    if terminal_id is not None and meta.get("terminal_id") != terminal_id:
        raise TerminalMismatch(f"{path} belongs to terminal {meta.get('terminal_id')}, not {terminal_id}")


def append_account(conn: sqlite3.Connection, chain: ChainWriter, account: Account, now: str) -> None:
    chain.append("accounts", {
        "code": account.code, "name": account.name, "type": account.type,
        "may_go_negative": int(account.may_go_negative), "created_at": now,
    })
    conn.execute("INSERT INTO balances (account, balance_fen) VALUES (?, 0)", (account.code,))


def initialise(conn: sqlite3.Connection, mac: Mac, terminal_id: str, moment: _dt.datetime) -> dict[str, str]:
    """Create the schema and seed the chart of accounts, all in one transaction (a crash leaves nothing)."""
    now = timestamp(moment)
    with immediate(conn):
        meta = read_meta(conn)
        if not meta:  # another process may have initialised it while we waited for the lock
            create_all(conn)
            meta = {
                "schema_version": str(SCHEMA_VERSION), "chain_version": str(CHAIN_VERSION),
                "terminal_id": terminal_id, "key_id": mac.key_id(), "created_at": now,
            }
            conn.executemany("INSERT INTO meta (key, value) VALUES (?, ?)", meta.items())
            chain = ChainWriter(conn, mac, meta)
            for account in CHART:
                append_account(conn, chain, account, now)
            chain.store_head()
    return meta
