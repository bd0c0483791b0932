"""`verify`: SQLite integrity, the hash chain and its HMACs, the head, double entry and derived tables.

The chain walk streams every chained table with one `ORDER BY seq` SELECT each (rowid order, no sort) and
merges them by seq; hashing is hashlib/hmac in Python. Problems are reported in chain order, so the first one
names the first bad row (table, id, seq, what is wrong); structural checks follow.
"""

from __future__ import annotations

import hashlib
import heapq
import sqlite3
import time
from collections.abc import Iterator

from .accounts import NORMAL_SIGN
from .canonical import encode_row_unchecked
from .chain import CHAIN_VERSION, GENESIS, ROW_PREFIX, Mac
from .model import Problem, VerifyReport
from .schema import CHAINED, SCHEMA_VERSION, TRIGGER_NAMES

MAX_PROBLEMS = 50
_ID_COLUMN = {"accounts": "code", "intents": "intent_id", "resolutions": "intent_id"}


class _Problems(list[Problem]):
    def add(self, table: str, row_id: object, what: str, seq: int | None = None) -> None:
        if len(self) < MAX_PROBLEMS:
            self.append(Problem(table, None if row_id is None else str(row_id), what, seq))


def verify_connection(conn: sqlite3.Connection, mac: Mac, *, quick: bool = False, triggers: bool = True) -> VerifyReport:
    """Check everything on one read snapshot. `quick` uses PRAGMA quick_check instead of integrity_check;
    `triggers=False` skips the check that the append-only triggers exist (tests that tamper without them)."""
    started = time.perf_counter()
    problems = _Problems()
    own = not conn.in_transaction
    rows_checked = head_seq = transactions = 0
    if own:
        conn.execute("BEGIN")
    try:
        _check_sqlite(conn, problems, quick, triggers)
        meta = _check_meta(conn, mac, problems)
        rows_checked, last_seq, last_hash = _walk_chain(conn, mac, problems)
        head_seq = _check_head(conn, mac, meta, last_seq, last_hash, problems)
        transactions = conn.execute("SELECT COUNT(*) FROM transactions").fetchone()[0]
        _check_structure(conn, problems)
    except sqlite3.DatabaseError as exc:
        problems.add("sqlite", None, f"cannot read the ledger: {exc}")
    except (TypeError, ValueError, UnicodeError) as exc:  # values no honest writer produces
        problems.add("sqlite", None, f"cannot check the ledger: {type(exc).__name__}: {exc}")
    finally:
        if own and conn.in_transaction:
            conn.execute("ROLLBACK")
    return VerifyReport(
        problems=tuple(problems), rows_checked=rows_checked, transactions=transactions, head_seq=head_seq,
        chain_version=CHAIN_VERSION, seconds=time.perf_counter() - started,
    )


def _check_sqlite(conn: sqlite3.Connection, problems: _Problems, quick: bool, triggers: bool) -> None:
    result = [r[0] for r in conn.execute("PRAGMA quick_check" if quick else "PRAGMA integrity_check")]
    if result != ["ok"]:
        problems.add("sqlite", None, "integrity_check: " + "; ".join(str(r) for r in result[:3]))
    present = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'trigger'")}
    for name in TRIGGER_NAMES if triggers else ():
        if name not in present:
            problems.add("sqlite_master", name, "append-only trigger missing")


def _check_meta(conn: sqlite3.Connection, mac: Mac, problems: _Problems) -> dict[str, str]:
    meta = dict(conn.execute("SELECT key, value FROM meta"))
    if meta.get("chain_version") != str(CHAIN_VERSION) or meta.get("schema_version") != str(SCHEMA_VERSION):
        problems.add("meta", "chain_version", f"unsupported chain/schema version {meta.get('chain_version')}/{meta.get('schema_version')}")
    if meta.get("key_id") != mac.key_id():
        problems.add("meta", "key_id", "the key file is not this ledger's key (every mac will fail)")
    return meta


def _json_expr(table: str, columns: tuple[str, ...]) -> str:
    """SQLite json_object() with the keys in canonical (sorted) order: the fast path of the encoding."""
    pairs = sorted([(c, c) for c in columns] + [("t", f"'{table}'")])
    return "json_object(" + ", ".join(f"'{k}', {v}" for k, v in pairs) + ")"


def _stream(conn: sqlite3.Connection, index: int, table: str, columns: tuple[str, ...]) -> Iterator[tuple]:
    id_column = _ID_COLUMN.get(table, "seq")
    cursor = conn.execute(
        f"SELECT seq, {_json_expr(table, columns)}, {id_column}, prev_hash, row_hash, mac FROM {table} ORDER BY seq"
    )
    cursor.arraysize = 4096
    while batch := cursor.fetchmany():
        for row in batch:
            yield row[0], index, row


def _python_payload(conn: sqlite3.Connection, table: str, seq: int) -> bytes:
    """The reference encoding (canonical.py) of one row, used when the SQLite fast path disagrees."""
    columns = CHAINED[table]
    row = conn.execute(f"SELECT {', '.join(columns)} FROM {table} WHERE seq = ?", (seq,)).fetchone()
    values = dict(zip(columns, row))
    values["t"] = table
    return encode_row_unchecked(values)


def _walk_chain(conn: sqlite3.Connection, mac: Mac, problems: _Problems) -> tuple[int, int, str]:
    """Recompute every row_hash and mac in seq order. Rows are encoded by SQLite's json_object (same bytes as
    the canonical encoder for every value the ledger writes); a row whose hash then differs is re-encoded
    with the Python reference encoder before it is reported."""
    tables = list(CHAINED)
    merged = heapq.merge(*(_stream(conn, i, t, cols) for i, (t, cols) in enumerate(CHAINED.items())))
    sha256 = hashlib.sha256
    check_mac = mac.check_row
    expected, prev, count = 1, GENESIS, 0
    for seq, index, (_, payload, row_id, stored_prev, stored_hash, stored_mac) in merged:
        count += 1
        table = tables[index]
        if seq != expected:
            what = (f"seq {seq} repeats or goes back (expected {expected})" if seq < expected
                    else f"seq gap: rows {expected}..{seq - 1} are missing")
            problems.add(table, row_id, what, seq)
        elif stored_prev != prev:
            problems.add(table, row_id, f"prev_hash does not link to seq {seq - 1} (row removed, inserted or moved)", seq)
        else:
            tail = b"\n" + prev.encode("utf-8")
            computed = sha256(ROW_PREFIX + payload.encode("utf-8") + tail).hexdigest()
            if computed != stored_hash:
                try:
                    computed = sha256(ROW_PREFIX + _python_payload(conn, table, seq) + tail).hexdigest()
                except (TypeError, ValueError):
                    computed = ""
            if computed != stored_hash:
                problems.add(table, row_id, "row_hash mismatch: the row's content was changed", seq)
            elif not check_mac(computed, stored_mac):
                problems.add(table, row_id, "mac mismatch: row rewritten without the terminal key", seq)
        expected = seq + 1
        prev = stored_hash if isinstance(stored_hash, str) else ""
    return count, expected - 1, prev


def _check_head(conn: sqlite3.Connection, mac: Mac, meta: dict[str, str], last_seq: int, last_hash: str,
                problems: _Problems) -> int:
    head = conn.execute("SELECT seq, row_hash, mac FROM chain_head").fetchall()
    if len(head) != 1:
        problems.add("chain_head", None, f"expected one head row, found {len(head)}")
        return 0
    seq, row_hash, head_mac = head[0]
    if seq != last_seq:
        change = "removed from" if isinstance(seq, int) and seq > last_seq else "added at"
        problems.add("chain_head", 1, f"head is seq {seq} but the chain ends at {last_seq}: rows {change} the end")
    elif row_hash != last_hash:
        problems.add("chain_head", 1, "head row_hash differs from the last row's")
    elif not mac.check_head(seq=seq, row_hash_hex=row_hash, meta=meta, mac_hex=head_mac):
        problems.add("chain_head", 1, "head mac mismatch: head or meta (terminal id, versions, key id) rewritten")
    return seq if isinstance(seq, int) else 0


# Structural checks: (table reported, SQL yielding (row id, seq, what) for offending rows).
_STRUCTURE: tuple[tuple[str, str], ...] = (
    ("transactions", "SELECT txn_id, txn_id, 'postings sum to ' || SUM(amount_fen) || ' fen, ' || COUNT(*) || ' lines'"
     " FROM postings GROUP BY txn_id HAVING SUM(amount_fen) <> 0 OR COUNT(*) < 2 ORDER BY txn_id"),
    ("transactions", "SELECT t.seq, t.seq, 'transaction has no postings' FROM transactions t"
     " WHERE NOT EXISTS (SELECT 1 FROM postings p WHERE p.txn_id = t.seq) ORDER BY t.seq"),
    ("postings", "SELECT p.seq, p.seq, 'posting of missing or later transaction ' || p.txn_id FROM postings p"
     " LEFT JOIN transactions t ON t.seq = p.txn_id WHERE t.seq IS NULL OR p.seq < t.seq ORDER BY p.seq"),
    ("postings", "SELECT p.seq, p.seq, 'posting to unknown account ' || p.account FROM postings p"
     " WHERE NOT EXISTS (SELECT 1 FROM accounts a WHERE a.code = p.account) ORDER BY p.seq"),
    ("transactions", "SELECT t.seq, t.seq, 'does not match its intent ' || t.intent_id FROM transactions t"
     " LEFT JOIN intents i ON i.intent_id = t.intent_id WHERE i.seq IS NULL OR i.seq > t.seq"
     " OR i.kind IS NOT t.kind OR i.amount_fen IS NOT t.amount_fen OR i.card_serial IS NOT t.card_serial"
     " OR i.operator IS NOT t.operator OR i.business_day IS NOT t.business_day"
     " OR (i.card_counter IS NOT NULL AND i.card_counter IS NOT t.card_counter)"
     " OR (i.txn_type IS NOT NULL AND i.txn_type IS NOT t.txn_type) ORDER BY t.seq"),
    ("transactions", "SELECT MIN(seq), MIN(seq), 'intent ' || intent_id || ' booked ' || COUNT(*) || ' times'"
     " FROM transactions GROUP BY intent_id HAVING COUNT(*) > 1"),
    ("transactions", "SELECT MAX(seq), MAX(seq), 'card transaction booked twice: ' || card_serial || '/'"
     " || card_counter || '/' || txn_type FROM transactions WHERE card_serial IS NOT NULL"
     " AND card_counter IS NOT NULL AND txn_type IS NOT NULL GROUP BY card_serial, card_counter, txn_type"
     " HAVING COUNT(*) > 1"),
    ("resolutions", "SELECT r.intent_id, r.seq, 'resolution of a missing, later or committed intent' FROM resolutions r"
     " LEFT JOIN intents i ON i.intent_id = r.intent_id WHERE i.seq IS NULL OR i.seq > r.seq"
     " OR EXISTS (SELECT 1 FROM transactions t WHERE t.intent_id = r.intent_id) ORDER BY r.seq"),
    ("resolutions", "SELECT intent_id, MAX(seq), 'intent resolved ' || COUNT(*) || ' times' FROM resolutions"
     " GROUP BY intent_id HAVING COUNT(*) > 1"),
    ("intents", "SELECT intent_id, MAX(seq), 'intent id used ' || COUNT(*) || ' times' FROM intents"
     " GROUP BY intent_id HAVING COUNT(*) > 1"),
    ("outbox", "SELECT t.seq, t.seq, 'committed transaction missing from the outbox' FROM transactions t"
     " WHERE NOT EXISTS (SELECT 1 FROM outbox o WHERE o.txn_id = t.seq AND o.seq > t.seq) ORDER BY t.seq"),
    ("outbox", "SELECT o.seq, o.seq, 'outbox row of a missing transaction or a repeat' FROM outbox o"
     " LEFT JOIN transactions t ON t.seq = o.txn_id WHERE t.seq IS NULL"
     " OR EXISTS (SELECT 1 FROM outbox o2 WHERE o2.txn_id = o.txn_id AND o2.seq < o.seq) ORDER BY o.seq"),
    ("outbox", "SELECT seq, seq, 'outbox out of commit order' FROM (SELECT seq, txn_id,"
     " LAG(txn_id) OVER (ORDER BY seq) AS prev FROM outbox) WHERE txn_id <= prev ORDER BY seq"),
    ("open_intents", "SELECT i.intent_id, i.seq, 'pending intent missing from open_intents' FROM intents i"
     " WHERE NOT EXISTS (SELECT 1 FROM transactions t WHERE t.intent_id = i.intent_id)"
     " AND NOT EXISTS (SELECT 1 FROM resolutions r WHERE r.intent_id = i.intent_id)"
     " AND NOT EXISTS (SELECT 1 FROM open_intents o WHERE o.intent_id = i.intent_id) ORDER BY i.seq"),
    ("open_intents", "SELECT o.intent_id, NULL, 'listed as pending but committed, resolved, unknown or wrong card'"
     " FROM open_intents o LEFT JOIN intents i ON i.intent_id = o.intent_id WHERE i.seq IS NULL"
     " OR o.card_serial IS NOT i.card_serial"
     " OR EXISTS (SELECT 1 FROM transactions t WHERE t.intent_id = o.intent_id)"
     " OR EXISTS (SELECT 1 FROM resolutions r WHERE r.intent_id = o.intent_id)"),
    ("balances", "SELECT account, NULL, 'balance of an account not in the chart' FROM balances"
     " WHERE account NOT IN (SELECT code FROM accounts)"),
)


def _check_structure(conn: sqlite3.Connection, problems: _Problems) -> None:
    for table, sql in _STRUCTURE:
        for row_id, seq, what in conn.execute(sql + " LIMIT 5"):
            problems.add(table, row_id, what, seq)
    sums = dict(conn.execute("SELECT account, SUM(amount_fen) FROM postings GROUP BY account"))
    cached = dict(conn.execute("SELECT account, balance_fen FROM balances"))
    for code, typ, may_go_negative, seq in conn.execute("SELECT code, type, may_go_negative, seq FROM accounts ORDER BY seq"):
        total = sums.get(code, 0)
        if cached.get(code) != total:
            problems.add("balances", code, f"cached balance {cached.get(code)} but postings sum to {total}")
        if not may_go_negative and NORMAL_SIGN.get(typ, 1) * total < 0:
            problems.add("accounts", code, f"balance {NORMAL_SIGN.get(typ, 1) * total} fen below zero", seq)
