"""Pure rides through the fare engine: a card's transit state carried from tap to tap without a card OS."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta

from applets.purse.layout import TripRecord
from terminal.transit.card import CardView, TransitState
from terminal.transit.engine import Decision, Mode, Tap, decide
from terminal.transit.fares import FareTables, load_fares

TABLES = load_fares()
DAY = date(2024, 3, 1)
TERMINAL = bytes.fromhex("310100000001")


def at(hhmm: str, day: date = DAY) -> datetime:
    """'08:30' (or '+1 08:30' for the next day) on the test day."""
    extra = 0
    if hhmm.startswith("+"):
        plus, hhmm = hhmm.split()
        extra = int(plus[1:])
    h, m = hhmm.split(":")
    return datetime(day.year, day.month, day.day, int(h), int(m)) + timedelta(days=extra)


@dataclass
class Rider:
    """A card as the engine sees it, updated after every approved tap."""

    balance: int = 10_000
    category: str | None = "adult"
    birth_date: date | None = date(1985, 6, 1)
    state: TransitState = TransitState()
    last_trip: TripRecord | None = None
    serial: str = "3100000000000042"

    def view(self) -> CardView:
        return CardView(self.serial, self.balance, self.state, self.last_trip, self.category, self.birth_date)

    def tap(self, mode: str, station: str, when: datetime, tables: FareTables = TABLES) -> Decision:
        d = decide(Tap(Mode(mode), station, TERMINAL, when), self.view(), tables)
        if d.approved:
            self.balance -= d.amount
            self.state = d.new_state  # type: ignore[assignment]
            if d.trips:
                self.last_trip = d.trips[-1]
        return d


def born_aged(age: int, on: date = DAY) -> date:
    return date(on.year - age, 1, 1)


def with_counters(rider: Rider, **counters: object) -> Rider:
    rider.state = replace(rider.state, **counters)  # type: ignore[arg-type]
    return rider
