"""The validator: one tap of the card in the reader → a `TapOutcome`, booked in the ledger.

A tap (docs/transit.md "A tap, step by step"):

1. power the card, SELECT the purse, READ 0015 (who it is);
2. hotlist: a listed card is refused offline and its purse application blocked (APPLICATION BLOCK with the
   maintenance MAC); the refusal is booked as a failed intent;
3. double-tap guard: the same card on this validator within `double_tap_seconds` of an approved tap is
   answered "already paid" with that tap's result (from memory, else from the card's newest trip record);
4. recovery: a card with a pending (torn) tap in the ledger is resolved first with the purse recovery rule —
   found done → "already paid" (recovered, never charged twice); not done → the tap goes on;
5. read the balance, 001A record 2, 001E record 1 and the card facts (category 0019, birth date EF06);
6. `engine.decide` → decline (booked as a failed intent, with the reason) or a compound purchase (type 09)
   that writes the new 001A record and the trip records in the same atomic step as the debit, booked
   through `PurseBooks` (intent before the DEBIT, committed with the TAC after it).

Gates (mode gate) read 001A record 3 instead and open on a valid venue pass (a 0-fen compound purchase).
Nothing a card, a reader or tearing can do raises: every tap ends as an outcome.

Example::

    >>> validator = Validator(load_fares(), "bus", "71", card=reader, psam=psam, ledger=ledger)   # doctest: +SKIP
    >>> validator.process_tap().line()                                                        # doctest: +SKIP
    '08:00:01  OK  bus  route 71  card 3100000000000001  fare 2.00  balance 48.00'
"""

from __future__ import annotations

import logging
import os
import sqlite3
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

from applets.purse.layout import SFI_CAPP, SFI_TRIP, TRANSIT_CAPP_RECORD, TxnType
from applets.sw import SW
from reader.base import Reader
from reader.errors import ReaderError
from terminal.booking import Booked, PurseBooks, card_serial_of
from terminal.hotlist import Hotlist
from terminal.ledger import Ledger, LedgerError, NegativeBalance, PendingIntentExists, Posting
from terminal.ledger.accounts import transit_fare
from terminal.protocol.iso import GetChallenge
from terminal.purse import CappUpdate, CardIdentity, PurseManager
from terminal.purse.commands import ApplicationBlock
from terminal.purse.errors import PurseError
from terminal.purse.psam import Psam
from terminal.transit import reading
from terminal.transit.card import (
    TRIP_ENTRY,
    TRIP_EXIT,
    TRIP_SINGLE,
    CardView,
    bcd_number,
    parse_bcd_datetime,
    terminal8,
    trip_time,
)
from terminal.transit.engine import Decision, FareBreakdown, Mode, Tap, decide, yuan
from terminal.transit.fares import FareTables
from terminal.transit.outcome import TapOutcome, TapStatus
from terminal.transit.venue import VENUE_RECORD, VenuePass, VenueRecord, add_pass, decide_gate, new_pass

log = logging.getLogger(__name__)

MEMO_ACCOUNT = "transit_memo"  # zero-value taps: two lines that cancel, so the card counter and TAC are booked
SUBSIDY_RECEIVABLE = "subsidy_receivable"  # concessions when no subsidy advance is left
_EXTRA_ACCOUNTS = (
    (MEMO_ACCOUNT, "Zero-value transit and venue taps (memo lines that cancel)", "asset", True),
    (SUBSIDY_RECEIVABLE, "Concession fares owed by the subsidy programme (no advance left)", "asset", False),
)
RECOVERY_WINDOW = timedelta(minutes=5)  # a torn tap recovered as done within this, here: the same tap
_TRIP_OF_MODE = {Mode.BUS: TRIP_SINGLE, Mode.METRO_ENTRY: TRIP_ENTRY, Mode.METRO_EXIT: TRIP_EXIT}


def ensure_accounts(ledger: Ledger) -> None:
    """Add the transit accounts the chart does not have (memo lines, subsidy receivable)."""
    have = {a.code for a in ledger.accounts()}
    for code, name, kind, negative in _EXTRA_ACCOUNTS:
        if code not in have:
            try:
                ledger.add_account(code, name, kind, may_go_negative=negative)
            except ValueError:
                pass  # another validator on the same ledger added it meanwhile


def memo_postings() -> list[Posting]:
    """The journal entry of a zero-value tap: two lines that cancel (the card transaction is still booked)."""
    return [Posting(MEMO_ACCOUNT, 1), Posting(MEMO_ACCOUNT, -1)]


def issue_pass(books: PurseBooks, tables: FareTables, pass_id: str, start: date, *, venue: int = 0) -> tuple[Booked, VenuePass]:
    """Put a venue pass on the card in the books' reader: a 0-fen compound purchase writing 001A record 3,
    booked as `venue_pass`. Raises PurseError / ReaderError when the card cannot be read."""
    kind = tables.pass_type(pass_id)
    channel = books.manager.channel
    channel.reopen()
    item = new_pass(kind, start, venue=venue)
    record = add_pass(VenueRecord.from_bytes(reading.venue_record(channel)), item)
    ensure_accounts(books.ledger)
    booked = books.purchase(0, memo_postings(), txn_type=TxnType.CAPP_PURCHASE,
                            capp_record=[CappUpdate(SFI_CAPP, VENUE_RECORD, record.to_bytes())], kind="venue_pass",
                            details={"pass": kind.id, "venue": venue})
    return booked, item


class HotlistFile:
    """The installed hotlist file, opened again when a newer version replaces it (pushed by the clearing
    service, installed atomically): a stat per tap, no reopening otherwise."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self._stamp: tuple[int, int, int] | None = None
        self._list = Hotlist.empty()

    def current(self) -> Hotlist:
        try:
            st = self.path.stat()
            stamp = (st.st_ino, st.st_mtime_ns, st.st_size)
        except FileNotFoundError:
            stamp = None
        if stamp != self._stamp:
            self._list = Hotlist.open(self.path) if stamp is not None else Hotlist.empty()
            self._stamp = stamp
            log.info("hotlist %s: version %d, %d entries", self.path, self._list.version, len(self._list))
        return self._list


HotlistSource = Hotlist | HotlistFile | Callable[[], Hotlist] | None


class Validator:
    """A validator in `mode` (bus, metro-entry, metro-exit, gate) at `station` (route number, metro station
    id or code, gate id), with the card in `card`, the PSAM in `psam`, booking into `ledger`.

    `block_mac(app_serial, challenge)` gives the APPLICATION BLOCK MAC (LoadHost.application_block_mac);
    without it a hotlisted card is still refused, only not blocked."""

    def __init__(
        self,
        tables: FareTables,
        mode: Mode | str,
        station: str,
        *,
        card: Reader,
        psam: Reader | Psam,
        ledger: Ledger,
        hotlist: HotlistSource = None,
        block_mac: Callable[[bytes, bytes], bytes] | None = None,
        clock: Callable[[], datetime] = datetime.now,
        operator: str | None = None,
        two_level_keys: bool = False,
        check_terminal: bool = True,
    ) -> None:
        self.tables = tables
        self.mode = Mode(mode)
        self.station = str(station)
        self.station_name = self._station_name()
        self._place = self._place_bytes()
        self.clock = clock
        self.block_mac = block_mac
        self._hotlist = hotlist
        self.manager = PurseManager(card, psam, clock=clock, two_level_keys=two_level_keys)
        self.ledger = ledger
        self.books = PurseBooks(ledger, self.manager, operator=operator or f"validator {self.mode.value} {self.station}",
                                business_day=lambda: self.clock().date().isoformat(), check_terminal=check_terminal)
        self.facts = reading.FactCache()
        self._recent: dict[str, tuple[datetime, TapOutcome]] = {}
        self._started = time.perf_counter()  # when the tap being processed began
        ensure_accounts(ledger)

    # ---------------------------------------------------------------- set-up

    def _station_name(self) -> str:
        if self.mode is Mode.GATE:
            return self.tables.gate(self.station).name
        if self.mode is Mode.BUS:
            if not self.station.isdigit() or not 1 <= int(self.station) <= 9999:
                raise ValueError(f"a bus validator's --station is its route number, not {self.station!r}")
            return f"route {int(self.station)}"
        return self.tables.network.station(self.station).name

    def _place_bytes(self) -> bytes:
        """Line (BCD 2) ‖ station of this validator, as in the trip records it writes."""
        if self.mode is Mode.GATE:
            return b""
        if self.mode is Mode.BUS:
            return bcd_number(int(self.station), 2) + b"\x00"
        st = self.tables.network.station(self.station)
        return bcd_number(st.line, 2) + bytes((st.code,))

    def idle(self) -> None:
        """Housekeeping while no card is in the field: the ledger's WAL checkpoint, so that no tap pays for it.
        A disk error is logged; the next tap's own ledger writes say what they can."""
        try:
            self.ledger.checkpoint()
        except (sqlite3.Error, OSError) as e:
            log.warning("ledger checkpoint while idle failed: %s", e)

    def hotlist(self) -> Hotlist | None:
        source = self._hotlist
        if source is None or isinstance(source, Hotlist):
            return source
        if isinstance(source, HotlistFile):
            return source.current()
        return source()

    @property
    def terminal_id(self) -> bytes:
        return self.manager.terminal_id

    # ---------------------------------------------------------------- a tap

    def process_tap(self) -> TapOutcome:
        """Process the card now in the reader (powers it up): one tap, one outcome, never raises for what a
        card, reader or tearing can do."""
        self._started = time.perf_counter()
        now = self.clock()
        try:
            outcome = self._tap(now)
        except ReaderError as e:
            outcome = self._outcome(TapStatus.DECLINED, now, reason=f"card removed before payment, nothing charged: tap again ({e})")
        except (PurseError, ValueError) as e:
            outcome = self._outcome(TapStatus.DECLINED, now, reason=str(e))
        except LedgerError as e:
            outcome = self._outcome(TapStatus.DECLINED, now, reason=f"ledger refused: {e}")
        except (sqlite3.Error, OSError) as e:  # the ledger's disk: nothing was charged before its intent
            log.error("ledger unavailable: %s", e)
            outcome = self._outcome(TapStatus.DECLINED, now, reason=f"ledger unavailable, nothing charged: {e}")
        if outcome.card_serial and outcome.status is TapStatus.APPROVED:
            self._remember(outcome)
        if log.isEnabledFor(logging.INFO):
            log.info("%s", outcome.line())
        return outcome

    def _tap(self, now: datetime) -> TapOutcome:
        channel = self.manager.channel
        channel.reader.connect()
        try:
            ident = channel.open()
        except PurseError as e:
            if e.sw == SW.APPLICATION_BLOCKED:
                return self._outcome(TapStatus.DECLINED, now, reason="this card is blocked (hotlisted): see the card issuer")
            raise
        serial = card_serial_of(ident.app_serial)
        listed = self.hotlist()
        if listed is not None and listed.contains(serial):
            return self._refuse_listed(now, ident.app_serial, serial)
        repeat = self._repeat(serial, now)
        if repeat is not None:
            return repeat
        recovered: tuple[str, ...] = ()
        if self._pending(serial):
            done, recovered, still = self._recover(serial, now)
            if done is not None:
                return done
            if still:
                return self._outcome(TapStatus.DECLINED, now, serial, reason="an earlier tap of this card is unresolved: see staff",
                                     recovered=recovered)
            ident = channel.open()
        if self.mode is Mode.GATE:
            return self._gate(now, serial, recovered, ident)
        view = reading.card_view(channel, serial, self.facts)
        repeat = self._card_repeat(view, now)
        if repeat is not None:
            return repeat
        decision = decide(Tap(self.mode, self.station, self.terminal_id, now), view, self.tables)
        if not decision.approved:
            self._book_refusal(serial, decision.reason or "declined", decision.amount, now)
            return self._outcome(TapStatus.DECLINED, now, serial, balance=view.balance, reason=decision.reason,
                                 notes=decision.notes, recovered=recovered)
        updates = [CappUpdate(SFI_CAPP, TRANSIT_CAPP_RECORD, decision.new_state.to_bytes())]  # type: ignore[union-attr]
        updates += [CappUpdate(SFI_TRIP, 0, trip.to_bytes()) for trip in decision.trips]
        kind = "transit_entry" if self.mode is Mode.METRO_ENTRY else "transit_fare"
        booked = self._purchase(decision.fare, updates, kind, self._details(decision, now), ident)
        return self._result(booked, decision, view.balance, now, serial, recovered)

    # ---------------------------------------------------------------- steps

    def _repeat(self, serial: str, now: datetime) -> TapOutcome | None:
        found = self._recent.get(serial)
        if found is None:
            return None
        when, last = found
        if timedelta(0) <= now - when <= timedelta(seconds=self.tables.validator.double_tap_seconds):
            return replace(last, status=TapStatus.ALREADY_PAID, when=now, amount=0, reason=self._already(),
                           duration_ms=self._elapsed_ms(),
                           extra={"paid": last.amount}, recovered=())
        return None

    def _already(self) -> str:
        return {Mode.GATE: "already entered (repeat tap)", Mode.METRO_ENTRY: "already entered (repeat tap)"}.get(
            self.mode, "already paid (repeat tap)")

    def _card_repeat(self, view: CardView, now: datetime) -> TapOutcome | None:
        """The guard from the card itself (this validator restarted): its newest trip record is ours, of this
        mode, within the window."""
        trip = view.last_trip
        if trip is None or trip.terminal != terminal8(self.terminal_id) or trip.trip_type != _TRIP_OF_MODE[self.mode]:
            return None
        if trip.place[:3] != self._place:
            return None  # another route or station behind the same terminal id
        when = trip_time(trip)
        if when is None or not timedelta(0) <= now - when <= timedelta(seconds=self.tables.validator.double_tap_seconds):
            return None
        return self._outcome(TapStatus.ALREADY_PAID, now, view.card_serial, balance=view.balance, reason=self._already(),
                             extra={"paid": trip.amount})

    def _card_gate_repeat(self, record: VenueRecord, venue: int, now: datetime) -> bool:
        """The gate's guard from the card itself (this validator restarted): the card's newest transaction is
        our 0-fen entry within the window, and one of its passes entered this venue today. Costs one READ
        RECORD, at gates only (an entry of a multi-entry pass must not be counted twice)."""
        if not any(p.last_entry == now.date() and p.last_venue == venue for p in record.passes):
            return False
        last = reading.last_log(self.manager.channel)
        if last is None or last.terminal_id != self.terminal_id or last.amount != 0 or last.txn_type != TxnType.CAPP_PURCHASE:
            return False
        when = parse_bcd_datetime(last.date + last.time)
        return when is not None and timedelta(0) <= now - when <= timedelta(seconds=self.tables.validator.double_tap_seconds)

    def _remember(self, outcome: TapOutcome) -> None:
        if len(self._recent) > 1024:
            horizon = outcome.when - timedelta(seconds=self.tables.validator.double_tap_seconds)
            self._recent = {k: v for k, v in self._recent.items() if v[0] >= horizon}
        self._recent[outcome.card_serial] = (outcome.when, outcome)  # type: ignore[index]

    def _pending(self, serial: str) -> bool:
        row = self.ledger.conn.execute("SELECT 1 FROM open_intents WHERE card_serial = ? LIMIT 1", (serial,)).fetchone()
        return row is not None

    def _recover(self, serial: str, now: datetime) -> tuple[TapOutcome | None, tuple[str, ...], bool]:
        """Resolve this card's torn taps. (already-paid outcome if one was done, messages, still pending)."""
        outcomes = self.books.resolve_pending()
        messages = tuple(f"{o.result}: {o.message}" for o in outcomes)
        still = any(o.result == "pending" for o in outcomes)
        for o in outcomes:
            if o.result == "committed" and self._same_tap(o.intent.details, now):
                details = o.intent.details
                concession = details.get("concession") if isinstance(details.get("concession"), str) else None
                label = next((c.label for c in self.tables.concessions if c.id == concession), None)
                return self._outcome(
                    TapStatus.ALREADY_PAID, now, serial, amount=0, reason="already paid (the torn tap went through)",
                    txn_id=o.txn_id, intent_id=o.intent.intent_id, recovered=messages,
                    extra={"paid": o.intent.amount_fen}, concession=concession, concession_label=label,
                ), messages, still
        return None, messages, still

    def _same_tap(self, details: dict[str, Any], now: datetime) -> bool:
        """Was the torn tap made here, a moment ago? Then presenting the card again is the same tap (already
        paid); a tap torn elsewhere or long ago is only booked, and this tap goes on."""
        if details.get("mode") != self.mode.value or details.get("validator") != self.station:
            return False
        try:
            at = datetime.fromisoformat(str(details.get("at")))
        except ValueError:
            return False
        return timedelta(0) <= now - at <= RECOVERY_WINDOW

    def _refuse_listed(self, now: datetime, app_serial: bytes, serial: str) -> TapOutcome:
        blocked = False
        reason = "card is on the hotlist (reported lost or stolen): refused"
        if self.block_mac is not None:
            try:
                resp = self.manager.channel.send(GetChallenge(8))
                if resp.sw == SW.OK:
                    mac = self.block_mac(app_serial, resp.data)
                    blocked = self.manager.channel.send(ApplicationBlock(mac)).sw == SW.OK
            except ReaderError as e:
                log.info("hotlisted card %s left before APPLICATION BLOCK (%s)", serial, e)
            if blocked:
                reason += "; its purse application is now blocked"
        current = self.hotlist()
        version = current.version if current is not None else 0
        self._book_refusal(serial, reason, 0, now, kind="hotlist_refusal", extra={"hotlist_version": version, "blocked": blocked})
        return self._outcome(TapStatus.DECLINED, now, serial, reason=reason, blocked=blocked)

    def _gate(self, now: datetime, serial: str, recovered: tuple[str, ...], ident: CardIdentity) -> TapOutcome:
        gate = self.tables.gate(self.station)
        record = VenueRecord.from_bytes(reading.venue_record(self.manager.channel))
        if self._card_gate_repeat(record, gate.venue, now):
            return self._outcome(TapStatus.ALREADY_PAID, now, serial, reason=self._already(), recovered=recovered)
        decision = decide_gate(record, gate, self.tables, now.date())
        label = decision.pass_type.label if decision.pass_type else None
        if not decision.open:
            self._book_refusal(serial, decision.reason or "refused", 0, now, kind="venue_refusal")
            return self._outcome(TapStatus.DECLINED, now, serial, reason=decision.reason, pass_label=label, recovered=recovered)
        update = CappUpdate(SFI_CAPP, VENUE_RECORD, decision.new_record.to_bytes())  # type: ignore[union-attr]
        details = {**self._validator_details(now), "pass": decision.pass_type.id}  # type: ignore[union-attr]
        booked = self._purchase(FareBreakdown(), [update], "venue_entry", details, ident)
        out = self._booked_outcome(booked, now, serial, None, recovered)
        return replace(out, pass_label=label, entries_left=decision.entries_left, duration_ms=self._elapsed_ms(),
                       notes=(f"valid until {decision.valid_until.isoformat()}",) if decision.valid_until else ())

    # ---------------------------------------------------------------- booking

    def _postings(self, fare: FareBreakdown, subsidy_account: str = "subsidy_payable") -> list[Posting]:
        if fare.revenue == 0:
            return memo_postings()
        lines = transit_fare(fare.amount, fare.concession)
        if subsidy_account != "subsidy_payable":
            lines = [Posting(subsidy_account, p.amount_fen) if p.account == "subsidy_payable" else p for p in lines]
        return lines

    def _subsidy_account(self, subsidy: int) -> str:
        if not subsidy:
            return "subsidy_payable"
        row = self.ledger.conn.execute("SELECT balance_fen FROM balances WHERE account = 'subsidy_payable'").fetchone()
        advance = -(row[0] if row else 0)  # a liability: credits are the advance still to give out
        return "subsidy_payable" if advance >= subsidy else SUBSIDY_RECEIVABLE

    def _purchase(self, fare: FareBreakdown, updates: Sequence[CappUpdate], kind: str, details: dict[str, Any],
                  ident: CardIdentity) -> Booked:
        """The compound purchase, on the connection where `ident` was read with the purse still selected."""
        account = self._subsidy_account(fare.concession)
        try:
            return self.books.purchase(fare.amount, self._postings(fare, account), txn_type=TxnType.CAPP_PURCHASE,
                                       capp_record=list(updates), kind=kind, details=details, selected=ident,
                                       settled=True)  # _tap resolved this card's torn taps first
        except NegativeBalance as e:
            if e.account != "subsidy_payable":
                raise
            return self.books.purchase(fare.amount, self._postings(fare, SUBSIDY_RECEIVABLE),
                                       txn_type=TxnType.CAPP_PURCHASE, capp_record=list(updates), kind=kind,
                                       details=details, settled=True)  # selects the purse again: the first try began one

    def _book_refusal(self, serial: str, reason: str, amount: int, now: datetime, kind: str = "transit_refusal",
                      extra: dict[str, Any] | None = None) -> None:
        """A tap refused before any money moved: an intent failed at once (the ledger records every tap)."""
        try:
            intent = self.ledger.begin_intent(
                kind=kind, amount_fen=amount, card_serial=serial, operator=self.books.operator,
                business_day=now.date().isoformat(),
                details={"mode": self.mode.value, "station": self.station, **(extra or {})},
            )
            self.ledger.fail_intent(intent.intent_id, reason[:256])
        except PendingIntentExists:
            log.info("card %s has a pending intent: refusal not booked", serial)

    def _validator_details(self, now: datetime) -> dict[str, Any]:
        """Which validator, when: recovery at a later tap recognises its own torn tap by these."""
        return {"mode": self.mode.value, "validator": self.station, "at": now.isoformat(timespec="seconds")}

    def _details(self, decision: Decision, now: datetime) -> dict[str, Any]:
        """The intent's details (kept small: the ledger checks every key): the validator, the fare breakdown
        as [base, transfer, concession, volume, cap, charged, penalty] in fen, the concession id, the entry
        station code and the distance of a metro exit."""
        f = decision.fare
        out: dict[str, Any] = {**self._validator_details(now),
                               "fare": [f.base, f.transfer, f.concession, f.volume, f.cap, f.charged, f.penalty]}
        if decision.concession is not None:
            out["concession"] = decision.concession.id
        if decision.distance_m is not None:
            out["distance_m"] = decision.distance_m
        return out

    def _result(self, booked: Booked, decision: Decision, balance: int, now: datetime, serial: str,
                recovered: tuple[str, ...]) -> TapOutcome:
        c = decision.concession
        return self._booked_outcome(booked, now, serial, balance, recovered, decision.notes, fare=decision.fare,
                                    concession=c.id if c else None, concession_label=c.label if c else None,
                                    entry_station=decision.entry_station, distance_m=decision.distance_m)

    def _booked_outcome(self, booked: Booked, now: datetime, serial: str, balance: int | None,
                        recovered: tuple[str, ...], notes: tuple[str, ...] = (), **fields: Any) -> TapOutcome:
        """The outcome of a booked purchase; `notes` and `fields` (the fare decision's) go into it as they are."""
        result = booked.result
        if booked.status == "committed":
            after = result.balance_after
            low = after is not None and after < self.tables.validator.low_balance_warning
            return self._outcome(
                TapStatus.APPROVED, now, serial, amount=result.amount, balance=after, low_balance=low,
                tac=booked.transaction.tac if booked.transaction else None,
                txn_id=booked.transaction.txn_id if booked.transaction else None, intent_id=booked.intent.intent_id,
                recovered=recovered, notes=notes + ("recovered at once",) if result.recovered else notes, **fields,
            )
        if booked.status == "failed":
            reason = result.reason or "declined by the card"
            if result.sw == SW.INSUFFICIENT_BALANCE:
                have = f", balance {yuan(balance)}" if balance is not None else ""
                reason = f"insufficient balance: fare {yuan(result.amount)}{have}; top up"
            return self._outcome(TapStatus.DECLINED, now, serial, balance=balance, reason=reason,
                                 intent_id=booked.intent.intent_id, recovered=recovered, notes=notes, **fields)
        return self._outcome(TapStatus.PENDING, now, serial, amount=result.amount,
                             reason="card removed during payment: present it again (resolved at its next tap)",
                             intent_id=booked.intent.intent_id, recovered=recovered, notes=notes, **fields)

    def _outcome(self, status: TapStatus, now: datetime, serial: str | None = None, **fields: Any) -> TapOutcome:
        return TapOutcome(status=status, mode=self.mode, station=self.station_name, when=now, card_serial=serial,
                          duration_ms=self._elapsed_ms(), **fields)

    def _elapsed_ms(self) -> float:
        """Time since this tap began (the outcome's `duration_ms`)."""
        return (time.perf_counter() - self._started) * 1000
