"""The fare engine: pure. Given a tap, what the validator read from the card and the fare tables, decide
what to charge (or why to decline), which concession applies, and the card's new transit state and trip
records — all written in one compound purchase. No I/O, no clock: the tap carries its time.

Order of a leg's price (docs/transit.md "Pricing"):

1. base fare — bus: the route's or the flat fare; metro exit: the distance fare between the entry and exit
   stations (shortest track distance), or the same-station rule;
2. transfer discount — bus boarding / metro entry within the window after the end of the last leg (the newest
   001E record on the card is the evidence), for the allowed pairs and at most `max_per_chain` in a row;
   for the metro it is noted at entry (flag in 001A) and given at exit;
3. concession — the best one for the card's category (0019) or age (EF06 birth date): the holder pays
   `pay_percent` of what is left (rounded half up); the difference is booked against the subsidy;
4. monthly volume discount — by the fen charged so far this month (001A counters);
5. daily cap — never more than what is left of the day's cap (001A counters).

A missed exit (an open trip older than `max_trip_minutes`) is charged at the next tap as a penalty of the
fare held on the card at entry, before and on top of that tap's fare, in the same purchase.

Example::

    >>> from datetime import datetime
    >>> from terminal.transit.fares import load_fares
    >>> from terminal.transit.card import CardView, TransitState
    >>> tables = load_fares()
    >>> card = CardView("3100000000000001", balance=5_000, state=TransitState(), last_trip=None, category="adult")
    >>> d = decide(Tap(Mode.BUS, "71", bytes(6), datetime(2024, 3, 1, 8, 0)), card, tables)
    >>> d.approved, d.amount, d.fare.base
    (True, 200, 200)
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import Enum
from typing import Any

from applets.purse.layout import TapPoint, TripRecord, TripState
from terminal.transit.card import (
    FLAG_PENALTY,
    FLAG_TRANSFER_LEG,
    INDUSTRY_BUS,
    INDUSTRY_METRO,
    INDUSTRY_MODE,
    TRIP_ENTRY,
    TRIP_EXIT,
    TRIP_PENALTY,
    TRIP_SINGLE,
    CardView,
    TransitState,
    tap_point,
    trip_record,
    trip_time,
)
from terminal.transit.errors import UnknownStation
from terminal.transit.fares import Concession, FareTables, Station


class Mode(str, Enum):
    BUS = "bus"
    METRO_ENTRY = "metro-entry"
    METRO_EXIT = "metro-exit"
    GATE = "gate"

    @property
    def leg(self) -> str:
        return "bus" if self is Mode.BUS else "metro"


@dataclass(frozen=True, slots=True)
class Tap:
    """One tap at a validator: its mode, station (metro station id or code, bus route number, gate id), the
    PSAM terminal id and the validator's time."""

    mode: Mode
    station: str
    terminal_id: bytes
    when: datetime


@dataclass(frozen=True, slots=True)
class FareBreakdown:
    """Fen. `charged` = base − transfer − concession − volume − cap; `penalty` is on top of it."""

    base: int = 0
    transfer: int = 0
    concession: int = 0  # the subsidy
    volume: int = 0
    cap: int = 0
    charged: int = 0
    penalty: int = 0

    @property
    def amount(self) -> int:
        """What the card is debited."""
        return self.charged + self.penalty

    @property
    def revenue(self) -> int:
        """What the operator books as fare revenue (the subsidy included)."""
        return self.charged + self.concession + self.penalty


@dataclass(frozen=True)
class Decision:
    approved: bool
    fare: FareBreakdown = FareBreakdown()
    reason: str | None = None  # why declined
    concession: Concession | None = None
    new_state: TransitState | None = None  # 001A record 2 to write
    trips: tuple[TripRecord, ...] = ()  # 001E records to write, oldest first
    notes: tuple[str, ...] = ()  # "transfer", "daily cap", "missed exit penalty", …
    station: str | None = None  # the tap's station / route, for display
    entry_station: str | None = None  # metro exit: where the trip began
    distance_m: int | None = None
    transfer: bool = False

    @property
    def amount(self) -> int:
        return self.fare.amount


def decline(reason: str, **kwargs: object) -> Decision:
    return Decision(False, reason=reason, **kwargs)  # type: ignore[arg-type]


def _percent(value: int, percent: int) -> int:
    """`percent` % of `value` fen, rounded half up (ints only)."""
    return (value * percent + 50) // 100


def yuan(fen: int) -> str:
    sign = "-" if fen < 0 else ""
    return f"{sign}{abs(fen) // 100}.{abs(fen) % 100:02d}"


# ---------------------------------------------------------------- the decision


def decide(tap: Tap, card: CardView, tables: FareTables) -> Decision:
    """Price one bus / metro tap (gates: terminal.transit.venue). Raises UnknownStation for a station the
    tables do not know (a set-up error, not a card's)."""
    if tap.mode is Mode.GATE:
        raise ValueError("gate taps are decided by terminal.transit.venue")
    state = card.state.with_counters_for(tap.when.date())
    rec = state.record
    # -- an open trip of this network: young (a trip in progress) or expired (a missed exit) --
    open_here = state.open and rec.entry.city == tables.city
    entry_at = state.entry_time if open_here else None
    limit = timedelta(minutes=tables.metro.max_trip_minutes)
    expired = open_here and (entry_at is None or tap.when - entry_at > limit)
    if tap.mode is Mode.METRO_EXIT:
        return _exit(tap, card, state, tables, open_here, expired)
    penalty, trips, notes = 0, [], []
    if open_here and not expired and tap.mode is Mode.METRO_ENTRY:
        where = _station_name(tables, rec.entry.station)
        since = entry_at.strftime("%H:%M") if entry_at else "?"
        if tables.metro.open_trip_at_entry == "refuse":
            return decline(f"a trip is open since {since} at {where}: exit first, or see staff", station=tap.station)
        expired = True  # policy "penalty": treat it as missed
        notes.append(f"open trip since {since} at {where}")
    if expired:
        penalty = rec.held_fare or tables.metro.max_fare
        trips.append(trip_record(
            trip_type=TRIP_PENALTY, industry=INDUSTRY_METRO, line=_line_of(rec.entry), station=rec.entry.station,
            amount=penalty, balance=card.balance - penalty, when=tap.when, terminal_id=tap.terminal_id,
            city=tables.city, institution=tables.institution,
        ))
        rec = replace(rec, state=TripState.EXITED, amount=penalty)
        state = replace(state, record=rec, flags=(state.flags & ~FLAG_TRANSFER_LEG) | FLAG_PENALTY)
        notes.append(f"missed exit: penalty {yuan(penalty)}")
    transfer = _transfer_ok(tables, card, state, tap.mode.leg, tap.when)
    if tap.mode is Mode.METRO_ENTRY:
        return _entry(tap, card, state, tables, penalty, trips, notes, transfer)
    return _bus(tap, card, state, tables, penalty, trips, notes, transfer)


def _bus(tap: Tap, card: CardView, state: TransitState, tables: FareTables, penalty: int, trips: list[TripRecord],
         notes: list[str], transfer: bool) -> Decision:
    route = _route(tap.station)
    base = tables.bus.fare_for(route)
    fare, concession, price_notes = _price(base, transfer, card, state, tables, "bus", tap.when, penalty)
    point = tap_point(city=tables.city, institution=tables.institution, operator=tables.operator, line=route,
                      station=0, terminal_id=tap.terminal_id, when=tap.when)
    rec = state.record
    rec = replace(
        rec, valid=1, mode=1, txn_serial=_serial(tap), exit=point, amount=fare.charged, distance=0,
        state=rec.state if state.open and rec.state == TripState.ENTERED else TripState.EXITED,
        transfers=rec.transfers + 1 if transfer else 0,
        total_fare=(rec.total_fare if transfer else 0) + fare.charged,
        total_distance=rec.total_distance if transfer else 0,
    )
    new_state = _count(state, fare.charged, record=rec)
    trips.append(trip_record(
        trip_type=TRIP_SINGLE, industry=INDUSTRY_BUS, line=route, station=0, amount=fare.charged,
        balance=card.balance - fare.amount, when=tap.when, terminal_id=tap.terminal_id, city=tables.city,
        institution=tables.institution,
    ))
    return Decision(True, fare, concession=concession, new_state=new_state, trips=tuple(trips),
                    notes=tuple(notes + price_notes), station=f"route {route}", transfer=transfer)


def _entry(tap: Tap, card: CardView, state: TransitState, tables: FareTables, penalty: int, trips: list[TripRecord],
           notes: list[str], transfer: bool) -> Decision:
    station = tables.network.station(tap.station)
    need = tables.metro.entry_min_balance
    if card.balance - penalty < need:
        extra = f" after the missed-exit penalty {yuan(penalty)}" if penalty else ""
        return decline(f"balance {yuan(card.balance)}{extra} is below {yuan(need)} needed to enter: top up",
                       station=station.name, notes=tuple(notes))
    point = tap_point(city=tables.city, institution=tables.institution, operator=tables.operator,
                      line=station.line, station=station.code, terminal_id=tap.terminal_id, when=tap.when)
    rec = state.record
    rec = replace(
        rec, valid=1, mode=1, txn_serial=_serial(tap), state=TripState.ENTERED, entry=point,
        held_fare=tables.metro.max_fare, direction=0, exit=TapPoint(), amount=0, distance=0,
        transfers=rec.transfers + 1 if transfer else 0,
        total_fare=rec.total_fare if transfer else 0,
        total_distance=rec.total_distance if transfer else 0,
    )
    flags = (state.flags & ~(FLAG_TRANSFER_LEG | FLAG_PENALTY)) | (FLAG_TRANSFER_LEG if transfer else 0)
    if penalty:
        flags |= FLAG_PENALTY
    trips.append(trip_record(
        trip_type=TRIP_ENTRY, industry=INDUSTRY_METRO, line=station.line, station=station.code, amount=0,
        balance=card.balance - penalty, when=tap.when, terminal_id=tap.terminal_id, city=tables.city,
        institution=tables.institution,
    ))
    if transfer:
        notes.append("transfer (discount at exit)")
    return Decision(True, FareBreakdown(penalty=penalty), new_state=replace(state, record=rec, flags=flags),
                    trips=tuple(trips), notes=tuple(notes), station=station.name, transfer=transfer)


def _exit(tap: Tap, card: CardView, state: TransitState, tables: FareTables, open_here: bool, expired: bool) -> Decision:
    station = tables.network.station(tap.station)
    rec = state.record
    if not open_here:
        why = "the open trip is another network's" if state.open else "no entry tap on this card"
        return decline(f"{why}: see staff", station=station.name)
    entry_code = rec.entry.station
    entry_name = _station_name(tables, entry_code)
    entry_at = state.entry_time
    notes: list[str] = []
    distance = tables.network.distance_m(entry_code, station.code) if entry_code in tables.network.by_code else 0
    transfer = bool(state.flags & FLAG_TRANSFER_LEG)
    concession = None
    if expired:
        penalty = rec.held_fare or tables.metro.max_fare
        fare = FareBreakdown(penalty=penalty)
        notes.append(f"over {tables.metro.max_trip_minutes} min: maximum fare {yuan(penalty)}")
        transfer = False
    else:
        same = entry_code == station.code and entry_at is not None and \
            tap.when - entry_at <= timedelta(minutes=tables.metro.same_station_minutes)
        if same and tables.metro.same_station_fare == "free":
            fare = FareBreakdown()
            notes.append("same-station exit: free")
            transfer = False
        else:
            base = tables.metro.minimum_fare if same else tables.metro.fare_for(distance)
            if same:
                notes.append("same-station exit: minimum fare")
            fare, concession, price_notes = _price(base, transfer, card, state, tables, "metro", tap.when)
            notes += price_notes
    point = tap_point(city=tables.city, institution=tables.institution, operator=tables.operator,
                      line=station.line, station=station.code, terminal_id=tap.terminal_id, when=tap.when)
    rec = replace(
        rec, txn_serial=_serial(tap), state=TripState.EXITED, exit=point, amount=fare.amount, distance=min(distance, 0xFFFF),
        total_fare=rec.total_fare + fare.charged, total_distance=min(rec.total_distance + distance, 0xFFFF),
    )
    flags = state.flags & ~FLAG_TRANSFER_LEG
    new_state = _count(state, fare.charged, record=rec, flags=flags | (FLAG_PENALTY if expired else 0))
    trip = trip_record(
        trip_type=TRIP_EXIT, industry=INDUSTRY_METRO, line=station.line, station=station.code, amount=fare.amount,
        balance=card.balance - fare.amount, when=tap.when, terminal_id=tap.terminal_id, city=tables.city,
        institution=tables.institution,
    )
    return Decision(True, fare, concession=concession, new_state=new_state, trips=(trip,), notes=tuple(notes),
                    station=station.name, entry_station=entry_name, distance_m=distance, transfer=transfer)


# ---------------------------------------------------------------- pricing


def _price(base: int, transfer: bool, card: CardView, state: TransitState, tables: FareTables, mode: str,
           when: datetime, penalty: int = 0) -> tuple[FareBreakdown, Concession | None, list[str]]:
    notes: list[str] = []
    transfer_off = min(base, tables.transfer.discount) if transfer else 0
    left = base - transfer_off
    if transfer_off:
        notes.append(f"transfer -{yuan(transfer_off)}")
    concession = tables.concession_for(card.category, card.age_on(when.date()), mode)
    pays = _percent(left, concession.pay_percent[mode]) if concession else left
    subsidy = left - pays
    if concession is not None:
        notes.append(f"concession {concession.id}" + (f" -{yuan(subsidy)}" if subsidy else ""))
    left = pays
    off = tables.caps.volume_percent_off(state.month_spent)
    volume = _percent(left, off) if off else 0
    if volume:
        notes.append(f"monthly volume {off}% off")
    left -= volume
    cap = 0
    if tables.caps.daily:
        room = max(0, tables.caps.daily - state.day_spent)
        if left > room:
            cap = left - room
            notes.append("daily cap reached" if room == 0 else f"daily cap: {yuan(room)} left")
    charged = left - cap
    return FareBreakdown(base, transfer_off, subsidy, volume, cap, charged, penalty), concession, notes


def _transfer_ok(tables: FareTables, card: CardView, state: TransitState, leg: str, when: datetime) -> bool:
    """Does this new leg continue a transfer chain? Evidence: the newest 001E record (the end of the last leg:
    a bus boarding or a metro exit of this network) within the window, an allowed pair, chain not too long."""
    rule, last = tables.transfer, card.last_trip
    if last is None or rule.discount == 0 or last.trip_type not in (TRIP_EXIT, TRIP_SINGLE) or last.city != tables.city:
        return False
    previous = INDUSTRY_MODE.get(last.industry)
    ended = trip_time(last)
    if previous is None or ended is None or not rule.allows(previous, leg):
        return False
    if not timedelta(0) <= when - ended <= timedelta(minutes=rule.window_minutes):
        return False
    return state.record.transfers < rule.max_per_chain


def _count(state: TransitState, charged: int, **changes: Any) -> TransitState:
    """`state` with `changes` and, when something was charged, the day and month counters moved on."""
    if charged:
        changes.update(day_spent=state.day_spent + charged, month_spent=state.month_spent + charged,
                       day_legs=min(state.day_legs + 1, 255))
    return replace(state, **changes)


# ---------------------------------------------------------------- helpers


def _route(station: str) -> int:
    if not station.isdigit() or not 1 <= int(station) <= 9999:
        raise UnknownStation(f"a bus validator's --station is its route number (1..9999), not {station!r}")
    return int(station)


def _line_of(point: TapPoint) -> int:
    text = point.line.hex()
    return int(text) if text.isdigit() else 0


def _station_name(tables: FareTables, code: int) -> str:
    found: Station | None = tables.network.by_code.get(code)
    return found.name if found else f"station {code}"


def _serial(tap: Tap) -> bytes:
    """001A transaction serial (project): the tap's terminal id ‖ hhmm of the tap, BCD."""
    return (bytes(6 - len(tap.terminal_id)) + tap.terminal_id)[:6] + bytes.fromhex(tap.when.strftime("%H%M"))


__all__ = ["Decision", "FareBreakdown", "Mode", "Tap", "decide", "decline", "yuan"]
