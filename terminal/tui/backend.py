"""Dispatch from the screens to the libraries the CLI uses: terminal.counter (operators, identify, preview,
pay, receipts, refunds, subsidies, day close, recovery), terminal.transit (validator taps), terminal.identity
(the QR e-card), terminal.medical (catalog search) and terminal.ledger (the day's report). Blocking: call from
thread workers only.

Where a library is not installed the call raises `NotWired` (shown in the screen as such), never a stand-in
result.
"""

from __future__ import annotations

import importlib
import importlib.util
from dataclasses import dataclass
from datetime import timezone
from functools import lru_cache
from pathlib import Path
from types import ModuleType
from typing import Any

from terminal.errors import TerminalError
from terminal.tui.session import Session


class NotWired(TerminalError):
    """The library behind an action is not part of this installation."""

    def __init__(self, library: str) -> None:
        super().__init__(f"{library} is not available in this installation")
        self.library = library


def library(name: str) -> ModuleType | None:
    """terminal.counter / terminal.transit when installed, else None."""
    full = f"terminal.{name}"
    try:
        spec = importlib.util.find_spec(full)
    except (ImportError, ValueError):
        return None
    if spec is None or spec.origin is None:  # absent, or a folder still without __init__.py
        return None
    return importlib.import_module(full)


def require(name: str) -> ModuleType:
    module = library(name)
    if module is None:
        raise NotWired(f"terminal.{name}")
    return module


def counter_runtime(session: Session) -> Any:
    if session.counter is None:
        require("counter")
        raise NotWired("terminal.counter (not signed in)")
    return session.counter


# ---- sign-in ----


@dataclass(frozen=True)
class SignIn:
    operator: str
    role: str
    business_day: str
    notice: str | None = None  # an i18n key the next screen shows


def sign_in(session: Session, operator: str, password: str, day: str, ledger: Path) -> SignIn:
    """Open the counter on `ledger` and log the operator in (terminal.counter: scrypt-checked, with roles).
    The business day is the counter's (the calendar day, or the day after the last close); a different
    typed day is refused."""
    from terminal.counter import BadInput
    from terminal.tui.runtime import CounterRuntime

    require("counter")
    close(session)
    session.ledger_path = ledger
    runtime = CounterRuntime(session)
    try:
        op = runtime.call(runtime.counter.login, operator, password)
        current = runtime.call(runtime.counter.business_day)
        if day != current:
            raise BadInput(f"the business day is {current} (the calendar day, or the day after the last close)")
    except BaseException:
        runtime.close()
        raise
    session.counter = runtime
    session.operator, session.operator_role, session.business_day = op.operator_id, op.role.value, current
    notice = "login.demo_operators" if runtime.imported_demo_operators else None
    return SignIn(op.operator_id, op.role.value, current, notice)


def sign_out(session: Session) -> None:
    if session.counter is not None:
        session.counter.call(session.counter.counter.logout)
    session.operator = session.operator_role = None


def supervisor_ok(session: Session, who: str, password: str) -> bool:
    """A supervisor's id and password (the kiosk's way out)."""
    from terminal.counter import LoginFailed

    runtime = counter_runtime(session)
    try:
        op = runtime.call(runtime.counter.operators.login, who, password)
    except LoginFailed:
        return False
    return bool(op.role.value == "supervisor")


def close(session: Session) -> None:
    """Release what the session opened for the libraries."""
    for name in ("kiosk", "counter"):
        runtime = getattr(session, name)
        setattr(session, name, None)
        if runtime is not None:
            runtime.close()


# ---- the card and the holder ----


def card_summary(session: Session) -> Any:
    """The status bar's card facts (EF05, and EF06 when it needs no PIN), with the 备案 flag from the
    counter's filings."""
    filed = None
    if session.counter is not None:
        runtime = session.counter
        filings = runtime.counter.filings

        def filed(ssn_hash: str, home: str, treatment: str, on: Any) -> bool:
            return runtime.call(filings.find_by_hash, ssn_hash, home, treatment, on) is not None

    return session.read_card_summary(filed)


@dataclass(frozen=True)
class Identified:
    customer: Any  # terminal.counter.Customer
    recovered: tuple[Any, ...]  # RecoveryOutcome of this card's pending transactions, resolved first


def identify(session: Session, pin: str) -> Identified:
    """Resolve the card's pending transactions (a card pulled mid-payment), then the counter's identity check
    with the PIN: identity, medical record, personal account."""
    runtime = counter_runtime(session)
    with session.card_lock:
        reader = session.reader
        reader.connect()
        manager = runtime.call(runtime.manager, reader)
        recovered = tuple(runtime.call(runtime.counter.recover, manager, pin=pin))
        customer = runtime.call(runtime.counter.identify, reader, manager, pin=pin)
    return Identified(customer, recovered)


def identify_with_qr(session: Session, payload: str) -> Any:
    """Verify a scanned QR electronic card offline (each code once)."""
    from terminal.hotlist import Hotlist
    from terminal.identity import SqliteNonceStore, verify_qr

    store = SqliteNonceStore(session.home / "qr-nonces.sqlite")
    try:
        now = session.clock()
        if now.tzinfo is None:
            now = now.astimezone(timezone.utc)
        return verify_qr(payload.strip(), now, store, hotlist=Hotlist.load())
    finally:
        store.close()


# ---- catalog, preview, pay, receipt ----


@lru_cache(maxsize=1)
def catalog() -> Any:
    from terminal.medical import load_catalog

    return load_catalog()


def search(query: str, limit: int) -> list[Any]:
    return catalog().search(query, limit=limit)


def preview(session: Session, customer: Any, lines: list[tuple[str, int]]) -> Any:
    """The counter's settlement preview (a Draft: the full split, nothing moves)."""
    runtime = counter_runtime(session)
    counter = runtime.counter
    return runtime.call(lambda: counter.preview(customer, [counter.line(code, qty) for code, qty in lines]))


def pay(session: Session, draft: Any, pin: str) -> Any:
    """Pay (the personal-account part from the card's ED with the new counters, booked): a Sale."""
    runtime = counter_runtime(session)
    with session.card_lock:
        return runtime.call(runtime.counter.pay, draft, pin=pin)


def receipt(session: Session, number: str) -> Any:
    runtime = counter_runtime(session)
    return runtime.call(runtime.counter.receipt, number)


# ---- refund, subsidy ----


def refund(session: Session, receipt_no: str, lines: list[int], pin: str) -> Any:
    runtime = counter_runtime(session)
    with session.card_lock:
        reader = session.reader
        reader.connect()
        manager = runtime.call(runtime.manager, reader)
        return runtime.call(runtime.counter.refund, receipt_no, lines, manager=manager, pin=pin)


def subsidy(session: Session, batch: Path) -> Any:
    """Import the batch (once) and credit the presented card's lines: (batch, identity, credits)."""
    runtime = counter_runtime(session)
    with session.card_lock:
        reader = session.reader
        reader.connect()
        manager = runtime.call(runtime.manager, reader)
        return runtime.call(runtime.counter.subsidy, batch, reader, manager)


# ---- day close ----

DAY_CLOSE_STEPS = 3


@dataclass(frozen=True)
class DayReport:
    report: Any  # terminal.ledger.DayReport
    per_hour: list[int]
    verified: bool
    problem: str


def day_report(session: Session, step: Any = lambda: None) -> DayReport:
    """Before the close: verify the ledger (quick), the day's report by account and operator (as `ykt ledger
    report`), transactions per hour. `step()` after each part."""
    from terminal.ledger import Ledger

    ledger = Ledger.open(session.ledger_path, create=False)
    try:
        check = ledger.verify(quick=True)
        step()
        report = ledger.report(session.business_day)
        step()
        per_hour = [0] * 24
        rows = ledger.conn.execute(
            "SELECT substr(committed_at, 12, 2) AS h, COUNT(*) FROM transactions WHERE business_day = ? GROUP BY h",
            (session.business_day,),
        ).fetchall()
        for hour, count in rows:
            if hour and hour.isdigit() and int(hour) < 24:
                per_hour[int(hour)] = int(count)
        step()
    finally:
        ledger.close()
    problem = "" if check.ok else str(check.problems[0])
    return DayReport(report, per_hour, bool(check.ok), problem)


def close_day(session: Session) -> Any:
    """The counter's day close (supervisor): signed summary, CSV and JSON in $YKT_HOME/dayclose/."""
    runtime = counter_runtime(session)
    return runtime.call(runtime.counter.close_day, session.home / "dayclose", session.business_day)


# ---- the validator (terminal.transit) ----


@dataclass(frozen=True)
class TapView:
    """What the kiosk shows of one TapOutcome."""

    approved: bool
    reason: str | None  # the validator's reason (declined / already paid), or None
    fare_fen: int | None
    balance_fen: int | None
    concession: str | None
    low_balance: bool
    already_paid: bool


# Reasons the validator gives, by a stable part of their text → catalog key (tap.*).
TAP_REASONS = (
    ("insufficient balance", "insufficient"),
    ("needed to enter", "insufficient"),
    ("hotlist", "hotlisted"),
    ("card removed during payment", "torn"),
    ("card removed before payment", "removed"),
    ("unresolved", "unresolved"),
    ("a trip is open", "trip_open"),
    ("already paid", "already_paid"),
)


def tap_reason_key(reason: str | None) -> str | None:
    if not reason:
        return None
    low = reason.lower()
    return next((key for part, key in TAP_REASONS if part in low), None)


def tap(session: Session) -> TapView:
    """One tap of the card now in the reader, through terminal.transit's Validator (booked in the ledger)."""
    from terminal.tui.runtime import KioskRuntime

    require("transit")
    with session.card_lock:
        runtime = session.kiosk
        if runtime is None:
            runtime = session.kiosk = KioskRuntime(session)
        outcome = runtime.call(runtime.validator.process_tap)
    return tap_view(outcome)


def tap_view(outcome: Any) -> TapView:
    status = getattr(outcome.status, "value", outcome.status)
    return TapView(
        approved=status in ("approved", "already_paid"),
        reason=None if status == "approved" else outcome.reason,
        fare_fen=outcome.amount if (outcome.fare is not None or outcome.amount) else None,
        balance_fen=outcome.balance,
        concession=outcome.concession,
        low_balance=bool(outcome.low_balance),
        already_paid=status == "already_paid",
    )
