"""E-purse (JR/T 0025 EP/ED) constants and record layouts, shared by the card and the terminal.

Pure value objects with `to_bytes()` / `from_bytes()`; `from_bytes` raises `ValueError` naming what is
wrong. The layouts are documented for users in docs/purse.md.

Example::

    >>> rec = LogRecord(counter=1, overdraft_limit=0, amount=150, txn_type=TxnType.EP_PURCHASE,
    ...                 terminal_id=bytes.fromhex("001122334455"), date=bytes.fromhex("20240102"),
    ...                 time=bytes.fromhex("083000"))
    >>> LogRecord.from_bytes(rec.to_bytes()) == rec
    True
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum

# ---- application and files (docs/purse.md "Card side") ----

PURSE_AID = bytes.fromhex("A000000632010105")  # T-Union EP AID (transit.md), label MOT_T_EP
PURSE_FID = 0x1001  # the purse ADF under the MF of the social security card
PURSE_LABEL = "MOT_T_EP"

SFI_ISSUER = 0x15  # 0015 issuer public information, transparent, 30 B
SFI_LOG = 0x18  # 0018 transaction log, cyclic, 23 B records, newest first
SFI_CAPP = 0x1A  # 001A compound (CAPP) data, linear fixed, 128 B records
SFI_TRIP = 0x1E  # 001E trip records, cyclic, 48 B records, newest first

ISSUER_INFO_SIZE = 30
LOG_RECORD_SIZE = 23
LOG_RECORDS = 10
CAPP_RECORD_SIZE = 128
CAPP_RECORDS = 4
TRIP_RECORD_SIZE = 48
TRIP_RECORDS = 10
TRANSIT_CAPP_RECORD = 2  # record 2 of 001A is the T-Union transit record (ID 27 02)

MAX_AMOUNT = 0xFFFFFFFF  # amounts are unsigned 4-byte fen (purse.md)
MAX_OVERDRAFT = 0xFFFFFF  # overdraft limit: 3 bytes


class PurseKind(IntEnum):
    """P2 of GET BALANCE / INITIALIZE: 01 ED (e-deposit), 02 EP (e-purse)."""

    ED = 0x01
    EP = 0x02

    @property
    def label(self) -> str:
        return self.name.lower()

    @classmethod
    def parse(cls, value: str | int | PurseKind) -> PurseKind:
        if isinstance(value, PurseKind):
            return value
        if isinstance(value, str):
            try:
                return cls[value.upper()]
            except KeyError:
                raise ValueError(f"purse must be 'ep' or 'ed', not {value!r}") from None
        return cls(value)


class TxnType(IntEnum):
    """Transaction type byte (purse.md): in MACs, TACs, the log and GET TRANSACTION PROOF."""

    ED_LOAD = 0x01
    EP_LOAD = 0x02
    ED_PURCHASE = 0x05
    EP_PURCHASE = 0x06
    CAPP_PURCHASE = 0x09

    @property
    def is_load(self) -> bool:
        return self in (TxnType.ED_LOAD, TxnType.EP_LOAD)

    @property
    def purse(self) -> PurseKind:
        return PurseKind.ED if self in (TxnType.ED_LOAD, TxnType.ED_PURCHASE) else PurseKind.EP


def load_type(purse: PurseKind) -> TxnType:
    return TxnType.ED_LOAD if purse is PurseKind.ED else TxnType.EP_LOAD


def purchase_type(purse: PurseKind) -> TxnType:
    return TxnType.ED_PURCHASE if purse is PurseKind.ED else TxnType.EP_PURCHASE


# ---- small codecs ----


def encode_balance(balance: int) -> bytes:
    """A balance on the wire: 4 bytes big-endian, two's complement (negative only inside the overdraft)."""
    if not -(1 << 31) <= balance < 1 << 31:
        raise ValueError(f"balance {balance} does not fit 4 signed bytes")
    return balance.to_bytes(4, "big", signed=True)


def decode_balance(raw: bytes) -> int:
    if len(raw) != 4:
        raise ValueError(f"a balance is 4 bytes, got {len(raw)}")
    return int.from_bytes(raw, "big", signed=True)


def is_bcd(raw: bytes) -> bool:
    return all((b >> 4) <= 9 and (b & 0x0F) <= 9 for b in raw)


def valid_date_time(date4: bytes, time3: bytes) -> bool:
    """BCD YYYYMMDD and hhmmss with plausible field ranges (the card checks them, it has no clock)."""
    if len(date4) != 4 or len(time3) != 3 or not (is_bcd(date4) and is_bcd(time3)):
        return False
    d, t = date4.hex(), time3.hex()
    month, day = int(d[4:6]), int(d[6:8])
    hour, minute, second = int(t[:2]), int(t[2:4]), int(t[4:])
    return 1 <= month <= 12 and 1 <= day <= 31 and hour <= 23 and minute <= 59 and second <= 59


def _need(raw: bytes, size: int, what: str) -> bytes:
    if len(raw) != size:
        raise ValueError(f"{what} is {size} bytes, got {len(raw)}")
    return bytes(raw)


def _fixed(value: bytes, size: int, what: str) -> bytes:
    if len(value) != size:
        raise ValueError(f"{what} must be {size} bytes, got {len(value)}")
    return bytes(value)


# ---- 0015 issuer public information (purse.md "Applications and files") ----


@dataclass(frozen=True, slots=True)
class IssuerInfo:
    """0015 (30 B): issuer code 8 ‖ app type 1 ‖ app version 1 ‖ app serial 10 ‖ start date 4 ‖
    expiry date 4 ‖ issuer data 2. The last 8 bytes of the app serial are the key diversification factor."""

    issuer_code: bytes  # 8: D156 ‖ city (BCD, bytes 2–3) ‖ issuer institution 4
    app_type: int  # 03 = ED + EP
    app_version: int
    app_serial: bytes  # 10: city (BCD 2) ‖ card serial 8
    start_date: bytes  # BCD YYYYMMDD
    expiry_date: bytes
    issuer_data: bytes = b"\x00\x00"

    @property
    def factor(self) -> bytes:
        """Diversification factor: the last 8 bytes of the app serial (purse.md)."""
        return self.app_serial[2:]

    def to_bytes(self) -> bytes:
        return (
            _fixed(self.issuer_code, 8, "issuer code")
            + bytes((self.app_type, self.app_version))
            + _fixed(self.app_serial, 10, "app serial")
            + _fixed(self.start_date, 4, "start date")
            + _fixed(self.expiry_date, 4, "expiry date")
            + _fixed(self.issuer_data, 2, "issuer data")
        )

    @classmethod
    def from_bytes(cls, raw: bytes) -> IssuerInfo:
        raw = _need(raw, ISSUER_INFO_SIZE, "file 0015")
        return cls(raw[0:8], raw[8], raw[9], raw[10:20], raw[20:24], raw[24:28], raw[28:30])


# ---- 0018 transaction log (purse.md) ----


@dataclass(frozen=True, slots=True)
class LogRecord:
    """0018 record (23 B): counter 2 ‖ overdraft limit 3 ‖ amount 4 ‖ type 1 ‖ terminal id 6 ‖ date 4 ‖
    time 3. `counter` is the online (load) or offline (purchase) counter the transaction used."""

    counter: int
    overdraft_limit: int
    amount: int
    txn_type: int
    terminal_id: bytes
    date: bytes
    time: bytes

    def to_bytes(self) -> bytes:
        return (
            self.counter.to_bytes(2, "big")
            + self.overdraft_limit.to_bytes(3, "big")
            + self.amount.to_bytes(4, "big")
            + bytes((self.txn_type,))
            + _fixed(self.terminal_id, 6, "terminal id")
            + _fixed(self.date, 4, "date")
            + _fixed(self.time, 3, "time")
        )

    @classmethod
    def from_bytes(cls, raw: bytes) -> LogRecord:
        raw = _need(raw, LOG_RECORD_SIZE, "a 0018 log record")
        return cls(
            counter=int.from_bytes(raw[0:2], "big"),
            overdraft_limit=int.from_bytes(raw[2:5], "big"),
            amount=int.from_bytes(raw[5:9], "big"),
            txn_type=raw[9],
            terminal_id=raw[10:16],
            date=raw[16:20],
            time=raw[20:23],
        )

    @property
    def when(self) -> str:
        """'YYYY-MM-DD hh:mm:ss' (as sent by the terminal)."""
        d, t = self.date.hex(), self.time.hex()
        return f"{d[:4]}-{d[4:6]}-{d[6:]} {t[:2]}:{t[2:4]}:{t[4:]}"


# ---- 001A compound (CAPP) transit record: project layout after the public T-Union one ----

CAPP_ID_TRANSIT = b"\x27\x02"
CAPP_LENGTH_BYTE = 0x7D  # 125 = 128 − 3 header bytes


class TripState(IntEnum):
    INITIAL = 0x00
    ENTERED = 0x01  # entered / boarded: a trip is open
    EXITED = 0x02


@dataclass(frozen=True, slots=True)
class TapPoint:
    """Where and when a tap happened: 38 bytes inside the 001A record (entry and exit halves alike)."""

    city: bytes = bytes(2)  # BCD city code
    institution: bytes = bytes(8)
    operator: bytes = bytes(2)
    line: bytes = bytes(2)
    station: int = 0
    vehicle: bytes = bytes(8)
    terminal: bytes = bytes(8)
    time: bytes = bytes(7)  # BCD YYYYMMDDhhmmss

    SIZE = 38

    def to_bytes(self) -> bytes:
        return (
            _fixed(self.city, 2, "city")
            + _fixed(self.institution, 8, "institution")
            + _fixed(self.operator, 2, "operator")
            + _fixed(self.line, 2, "line")
            + bytes((self.station,))
            + _fixed(self.vehicle, 8, "vehicle")
            + _fixed(self.terminal, 8, "terminal")
            + _fixed(self.time, 7, "time")
        )

    @classmethod
    def from_bytes(cls, raw: bytes) -> TapPoint:
        raw = _need(raw, cls.SIZE, "a tap point")
        return cls(raw[0:2], raw[2:10], raw[10:12], raw[12:14], raw[14], raw[15:23], raw[23:31], raw[31:38])


@dataclass(frozen=True, slots=True)
class CappTransitRecord:
    """001A record 2 (128 B), project layout after the public T-Union one (transit.md), offsets:

    0 ID `27 02` · 2 length `7D` · 3 valid 1 · 4 mode 1 (01 segmented, 02 pre-auth) · 5 lock flag 1 ·
    6 txn serial 8 · 14 state 1 (00 initial, 01 entered, 02 exited) · 15 entry tap 38 · 53 held max
    fare 4 · 57 direction 1 · 58 exit tap 38 · 96 amount 4 · 100 distance 2 · 102 transfer count 1 ·
    103 cumulative distance 2 · 105 cumulative fare 4 · 109 reserved 19.
    """

    valid: int = 0x01
    mode: int = 0x01
    lock: int = 0x00
    txn_serial: bytes = bytes(8)
    state: int = TripState.INITIAL
    entry: TapPoint = TapPoint()
    held_fare: int = 0
    direction: int = 0
    exit: TapPoint = TapPoint()
    amount: int = 0
    distance: int = 0
    transfers: int = 0
    total_distance: int = 0
    total_fare: int = 0

    def to_bytes(self) -> bytes:
        out = (
            CAPP_ID_TRANSIT
            + bytes((CAPP_LENGTH_BYTE, self.valid, self.mode, self.lock))
            + _fixed(self.txn_serial, 8, "txn serial")
            + bytes((self.state,))
            + self.entry.to_bytes()
            + self.held_fare.to_bytes(4, "big")
            + bytes((self.direction,))
            + self.exit.to_bytes()
            + self.amount.to_bytes(4, "big")
            + self.distance.to_bytes(2, "big")
            + bytes((self.transfers,))
            + self.total_distance.to_bytes(2, "big")
            + self.total_fare.to_bytes(4, "big")
        )
        return out + bytes(CAPP_RECORD_SIZE - len(out))

    @classmethod
    def from_bytes(cls, raw: bytes) -> CappTransitRecord:
        raw = _need(raw, CAPP_RECORD_SIZE, "a 001A record")
        if raw[0:2] != CAPP_ID_TRANSIT:
            raise ValueError(f"001A record ID is {raw[0:2].hex().upper()}, not the transit record 2702")
        return cls(
            valid=raw[3],
            mode=raw[4],
            lock=raw[5],
            txn_serial=raw[6:14],
            state=raw[14],
            entry=TapPoint.from_bytes(raw[15:53]),
            held_fare=int.from_bytes(raw[53:57], "big"),
            direction=raw[57],
            exit=TapPoint.from_bytes(raw[58:96]),
            amount=int.from_bytes(raw[96:100], "big"),
            distance=int.from_bytes(raw[100:102], "big"),
            transfers=raw[102],
            total_distance=int.from_bytes(raw[103:105], "big"),
            total_fare=int.from_bytes(raw[105:109], "big"),
        )


def empty_capp_record(number: int) -> bytes:
    """A fresh 001A record: ID `27 nn`, length `7D`, the rest zero (record 2 = the transit record)."""
    return bytes((0x27, number, CAPP_LENGTH_BYTE)) + bytes(CAPP_RECORD_SIZE - 3)


# ---- 001E trip record (48 B, transit.md) ----


@dataclass(frozen=True, slots=True)
class TripRecord:
    """001E record (48 B): type 1 ‖ terminal 8 ‖ industry 1 ‖ line+station 7 ‖ amount 4 ‖ balance 4 ‖
    time 7 ‖ city 2 ‖ institution 8 ‖ reserved 6. Types: 03/04 entry/exit, 05/06 single fare,
    07/08 penalty fare, 09/0A load; industry 01 metro, 02 bus."""

    trip_type: int
    terminal: bytes
    industry: int
    place: bytes
    amount: int
    balance: int
    time: bytes
    city: bytes = bytes(2)
    institution: bytes = bytes(8)

    def to_bytes(self) -> bytes:
        return (
            bytes((self.trip_type,))
            + _fixed(self.terminal, 8, "terminal")
            + bytes((self.industry,))
            + _fixed(self.place, 7, "line+station")
            + self.amount.to_bytes(4, "big")
            + encode_balance(self.balance)
            + _fixed(self.time, 7, "time")
            + _fixed(self.city, 2, "city")
            + _fixed(self.institution, 8, "institution")
            + bytes(6)
        )

    @classmethod
    def from_bytes(cls, raw: bytes) -> TripRecord:
        raw = _need(raw, TRIP_RECORD_SIZE, "a 001E record")
        return cls(
            trip_type=raw[0],
            terminal=raw[1:9],
            industry=raw[9],
            place=raw[10:17],
            amount=int.from_bytes(raw[17:21], "big"),
            balance=decode_balance(raw[21:25]),
            time=raw[25:32],
            city=raw[32:34],
            institution=raw[34:42],
        )
