"""Random tampering of ledger databases, for the tamper test: edits, deletes, reorders, inserts, rewrites.

Each case starts from an in-memory copy of a good ledger without its append-only triggers (an attacker drops
them first; verify's trigger check is tested on its own), changes rows with plain SQL inside a transaction
(rolled back after the check, so the next case starts from the same ledger), and reports whether any table
changed. A case that
leaves every table as it was (e.g. a value set to itself) is a no-op and does not count.
"""

from __future__ import annotations

import random
import sqlite3
from collections.abc import Callable
from typing import Any

from terminal.ledger.chain import Mac, row_hash
from terminal.ledger.schema import CHAINED, TRIGGER_NAMES

DERIVED = ("balances", "open_intents", "chain_head", "meta")
FORGER = Mac(b"\x5a" * 32)


def load(data: bytes) -> sqlite3.Connection:
    """An in-memory copy of a serialized ledger (WAL header bytes reset so SQLite accepts it)."""
    image = bytearray(data)
    image[18] = image[19] = 1
    conn = sqlite3.connect(":memory:", isolation_level=None)
    conn.deserialize(bytes(image))
    return conn


def without_triggers(data: bytes) -> bytes:
    """The ledger image with its append-only triggers dropped, as an attacker would start."""
    conn = load(data)
    for name in TRIGGER_NAMES:
        conn.execute(f"DROP TRIGGER {name}")
    image = conn.serialize()
    conn.close()
    return image


def table_rows(conn: sqlite3.Connection, table: str) -> list[tuple]:
    """Every row in key order (the first column is each table's key; open_intents has no rowid)."""
    return conn.execute(f"SELECT * FROM {table} ORDER BY 1").fetchall()


def _pick_row(conn: sqlite3.Connection, rng: random.Random, table: str) -> tuple | None:
    rows = conn.execute(f"SELECT * FROM {table}").fetchall()
    return rng.choice(rows) if rows else None


def _columns(conn: sqlite3.Connection, table: str) -> list[str]:
    return [r[1] for r in conn.execute(f"PRAGMA table_info({table})")]


def _new_value(rng: random.Random, old: Any) -> Any:
    choice = rng.random()
    if choice < 0.08:
        return None
    if isinstance(old, int):
        return old + rng.choice([1, -1, 2, 100, -100, 10_000, rng.randint(-10**6, 10**6)])
    if isinstance(old, str):
        if choice < 0.2:
            return old + rng.choice(["0", "x", " "])
        if choice < 0.3 or not old:
            return ""
        i = rng.randrange(len(old))
        return old[:i] + rng.choice("0123456789abcdefXYZ张") + old[i + 1:]
    return rng.randint(0, 9)


def _chained_table(conn: sqlite3.Connection, rng: random.Random) -> str:
    counts = {t: conn.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0] for t in CHAINED}
    tables = [t for t, n in counts.items() if n]
    return rng.choices(tables, weights=[counts[t] for t in tables])[0]


def edit(conn: sqlite3.Connection, rng: random.Random) -> set[str]:
    table = _chained_table(conn, rng)
    row = _pick_row(conn, rng, table)
    columns = _columns(conn, table)
    i = rng.randrange(len(columns))
    conn.execute(f"UPDATE {table} SET {columns[i]} = ? WHERE seq = ?", (_new_value(rng, row[i]), row[0]))
    return {table}


def edit_derived(conn: sqlite3.Connection, rng: random.Random) -> set[str]:
    table = rng.choice(DERIVED)
    if table == "open_intents" and rng.random() < 0.5:
        intent = _pick_row(conn, rng, "intents")
        if rng.random() < 0.5:
            conn.execute("DELETE FROM open_intents WHERE intent_id = ?", (intent[1],))
        else:
            conn.execute("INSERT OR IGNORE INTO open_intents VALUES (?, ?)", (intent[1], intent[4]))
        return {table}
    row = _pick_row(conn, rng, table)
    if row is None:
        return set()
    columns = _columns(conn, table)
    i = rng.randrange(1, len(columns)) if table != "open_intents" else rng.randrange(len(columns))
    conn.execute(f"UPDATE {table} SET {columns[i]} = ? WHERE {columns[0]} = ?", (_new_value(rng, row[i]), row[0]))
    return {table}


def delete(conn: sqlite3.Connection, rng: random.Random) -> set[str]:
    how = rng.random()
    head = conn.execute("SELECT seq FROM chain_head").fetchone()[0]
    if how < 0.3:  # the last rows of the chain
        n = rng.randint(1, 4)
        for t in CHAINED:
            conn.execute(f"DELETE FROM {t} WHERE seq > ?", (head - n,))
        return set(CHAINED)
    if how < 0.5:  # a whole transaction, consistently: postings, outbox, transaction, its intent
        txn = _pick_row(conn, rng, "transactions")
        if txn is None:
            return set()
        conn.execute("DELETE FROM postings WHERE txn_id = ?", (txn[0],))
        conn.execute("DELETE FROM outbox WHERE txn_id = ?", (txn[0],))
        conn.execute("DELETE FROM transactions WHERE seq = ?", (txn[0],))
        if rng.random() < 0.5:
            conn.execute("DELETE FROM intents WHERE intent_id = ?", (txn[1],))
        return {"postings", "outbox", "transactions", "intents"}
    touched = set()
    for _ in range(rng.randint(1, 3)):
        table = _chained_table(conn, rng)
        row = _pick_row(conn, rng, table)
        conn.execute(f"DELETE FROM {table} WHERE seq = ?", (row[0],))
        touched.add(table)
    return touched


def reorder(conn: sqlite3.Connection, rng: random.Random) -> set[str]:
    a_table, b_table = _chained_table(conn, rng), _chained_table(conn, rng)
    if rng.random() < 0.5:
        b_table = a_table
    a, b = _pick_row(conn, rng, a_table), _pick_row(conn, rng, b_table)
    if rng.random() < 0.5 or a_table != b_table:  # swap positions (seq), keeping each row's content
        conn.execute(f"UPDATE {a_table} SET seq = -1 WHERE seq = ?", (a[0],))
        conn.execute(f"UPDATE {b_table} SET seq = ? WHERE seq = ?", (a[0], b[0]))
        conn.execute(f"UPDATE {a_table} SET seq = ? WHERE seq = -1", (b[0],))
    else:  # swap contents, keeping positions and chain columns
        cols = _columns(conn, a_table)
        columns = [c for c in cols if c not in ("seq", "prev_hash", "row_hash", "mac")]
        for c in {"intent_id", "code", "txn_id"} & set(columns):
            parking = "'tmp-' || " + c if c != "txn_id" else "-1000000 - " + c
            conn.execute(f"UPDATE {a_table} SET {c} = {parking} WHERE seq = ?", (a[0],))
        assign = ", ".join(f"{c} = ?" for c in columns)
        conn.execute(f"UPDATE {a_table} SET {assign} WHERE seq = ?", [a[cols.index(c)] for c in columns] + [b[0]])
        conn.execute(f"UPDATE {a_table} SET {assign} WHERE seq = ?", [b[cols.index(c)] for c in columns] + [a[0]])
    return {a_table, b_table}


def _append_forged(conn: sqlite3.Connection, table: str, values: dict[str, Any], mac: Mac, move_head: bool) -> None:
    seq, prev = conn.execute("SELECT seq, row_hash FROM chain_head").fetchone()
    values = dict(values, seq=seq + 1)
    h = row_hash(table, {c: values[c] for c in CHAINED[table]}, prev)
    columns = list(CHAINED[table]) + ["prev_hash", "row_hash", "mac"]
    conn.execute(f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})",
                 [values[c] for c in CHAINED[table]] + [prev, h, mac.row(h)])
    if move_head:
        conn.execute("UPDATE chain_head SET seq = ?, row_hash = ?, mac = ?", (seq + 1, h, mac.row(h)))


def insert(conn: sqlite3.Connection, rng: random.Random) -> set[str]:
    how = rng.random()
    if how < 0.35:  # replay a booked transaction as new rows with a correct chain but no key
        txn = conn.execute("SELECT * FROM transactions ORDER BY random() LIMIT 1").fetchone()
        if txn is None:
            return set()
        cols = _columns(conn, "transactions")
        values = dict(zip(cols, txn))
        values["intent_id"] = values["intent_id"][:-4] + "beef"
        values["card_counter"] = (values["card_counter"] or 0) + 1000
        _append_forged(conn, "transactions", values, FORGER, move_head=True)
        new_txn = conn.execute("SELECT seq FROM chain_head").fetchone()[0]
        for p in conn.execute("SELECT account, amount_fen, line FROM postings WHERE txn_id = ?", (txn[0],)).fetchall():
            _append_forged(conn, "postings", {"txn_id": new_txn, "line": p[2], "account": p[0], "amount_fen": p[1]},
                           FORGER, move_head=True)
        return {"transactions", "postings", "chain_head"}
    if how < 0.7:  # a copy of an existing row, appended or squeezed into a gap-free position
        table = _chained_table(conn, rng)
        row = _pick_row(conn, rng, table)
        cols = _columns(conn, table)
        values = list(row)
        for c in ("intent_id", "code"):
            if c in cols and table in ("intents", "accounts"):
                values[cols.index(c)] = values[cols.index(c)] + "-copy"
        if table in ("resolutions", "outbox"):
            return set()  # their unique key refuses a plain copy; covered by the forged inserts
        head = conn.execute("SELECT seq FROM chain_head").fetchone()[0]
        values[0] = head + 1 if rng.random() < 0.5 else -rng.randint(1, 5)
        conn.execute(f"INSERT INTO {table} VALUES ({', '.join('?' * len(values))})", values)
        if values[0] > 0 and rng.random() < 0.5:
            conn.execute("UPDATE chain_head SET seq = ?, row_hash = ?", (values[0], values[cols.index("row_hash")]))
        return {table, "chain_head"}
    # a new, well-formed posting pair with a forged key
    txn = conn.execute("SELECT seq FROM transactions ORDER BY random() LIMIT 1").fetchone()
    if txn is None:
        return set()
    amount = rng.randint(1, 10_000)
    _append_forged(conn, "postings", {"txn_id": txn[0], "line": 9, "account": "cash_drawer", "amount_fen": amount},
                   FORGER, move_head=True)
    _append_forged(conn, "postings", {"txn_id": txn[0], "line": 10, "account": "revenue:goods", "amount_fen": -amount},
                   FORGER, move_head=rng.random() < 0.8)
    return {"postings", "chain_head"}


def rewrite(conn: sqlite3.Connection, rng: random.Random) -> set[str]:
    """Change something, then recompute the whole chain (hashes, macs with a forged key, the head)."""
    edit(conn, rng)
    rows = []
    for table, columns in CHAINED.items():
        for r in conn.execute(f"SELECT {', '.join(columns)} FROM {table}"):
            rows.append((r[0], table, dict(zip(columns, r))))
    prev = "0" * 64
    for seq, table, values in sorted(rows, key=lambda x: (x[0] is None, x[0] or 0)):
        h = row_hash(table, values, prev)
        conn.execute(f"UPDATE {table} SET prev_hash = ?, row_hash = ?, mac = ? WHERE seq IS ?", (prev, h, FORGER.row(h), seq))
        prev = h
    conn.execute("UPDATE chain_head SET row_hash = ?, seq = ?", (prev, max((r[0] or 0) for r in rows)))
    return set(CHAINED) | {"chain_head"}


MUTATIONS: dict[str, Callable[[sqlite3.Connection, random.Random], set[str]]] = {
    "edit": edit, "edit_derived": edit_derived, "delete": delete, "reorder": reorder, "insert": insert,
    "rewrite": rewrite,
}
WEIGHTS = {"edit": 40, "edit_derived": 10, "delete": 15, "reorder": 15, "insert": 15, "rewrite": 5}


def dump(conn: sqlite3.Connection) -> dict[str, list[tuple]]:
    """Every chained and derived table's rows (to tell a real change from a no-op)."""
    return {t: table_rows(conn, t) for t in list(CHAINED) + list(DERIVED)}


def mutate(conn: sqlite3.Connection, rng: random.Random, kind: str, before: dict[str, list[tuple]]) -> bool:
    """Apply one mutation of `kind` inside the caller's open transaction, to a trigger-less ledger whose
    `dump` is `before`; True if a table changed (a mutation refused by a constraint counts as no change).
    The caller rolls the transaction back afterwards, so one connection serves every case."""
    conn.execute("SAVEPOINT mutation")
    try:
        touched = MUTATIONS[kind](conn, rng)
    except sqlite3.IntegrityError:
        conn.execute("ROLLBACK TO mutation")
        touched = set()
    conn.execute("RELEASE mutation")
    return any(table_rows(conn, t) != before[t] for t in touched)
