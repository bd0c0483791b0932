"""Dispatch from the screens to the libraries the CLI uses: terminal.counter (operators, settlement, pay,
receipt, refund, subsidy, day close), terminal.transit (validator taps), terminal.identity, terminal.medical
and terminal.ledger. Blocking: call from thread workers.

Where a library is not installed yet the call raises `NotWired` (shown in the screen as such), never a
stand-in result.
"""

from __future__ import annotations

import importlib
import importlib.util
from dataclasses import dataclass
from datetime import datetime, timezone
from functools import lru_cache
from pathlib import Path
from types import ModuleType
from typing import Any, TextIO

from terminal.errors import TerminalError
from terminal.tui.session import Session


class NotWired(TerminalError):
    """The library behind an action is not part of this installation yet."""

    def __init__(self, library: str) -> None:
        super().__init__(f"{library} is not available in this installation")
        self.library = library


def library(name: str) -> ModuleType | None:
    """terminal.counter / terminal.transit when present, else None."""
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


# ---- sign-in ----


@dataclass(frozen=True)
class SignIn:
    operator: str
    role: str | None
    warning: str | None = None  # an i18n key


def sign_in(session: Session, operator: str, password: str, day: str, ledger: Path, *, kiosk: bool) -> SignIn:
    """Check the operator with terminal.counter; without it the operator is taken as typed and the screen
    says that nobody checked it."""
    session.ledger_path = ledger
    session.business_day = day
    counter = library("counter")
    if counter is None:
        session.operator, session.operator_role = operator, None
        return SignIn(operator, None, "login.unverified")
    result = counter_sign_in(counter, session, operator, password)
    session.operator, session.operator_role = operator, result
    return SignIn(operator, result)


def counter_sign_in(counter: ModuleType, session: Session, operator: str, password: str) -> str | None:
    login = getattr(counter, "login", None) or getattr(counter, "sign_in", None)
    if login is None:
        raise NotWired("terminal.counter login")
    got = login(operator, password)
    return getattr(got, "role", None) if got is not None else None


# ---- identity ----


def identify_with_card(session: Session, pin: str | None) -> Any:
    """The counter's identity check with the card (COUNTER_POLICY: PIN and card authentication)."""
    from terminal.hotlist import Hotlist
    from terminal.identity import COUNTER_POLICY, identify_card, load_known_regions

    with session.card_lock:
        reader = session.reader
        reader.connect()
        return identify_card(reader, pin=pin, policy=COUNTER_POLICY, hotlist=Hotlist.load(),
                             regions=load_known_regions(), today=session.today())


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


# ---- catalog and cart ----


@lru_cache(maxsize=1)
def catalog() -> Any:
    from terminal.medical import load_catalog

    return load_catalog()


def search(query: str, limit: int) -> list[Any]:
    return catalog().search(query, limit=limit)


# ---- day close (the ledger, as `ykt ledger report` / `export`) ----


def open_ledger(session: Session, *, create: bool = False) -> Any:
    from terminal.ledger import Ledger

    return Ledger.open(session.ledger_path, create=create, terminal_id=session.settings.terminal_id if create else None)


def day_report(session: Session) -> Any:
    ledger = open_ledger(session)
    try:
        return ledger.report(session.business_day)
    finally:
        ledger.close()


def export_day(session: Session, out_dir: Path, now: datetime) -> tuple[Path, int]:
    from terminal.ledger.export import export

    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"day-{session.business_day}-{now.strftime('%H%M%S')}.csv"
    ledger = open_ledger(session)
    try:
        with open(path, "w", encoding="utf-8-sig", newline="") as f:
            count = _export(export, ledger, f, session.business_day)
    finally:
        ledger.close()
    return path, count


def _export(export: Any, ledger: Any, f: TextIO, day: str) -> int:
    return int(export(ledger.db, f, what="transactions", fmt="csv", day=day))


# ---- settlement preview, pay, receipt, refund, subsidy (terminal.counter) ----


def preview(session: Session, identity: Any, lines: list[tuple[str, int]]) -> Any:
    counter = require("counter")
    raise NotWired("terminal.counter preview") if counter is None else NotWired("terminal.counter preview")


def settlement_of(preview: Any) -> Any:
    """The medical Settlement inside the counter's preview (or the preview itself)."""
    return getattr(preview, "settlement", preview)


def preview_total(preview: Any) -> int:
    s = settlement_of(preview)
    return int(getattr(s, "cash_fen", 0))


def pay(session: Session, identity: Any, preview: Any) -> Any:
    require("counter")
    raise NotWired("terminal.counter pay")


def receipt_outcome(receipt: Any) -> str:
    outcome = getattr(receipt, "outcome", "done")
    return str(getattr(outcome, "value", outcome))


def receipt_reason(receipt: Any) -> str:
    return str(getattr(receipt, "reason", "") or "")


# ---- day close ----

DAY_CLOSE_STEPS = 3


@dataclass(frozen=True)
class DayClose:
    report: Any  # terminal.ledger.DayReport
    per_hour: list[int]
    verified: bool
    problem: str


def day_close(session: Session, step: Any = lambda: None) -> DayClose:
    """Verify the ledger (quick), the day's report, transactions per hour. `step()` after each part."""
    ledger = open_ledger(session)
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
    return DayClose(report, per_hour, bool(check.ok), problem)


def receipt_lines(receipt: Any) -> list[tuple[str, str]]:
    require("counter")
    raise NotWired("terminal.counter receipt")


def receipt_id(receipt: Any) -> str | None:
    return getattr(receipt, "receipt_id", None) or getattr(receipt, "id", None)


def find_receipt(session: Session, receipt_id: str) -> Any:
    require("counter")
    raise NotWired("terminal.counter refund")


def refundable_lines(receipt: Any) -> list[tuple[str, int]]:
    return []


def refund(session: Session, receipt: Any, lines: list[int]) -> Any:
    require("counter")
    raise NotWired("terminal.counter refund")


def refund_text(app: Any, result: Any) -> str:
    return str(result)


def subsidy_one(session: Session, amount: str) -> Any:
    require("counter")
    raise NotWired("terminal.counter subsidy")


def subsidy_batch(session: Session, path: str, progress: Any) -> Any:
    require("counter")
    raise NotWired("terminal.counter subsidy")


def subsidy_text(app: Any, result: Any) -> str:
    return str(result)


def supervisor_ok(session: Session, who: str, password: str) -> bool:
    require("counter")
    raise NotWired("terminal.counter supervisor")


# ---- the validator (terminal.transit) ----


@dataclass(frozen=True)
class TapView:
    """What the kiosk shows of one TapOutcome."""

    approved: bool
    reason: str | None  # a stable reason code (declined), or None
    fare_fen: int | None
    balance_fen: int | None
    concession: str | None
    low_balance: bool
    already_paid: bool


# Reasons the validator gives (terminal.transit), by a stable part of their text → catalog key.
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
    for part, key in TAP_REASONS:
        if part in low:
            return key
    return None


class KioskRuntime:
    """The validator behind the kiosk: fare tables, the PSAM (the demo PSAM in-process), the ledger. SQLite
    connections belong to one thread: everything runs on the runtime's own single thread."""

    def __init__(self, session: Session) -> None:
        from concurrent.futures import ThreadPoolExecutor

        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="ykt-kiosk")
        self.call(self._open, session)

    def call(self, fn: Any, *args: Any) -> Any:
        return self._thread.submit(fn, *args).result()

    def _open(self, session: Session) -> None:
        from reader.card_file import open_card_image
        from reader.emulated import EmulatedReader
        from terminal.cli.purse import demo_psam_path
        from terminal.hotlist import default_hotlist_path
        from terminal.ledger import Ledger
        from terminal.purse import LoadHost
        from terminal.purse.psam import Psam
        from terminal.transit.fares import load_fares
        from terminal.transit.validator import HotlistFile, Validator

        settings = session.settings
        self.psam = EmulatedReader(open_card_image(demo_psam_path(session.home)), name="PSAM")
        self.psam.connect()
        terminal = Psam(self.psam).open().hex().upper()
        path = session.ledger_path
        self.ledger = Ledger.open(path, terminal_id=None if path.exists() else terminal)
        try:
            self.validator = Validator(
                load_fares(), settings.kiosk_mode, settings.kiosk_station, card=session.reader, psam=self.psam,
                ledger=self.ledger, hotlist=HotlistFile(default_hotlist_path()),
                block_mac=LoadHost.from_test_keys().application_block_mac, clock=session.clock,
                operator=session.operator,
            )
        except Exception:
            self.ledger.close()
            raise

    def _close(self) -> None:
        self.ledger.close()
        self.psam.disconnect()

    def close(self) -> None:
        try:
            self.call(self._close)
        finally:
            self._thread.shutdown(wait=True)


def tap(session: Session) -> TapView:
    """One tap of the card now in the reader, through terminal.transit's Validator (booked in the ledger)."""
    require("transit")
    with session.card_lock:
        runtime = session.kiosk
        if runtime is None:
            runtime = session.kiosk = KioskRuntime(session)
        outcome = runtime.call(runtime.validator.process_tap)
    return tap_view(outcome)


def tap_view(outcome: Any) -> TapView:
    status = getattr(outcome.status, "value", outcome.status)
    fare = outcome.amount if outcome.fare is not None or outcome.amount else None
    return TapView(
        approved=status in ("approved", "already_paid"),
        reason=None if status == "approved" else outcome.reason,
        fare_fen=fare,
        balance_fen=outcome.balance,
        concession=outcome.concession,
        low_balance=bool(outcome.low_balance),
        already_paid=status == "already_paid",
    )


def close(session: Session) -> None:
    """Release what the session opened for the libraries (the kiosk's ledger and PSAM)."""
    runtime, session.kiosk = session.kiosk, None
    if runtime is not None:
        runtime.close()
