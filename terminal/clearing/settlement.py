"""Settlement: per business day, per merchant and terminal, per fund (docs/clearing.md "Settlement").

Funds are the counterparties of the money a terminal booked, from its ledger accounts:

| fund | ledger accounts | net > 0 means |
|---|---|---|
| `purse` | `purse_float` | the card issuer owes the merchant (purse purchases − loads sold) |
| `medical_pooled` | `pooled_fund_receivable` | the insurance centre's pooled fund (统筹) owes the merchant |
| `medical_personal` | `personal_account` | the insurance centre owes the personal-account share (个人账户) |
| `subsidy` | `subsidy_payable`, `subsidy*` | the subsidy programme owes the operator (concession fares, subsidy loads) |
| `transit_revenue` | `transit_revenue` | (revenue, credit: negative) full fares earned |
| `merchant_revenue` | `revenue:*` | (revenue, credit: negative) sales earned |
| `cash` | `cash_drawer` | cash the merchant took itself (not cleared, reported) |
| `refunds` / `other` | `refunds` / anything else | reported as booked |

A settlement *run* takes every valid transaction of the day not yet settled; uploads that arrive after a
run (a terminal offline for days) settle in the next run of that day. Quarantined transactions never settle.
"""

from __future__ import annotations

import csv
import hashlib
import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from .clock import iso_now
from .db import Database

FUNDS = ("purse", "medical_pooled", "medical_personal", "subsidy", "transit_revenue", "merchant_revenue", "cash",
         "refunds", "other")
PURSE_OF_TYPE = {0x01: "ed", 0x05: "ed", 0x02: "ep", 0x06: "ep", 0x09: "ep"}
FAMILY_OF_TYPE = {0x01: "ed_online", 0x05: "ed_offline", 0x02: "ep_online", 0x06: "ep_offline", 0x09: "ep_offline"}


def fund_of(account: str) -> str:
    if account == "purse_float":
        return "purse"
    if account == "pooled_fund_receivable":
        return "medical_pooled"
    if account == "personal_account":
        return "medical_personal"
    if account.startswith("subsidy"):
        return "subsidy"
    if account == "transit_revenue":
        return "transit_revenue"
    if account.startswith("revenue:") or account == "revenue":
        return "merchant_revenue"
    if account == "cash_drawer":
        return "cash"
    if account == "refunds":
        return "refunds"
    return "other"


@dataclass(frozen=True)
class SettlementLine:
    business_day: str
    merchant_id: str
    terminal_id: str
    fund: str
    account: str
    transactions: int
    debit_fen: int
    credit_fen: int
    net_fen: int


@dataclass(frozen=True)
class SettlementRun:
    run_id: int
    business_day: str
    created_at: str
    transactions: int
    digest: str
    lines: tuple[SettlementLine, ...]

    def to_json(self) -> dict[str, Any]:
        return {"run_id": self.run_id, "business_day": self.business_day, "created_at": self.created_at,
                "transactions": self.transactions, "digest": self.digest, "lines": [asdict(x) for x in self.lines],
                "by_fund": fund_totals(self.lines)}


_LINES_SQL = (
    "SELECT t.business_day, COALESCE(m.merchant_id, 'unregistered'), t.terminal_id, p.account, COUNT(DISTINCT t.seq),"
    " SUM(CASE WHEN p.amount_fen > 0 THEN p.amount_fen ELSE 0 END),"
    " SUM(CASE WHEN p.amount_fen < 0 THEN -p.amount_fen ELSE 0 END), SUM(p.amount_fen)"
    " FROM txns t JOIN postings p ON p.terminal_id = t.terminal_id AND p.seq = t.seq"
    " LEFT JOIN terminals m ON m.terminal_id = t.terminal_id"
    " WHERE t.status = 'valid' AND {where}"
    " GROUP BY t.business_day, m.merchant_id, t.terminal_id, p.account"
    " ORDER BY t.business_day, 2, t.terminal_id, p.account"
)


def _lines(db: Database, where: str, params: tuple[Any, ...]) -> tuple[SettlementLine, ...]:
    return tuple(
        SettlementLine(day, merchant, terminal, fund_of(account), account, int(n), int(debit), int(credit), int(net))
        for day, merchant, terminal, account, n, debit, credit, net in db.query(_LINES_SQL.format(where=where), params)
    )


def fund_totals(lines: tuple[SettlementLine, ...] | list[SettlementLine]) -> dict[str, int]:
    totals: dict[str, int] = {}
    for line in lines:
        totals[line.fund] = totals.get(line.fund, 0) + line.net_fen
    return dict(sorted(totals.items()))


def settle(db: Database, business_day: str) -> SettlementRun | None:
    """Settle the day's valid transactions not settled yet, as a new run; None when there is nothing new."""
    with db.transaction():
        pending = int(db.scalar("SELECT COUNT(*) FROM txns WHERE business_day = ? AND status = 'valid'"
                                " AND settlement_run IS NULL", (business_day,), 0))
        if not pending:
            return None
        now = iso_now()
        run_id = int(db.scalar("INSERT INTO settlement_runs (business_day, created_at, txns, digest) VALUES (?, ?, ?, '')"
                               " RETURNING run_id", (business_day, now, pending)))
        db.execute("UPDATE txns SET settlement_run = ? WHERE business_day = ? AND status = 'valid'"
                   " AND settlement_run IS NULL", (run_id, business_day))
        lines = _lines(db, "t.settlement_run = ?", (run_id,))
        digest = hashlib.sha256(json.dumps([asdict(x) for x in lines], sort_keys=True).encode()).hexdigest()
        db.execute("UPDATE settlement_runs SET digest = ? WHERE run_id = ?", (digest, run_id))
    return SettlementRun(run_id, business_day, now, pending, digest, lines)


def run_of(db: Database, run_id: int) -> SettlementRun:
    row = db.one("SELECT run_id, business_day, created_at, txns, digest FROM settlement_runs WHERE run_id = ?", (run_id,))
    if row is None:
        raise LookupError(f"no settlement run {run_id}")
    return SettlementRun(int(row[0]), row[1], row[2], int(row[3]), row[4], _lines(db, "t.settlement_run = ?", (run_id,)))


def runs_of_day(db: Database, business_day: str) -> list[SettlementRun]:
    return [run_of(db, int(r[0])) for r in db.query(
        "SELECT run_id FROM settlement_runs WHERE business_day = ? ORDER BY run_id", (business_day,))]


def days(db: Database) -> list[str]:
    return [r[0] for r in db.query("SELECT DISTINCT business_day FROM txns WHERE business_day IS NOT NULL ORDER BY 1")]


def write_files(run: SettlementRun, folder: str | Path) -> tuple[Path, Path]:
    """settlement-DAY-runN.csv (UTF-8, one line per merchant/terminal/account) and .json (with fund totals)."""
    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    stem = out / f"settlement-{run.business_day}-run{run.run_id}"
    csv_path, json_path = stem.with_suffix(".csv"), stem.with_suffix(".json")
    with csv_path.open("w", encoding="utf-8", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["business_day", "merchant_id", "terminal_id", "fund", "account", "transactions",
                         "debit_fen", "credit_fen", "net_fen", "net_yuan"])
        for x in run.lines:
            writer.writerow([x.business_day, x.merchant_id, x.terminal_id, x.fund, x.account, x.transactions,
                             x.debit_fen, x.credit_fen, x.net_fen, yuan(x.net_fen)])
    json_path.write_text(json.dumps(run.to_json(), ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    return csv_path, json_path


def yuan(fen: int) -> str:
    sign = "-" if fen < 0 else ""
    return f"{sign}{abs(fen) // 100}.{abs(fen) % 100:02d}"


# ---------------------------------------------------------------- checks over everything received
def counter_gaps(db: Database, card_serial: str | None = None) -> list[dict[str, Any]]:
    """Card counters missing between the lowest and highest cleared per card and counter family (EP offline =
    types 06/09, EP online = 02, ED offline = 05, ED online = 01): transactions that never reached clearing."""
    family = ("CASE txn_type WHEN 6 THEN 'ep_offline' WHEN 9 THEN 'ep_offline' WHEN 2 THEN 'ep_online'"
              " WHEN 5 THEN 'ed_offline' WHEN 1 THEN 'ed_online' ELSE 'type' || txn_type END")
    where = "status = 'valid' AND card_counter IS NOT NULL" + (" AND card_serial = ?" if card_serial else "")
    rows = db.query(
        f"SELECT card_serial, fam, prev + 1, card_counter - 1 FROM (SELECT card_serial, {family} AS fam, card_counter,"
        f" LAG(card_counter) OVER (PARTITION BY card_serial, {family} ORDER BY card_counter) AS prev"
        f" FROM txns WHERE {where}) x WHERE prev IS NOT NULL AND card_counter > prev + 1 ORDER BY 1, 2, 3",
        (card_serial,) if card_serial else (),
    )
    return [{"card_serial": s, "family": f, "missing_from": int(a), "missing_to": int(b), "missing": int(b) - int(a) + 1}
            for s, f, a, b in rows]


def quarantined(db: Database, business_day: str | None = None, limit: int = 1000) -> list[dict[str, Any]]:
    where, params = ("WHERE status = 'quarantined'", ())
    if business_day:
        where, params = (where + " AND business_day = ?", (business_day,))
    return [{"terminal_id": t, "seq": int(s), "kind": k, "amount_fen": a, "card_serial": c, "card_counter": n,
             "txn_type": ty, "business_day": d, "reason": r}
            for t, s, k, a, c, n, ty, d, r in db.query(
                "SELECT terminal_id, seq, kind, amount_fen, card_serial, card_counter, txn_type, business_day, reason"
                f" FROM txns {where} ORDER BY terminal_id, seq LIMIT {int(limit)}", params)]


def card_flows(db: Database) -> dict[tuple[str, str], dict[str, int]]:
    """Per (card serial, purse): cleared purchases and loads (fen) and transactions per counter family —
    the issuer's view of every card, from cleared TAC-verified transactions only."""
    out: dict[tuple[str, str], dict[str, int]] = {}
    for serial, ttype, n, total in db.query(
        "SELECT card_serial, txn_type, COUNT(*), SUM(amount_fen) FROM txns WHERE status = 'valid'"
        " AND card_counter IS NOT NULL GROUP BY card_serial, txn_type"
    ):
        purse = PURSE_OF_TYPE.get(int(ttype))
        if purse is None:
            continue
        entry = out.setdefault((serial, purse), {"purchases_fen": 0, "loads_fen": 0, "offline": 0, "online": 0})
        if int(ttype) in (0x01, 0x02):
            entry["loads_fen"] += int(total)
            entry["online"] += int(n)
        else:
            entry["purchases_fen"] += int(total)
            entry["offline"] += int(n)
    return out


def account_totals(db: Database, business_day: str | None = None) -> dict[str, int]:
    """Net fen per ledger account over every valid transaction (optionally of one day)."""
    where, params = ("", ())
    if business_day:
        where, params = (" AND t.business_day = ?", (business_day,))
    return {a: int(n) for a, n in db.query(
        "SELECT p.account, SUM(p.amount_fen) FROM txns t JOIN postings p ON p.terminal_id = t.terminal_id"
        f" AND p.seq = t.seq WHERE t.status = 'valid'{where} GROUP BY p.account ORDER BY 1", params)}


def day_report(db: Database, business_day: str) -> dict[str, Any]:
    """Everything about a business day: runs, totals by fund, unsettled and quarantined transactions."""
    runs = runs_of_day(db, business_day)
    all_lines = _lines(db, "t.business_day = ?", (business_day,))
    counts = dict(db.query("SELECT status, COUNT(*) FROM txns WHERE business_day = ? GROUP BY status", (business_day,)))
    unsettled = int(db.scalar("SELECT COUNT(*) FROM txns WHERE business_day = ? AND status = 'valid'"
                              " AND settlement_run IS NULL", (business_day,), 0))
    return {
        "business_day": business_day,
        "transactions": {"valid": int(counts.get("valid", 0)), "quarantined": int(counts.get("quarantined", 0)),
                         "unsettled": unsettled},
        "by_fund": fund_totals(all_lines),
        "runs": [{"run_id": r.run_id, "created_at": r.created_at, "transactions": r.transactions, "digest": r.digest,
                  "by_fund": fund_totals(r.lines)} for r in runs],
        "lines": [asdict(x) for x in all_lines],
        "quarantined": quarantined(db, business_day),
    }
