"""A business day's totals by account and by operator (also views v_day_totals / v_operator_totals)."""

from __future__ import annotations

import sqlite_utils

from .model import AccountTotal, DayReport, OperatorTotal

_BY_ACCOUNT = (
    "SELECT p.account AS account,"
    " SUM(CASE WHEN p.amount_fen > 0 THEN p.amount_fen ELSE 0 END) AS debit_fen,"
    " SUM(CASE WHEN p.amount_fen < 0 THEN -p.amount_fen ELSE 0 END) AS credit_fen,"
    " SUM(p.amount_fen) AS net_fen, COUNT(*) AS postings"
    " FROM transactions t JOIN postings p ON p.txn_id = t.seq WHERE t.business_day = :day"
    " GROUP BY p.account ORDER BY p.account"
)
_BY_OPERATOR = (
    "SELECT operator, kind, COUNT(*) AS transactions, SUM(amount_fen) AS amount_fen FROM transactions"
    " WHERE business_day = :day GROUP BY operator, kind ORDER BY operator, kind"
)
_STATES = "SELECT state, COUNT(*) AS n FROM v_intents WHERE business_day = :day GROUP BY state ORDER BY state"


def day_report(db: sqlite_utils.Database, day: str) -> DayReport:
    params = {"day": day}
    by_account = tuple(AccountTotal(**r) for r in db.query(_BY_ACCOUNT, params))
    by_operator = tuple(OperatorTotal(**r) for r in db.query(_BY_OPERATOR, params))
    states = {r["state"]: r["n"] for r in db.query(_STATES, params)}
    count = sum(o.transactions for o in by_operator)
    return DayReport(day, count, by_account, by_operator, states)


def yuan(fen: int) -> str:
    """Exact yuan text for an int number of fen: 1234 -> '12.34', -5 -> '-0.05'."""
    sign = "-" if fen < 0 else ""
    whole, cents = divmod(abs(fen), 100)
    return f"{sign}{whole}.{cents:02d}"


def format_report(report: DayReport) -> str:
    """Plain-text report, as `ykt ledger report` prints it."""
    lines = [f"business day {report.business_day}: {report.transactions} transactions"]
    if report.intents_by_state:
        lines.append("intents: " + ", ".join(f"{k} {v}" for k, v in sorted(report.intents_by_state.items())))
    lines.append("")
    lines.append(f"{'account':<26}{'debit':>14}{'credit':>14}{'net':>14}{'lines':>7}")
    for a in report.by_account:
        lines.append(f"{a.account:<26}{yuan(a.debit_fen):>14}{yuan(a.credit_fen):>14}{yuan(a.net_fen):>14}{a.postings:>7}")
    debit = sum(a.debit_fen for a in report.by_account)
    credit = sum(a.credit_fen for a in report.by_account)
    lines.append(f"{'total':<26}{yuan(debit):>14}{yuan(credit):>14}{yuan(debit - credit):>14}")
    lines.append("")
    lines.append(f"{'operator':<16}{'kind':<20}{'count':>7}{'amount':>14}")
    for o in report.by_operator:
        lines.append(f"{o.operator:<16}{o.kind:<20}{o.transactions:>7}{yuan(o.amount_fen):>14}")
    return "\n".join(lines)
