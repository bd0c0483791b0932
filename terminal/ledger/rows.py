"""Reading ledger rows back into dataclasses (shared by the ledger, recovery and report)."""

from __future__ import annotations

import json
import sqlite3

from .model import Intent, OutboxEntry, Posting, Transaction

INTENT_COLUMNS = (
    "seq, intent_id, kind, amount_fen, card_serial, card_counter, txn_type, operator, business_day, created_at,"
    " state, reason, txn_id, details, planned_postings"
)
TXN_COLUMNS = (
    "seq, intent_id, kind, amount_fen, card_serial, card_counter, txn_type, tac, terminal_seq, card_time,"
    " operator, business_day, committed_at"
)


def postings_from_json(text: str) -> tuple[Posting, ...]:
    return tuple(Posting(account, amount) for account, amount in json.loads(text))


def intent_from_row(row: tuple) -> Intent:
    (seq, intent_id, kind, amount, serial, counter, txn_type, operator, day, created, state, reason, txn_id,
     details, planned) = row
    return Intent(
        intent_id=intent_id, seq=seq, kind=kind, amount_fen=amount, card_serial=serial, card_counter=counter,
        txn_type=txn_type, operator=operator, business_day=day, details=json.loads(details),
        planned_postings=postings_from_json(planned), created_at=created, state=state, reason=reason,
        txn_id=txn_id,
    )


def load_intent(conn: sqlite3.Connection, intent_id: str) -> Intent | None:
    row = conn.execute(f"SELECT {INTENT_COLUMNS} FROM v_intents WHERE intent_id = ?", (intent_id,)).fetchone()
    return None if row is None else intent_from_row(row)


_PENDING = (
    "SELECT i.seq, i.intent_id, i.kind, i.amount_fen, i.card_serial, i.card_counter, i.txn_type, i.operator,"
    " i.business_day, i.created_at, 'pending', NULL, NULL, i.details, i.planned_postings"
    " FROM open_intents o JOIN intents i ON i.intent_id = o.intent_id"
)


def load_pending(conn: sqlite3.Connection) -> list[Intent]:
    return [intent_from_row(r) for r in conn.execute(_PENDING + " ORDER BY i.seq")]


def load_open_intent(conn: sqlite3.Connection, intent_id: str) -> Intent | None:
    """The intent if it is pending (in open_intents), else None (unknown, committed or resolved)."""
    row = conn.execute(_PENDING + " WHERE o.intent_id = ?", (intent_id,)).fetchone()
    return None if row is None else intent_from_row(row)


def load_postings(conn: sqlite3.Connection, txn_id: int) -> tuple[Posting, ...]:
    rows = conn.execute("SELECT account, amount_fen FROM postings WHERE txn_id = ? ORDER BY line", (txn_id,))
    return tuple(Posting(a, v) for a, v in rows)


def txn_from_row(row: tuple, postings: tuple[Posting, ...]) -> Transaction:
    (seq, intent_id, kind, amount, serial, counter, txn_type, tac, tseq, ctime, operator, day, committed) = row
    return Transaction(
        txn_id=seq, intent_id=intent_id, kind=kind, amount_fen=amount, card_serial=serial, card_counter=counter,
        txn_type=txn_type, tac=tac, terminal_seq=tseq, card_time=ctime, operator=operator, business_day=day,
        committed_at=committed, postings=postings,
    )


def load_transaction(conn: sqlite3.Connection, where: str, params: tuple) -> Transaction | None:
    row = conn.execute(f"SELECT {TXN_COLUMNS} FROM transactions WHERE {where}", params).fetchone()
    return None if row is None else txn_from_row(row, load_postings(conn, row[0]))


def load_outbox(conn: sqlite3.Connection, after_seq: int, limit: int) -> list[OutboxEntry]:
    rows = conn.execute(
        "SELECT seq, txn_id, created_at FROM outbox WHERE seq > ? ORDER BY seq LIMIT ?", (after_seq, limit)
    )
    return [OutboxEntry(*r) for r in rows]
