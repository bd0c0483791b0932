"""Seen QR nonces, so that one QR code identifies once: in memory (one process) or in a SQLite file
(shared by the processes of one terminal, survives restarts). An entry is kept until its code has
expired (plus the allowed clock skew); after that the code is refused as expired anyway."""

from __future__ import annotations

import os
import sqlite3
import threading
from pathlib import Path
from typing import Protocol


class NonceStore(Protocol):
    def use(self, nonce: str, keep_until: int, now: int) -> bool:
        """Record `nonce` (kept until Unix second `keep_until`); False when it was already recorded."""
        ...


PRUNE_INTERVAL_S = 60


class MemoryNonceStore:
    """A dict of nonce → keep-until, pruned once a minute and whenever it has doubled since the last
    prune (amortised O(1) per use). Thread-safe."""

    def __init__(self) -> None:
        self._seen: dict[str, int] = {}
        self._lock = threading.Lock()
        self._prune_size = 1024
        self._prune_time: int | None = None

    def use(self, nonce: str, keep_until: int, now: int) -> bool:
        with self._lock:
            if self._prune_time is None:
                self._prune_time = now + PRUNE_INTERVAL_S
            if len(self._seen) >= self._prune_size or now >= self._prune_time:
                self._seen = {n: t for n, t in self._seen.items() if t >= now}
                self._prune_size = max(1024, 2 * len(self._seen))
                self._prune_time = now + PRUNE_INTERVAL_S
            until = self._seen.get(nonce)
            if until is not None and until >= now:
                return False
            self._seen[nonce] = keep_until
            return True

    def __len__(self) -> int:
        return len(self._seen)


class SqliteNonceStore:
    """Table `qr_nonce(nonce TEXT PRIMARY KEY, keep_until INTEGER)` with an index on keep_until. The
    insert is the check (a primary-key conflict means "seen"), so two processes cannot both accept one
    code. Expired rows are deleted on each use (cheap through the index)."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(self.path, timeout=5.0, isolation_level=None, check_same_thread=False)
        self._lock = threading.Lock()
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("CREATE TABLE IF NOT EXISTS qr_nonce (nonce TEXT PRIMARY KEY, keep_until INTEGER NOT NULL) WITHOUT ROWID")
        self._db.execute("CREATE INDEX IF NOT EXISTS qr_nonce_keep_until ON qr_nonce (keep_until)")

    def use(self, nonce: str, keep_until: int, now: int) -> bool:
        with self._lock:
            db = self._db
            db.execute("BEGIN IMMEDIATE")
            try:
                db.execute("DELETE FROM qr_nonce WHERE keep_until < ?", (now,))
                inserted = db.execute("INSERT OR IGNORE INTO qr_nonce (nonce, keep_until) VALUES (?, ?)", (nonce, keep_until)).rowcount
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                raise
            return inserted == 1

    def __len__(self) -> int:
        with self._lock:
            return int(self._db.execute("SELECT count(*) FROM qr_nonce").fetchone()[0])

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> SqliteNonceStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
