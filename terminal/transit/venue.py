"""Venue passes (公园年票 park annual pass, library card, museum booking) checked at gate validators. Pure:
the record codec and the gate decision; the validator writes the new record with a 0-fen compound purchase,
so an entry is proven by a TAC and counted atomically — no money moves.

The passes live in the purse's compound file 001A, record 3 (ID `27 03`, free for operators other than
transit), project layout (docs/transit.md "Venue passes")::

    0   2  record ID 27 03          3  1  format 01 (00: no pass yet)     4  1  number of passes n (0..5)
    5   24 × n pass slots:
        +0  1  pass type code (venues.toml [[pass]] code)
        +1  2  venue code (0000: every venue whose gate accepts the type)
        +3  4  valid from, BCD YYYYMMDD      +7  4  valid until, BCD YYYYMMDD (inclusive)
        +11 2  entries left (FFFF: unlimited)
        +13 4  last entry date, BCD (0: never)   +17 2  last entry venue   +19 1  entries on that date
        +20 4  pass number (the issuer's, for display)

Example::

    >>> from datetime import date
    >>> p = VenuePass(type_code=1, venue=0, valid_from=date(2024, 1, 1), valid_until=date(2024, 12, 31))
    >>> VenueRecord.from_bytes(VenueRecord((p,)).to_bytes()).passes == (p,)
    True
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date, timedelta

from applets.purse.layout import CAPP_LENGTH_BYTE, CAPP_RECORD_SIZE
from terminal.transit.fares import FareTables, Gate, PassType

VENUE_RECORD = 3
VENUE_RECORD_ID = bytes((0x27, VENUE_RECORD))
FORMAT = 0x01
SLOT = 24
MAX_PASSES = 5
UNLIMITED = 0xFFFF


def _bcd_date(d: date | None) -> bytes:
    return bytes(4) if d is None else bytes.fromhex(d.strftime("%Y%m%d"))


def _parse_date(raw: bytes) -> date | None:
    text = raw.hex()
    if not text.isdigit() or int(text) == 0:
        return None
    try:
        return date(int(text[:4]), int(text[4:6]), int(text[6:]))
    except ValueError:
        return None


@dataclass(frozen=True, slots=True)
class VenuePass:
    type_code: int
    venue: int  # 0 = any venue accepting the type
    valid_from: date
    valid_until: date
    entries_left: int = UNLIMITED
    last_entry: date | None = None
    last_venue: int = 0
    entries_on_last: int = 0
    number: int = 0

    def to_bytes(self) -> bytes:
        return (
            bytes((self.type_code,)) + self.venue.to_bytes(2, "big") + _bcd_date(self.valid_from)
            + _bcd_date(self.valid_until) + self.entries_left.to_bytes(2, "big") + _bcd_date(self.last_entry)
            + self.last_venue.to_bytes(2, "big") + bytes((min(self.entries_on_last, 255),))
            + self.number.to_bytes(4, "big")
        )

    @classmethod
    def from_bytes(cls, raw: bytes) -> VenuePass:
        start, until = _parse_date(raw[3:7]), _parse_date(raw[7:11])
        if start is None or until is None:
            raise ValueError("a venue pass has no valid dates")
        return cls(raw[0], int.from_bytes(raw[1:3], "big"), start, until, int.from_bytes(raw[11:13], "big"),
                   _parse_date(raw[13:17]), int.from_bytes(raw[17:19], "big"), raw[19], int.from_bytes(raw[20:24], "big"))


@dataclass(frozen=True, slots=True)
class VenueRecord:
    passes: tuple[VenuePass, ...] = ()

    def to_bytes(self) -> bytes:
        if len(self.passes) > MAX_PASSES:
            raise ValueError(f"at most {MAX_PASSES} passes fit one card record")
        out = VENUE_RECORD_ID + bytes((CAPP_LENGTH_BYTE, FORMAT, len(self.passes)))
        out += b"".join(p.to_bytes() for p in self.passes)
        return out + bytes(CAPP_RECORD_SIZE - len(out))

    @classmethod
    def from_bytes(cls, raw: bytes) -> VenueRecord:
        """Raises ValueError when `raw` is not the venue record 2703."""
        if len(raw) != CAPP_RECORD_SIZE or raw[:2] != VENUE_RECORD_ID:
            raise ValueError(f"not the venue record 2703 ({raw[:2].hex().upper()}, {len(raw)} bytes)")
        if raw[3] != FORMAT:
            return cls()
        n = min(raw[4], MAX_PASSES)
        return cls(tuple(VenuePass.from_bytes(raw[5 + i * SLOT: 5 + (i + 1) * SLOT]) for i in range(n)))


@dataclass(frozen=True)
class GateDecision:
    open: bool
    reason: str | None = None
    pass_type: PassType | None = None
    new_record: VenueRecord | None = None
    entries_left: int | None = None  # None: unlimited
    valid_until: date | None = None


def new_pass(pass_type: PassType, start: date, *, venue: int = 0, number: int = 0) -> VenuePass:
    """A pass of `pass_type` valid from `start` for its validity_days, with its default entries."""
    return VenuePass(pass_type.code, venue, start, start + timedelta(days=pass_type.validity_days - 1),
                     pass_type.entries or UNLIMITED, number=number)


def add_pass(record: VenueRecord, item: VenuePass) -> VenueRecord:
    """The record with `item` added; an expired pass makes room when the record is full."""
    passes = list(record.passes)
    if len(passes) >= MAX_PASSES:
        oldest = min(range(len(passes)), key=lambda i: passes[i].valid_until)
        passes.pop(oldest)
    return VenueRecord((*passes, item))


def decide_gate(record: VenueRecord, gate: Gate, tables: FareTables, day: date) -> GateDecision:
    """Open the gate for the first pass accepted here that is valid today, or say why not (the reason of the
    most promising pass)."""
    reasons: list[tuple[int, str, PassType]] = []
    for index, item in enumerate(record.passes):
        kind = tables.pass_types.get(item.type_code)
        if kind is None or item.type_code not in gate.accepts or item.venue not in (0, gate.venue):
            continue
        why = _refusal(item, kind, gate, day)
        if why is not None:
            reasons.append(why + (kind,))
            continue
        entries = item.entries_left if item.entries_left == UNLIMITED else item.entries_left - 1
        on_day = item.entries_on_last + 1 if item.last_entry == day else 1
        updated = replace(item, entries_left=entries, last_entry=day, last_venue=gate.venue, entries_on_last=on_day)
        passes = list(record.passes)
        passes[index] = updated
        return GateDecision(True, None, kind, VenueRecord(tuple(passes)),
                            None if entries == UNLIMITED else entries, item.valid_until)
    if not reasons:
        return GateDecision(False, f"no pass for {gate.name} on this card")
    _, reason, kind = min(reasons, key=lambda r: r[0])
    return GateDecision(False, f"{kind.label}: {reason}", kind)


def _refusal(item: VenuePass, kind: PassType, gate: Gate, day: date) -> tuple[int, str] | None:
    """(rank, reason) — lower ranks are closer to valid — or None when the pass opens the gate."""
    if day < item.valid_from:
        return 3, f"valid from {item.valid_from.isoformat()}"
    if day > item.valid_until:
        return 4, f"expired on {item.valid_until.isoformat()}"
    if kind.once_per_day and item.last_entry == day and item.last_venue == gate.venue:
        return 1, "already entered today (once per day)"
    if item.entries_left == 0:
        return 2, "no entries left"
    return None
