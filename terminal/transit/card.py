"""What the validator keeps on the card: the transit compound record (001A record 2) with the project's
counter extension, the trip records (001E) and the card facts concessions need. docs/transit.md.

001A record 2 = the T-Union layout of applets/purse/layout.py (`CappTransitRecord`, offsets 0..108) plus,
in its 19 reserved bytes, the project's counters, so that caps and volume discounts hold across validators
offline and change in the same atomic compound purchase as the balance:

    109  1  extension version 01 (00 on a card never tapped: all counters zero)
    110  1  flags: bit 0 the open trip is a discounted transfer leg, bit 1 the last trip was closed by a
            missed-exit penalty
    111  4  counter date, BCD YYYYMMDD (the day of `day spent`; its month is the month of `month spent`)
    115  4  fen charged on that day
    119  4  fen charged in that month
    123  1  legs charged on that day
    124  4  reserved (zero)

Example::

    >>> s = TransitState(day_spent=300, month_spent=12_000, counter_date="20240301", day_legs=2)
    >>> TransitState.from_bytes(s.to_bytes()) == s
    True
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import date, datetime

from applets.purse.layout import CAPP_RECORD_SIZE, CappTransitRecord, TapPoint, TripRecord, TripState

EXT_OFFSET = 109
EXT_VERSION = 0x01
FLAG_TRANSFER_LEG = 0x01
FLAG_PENALTY = 0x02

# 001E trip types (transit.md) and industries
TRIP_ENTRY = 0x03
TRIP_EXIT = 0x04
TRIP_SINGLE = 0x05
TRIP_PENALTY = 0x07
INDUSTRY_METRO = 0x01
INDUSTRY_BUS = 0x02
INDUSTRY_MODE = {INDUSTRY_METRO: "metro", INDUSTRY_BUS: "bus"}

# File 0019 (the medical record, issuer part) byte 4: the holder's insured category, set at issue from the
# profile's [insurance].category — the validator reads it for concessions (applets/purse/medical.py).
MEDICAL_SFI = 0x19
MEDICAL_RECORD_ID = b"\x4d\x01"
CATEGORY_BY_CODE = {0x01: "active", 0x02: "retired", 0x03: "adult", 0x04: "elderly", 0x05: "student", 0x06: "child"}


def bcd_datetime(when: datetime) -> bytes:
    """7 bytes BCD YYYYMMDDhhmmss."""
    return bytes.fromhex(when.strftime("%Y%m%d%H%M%S"))


def parse_bcd_datetime(raw: bytes) -> datetime | None:
    """7 bytes BCD → datetime; None for all zeros or anything that is not a valid time."""
    text = raw.hex()
    if len(text) != 14 or not text.isdigit() or int(text) == 0:
        return None
    try:
        return datetime(int(text[:4]), int(text[4:6]), int(text[6:8]), int(text[8:10]), int(text[10:12]), int(text[12:]))
    except ValueError:
        return None


def terminal8(terminal_id: bytes) -> bytes:
    """The 6-byte PSAM terminal id as the 8-byte terminal field of the records."""
    return bytes(8 - len(terminal_id)) + terminal_id


def bcd_number(value: int, size: int) -> bytes:
    return bytes.fromhex(f"{value:0{2 * size}d}")


def parse_bcd_number(raw: bytes) -> int | None:
    text = raw.hex()
    return int(text) if text.isdigit() else None


@dataclass(frozen=True)
class TransitState:
    """001A record 2: the T-Union part and the project's counters (see the module docstring)."""

    record: CappTransitRecord = field(default_factory=CappTransitRecord)
    flags: int = 0
    counter_date: str = ""  # YYYYMMDD, "" before the first charged tap
    day_spent: int = 0
    month_spent: int = 0
    day_legs: int = 0

    @property
    def open(self) -> bool:
        return self.record.state == TripState.ENTERED

    @property
    def entry_time(self) -> datetime | None:
        return parse_bcd_datetime(self.record.entry.time)

    def to_bytes(self) -> bytes:
        base = self.record.to_bytes()[:EXT_OFFSET]
        counter_date = bytes.fromhex(self.counter_date) if self.counter_date else bytes(4)
        ext = (
            bytes((EXT_VERSION, self.flags))
            + counter_date
            + self.day_spent.to_bytes(4, "big")
            + self.month_spent.to_bytes(4, "big")
            + bytes((min(self.day_legs, 255),))
        )
        out = base + ext
        return out + bytes(CAPP_RECORD_SIZE - len(out))

    @classmethod
    def from_bytes(cls, raw: bytes) -> TransitState:
        """Raises ValueError for a record that is not the transit record 2702 (or not 128 bytes)."""
        record = CappTransitRecord.from_bytes(raw)
        ext = raw[EXT_OFFSET:]
        if ext[0] != EXT_VERSION:
            return cls(record)
        text = ext[2:6].hex()
        return cls(
            record=record,
            flags=ext[1],
            counter_date=text if text.isdigit() and int(text) else "",
            day_spent=int.from_bytes(ext[6:10], "big"),
            month_spent=int.from_bytes(ext[10:14], "big"),
            day_legs=ext[14],
        )

    def with_counters_for(self, day: date) -> TransitState:
        """The counters as they stand on `day`: a later day resets the day counters, a later month the month
        counter too. A day before the counter date (a validator clock behind) keeps them as they are."""
        today = day.strftime("%Y%m%d")
        if not self.counter_date or today > self.counter_date:
            same_month = self.counter_date[:6] == today[:6]
            return replace(self, counter_date=today, day_spent=0, day_legs=0,
                           month_spent=self.month_spent if same_month else 0)
        return self


@dataclass(frozen=True)
class CardView:
    """What a validator read from the card before deciding (everything the fare engine looks at)."""

    card_serial: str  # 16 hex digits (the last 8 bytes of the app serial)
    balance: int  # EP balance, fen
    state: TransitState
    last_trip: TripRecord | None  # 001E record 1 (the newest), None when the log is empty
    category: str | None = None  # from 0019, None when the card has none
    birth_date: date | None = None  # from SSSE EF06, None when unreadable without a PIN

    def age_on(self, day: date) -> int | None:
        if self.birth_date is None:
            return None
        b = self.birth_date
        return day.year - b.year - ((day.month, day.day) < (b.month, b.day))


def category_of(record: bytes) -> str | None:
    """The insured category byte of a 0019 record (None when it is not one)."""
    if len(record) < 5 or record[:2] != MEDICAL_RECORD_ID:
        return None
    return CATEGORY_BY_CODE.get(record[4])


def tap_point(*, city: bytes, institution: bytes, operator: bytes, line: int, station: int, terminal_id: bytes,
              when: datetime, vehicle: bytes = bytes(8)) -> TapPoint:
    return TapPoint(city, institution, operator, bcd_number(line, 2), station, vehicle, terminal8(terminal_id),
                    bcd_datetime(when))


def trip_record(*, trip_type: int, industry: int, line: int, station: int, amount: int, balance: int, when: datetime,
                terminal_id: bytes, city: bytes, institution: bytes) -> TripRecord:
    """A 001E record; `place` = line 2 (BCD) ‖ station 1 ‖ 4 zero bytes."""
    place = bcd_number(line, 2) + bytes((station,)) + bytes(4)
    return TripRecord(trip_type, terminal8(terminal_id), industry, place, amount, balance, bcd_datetime(when), city,
                      institution)


def trip_time(trip: TripRecord) -> datetime | None:
    return parse_bcd_datetime(trip.time)


def trip_station(trip: TripRecord) -> tuple[int | None, int]:
    """(line, station) of a 001E record."""
    return parse_bcd_number(trip.place[:2]), trip.place[2]
