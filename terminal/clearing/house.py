"""The clearing house: one object over the database that the HTTP service, the CLI and the fleet simulation
share — terminal registry, request authentication, ingest, published updates, settlement.

Example::

    >>> house = ClearingHouse.open("clearing.sqlite")                      # doctest: +SKIP
    >>> key = house.add_terminal("310100000001", merchant_id="M-PHARMACY-1") # doctest: +SKIP
    >>> house.ingest("310100000001", records).cursor                         # doctest: +SKIP
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import auth, settlement
from .clock import iso_now, unix_now
from .db import Database
from .errors import AuthError, ClearingError, UnknownArtifact
from .ingest import BatchResult, current_cursor, ingest_batch
from .verify import TacVerifier

ARTIFACT_KINDS = ("hotlist", "policy", "fares")
FARES_FORMAT = "ykt-fares/1"
POLICY_FORMAT = "ykt-policy/1"


@dataclass(frozen=True)
class TerminalInfo:
    terminal_id: str
    merchant_id: str
    name: str
    enabled: bool
    created_at: str
    cursor: int


class ClearingHouse:
    def __init__(self, db: Database, verifier: TacVerifier | None = None, *, skew_s: int = auth.SKEW_S) -> None:
        self.db = db
        self.verifier = verifier or TacVerifier.from_test_keys()
        self.skew_s = skew_s
        self._requests = 0

    @classmethod
    def open(cls, url: str | Path, verifier: TacVerifier | None = None, **kwargs: Any) -> ClearingHouse:
        return cls(Database.open(url), verifier, **kwargs)

    def close(self) -> None:
        self.db.close()

    def __repr__(self) -> str:
        return f"ClearingHouse({self.db!r})"

    # ---------------------------------------------------------------- terminals
    def add_terminal(self, terminal_id: str, *, merchant_id: str, name: str = "", key: bytes | None = None) -> bytes:
        """Register a terminal (or give it a new key) and return its 32-byte HMAC key."""
        tid = auth.normalise_terminal(terminal_id)
        if not merchant_id or len(merchant_id) > 64:
            raise ValueError("merchant id: 1 to 64 characters")
        key = key or auth.new_key()
        with self.db.transaction():
            self.db.execute(
                "INSERT INTO terminals (terminal_id, key_hex, merchant_id, name, enabled, created_at) VALUES (?, ?, ?, ?, 1, ?)"
                " ON CONFLICT (terminal_id) DO UPDATE SET key_hex = excluded.key_hex, merchant_id = excluded.merchant_id,"
                " name = excluded.name, enabled = 1",
                (tid, key.hex(), merchant_id, name, iso_now()),
            )
        return key

    def set_enabled(self, terminal_id: str, enabled: bool) -> None:
        tid = auth.normalise_terminal(terminal_id)
        if not self.db.execute("UPDATE terminals SET enabled = ? WHERE terminal_id = ?", (int(enabled), tid)):
            raise ClearingError(f"no terminal {tid}")

    def terminals(self) -> list[TerminalInfo]:
        return [TerminalInfo(t, m, n, bool(e), c, int(k or 0)) for t, m, n, e, c, k in self.db.query(
            "SELECT t.terminal_id, t.merchant_id, t.name, t.enabled, t.created_at, c.cursor FROM terminals t"
            " LEFT JOIN cursors c ON c.terminal_id = t.terminal_id ORDER BY t.terminal_id")]

    def merchant_of(self, terminal_id: str) -> str | None:
        return self.db.scalar("SELECT merchant_id FROM terminals WHERE terminal_id = ?", (terminal_id,))

    # ---------------------------------------------------------------- authentication
    def authenticate(self, headers: Mapping[str, str], method: str, path: str, query: str, body: bytes) -> str:
        """The terminal id of a correctly signed, fresh, never-seen request; AuthError otherwise."""
        req = auth.parse_headers(headers)
        row = self.db.one("SELECT key_hex, enabled FROM terminals WHERE terminal_id = ?", (req.terminal,))
        if row is None:
            raise AuthError("unknown_terminal", f"unauthenticated: terminal {req.terminal} is not registered")
        auth.check_signature(bytes.fromhex(row[0]), req, method, path, query, body)
        if not row[1]:
            raise AuthError("disabled", f"terminal {req.terminal} is disabled")
        now = unix_now()
        auth.check_clock(req, now, self.skew_s)
        with self.db.transaction():
            self._requests += 1
            if self._requests % 500 == 0:
                self.db.execute("DELETE FROM nonces WHERE seen_at < ?", (now - 2 * self.skew_s,))
            fresh = self.db.execute("INSERT INTO nonces (terminal_id, nonce, seen_at) VALUES (?, ?, ?) ON CONFLICT DO NOTHING",
                                    (req.terminal, req.nonce, now))
        if fresh != 1:
            raise AuthError("replayed", "unauthenticated: this request was already received (replayed nonce)")
        return req.terminal

    # ---------------------------------------------------------------- ingest
    def ingest(self, terminal_id: str, records: Sequence[Any]) -> BatchResult:
        return ingest_batch(self.db, self.verifier, terminal_id, records)

    def cursor(self, terminal_id: str) -> int:
        return current_cursor(self.db, terminal_id)

    # ---------------------------------------------------------------- published updates
    def publish(self, kind: str, version: int, content: bytes) -> dict[str, Any]:
        """Publish a new version of the hotlist, the policy or the fares; versions only go up."""
        if kind not in ARTIFACT_KINDS:
            raise ValueError(f"kind is one of {', '.join(ARTIFACT_KINDS)}")
        if isinstance(version, bool) or not isinstance(version, int) or not 0 < version < 2**62:
            raise ValueError("version: a positive whole number")
        check_artifact(kind, version, content)
        digest = hashlib.sha256(content).hexdigest()
        with self.db.transaction():
            latest = int(self.db.scalar("SELECT MAX(version) FROM artifacts WHERE kind = ?", (kind,), 0))
            if version <= latest:
                raise ClearingError(f"{kind} version {version} is not newer than the published version {latest}")
            self.db.execute("INSERT INTO artifacts (kind, version, sha256, size, created_at, content) VALUES (?, ?, ?, ?, ?, ?)",
                            (kind, version, digest, len(content), iso_now(), content))
        return {"kind": kind, "version": version, "sha256": digest, "size": len(content)}

    def latest(self) -> dict[str, dict[str, Any]]:
        out: dict[str, dict[str, Any]] = {}
        for kind, version, digest, size in self.db.query(
            "SELECT a.kind, a.version, a.sha256, a.size FROM artifacts a JOIN (SELECT kind, MAX(version) AS v"
            " FROM artifacts GROUP BY kind) m ON m.kind = a.kind AND m.v = a.version ORDER BY a.kind"
        ):
            out[kind] = {"version": int(version), "sha256": digest, "size": int(size)}
        return out

    def artifact(self, kind: str, version: int) -> bytes:
        content = self.db.scalar("SELECT content FROM artifacts WHERE kind = ? AND version = ?", (kind, version))
        if content is None:
            raise UnknownArtifact(f"no {kind} version {version}")
        return bytes(content)

    # ---------------------------------------------------------------- settlement and checks
    def settle(self, business_day: str) -> settlement.SettlementRun | None:
        return settlement.settle(self.db, business_day)

    def report(self, business_day: str, *, merchant_id: str | None = None) -> dict[str, Any]:
        report = settlement.day_report(self.db, business_day)
        if merchant_id is not None:
            report["lines"] = [x for x in report["lines"] if x["merchant_id"] == merchant_id]
            report["by_fund"] = _by_fund(report["lines"])
            report["quarantined"] = [q for q in report["quarantined"] if self.merchant_of(q["terminal_id"]) == merchant_id]
            report.pop("runs")
            report["merchant_id"] = merchant_id
        report["counter_gaps"] = settlement.counter_gaps(self.db) if merchant_id is None else []
        return report

    def stats(self) -> dict[str, int]:
        counts = dict(self.db.query("SELECT status, COUNT(*) FROM txns GROUP BY status"))
        return {"valid": int(counts.get("valid", 0)), "quarantined": int(counts.get("quarantined", 0)),
                "terminals": int(self.db.scalar("SELECT COUNT(*) FROM terminals", (), 0)),
                "batches": int(self.db.scalar("SELECT COUNT(*) FROM batches", (), 0)),
                "conflicts": int(self.db.scalar("SELECT COUNT(*) FROM incidents", (), 0))}


def _by_fund(lines: list[dict[str, Any]]) -> dict[str, int]:
    out: dict[str, int] = {}
    for x in lines:
        out[x["fund"]] = out.get(x["fund"], 0) + x["net_fen"]
    return dict(sorted(out.items()))


def check_artifact(kind: str, version: int, content: bytes) -> None:
    """Refuse content a terminal could not apply (ValueError naming the problem)."""
    if kind == "hotlist":
        from terminal.hotlist import Hotlist

        try:
            info = Hotlist.from_bytes(content).info
        except Exception as exc:  # HotlistError and struct errors
            raise ValueError(f"hotlist: {exc}") from None
        if info.version != version:
            raise ValueError(f"hotlist: the file says version {info.version}, published as {version}")
        return
    try:
        doc = json.loads(content.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise ValueError(f"{kind}: not UTF-8 JSON") from None
    expected = FARES_FORMAT if kind == "fares" else POLICY_FORMAT
    if not isinstance(doc, dict) or doc.get("format") != expected or doc.get("version") != version:
        raise ValueError(f"{kind}: a JSON object with format {expected!r} and version {version} is needed")
    if kind == "fares":
        files = doc.get("files")
        if not isinstance(files, dict) or not files or not all(
            isinstance(n, str) and "/" not in n and not n.startswith(".") and isinstance(t, str) for n, t in files.items()
        ):
            raise ValueError("fares: files must map plain file names to text")


def fares_bundle(folder: str | Path, version: int) -> bytes:
    """A fares artifact from a folder of fare files (e.g. data/fares: *.toml, *.csv)."""
    base = Path(folder)
    files = {p.name: p.read_text(encoding="utf-8") for p in sorted(base.iterdir())
             if p.is_file() and p.suffix in (".toml", ".csv", ".json")}
    if not files:
        raise ValueError(f"{base}: no fare files (*.toml, *.csv)")
    return json.dumps({"format": FARES_FORMAT, "version": version, "files": files}, ensure_ascii=False,
                      sort_keys=True).encode("utf-8")


def policy_document(settings: Mapping[str, Any], version: int) -> bytes:
    return json.dumps({"format": POLICY_FORMAT, "version": version, "settings": dict(settings)}, ensure_ascii=False,
                      sort_keys=True).encode("utf-8")
