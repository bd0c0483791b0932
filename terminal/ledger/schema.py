"""Tables, indexes, triggers and views of the ledger database (schema version 2; upgrade.py brings 1 to 2).

Every table that records money is *chained*: its rows are append-only, carry `seq` (one sequence shared
by all chained tables; also the row's primary key) and `prev_hash`, `row_hash`, `mac` (see chain.py).
`balances` and `open_intents` are derived caches kept in the same SQLite transactions; verify recomputes them.
"""

from __future__ import annotations

import sqlite3

SCHEMA_VERSION = 2
CHAIN_COLUMNS = ("prev_hash", "row_hash", "mac")

# Hashed columns of each chained table, in table order (the chain encoding sorts keys anyway).
CHAINED: dict[str, tuple[str, ...]] = {
    "accounts": ("seq", "code", "name", "type", "may_go_negative", "created_at"),
    "intents": (
        "seq", "intent_id", "kind", "amount_fen", "card_serial", "card_counter", "txn_type", "operator",
        "business_day", "details", "planned_postings", "created_at",
    ),
    "resolutions": ("seq", "intent_id", "state", "reason", "resolved_at"),
    "transactions": (
        "seq", "intent_id", "kind", "amount_fen", "card_serial", "card_counter", "txn_type", "tac",
        "terminal_seq", "card_time", "operator", "business_day", "committed_at",
    ),
    "postings": ("seq", "txn_id", "line", "account", "amount_fen"),
    "outbox": ("seq", "txn_id", "created_at"),
}

_CHAIN_DDL = "prev_hash TEXT NOT NULL, row_hash TEXT NOT NULL, mac TEXT NOT NULL"
# The pending set (usually a few rows): one B-tree (no rowid, no card index) so a booking writes one page here.
OPEN_INTENTS_DDL = (
    "CREATE TABLE open_intents (intent_id TEXT PRIMARY KEY REFERENCES intents(intent_id), card_serial TEXT)"
    " STRICT, WITHOUT ROWID"
)

TABLES: tuple[str, ...] = (
    "CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) STRICT",
    "CREATE TABLE chain_head (id INTEGER PRIMARY KEY CHECK (id = 1), seq INTEGER NOT NULL,"
    " row_hash TEXT NOT NULL, mac TEXT NOT NULL) STRICT",
    "CREATE TABLE accounts (seq INTEGER PRIMARY KEY, code TEXT NOT NULL UNIQUE, name TEXT NOT NULL,"
    " type TEXT NOT NULL CHECK (type IN ('asset','liability','equity','revenue','contra_revenue','expense')),"
    " may_go_negative INTEGER NOT NULL CHECK (may_go_negative IN (0, 1)), created_at TEXT NOT NULL,"
    f" {_CHAIN_DDL}) STRICT",
    "CREATE TABLE intents (seq INTEGER PRIMARY KEY, intent_id TEXT NOT NULL UNIQUE, kind TEXT NOT NULL,"
    " amount_fen INTEGER NOT NULL CHECK (amount_fen >= 0), card_serial TEXT, card_counter INTEGER,"
    " txn_type INTEGER, operator TEXT NOT NULL, business_day TEXT NOT NULL, details TEXT NOT NULL,"
    f" planned_postings TEXT NOT NULL, created_at TEXT NOT NULL, {_CHAIN_DDL}) STRICT",
    "CREATE TABLE resolutions (seq INTEGER PRIMARY KEY,"
    " intent_id TEXT NOT NULL UNIQUE REFERENCES intents(intent_id),"
    " state TEXT NOT NULL CHECK (state IN ('failed', 'cancelled')), reason TEXT NOT NULL,"
    f" resolved_at TEXT NOT NULL, {_CHAIN_DDL}) STRICT",
    "CREATE TABLE transactions (seq INTEGER PRIMARY KEY,"
    " intent_id TEXT NOT NULL UNIQUE REFERENCES intents(intent_id), kind TEXT NOT NULL,"
    " amount_fen INTEGER NOT NULL, card_serial TEXT, card_counter INTEGER, txn_type INTEGER, tac TEXT,"
    " terminal_seq INTEGER, card_time TEXT, operator TEXT NOT NULL, business_day TEXT NOT NULL,"
    f" committed_at TEXT NOT NULL, {_CHAIN_DDL}, UNIQUE (card_serial, card_counter, txn_type)) STRICT",
    "CREATE TABLE postings (seq INTEGER PRIMARY KEY, txn_id INTEGER NOT NULL REFERENCES transactions(seq),"
    " line INTEGER NOT NULL, account TEXT NOT NULL REFERENCES accounts(code),"
    f" amount_fen INTEGER NOT NULL CHECK (amount_fen <> 0), {_CHAIN_DDL}) STRICT",
    "CREATE TABLE outbox (seq INTEGER PRIMARY KEY,"
    " txn_id INTEGER NOT NULL UNIQUE REFERENCES transactions(seq), created_at TEXT NOT NULL,"
    f" {_CHAIN_DDL}) STRICT",
    "CREATE TABLE balances (account TEXT PRIMARY KEY REFERENCES accounts(code),"
    " balance_fen INTEGER NOT NULL) STRICT",
    OPEN_INTENTS_DDL,
)

# Only what the terminal's own queries use: every index is one more page written by each booking.
INDEXES: tuple[str, ...] = (
    "CREATE INDEX intents_day ON intents(business_day)",
    "CREATE INDEX transactions_day ON transactions(business_day)",
    "CREATE INDEX postings_txn ON postings(txn_id)",
)


def _append_only(table: str) -> tuple[str, str]:
    return (
        f"CREATE TRIGGER {table}_no_update BEFORE UPDATE ON {table}"
        f" BEGIN SELECT RAISE(ABORT, 'ledger table {table} is append-only'); END",
        f"CREATE TRIGGER {table}_no_delete BEFORE DELETE ON {table}"
        f" BEGIN SELECT RAISE(ABORT, 'ledger table {table} is append-only'); END",
    )


TRIGGERS: tuple[str, ...] = tuple(sql for t in CHAINED for sql in _append_only(t))
TRIGGER_NAMES: tuple[str, ...] = tuple(f"{t}_{op}" for t in CHAINED for op in ("no_update", "no_delete"))

_STATE = (
    "CASE WHEN t.seq IS NOT NULL THEN 'committed' WHEN r.seq IS NOT NULL THEN r.state ELSE 'pending' END"
)

VIEWS: tuple[str, ...] = (
    # Every intent with its current state.
    "CREATE VIEW v_intents AS SELECT i.seq, i.intent_id, i.kind, i.amount_fen, i.card_serial, i.card_counter,"
    f" i.txn_type, i.operator, i.business_day, i.created_at, {_STATE} AS state, r.reason AS reason,"
    " t.seq AS txn_id, i.details, i.planned_postings"
    " FROM intents i LEFT JOIN transactions t ON t.intent_id = i.intent_id"
    " LEFT JOIN resolutions r ON r.intent_id = i.intent_id",
    # Intents waiting for recovery (what `ykt ledger recover` lists).
    "CREATE VIEW v_pending AS SELECT i.seq, i.intent_id, i.kind, i.amount_fen, i.card_serial, i.card_counter,"
    " i.txn_type, i.operator, i.business_day, i.created_at FROM open_intents o"
    " JOIN intents i ON i.intent_id = o.intent_id",
    # Postings with their transaction's day, operator and kind.
    "CREATE VIEW v_postings AS SELECT p.seq, p.txn_id, p.line, p.account, a.type AS account_type,"
    " p.amount_fen, CASE WHEN p.amount_fen > 0 THEN p.amount_fen ELSE 0 END AS debit_fen,"
    " CASE WHEN p.amount_fen < 0 THEN -p.amount_fen ELSE 0 END AS credit_fen, t.business_day, t.operator,"
    " t.kind, t.card_serial, t.committed_at FROM postings p JOIN transactions t ON t.seq = p.txn_id"
    " JOIN accounts a ON a.code = p.account",
    # A day's totals by account.
    "CREATE VIEW v_day_totals AS SELECT t.business_day, p.account,"
    " SUM(CASE WHEN p.amount_fen > 0 THEN p.amount_fen ELSE 0 END) AS debit_fen,"
    " SUM(CASE WHEN p.amount_fen < 0 THEN -p.amount_fen ELSE 0 END) AS credit_fen,"
    " SUM(p.amount_fen) AS net_fen, COUNT(*) AS postings"
    " FROM transactions t JOIN postings p ON p.txn_id = t.seq GROUP BY t.business_day, p.account",
    # A day's totals by operator and kind.
    "CREATE VIEW v_operator_totals AS SELECT business_day, operator, kind, COUNT(*) AS transactions,"
    " SUM(amount_fen) AS amount_fen FROM transactions GROUP BY business_day, operator, kind",
    # Account balances, raw (debit - credit) and from the account's normal side.
    "CREATE VIEW v_balances AS SELECT a.code, a.name, a.type, a.may_go_negative, b.balance_fen,"
    " CASE WHEN a.type IN ('asset', 'expense', 'contra_revenue') THEN b.balance_fen ELSE -b.balance_fen END"
    " AS normal_fen FROM accounts a JOIN balances b ON b.account = a.code",
    # The whole chain in order, one row per chained row.
    "CREATE VIEW v_chain AS "
    + " UNION ALL ".join(f"SELECT seq, '{t}' AS tbl, prev_hash, row_hash, mac FROM {t}" for t in CHAINED),
)


def create_all(conn: sqlite3.Connection) -> None:
    """Create every table, index, trigger and view (inside the caller's transaction)."""
    for sql in TABLES + INDEXES + TRIGGERS + VIEWS:
        conn.execute(sql)
