"""Day close (日结): per operator and per payment source, counts, refunds, and the pending transactions to
chase; written as CSV and JSON with a signed summary; later sales go into the next business day.

Signed summary: ``HMAC-SHA256(K, canonical JSON of the summary)`` with
``K = HMAC-SHA256(ledger key, b"ykt-counter/1 day-close")`` — the ledger's per-terminal key
(`<ledger>.key`), domain-separated so a day-close MAC can never pass for a ledger row MAC. The summary names
the ledger's key id and chain head (seq, row hash), binding it to the ledger as it was at the close. Whoever
holds the terminal key (the terminal, the sync server) can verify it: `verify_summary`.

Business day: the calendar date, or the day after the last closed day if that is later (closing at 20:00
sends the evening's sales to tomorrow).
"""

from __future__ import annotations

import csv
import datetime as _dt
import hashlib
import hmac
import io
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from terminal.counter.errors import DayClosed
from terminal.counter.operators import require_supervisor
from terminal.ledger import keyfile
from terminal.ledger.canonical import canonical_bytes

if TYPE_CHECKING:
    from terminal.counter.counter import Counter

FORMAT = "ykt-counter-dayclose/1"
KEY_LABEL = b"ykt-counter/1 day-close"
SOURCES = {  # payment source → ledger account
    "pooled_fund": "pooled_fund_receivable",
    "personal_account": "personal_account",
    "cash": "cash_drawer",
    "purse": "purse_float",
    "subsidy": "subsidy_payable",
    "bank": "settlement_receivable",
}
CSV_COLUMNS = ["business_day", "operator", "kind", "count", "gross_fen", *(f"{s}_fen" for s in SOURCES)]

_BY_OPERATOR = (
    "SELECT t.operator, t.kind, p.account, COUNT(DISTINCT t.seq) AS n, SUM(p.amount_fen) AS net,"
    " SUM(CASE WHEN p.amount_fen > 0 THEN p.amount_fen ELSE 0 END) AS debit"
    " FROM transactions t JOIN postings p ON p.txn_id = t.seq WHERE t.business_day = ?"
    " GROUP BY t.operator, t.kind, p.account ORDER BY t.operator, t.kind, p.account"
)
_COUNTS = ("SELECT operator, kind, COUNT(*) FROM transactions WHERE business_day = ? GROUP BY operator, kind")
_STATES = "SELECT state, COUNT(*) FROM v_intents WHERE business_day = ? GROUP BY state"
_PENDING = ("SELECT intent_id, kind, amount_fen, card_serial, operator, created_at, details FROM v_intents"
            " WHERE business_day = ? AND state = 'pending' ORDER BY seq")


@dataclass(frozen=True)
class DayClose:
    business_day: str
    summary: dict[str, Any]
    mac: str
    files: tuple[Path, ...]


def current_business_day(ctx: Counter) -> str:
    today = ctx.now().date()
    row = ctx.store.one("SELECT MAX(business_day) FROM counter_day_closes")
    if row is not None and row[0]:
        after_close = _dt.date.fromisoformat(row[0]) + _dt.timedelta(days=1)
        return max(today, after_close).isoformat()
    return today.isoformat()


def summary_key(ledger_key: bytes) -> bytes:
    return hmac.new(ledger_key, KEY_LABEL, hashlib.sha256).digest()


def sign(summary: dict[str, Any], ledger_key: bytes) -> str:
    return hmac.new(summary_key(ledger_key), canonical_bytes(summary), hashlib.sha256).hexdigest()


def verify_summary(path: Path, ledger_key: bytes) -> bool:
    """Whether a signed summary file (`dayclose-<day>.signed.json`) is intact under this terminal's key."""
    doc = json.loads(Path(path).read_text(encoding="utf-8"))
    mac = doc.get("signature", {}).get("mac", "")
    return isinstance(mac, str) and hmac.compare_digest(sign(doc["summary"], ledger_key), mac)


def build_summary(ctx: Counter, day: str, closed_by: str, closed_at: str) -> dict[str, Any]:
    conn = ctx.ledger.conn
    counts = {(op, kind): n for op, kind, n in conn.execute(_COUNTS, (day,))}
    groups: dict[tuple[str, str], dict[str, Any]] = {}
    by_source = dict.fromkeys(SOURCES, 0)
    for op, kind, account, _n, net, debit in conn.execute(_BY_OPERATOR, (day,)):
        g = groups.setdefault((op, kind), {"operator": op, "kind": kind, "count": counts.get((op, kind), 0),
                                           "gross_fen": 0, "sources_fen": dict.fromkeys(SOURCES, 0)})
        g["gross_fen"] += debit
        for source, acct in SOURCES.items():
            if acct == account:
                g["sources_fen"][source] += net
                by_source[source] += net
    pending = []
    for intent_id, kind, amount, card, op, created, details in conn.execute(_PENDING, (day,)):
        d = json.loads(details or "{}")
        ref = d.get("receipt") or d.get("refund") or d.get("subsidy") or d.get("batch")
        pending.append({"intent_id": intent_id, "kind": kind, "amount_fen": amount, "card_serial": card,
                        "operator": op, "created_at": created, "reference": ref})
    states = {state: n for state, n in conn.execute(_STATES, (day,))}
    head = conn.execute("SELECT seq, row_hash FROM chain_head").fetchone()
    key_id = conn.execute("SELECT value FROM meta WHERE key = 'key_id'").fetchone()
    kinds = {k: sum(g["count"] for (o, kk), g in groups.items() if kk == k) for k in ("medical_sale", "medical_refund")}
    return {
        "format": FORMAT,
        "terminal_id": ctx.terminal_id,
        "business_day": day,
        "closed_at": closed_at,
        "closed_by": closed_by,
        "transactions": sum(counts.values()),
        "sales": kinds["medical_sale"],
        "refunds": kinds["medical_refund"],
        "refunds_fen": sum(g["gross_fen"] for (o, k), g in groups.items() if k == "medical_refund"),
        "by_operator": [groups[k] for k in sorted(groups)],
        "by_source_fen": by_source,
        "intents": states,
        "to_chase": pending,
        "ledger": {"key_id": key_id[0] if key_id else None, "head_seq": head[0] if head else 0,
                   "head_hash": head[1] if head else None},
    }


def to_csv(summary: dict[str, Any]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    for g in summary["by_operator"]:
        writer.writerow([summary["business_day"], g["operator"], g["kind"], g["count"], g["gross_fen"],
                         *(g["sources_fen"][s] for s in SOURCES)])
    writer.writerow([summary["business_day"], "*", "total", summary["transactions"],
                     sum(g["gross_fen"] for g in summary["by_operator"]), *(summary["by_source_fen"][s] for s in SOURCES)])
    return out.getvalue()


def close_day(ctx: Counter, out_dir: Path, day: str | None = None) -> DayClose:
    """Close `day` (default: the current business day); supervisor only. DayClosed when it is already
    closed or still in the future. Writes dayclose-<day>.csv, .json and .signed.json into `out_dir`."""
    operator = require_supervisor(ctx.operator, "the day close")
    current = current_business_day(ctx)
    day = day or current
    try:
        _dt.date.fromisoformat(day)
    except ValueError:
        raise DayClosed(f"business day must be YYYY-MM-DD, got {day!r}") from None
    if day > current:
        raise DayClosed(f"business day {day} has not started (the current one is {current})")
    if ctx.store.one("SELECT 1 FROM counter_day_closes WHERE business_day = ?", (day,)):
        raise DayClosed(f"business day {day} is already closed")
    closed_at = _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")
    summary = build_summary(ctx, day, operator.operator_id, closed_at)
    if ctx.centre is not None:
        summary["centre"] = ctx.centre.reconcile_day(ctx, day)  # upload, then 3201 (and 3202 if not balanced)
    key = keyfile.load(keyfile.key_path(ctx.ledger.path))
    mac = sign(summary, key)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    signed = {"summary": summary, "signature": {"alg": "HMAC-SHA256", "key": "ledger terminal key, derived with "
                                                 + KEY_LABEL.decode(), "key_id": summary["ledger"]["key_id"], "mac": mac}}
    files = (
        _write(out_dir / f"dayclose-{day}.csv", to_csv(summary).encode("utf-8-sig")),
        _write(out_dir / f"dayclose-{day}.json", json.dumps(summary, ensure_ascii=False, indent=2).encode("utf-8")),
        _write(out_dir / f"dayclose-{day}.signed.json",
               json.dumps(signed, ensure_ascii=False, sort_keys=True, indent=2).encode("utf-8")),
    )
    with ctx.store.write() as conn:
        if conn.execute("SELECT 1 FROM counter_day_closes WHERE business_day = ?", (day,)).fetchone():
            raise DayClosed(f"business day {day} is already closed")
        conn.execute("INSERT INTO counter_day_closes VALUES (?, ?, ?, ?, ?)",
                     (day, closed_at, operator.operator_id, canonical_bytes(summary).decode("utf-8"), mac))
    return DayClose(day, summary, mac, files)


def _write(path: Path, data: bytes) -> Path:
    """Atomic write: temp file, fsync, rename."""
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    return path
