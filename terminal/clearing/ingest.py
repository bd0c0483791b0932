"""Ingest of one upload batch: idempotent, order-free, exactly once (docs/clearing.md "Ingest").

In one database transaction:

1. every record is placed by its (seq, prev_seq); a record without them refuses the whole batch;
2. a seq the server already holds is a *duplicate* when its content digest is the same (nothing written) and
   a *conflict* when it differs (nothing written, an incident is recorded: the first version stays);
3. a new record is parsed and, if it is a card transaction, its TAC recomputed with the issuer's keys; a bad
   record, a bad TAC or a card transaction (card serial, counter, type) already cleared is stored
   **quarantined** with the reason (kept, never settled); the rest are stored **valid** with their postings;
4. the terminal's cursor follows the prev_seq chain from where it was as far as the stored records reach.

Batches may arrive in any order, twice, cut short or after days: the stored set is the union of what
arrived, each record once, and the cursor only moves over an unbroken chain — the terminal resends from it.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from .clock import iso_now
from .db import Database
from .errors import BatchRejected
from .records import Record, RecordError, chain_position, digest_of, parse, salvage
from .verify import TacVerifier

log = logging.getLogger(__name__)

MAX_BATCH = 5_000
_CHUNK = 300

_TXN_COLUMNS = (
    "terminal_id", "seq", "prev_seq", "txn_id", "intent_id", "kind", "amount_fen", "card_serial", "card_counter",
    "txn_type", "tac", "terminal_seq", "card_time", "operator", "business_day", "committed_at", "app_serial",
    "issuer_code", "alg", "key_version", "balance_before", "purpose", "row_hash", "details", "digest", "status",
    "reason", "batch_id", "received_at",
)
_POSTING_COLUMNS = ("terminal_id", "seq", "line", "account", "amount_fen")


@dataclass
class BatchResult:
    """The server's answer to an upload: the cursor to resume from and what happened to each record."""

    cursor: int
    received: int = 0
    new: int = 0
    duplicates: int = 0
    quarantined: list[tuple[int, str]] = field(default_factory=list)
    conflicts: list[tuple[int, str]] = field(default_factory=list)
    batch_id: int | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "cursor": self.cursor, "received": self.received, "new": self.new, "duplicates": self.duplicates,
            "quarantined": [{"seq": s, "reason": r} for s, r in self.quarantined],
            "conflicts": [{"seq": s, "reason": r} for s, r in self.conflicts], "batch_id": self.batch_id,
        }


def _chunks(items: Sequence[Any], size: int = _CHUNK) -> list[Sequence[Any]]:
    return [items[i:i + size] for i in range(0, len(items), size)]


def current_cursor(db: Database, terminal_id: str) -> int:
    return int(db.scalar("SELECT cursor FROM cursors WHERE terminal_id = ?", (terminal_id,), 0))


def ingest_batch(db: Database, verifier: TacVerifier, terminal_id: str, records: Sequence[Any]) -> BatchResult:
    """Store one batch from `terminal_id` (already authenticated). Retries once on a unique-key race."""
    if not isinstance(records, (list, tuple)):
        raise BatchRejected("records: a JSON array is needed")
    if len(records) > MAX_BATCH:
        raise BatchRejected(f"{len(records)} records in one batch; at most {MAX_BATCH}")
    placed: list[tuple[int, int, Any]] = []
    for index, obj in enumerate(records):
        try:
            seq, prev = chain_position(obj)
        except RecordError as exc:
            raise BatchRejected(f"record {index}: {exc}") from None
        placed.append((seq, prev, obj))
    for attempt in (1, 2):
        try:
            with db.transaction():
                return _ingest(db, verifier, terminal_id, placed)
        except db.IntegrityError:
            if attempt == 2:
                raise
            log.info("unique-key race while ingesting for %s; retrying the batch", terminal_id)
    raise AssertionError("unreachable")  # pragma: no cover


def _ingest(db: Database, verifier: TacVerifier, terminal_id: str, placed: list[tuple[int, int, Any]]) -> BatchResult:
    now = iso_now()
    db.execute("INSERT INTO cursors (terminal_id, cursor, updated_at) VALUES (?, 0, ?) ON CONFLICT DO NOTHING",
               (terminal_id, now))
    lock = " FOR UPDATE" if db.dialect == "postgres" else ""
    cursor = int(db.scalar(f"SELECT cursor FROM cursors WHERE terminal_id = ?{lock}", (terminal_id,), 0))
    result = BatchResult(cursor=cursor, received=len(placed))
    result.batch_id = db.scalar(
        "INSERT INTO batches (terminal_id, received_at, records, new, duplicates, quarantined, conflicts, cursor)"
        " VALUES (?, ?, ?, 0, 0, 0, 0, ?) RETURNING batch_id", (terminal_id, now, len(placed), cursor))

    held = _held(db, terminal_id, sorted({s for s, _, _ in placed}))
    fresh: dict[int, tuple[int, Any, str]] = {}
    incidents: list[tuple[int, str]] = []
    for seq, prev, obj in placed:
        digest = digest_of(obj)
        known = held.get(seq) or (fresh[seq][2] if seq in fresh else None)
        if known is None:
            fresh[seq] = (prev, obj, digest)
        elif known == digest:
            result.duplicates += 1
        else:
            reason = "retransmission with other content than the record already received (the first one stands)"
            result.conflicts.append((seq, reason))
            incidents.append((seq, reason))

    rows: list[tuple[Any, ...]] = []
    postings: list[tuple[Any, ...]] = []
    batch_keys: dict[tuple[str, int, int], int] = {}
    candidates: list[tuple[Record, list[Any]]] = []
    for seq in sorted(fresh):
        prev, obj, digest = fresh[seq]
        try:
            record = parse(obj, digest)
        except RecordError as exc:
            kept = salvage(obj)
            row = [terminal_id, seq, prev, *(kept.get(c) for c in _TXN_COLUMNS[3:16]),
                   None, None, None, None, None, None, None, canonical_details(obj), digest, "quarantined",
                   f"malformed record: {exc}", result.batch_id, now]
            rows.append(tuple(row))
            result.quarantined.append((seq, row[26]))
            continue
        reason = None
        if record.card_serial is not None and record.txn_type is not None and record.card_counter is None:
            reason = "card transaction without its card counter"
        elif record.is_card:
            reason = verifier.check(record, terminal_id)
            key = (record.card_serial, record.card_counter, record.txn_type)
            if reason is None and key in batch_keys:
                reason = f"duplicate card transaction: the same card counter as seq {batch_keys[key]} of this batch"
            if reason is None:
                batch_keys[key] = seq  # type: ignore[index]
        row = _row(terminal_id, record, reason, now, result.batch_id)
        candidates.append((record, row))
    # card transactions already cleared (by any terminal): quarantined, never settled twice
    cleared = _cleared(db, list(batch_keys))
    for record, row in candidates:
        key = (record.card_serial, record.card_counter, record.txn_type)
        if row[26] is None and key in cleared:
            term, seq = cleared[key]  # type: ignore[index]
            row[25], row[26] = "quarantined", f"duplicate card transaction: already cleared from terminal {term} seq {seq}"
        if row[25] == "quarantined":
            result.quarantined.append((record.seq, row[26]))
        else:
            postings.extend((terminal_id, record.seq, line, account, amount)
                            for line, (account, amount) in enumerate(record.postings, 1))
        rows.append(tuple(row))

    db.insert_rows("txns", _TXN_COLUMNS, rows)
    db.insert_rows("postings", _POSTING_COLUMNS, postings)
    result.new = len(rows)
    if incidents:
        db.executemany("INSERT INTO incidents (terminal_id, seq, kind, reason, at) VALUES (?, ?, 'conflict', ?, ?)",
                       [(terminal_id, s, r, now) for s, r in incidents])
    result.cursor = _advance(db, terminal_id, cursor, {prev: seq for seq, prev, _ in placed})
    if result.cursor != cursor:
        db.execute("UPDATE cursors SET cursor = ?, updated_at = ? WHERE terminal_id = ?", (result.cursor, now, terminal_id))
    db.execute("UPDATE batches SET new = ?, duplicates = ?, quarantined = ?, conflicts = ?, cursor = ? WHERE batch_id = ?",
               (result.new, result.duplicates, len(result.quarantined), len(result.conflicts), result.cursor,
                result.batch_id))
    return result


def _held(db: Database, terminal_id: str, seqs: list[int]) -> dict[int, str]:
    """seq -> digest of the records of `seqs` the server holds for the terminal (primary-key lookups).
    PostgreSQL: one query per batch, a lateral point lookup per seq (LIMIT 1 keeps the planner from turning
    it into a scan of all the terminal's rows); SQLite: IN lists."""
    if db.dialect == "postgres":
        return dict(db.query("SELECT k.seq, t.digest FROM unnest(?::bigint[]) AS k(seq) CROSS JOIN LATERAL"
                             " (SELECT digest FROM txns WHERE terminal_id = ? AND seq = k.seq LIMIT 1) t",
                             (seqs, terminal_id)))
    held: dict[int, str] = {}
    for chunk in _chunks(seqs):
        held.update(db.query(f"SELECT seq, digest FROM txns WHERE terminal_id = ? AND seq IN ({', '.join('?' * len(chunk))})",
                             (terminal_id, *chunk)))
    return held


def _cleared(db: Database, keys: list[tuple[str, int, int]]) -> dict[tuple[str, int, int], tuple[str, int]]:
    """(card serial, counter, type) -> (terminal, seq) of the valid transactions with one of `keys`.
    PostgreSQL: one query per batch, a lateral point lookup per key on the partial unique index (LIMIT 1 — the
    index allows one row anyway — keeps the planner from hashing every valid row, which grew with the table);
    SQLite: _cleared_sql in chunks."""
    cleared: dict[tuple[str, int, int], tuple[str, int]] = {}
    if not keys:
        return cleared
    if db.dialect == "postgres":
        rows = db.query(
            "SELECT k.s, k.c, k.y, t.terminal_id, t.seq FROM unnest(?::text[], ?::bigint[], ?::integer[]) AS k(s, c, y)"
            " CROSS JOIN LATERAL (SELECT terminal_id, seq FROM txns WHERE status = 'valid' AND card_counter IS NOT NULL"
            " AND card_serial = k.s AND card_counter = k.c AND txn_type = k.y LIMIT 1) t",
            ([k[0] for k in keys], [k[1] for k in keys], [k[2] for k in keys]))
    else:
        rows = [row for chunk in _chunks(keys, 100)
                for row in db.query(_cleared_sql(db.dialect, len(chunk)), [v for k in chunk for v in k])]
    for serial, counter, ttype, term, seq in rows:
        cleared[(serial, counter, ttype)] = (term, seq)
    return cleared


def _cleared_sql(dialect: str, n: int) -> str:
    """Valid transactions with one of `n` natural keys. PostgreSQL takes a row-value IN list; SQLite plans that
    as an index scan, so it gets a UNION ALL of point lookups on the partial unique index."""
    head = ("SELECT card_serial, card_counter, txn_type, terminal_id, seq FROM txns WHERE status = 'valid'"
            " AND card_counter IS NOT NULL")
    if dialect == "postgres":
        return f"{head} AND (card_serial, card_counter, txn_type) IN (VALUES {', '.join(['(?, ?, ?)'] * n)})"
    return " UNION ALL ".join([f"{head} AND card_serial = ? AND card_counter = ? AND txn_type = ?"] * n)


def _advance(db: Database, terminal_id: str, cursor: int, batch_links: dict[int, int]) -> int:
    """Follow prev_seq links from `cursor` over stored records (this batch's first, then the table)."""
    while True:
        nxt = batch_links.get(cursor)
        if nxt is not None:
            cursor = nxt
            continue
        found = db.scalar("SELECT MIN(seq) FROM txns WHERE terminal_id = ? AND prev_seq = ?", (terminal_id, cursor))
        if found is None:
            return cursor
        cursor = int(found)


def canonical_details(obj: Any) -> str:
    from .records import canonical

    details = obj.get("details") if isinstance(obj, dict) else None
    return canonical(details if isinstance(details, dict) else {})


def _row(terminal_id: str, r: Record, reason: str | None, now: str, batch_id: int | None) -> list[Any]:
    card = r.card
    return [
        terminal_id, r.seq, r.prev_seq, r.txn_id, r.intent_id, r.kind, r.amount_fen, r.card_serial, r.card_counter,
        r.txn_type, r.tac, r.terminal_seq, r.card_time, r.operator, r.business_day, r.committed_at,
        None if card is None else card.app_serial, None if card is None else card.issuer_code,
        None if card is None else card.alg, None if card is None else card.key_version,
        None if card is None else card.balance_before, None if card is None else card.purpose,
        r.row_hash, r.details, r.digest, "valid" if reason is None else "quarantined", reason, batch_id, now,
    ]
