"""`Syncer`: upload the ledger outbox in batches from the server's cursor, retry with backoff, remember what
the server acknowledged, then download and apply newer hotlist / policy / fares (docs/clearing.md "Sync").

Resuming: every sync first asks the server for its cursor (the last outbox seq it holds without a gap) and
sends from there, so a lost answer, a crash, a restored backup or days offline all end the same way: the
server gets each record at least once and stores it exactly once (ingest is idempotent).

Example::

    >>> with open_syncer(ledger_path, "http://127.0.0.1:8780", key_file) as syncer:   # doctest: +SKIP
    ...     report = syncer.sync()
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from . import updates as upd
from .errors import RefusedError, SyncError, TransientError
from .outbox import LedgerSource, RecordSource
from .state import SyncState
from .transport import HttpTransport, Transport

log = logging.getLogger(__name__)
T = TypeVar("T")


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff with jitter: delay = min(max_delay, base · factor^(n−1)) · uniform(0.5, 1)."""

    attempts: int = 8
    base: float = 0.5
    factor: float = 2.0
    max_delay: float = 30.0

    def delay(self, attempt: int, rng: random.Random) -> float:
        return min(self.max_delay, self.base * self.factor ** (attempt - 1)) * rng.uniform(0.5, 1.0)


@dataclass
class SyncReport:
    sent: int = 0
    batches: int = 0
    new: int = 0
    duplicates: int = 0
    quarantined: list[dict[str, Any]] = field(default_factory=list)
    conflicts: list[dict[str, Any]] = field(default_factory=list)
    retries: int = 0
    cursor: int = 0
    last_seq: int = 0
    applied: list[upd.Applied] = field(default_factory=list)

    @property
    def complete(self) -> bool:
        return self.cursor >= self.last_seq

    def to_json(self) -> dict[str, Any]:
        return {"sent": self.sent, "batches": self.batches, "new": self.new, "duplicates": self.duplicates,
                "quarantined": self.quarantined, "conflicts": self.conflicts, "retries": self.retries,
                "cursor": self.cursor, "last_seq": self.last_seq, "complete": self.complete,
                "applied": [{"kind": a.kind, "from": a.old_version, "to": a.new_version} for a in self.applied]}


class Syncer:
    def __init__(
        self,
        source: RecordSource,
        transport: Transport,
        *,
        state: SyncState | None = None,
        home: str | Path | None = None,
        batch_size: int = 500,
        retry: RetryPolicy = RetryPolicy(),
        sleep: Callable[[float], None] = time.sleep,
        progress: Callable[[int, int], None] | None = None,
        rng: random.Random | None = None,
    ) -> None:
        if not 1 <= batch_size <= 5_000:
            raise ValueError("batch size: 1 to 5000 records")
        self.source = source
        self.transport = transport
        self.state = state
        self.home = Path(home) if home is not None else None
        self.batch_size = batch_size
        self.retry = retry
        self._sleep = sleep
        self._progress = progress
        self._rng = rng or random.Random()
        self._retries = 0

    def _call(self, what: str, fn: Callable[[], T]) -> T:
        for attempt in range(1, self.retry.attempts + 1):
            try:
                return fn()
            except TransientError as exc:
                if attempt == self.retry.attempts:
                    raise SyncError(f"{what}: {exc}; gave up after {attempt} attempts (the next sync resumes here)") from None
                delay = self.retry.delay(attempt, self._rng)
                log.info("%s failed (%s); retry %d in %.2f s", what, exc, attempt, delay)
                self._retries += 1
                self._sleep(delay)
        raise AssertionError("unreachable")  # pragma: no cover

    def upload(self, report: SyncReport | None = None) -> SyncReport:
        """Send every record after the server's cursor; returns when the server holds them all."""
        report = report or SyncReport()
        self._retries = 0
        cursor = self._call("asking the server's cursor", self.transport.cursor)
        report.last_seq = self.source.last_seq()
        if cursor > report.last_seq:
            log.warning("the server holds outbox seq %d, beyond this ledger's last %d (a restored backup?)",
                        cursor, report.last_seq)
        total = self.source.count_after(cursor)
        done = 0
        while True:
            records = self.source.records_after(cursor, self.batch_size)
            if not records:
                break
            ack = self._call(f"uploading outbox seq {records[0]['seq']}–{records[-1]['seq']}",
                             lambda: self.transport.upload(records))
            new_cursor = int(ack["cursor"])
            if self.state is not None:
                self.state.acknowledge(records[0]["seq"], records[-1]["seq"], ack, len(records))
            report.batches += 1
            report.sent += len(records)
            report.new += int(ack.get("new", 0))
            report.duplicates += int(ack.get("duplicates", 0))
            report.quarantined += list(ack.get("quarantined", ()))
            report.conflicts += list(ack.get("conflicts", ()))
            if new_cursor <= cursor:
                raise SyncError(f"the server's cursor stays at {new_cursor} after outbox seq {records[0]['seq']}–"
                                f"{records[-1]['seq']}: it misses a record before them (see the server's log)")
            done += sum(1 for r in records if r["seq"] <= new_cursor)
            cursor = new_cursor
            if self._progress is not None:
                self._progress(min(done, total), total)
        report.cursor = cursor
        report.retries += self._retries
        return report

    def apply_updates(self, report: SyncReport | None = None) -> SyncReport:
        """Download the hotlist / policy / fares versions newer than the installed ones and apply each atomically."""
        report = report or SyncReport()
        if self.home is None:
            return report
        latest = self._call("asking for updates", self.transport.updates)
        for kind in upd.KINDS:
            offered = latest.get(kind)
            if not isinstance(offered, dict):
                continue
            version = int(offered["version"])
            if version <= upd.installed_version(self.home, kind):
                continue
            content = self._call(f"downloading {kind} v{version}", lambda: self.transport.artifact(kind, version))
            report.applied.append(upd.apply(self.home, kind, version, content))
            log.info("%s version %d applied", kind, version)
        return report

    def sync(self, *, upload: bool = True, updates: bool = True) -> SyncReport:
        report = SyncReport()
        try:
            if upload:
                self.upload(report)
            if updates:
                self.apply_updates(report)
        except (SyncError, RefusedError) as exc:
            if self.state is not None:
                self.state.set(last_error=str(exc)[:500])
            raise
        if self.state is not None:
            self.state.set(last_sync_at=_utc_now(), last_error="")
        return report


def _utc_now() -> str:
    import datetime as _dt

    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")


def default_key_path(ledger_path: str | Path) -> Path:
    """The terminal's sync key file: `<ledger>.sync-key` next to the ledger (64 hex digits, 0600)."""
    p = Path(ledger_path)
    return p.with_name(p.name + ".sync-key")


@contextmanager
def open_syncer(ledger_path: str | Path, server: str | None, key_file: str | Path | None = None, *,
                client: Any = None, **kwargs: Any) -> Iterator[Syncer]:
    """A Syncer over the ledger at `ledger_path` and the service at `server` (or the one saved before)."""
    from terminal.clearing.auth import read_key_file
    from terminal.ledger import Ledger

    with Ledger.open(ledger_path, create=False) as ledger:
        terminal_id = ledger.terminal_id
    state = SyncState(ledger_path)
    try:
        url = server or state.get("server")
        if not url:
            raise SyncError("no server: give --server URL (it is remembered for the next sync)")
        key = read_key_file(key_file or default_key_path(ledger_path))
        transport = HttpTransport(url, terminal_id, key, client=client)
        if server and server != state.get("server"):
            state.set(server=server)
        kwargs.setdefault("home", Path(ledger_path).parent)
        yield Syncer(LedgerSource(state.conn), transport, state=state, **kwargs)
    finally:
        state.close()
