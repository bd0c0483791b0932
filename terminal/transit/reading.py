"""Reading what a tap needs from the card (before any money moves), over the purse's `CardChannel`:
GET BALANCE, the transit record (001A record 2), the newest trip record (001E record 1), the venue record
(001A record 3), the newest transaction log record (0018 record 1) and the card facts concessions use — the insured category (0019) and the holder's birth date
(SSSE EF06, tag 0D; unreadable without the PIN on some cards, then only the category counts).

The facts never change on a card, so `FactCache` keeps them per card serial (least recently used first out):
a returning card costs 4 APDUs fewer."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from typing import TypeVar

from applets.holder import parse_bcd_date, parse_record
from applets.purse.layout import PURSE_AID, SFI_CAPP, SFI_LOG, SFI_TRIP, TRANSIT_CAPP_RECORD, LogRecord, TripRecord
from applets.ssse import EF06_SFI, SSSE_AID
from applets.sw import SW
from terminal.protocol.iso import ReadRecord, SelectByName
from terminal.purse.channel import CardChannel, sw_text
from terminal.purse.commands import GetBalance
from terminal.purse.errors import BadAnswer, PurseError
from terminal.transit.card import MEDICAL_SFI, CardView, TransitState, category_of
from terminal.transit.venue import VENUE_RECORD

BIRTH_DATE_TAG = 0x0D
T = TypeVar("T")
_ABSENT = (SW.FILE_NOT_FOUND, SW.RECORD_NOT_FOUND)


@dataclass(frozen=True, slots=True)
class CardFacts:
    category: str | None
    birth_date: date | None


class FactCache:
    """Card serial → CardFacts, at most `size` cards."""

    def __init__(self, size: int = 10_000) -> None:
        self.size = size
        self._items: OrderedDict[str, CardFacts] = OrderedDict()

    def get(self, serial: str) -> CardFacts | None:
        found = self._items.get(serial)
        if found is not None:
            self._items.move_to_end(serial)
        return found

    def put(self, serial: str, facts: CardFacts) -> None:
        self._items[serial] = facts
        self._items.move_to_end(serial)
        while len(self._items) > self.size:
            self._items.popitem(last=False)


def _record(channel: CardChannel, sfi: int, number: int) -> bytes | None:
    """A record, or None when the file or record is not there. PurseError for any other refusal."""
    resp = channel.send(ReadRecord(sfi, number))
    if resp.sw in _ABSENT:
        return None
    if resp.sw != SW.OK:
        raise PurseError(f"READ RECORD {number} of SFI {sfi:02X}: {sw_text(resp.sw)}", resp.sw)
    return resp.data


def balance(channel: CardChannel) -> int:
    resp = channel.send(GetBalance())
    if resp.sw != SW.OK:
        raise PurseError(f"GET BALANCE: {sw_text(resp.sw)}", resp.sw)
    try:
        return GetBalance.parse(resp.data)
    except ValueError as e:
        raise BadAnswer(str(e)) from None


def _parsed(channel: CardChannel, sfi: int, number: int, parse: Callable[[bytes], T], damaged: str) -> T | None:
    """A record parsed, None when it is not there; BadAnswer `damaged` (with the parser's reason) if it
    does not parse."""
    raw = _record(channel, sfi, number)
    if raw is None:
        return None
    try:
        return parse(raw)
    except ValueError as e:
        raise BadAnswer(damaged.format(e)) from None


def transit_state(channel: CardChannel) -> TransitState:
    state = _parsed(channel, SFI_CAPP, TRANSIT_CAPP_RECORD, TransitState.from_bytes,
                    "the card's transit record is damaged ({}): see staff")
    if state is None:
        raise PurseError("this card has no transit record (001A record 2)")
    return state


def last_trip(channel: CardChannel) -> TripRecord | None:
    return _parsed(channel, SFI_TRIP, 1, TripRecord.from_bytes, "the card's trip record is damaged ({})")


def last_log(channel: CardChannel) -> LogRecord | None:
    """The newest 0018 transaction log record, or None when the card has none."""
    return _parsed(channel, SFI_LOG, 1, LogRecord.from_bytes, "the card's transaction log is damaged ({})")


def venue_record(channel: CardChannel) -> bytes:
    raw = _record(channel, SFI_CAPP, VENUE_RECORD)
    if raw is None:
        raise PurseError("this card has no venue record (001A record 3)")
    return raw


def card_facts(channel: CardChannel) -> CardFacts:
    """Category from 0019 (purse selected), then the birth date from SSSE EF06; the purse is selected again
    at the end (PurseError if it cannot be)."""
    medical = _record(channel, MEDICAL_SFI, 1)
    category = None if medical is None else category_of(medical)
    born: date | None = None
    resp = channel.send(SelectByName(SSSE_AID))
    if resp.sw == SW.OK:
        resp = channel.send(ReadRecord(EF06_SFI, BIRTH_DATE_TAG))
        if resp.sw == SW.OK:
            try:
                tag, value = parse_record(resp.data)
                born = parse_bcd_date(value) if tag == BIRTH_DATE_TAG else None
            except ValueError:
                born = None
    resp = channel.send(SelectByName(PURSE_AID))
    if resp.sw != SW.OK:
        raise PurseError(f"SELECT of the purse after SSSE: {sw_text(resp.sw)}", resp.sw)
    return CardFacts(category, born)


def card_view(channel: CardChannel, serial: str, cache: FactCache) -> CardView:
    """Everything the fare engine looks at; the purse must be selected, and stays selected."""
    amount = balance(channel)
    state = transit_state(channel)
    trip = last_trip(channel)
    facts = cache.get(serial)
    if facts is None:
        facts = card_facts(channel)
        cache.put(serial, facts)
    return CardView(serial, amount, state, trip, facts.category, facts.birth_date)
