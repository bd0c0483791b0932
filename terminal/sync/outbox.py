"""Reading the ledger's outbox as upload records (terminal/clearing/records.py describes the format).

Each committed transaction once, in commit order, with its postings, the outbox row's chain hash, the
intent's details and — for card transactions booked by `terminal.booking` — the purse fields the TAC
covers (app serial, issuer code, algorithm, key version, balance before) from the stored attempt.
"""

from __future__ import annotations

import bisect
import json
import sqlite3
from typing import Any, Protocol

ATTEMPT = "attempt"

_SELECT = (
    "SELECT o.seq, o.row_hash, t.seq, t.intent_id, t.kind, t.amount_fen, t.card_serial, t.card_counter, t.txn_type,"
    " t.tac, t.terminal_seq, t.card_time, t.operator, t.business_day, t.committed_at, i.details"
    " FROM outbox o JOIN transactions t ON t.seq = o.txn_id JOIN intents i ON i.intent_id = t.intent_id"
    " WHERE o.seq > ? ORDER BY o.seq LIMIT ?"
)


class RecordSource(Protocol):
    def records_after(self, seq: int, limit: int) -> list[dict[str, Any]]: ...

    def count_after(self, seq: int) -> int: ...

    def last_seq(self) -> int: ...


def card_block(details: dict[str, Any]) -> dict[str, Any] | None:
    attempt = details.get(ATTEMPT)
    if not isinstance(attempt, dict):
        return None
    version = attempt.get("set_version", attempt.get("key_version"))
    purpose = details.get("purpose")
    return {
        "app_serial": attempt.get("app_serial"), "issuer_code": attempt.get("issuer_code"), "alg": attempt.get("alg"),
        "key_version": version, "balance_before": attempt.get("balance_before"), "purse": attempt.get("purse"),
        "purpose": purpose if isinstance(purpose, str) else None,
    }


class LedgerSource:
    """Upload records from a ledger database, through a connection of the sync client's own."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn

    def last_seq(self) -> int:
        return int(self._conn.execute("SELECT COALESCE(MAX(seq), 0) FROM outbox").fetchone()[0])

    def count_after(self, seq: int) -> int:
        return int(self._conn.execute("SELECT COUNT(*) FROM outbox WHERE seq > ?", (seq,)).fetchone()[0])

    def records_after(self, seq: int, limit: int) -> list[dict[str, Any]]:
        conn = self._conn
        rows = conn.execute(_SELECT, (seq, limit)).fetchall()
        if not rows:
            return []
        prev = int(conn.execute("SELECT COALESCE(MAX(seq), 0) FROM outbox WHERE seq < ?", (rows[0][0],)).fetchone()[0])
        txn_ids = [r[2] for r in rows]
        lines: dict[int, list[list[Any]]] = {t: [] for t in txn_ids}
        for start in range(0, len(txn_ids), 500):
            chunk = txn_ids[start:start + 500]
            for txn_id, account, amount in conn.execute(
                f"SELECT txn_id, account, amount_fen FROM postings WHERE txn_id IN ({', '.join('?' * len(chunk))})"
                " ORDER BY txn_id, line", chunk,
            ):
                lines[txn_id].append([account, amount])
        out: list[dict[str, Any]] = []
        for (oseq, row_hash, txn_id, intent_id, kind, amount, serial, counter, ttype, tac, tseq, ctime, operator,
             day, committed, details_text) in rows:
            details = json.loads(details_text) if details_text else {}
            card = card_block(details) if serial is not None and ttype is not None else None
            out.append({
                "seq": oseq, "prev_seq": prev, "txn_id": txn_id, "intent_id": intent_id, "kind": kind,
                "amount_fen": amount, "card_serial": serial, "card_counter": counter, "txn_type": ttype, "tac": tac,
                "terminal_seq": tseq, "card_time": ctime, "operator": operator, "business_day": day,
                "committed_at": committed, "postings": lines[txn_id], "row_hash": row_hash,
                "details": {k: v for k, v in details.items() if k != ATTEMPT}, "card": card,
            })
            prev = oseq
        return out


class ListSource:
    """Records held in memory (tests and simulations that build records themselves)."""

    def __init__(self, records: list[dict[str, Any]]) -> None:
        self.records = sorted(records, key=lambda r: r["seq"])
        self._seqs = [r["seq"] for r in self.records]

    def last_seq(self) -> int:
        return self._seqs[-1] if self._seqs else 0

    def count_after(self, seq: int) -> int:
        return len(self._seqs) - bisect.bisect_right(self._seqs, seq)

    def records_after(self, seq: int, limit: int) -> list[dict[str, Any]]:
        start = bisect.bisect_right(self._seqs, seq)
        return self.records[start:start + limit]
