"""The hash chain, format v1 (documented in docs/ledger.md, "Chain format v1").

    payload  = canonical JSON of {"t": <table>, <column>: <value>, ...} over the table's hashed columns
    row_hash = hex(SHA-256(b"ykt-ledger/1\\n" || payload || b"\\n" || prev_hash))      (prev_hash as 64 hex chars)
    mac      = hex(HMAC-SHA256(key, b"ykt-ledger/1 row " || row_hash))
    head mac = hex(HMAC-SHA256(key, b"ykt-ledger/1 head " || canonical JSON of
               {"meta": {every meta key: value}, "row_hash": <last row_hash>, "seq": <last seq>}))

The first row's prev_hash is GENESIS (64 zeros). Rows of all chained tables share one sequence.
"""

from __future__ import annotations

import hashlib
import hmac
import sqlite3
from collections.abc import Sequence
from typing import Any

from .canonical import canonical_bytes, encode_row_unchecked
from .schema import CHAINED

CHAIN_VERSION = 1
GENESIS = "0" * 64
ROW_PREFIX = b"ykt-ledger/1\n"
MAC_ROW_PREFIX = b"ykt-ledger/1 row "
MAC_HEAD_PREFIX = b"ykt-ledger/1 head "
KEY_ID_LABEL = b"ykt-ledger/1 key-id"


def row_hash(table: str, values: dict[str, Any], prev_hash: str) -> str:
    """row_hash of a row given as {column: value} over exactly the table's hashed columns."""
    payload = dict(values)
    payload["t"] = table
    return hashlib.sha256(ROW_PREFIX + encode_row_unchecked(payload) + b"\n" + prev_hash.encode("ascii")).hexdigest()


class Mac:
    """HMAC-SHA256 under the per-terminal key. The key never leaves this object (and never enters the DB)."""

    __slots__ = ("_key", "_inner", "_outer", "_meta_items", "_meta_json")

    def __init__(self, key: bytes) -> None:
        if not isinstance(key, bytes) or not 32 <= len(key) <= 64:
            raise ValueError("the ledger key must be 32 to 64 bytes")
        self._key = key
        # HMAC-SHA256 (RFC 2104) with the padded-key states precomputed: the same MAC, twice as fast per row.
        block = key.ljust(64, b"\0")
        self._inner = hashlib.sha256(bytes(b ^ 0x36 for b in block))
        self._outer = hashlib.sha256(bytes(b ^ 0x5C for b in block))
        self._meta_items: tuple[tuple[str, str], ...] | None = None  # the meta last encoded for a head MAC
        self._meta_json = b""

    def __repr__(self) -> str:
        return f"Mac(key_id={self.key_id()})"

    def key_id(self) -> str:
        """A public fingerprint of the key (stored in meta so a wrong key file is named as such)."""
        return hmac.new(self._key, KEY_ID_LABEL, hashlib.sha256).hexdigest()[:16]

    def _hmac(self, message: bytes) -> str:
        inner = self._inner.copy()
        inner.update(message)
        outer = self._outer.copy()
        outer.update(inner.digest())
        return outer.hexdigest()

    def row(self, row_hash_hex: str) -> str:
        return self._hmac(MAC_ROW_PREFIX + row_hash_hex.encode("ascii"))

    def head(self, *, seq: int, row_hash_hex: str, meta: dict[str, str]) -> str:
        """MAC of the chain head; it covers the whole meta table (terminal id, versions, key id, creation)."""
        if not isinstance(seq, int) or isinstance(seq, bool) or not isinstance(row_hash_hex, str):
            body = canonical_bytes({"meta": meta, "row_hash": row_hash_hex, "seq": seq})
            return self._hmac(MAC_HEAD_PREFIX + body)
        items = tuple(meta.items())
        if items != self._meta_items:  # the meta table rarely changes: its canonical JSON is kept
            self._meta_json = canonical_bytes(meta)
            self._meta_items = items
        # canonical JSON of {"meta": …, "row_hash": …, "seq": …} (keys in code-point order), assembled
        body = b'{"meta":' + self._meta_json + b',"row_hash":' + canonical_bytes(row_hash_hex) + b',"seq":' + str(seq).encode("ascii") + b"}"
        return self._hmac(MAC_HEAD_PREFIX + body)

    def check_row(self, row_hash_hex: str, mac_hex: object) -> bool:
        return isinstance(mac_hex, str) and hmac.compare_digest(self.row(row_hash_hex).encode(), mac_hex.encode())

    def check_head(self, *, seq: int, row_hash_hex: str, meta: dict[str, str], mac_hex: object) -> bool:
        expected = self.head(seq=seq, row_hash_hex=row_hash_hex, meta=meta)
        return isinstance(mac_hex, str) and hmac.compare_digest(expected.encode(), mac_hex.encode())


def _insert_sql(table: str) -> str:
    columns = CHAINED[table] + ("prev_hash", "row_hash", "mac")
    return f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})"


_INSERT = {table: _insert_sql(table) for table in CHAINED}  # constant text: sqlite3 reuses the prepared statement


class ChainWriter:
    """Appends chained rows inside the caller's open SQLite transaction, then stores the new head."""

    def __init__(self, conn: sqlite3.Connection, mac: Mac, meta: dict[str, str]) -> None:
        self._conn = conn
        self._mac = mac
        self._meta = meta
        row = conn.execute("SELECT seq, row_hash FROM chain_head WHERE id = 1").fetchone()
        self.seq: int = 0 if row is None else row[0]
        self.hash: str = GENESIS if row is None else row[1]
        self._has_head = row is not None
        self.appended = 0

    def next_seq(self) -> int:
        return self.seq + 1

    def append(self, table: str, values: dict[str, Any]) -> int:
        """Insert one chained row (all hashed columns but seq given in `values`); return its seq."""
        return self.append_many(table, (values,))

    def append_many(self, table: str, many: Sequence[dict[str, Any]]) -> int:
        """Insert chained rows of one table in order, in one executemany; return the first row's seq."""
        columns = CHAINED[table]
        first = self.seq + 1
        seq, prev = self.seq, self.hash
        params = []
        for values in many:
            seq += 1
            row = {c: values[c] for c in columns if c != "seq"}
            row["seq"] = seq
            h = row_hash(table, row, prev)
            params.append([row[c] for c in columns] + [prev, h, self._mac.row(h)])
            prev = h
        if len(params) == 1:
            self._conn.execute(_INSERT[table], params[0])
        else:
            self._conn.executemany(_INSERT[table], params)
        self.seq, self.hash = seq, prev
        self.appended += len(params)
        return first

    def store_head(self) -> None:
        mac = self._mac.head(seq=self.seq, row_hash_hex=self.hash, meta=self._meta)
        if self._has_head:
            self._conn.execute("UPDATE chain_head SET seq = ?, row_hash = ?, mac = ? WHERE id = 1", (self.seq, self.hash, mac))
        else:
            self._conn.execute("INSERT INTO chain_head (id, seq, row_hash, mac) VALUES (1, ?, ?, ?)", (self.seq, self.hash, mac))
            self._has_head = True
