"""Purse and PSAM commands as the terminal sends them (purse.md "Commands"): one frozen dataclass per
command with `to_bytes()`, one per answer with `from_bytes(data)` that refuses any other length.

Example::

    >>> InitializeForPurchase(PurseKind.EP, 1, 0x1000, bytes.fromhex("001122334455")).to_bytes().hex().upper()
    '805001020B01000010000011223344550F'
"""

from __future__ import annotations

from dataclasses import dataclass

from applets.apdu import CommandApdu
from applets.purse.layout import PurseKind, TxnType, decode_balance
from terminal.purse.errors import BadAnswer


def _u(value: int, size: int, what: str) -> bytes:
    if not 0 <= value < 1 << (8 * size):
        raise ValueError(f"{what} {value} does not fit {size} unsigned byte(s)")
    return value.to_bytes(size, "big")


def _fixed(value: bytes, size: int, what: str) -> bytes:
    if len(value) != size:
        raise ValueError(f"{what} must be {size} bytes, got {len(value)}")
    return bytes(value)


def _exact(data: bytes, size: int, what: str) -> bytes:
    if len(data) != size:
        raise BadAnswer(f"{what}: expected {size} bytes of data, the card sent {len(data)}")
    return data


# ---- card ----


@dataclass(frozen=True, slots=True)
class GetBalance:
    """GET BALANCE `80 5C 00 P2 04` (P2 01 ED, 02 EP)."""

    purse: PurseKind = PurseKind.EP

    def to_bytes(self) -> bytes:
        return CommandApdu(0x80, 0x5C, 0x00, self.purse, b"", 4).to_bytes()

    @staticmethod
    def parse(data: bytes) -> int:
        return decode_balance(_exact(data, 4, "GET BALANCE"))


@dataclass(frozen=True, slots=True)
class InitializeForLoad:
    """INITIALIZE FOR LOAD `80 50 00 P2 0B` key index 1 ‖ amount 4 ‖ terminal id 6, Le 10."""

    purse: PurseKind
    key_index: int
    amount: int
    terminal_id: bytes

    def to_bytes(self) -> bytes:
        data = _u(self.key_index, 1, "key index") + _u(self.amount, 4, "amount") + _fixed(self.terminal_id, 6, "terminal id")
        return CommandApdu(0x80, 0x50, 0x00, self.purse, data, 0x10).to_bytes()


@dataclass(frozen=True, slots=True)
class LoadInit:
    """Answer: balance 4 ‖ online counter 2 ‖ key version 1 ‖ alg id 1 ‖ random 4 ‖ MAC1 4."""

    balance: int
    counter: int
    key_version: int
    alg: int
    random: bytes
    mac1: bytes

    @classmethod
    def from_bytes(cls, data: bytes) -> LoadInit:
        d = _exact(data, 16, "INITIALIZE FOR LOAD")
        return cls(decode_balance(d[0:4]), int.from_bytes(d[4:6], "big"), d[6], d[7], d[8:12], d[12:16])


@dataclass(frozen=True, slots=True)
class CreditForLoad:
    """CREDIT FOR LOAD `80 52 00 00 0B` date 4 ‖ time 3 ‖ MAC2 4, Le 04 → TAC 4."""

    date: bytes
    time: bytes
    mac2: bytes

    def to_bytes(self) -> bytes:
        data = _fixed(self.date, 4, "date") + _fixed(self.time, 3, "time") + _fixed(self.mac2, 4, "MAC2")
        return CommandApdu(0x80, 0x52, 0x00, 0x00, data, 4).to_bytes()

    @staticmethod
    def parse(data: bytes) -> bytes:
        return _exact(data, 4, "CREDIT FOR LOAD")


@dataclass(frozen=True, slots=True)
class InitializeForPurchase:
    """INITIALIZE FOR PURCHASE `80 50 01 P2 0B` / FOR CAPP PURCHASE `80 50 03 02 0B`, Le 0F."""

    purse: PurseKind
    key_index: int
    amount: int
    terminal_id: bytes
    capp: bool = False

    def to_bytes(self) -> bytes:
        if self.capp and self.purse is not PurseKind.EP:
            raise ValueError("a compound (CAPP) purchase is an EP purchase")
        data = _u(self.key_index, 1, "key index") + _u(self.amount, 4, "amount") + _fixed(self.terminal_id, 6, "terminal id")
        return CommandApdu(0x80, 0x50, 0x03 if self.capp else 0x01, self.purse, data, 0x0F).to_bytes()


@dataclass(frozen=True, slots=True)
class PurchaseInit:
    """Answer: balance 4 ‖ offline counter 2 ‖ overdraft limit 3 ‖ key version 1 ‖ alg id 1 ‖ random 4."""

    balance: int
    counter: int
    overdraft_limit: int
    key_version: int
    alg: int
    random: bytes

    @classmethod
    def from_bytes(cls, data: bytes) -> PurchaseInit:
        d = _exact(data, 15, "INITIALIZE FOR PURCHASE")
        return cls(
            decode_balance(d[0:4]), int.from_bytes(d[4:6], "big"), int.from_bytes(d[6:9], "big"), d[9], d[10], d[11:15]
        )


@dataclass(frozen=True, slots=True)
class UpdateCappDataCache:
    """UPDATE CAPP DATA CACHE `80 DC rec P2 Lc data`, P2 = SFI<<3 (001A: rec = record number; 001E: 00)."""

    sfi: int
    record: int
    data: bytes

    def to_bytes(self) -> bytes:
        if not 1 <= self.sfi <= 30:
            raise ValueError("SFI must be 1..30")
        if not 1 <= len(self.data) <= 255:
            raise ValueError("CAPP data must be 1..255 bytes")
        if not 0 <= self.record <= 0xFF:
            raise ValueError("record number must be 0..255")
        return CommandApdu(0x80, 0xDC, self.record, self.sfi << 3, bytes(self.data)).to_bytes()


@dataclass(frozen=True, slots=True)
class DebitForPurchase:
    """DEBIT FOR (CAPP) PURCHASE `80 54 01 00 0F` terminal txn seq 4 ‖ date 4 ‖ time 3 ‖ MAC1 4, Le 08."""

    terminal_seq: int
    date: bytes
    time: bytes
    mac1: bytes

    def to_bytes(self) -> bytes:
        data = (
            _u(self.terminal_seq, 4, "terminal seq")
            + _fixed(self.date, 4, "date")
            + _fixed(self.time, 3, "time")
            + _fixed(self.mac1, 4, "MAC1")
        )
        return CommandApdu(0x80, 0x54, 0x01, 0x00, data, 8).to_bytes()


@dataclass(frozen=True, slots=True)
class Debit:
    """Answer: TAC 4 ‖ MAC2 4."""

    tac: bytes
    mac2: bytes

    @classmethod
    def from_bytes(cls, data: bytes) -> Debit:
        d = _exact(data, 8, "DEBIT FOR PURCHASE")
        return cls(d[0:4], d[4:8])


@dataclass(frozen=True, slots=True)
class GetTransactionProof:
    """GET TRANSACTION PROOF `80 5A 00 P2 02` counter 2 (P2 = txn type), Le 08 → MAC2 4 ‖ TAC 4."""

    txn_type: TxnType
    counter: int

    def to_bytes(self) -> bytes:
        return CommandApdu(0x80, 0x5A, 0x00, self.txn_type, _u(self.counter, 2, "counter"), 8).to_bytes()


@dataclass(frozen=True, slots=True)
class Proof:
    mac2: bytes
    tac: bytes

    @classmethod
    def from_bytes(cls, data: bytes) -> Proof:
        d = _exact(data, 8, "GET TRANSACTION PROOF")
        return cls(d[0:4], d[4:8])


@dataclass(frozen=True, slots=True)
class ApplicationBlock:
    """APPLICATION BLOCK `84 1E 00 00 04` MAC 4 (after GET CHALLENGE)."""

    mac: bytes

    def to_bytes(self) -> bytes:
        return CommandApdu(0x84, 0x1E, 0x00, 0x00, _fixed(self.mac, 4, "MAC")).to_bytes()


# ---- PSAM ----


@dataclass(frozen=True, slots=True)
class InitSamForPurchase:
    """INIT SAM FOR PURCHASE `80 70 00 00 1C|24`: card random 4 ‖ offline counter 2 ‖ amount 4 ‖ type 1 ‖
    date 4 ‖ time 3 ‖ key version 1 ‖ alg id 1 ‖ factor 8 [‖ issuer code 8], Le 08."""

    random: bytes
    counter: int
    amount: int
    txn_type: int
    date: bytes
    time: bytes
    key_version: int
    alg: int
    factor: bytes
    issuer_code: bytes | None = None

    def to_bytes(self) -> bytes:
        data = (
            _fixed(self.random, 4, "card random")
            + _u(self.counter, 2, "counter")
            + _u(self.amount, 4, "amount")
            + _u(self.txn_type, 1, "type")
            + _fixed(self.date, 4, "date")
            + _fixed(self.time, 3, "time")
            + _u(self.key_version, 1, "key version")
            + _u(self.alg, 1, "alg id")
            + _fixed(self.factor, 8, "factor")
        )
        if self.issuer_code is not None:
            data += _fixed(self.issuer_code, 8, "issuer code")
        return CommandApdu(0x80, 0x70, 0x00, 0x00, data, 8).to_bytes()


@dataclass(frozen=True, slots=True)
class SamInit:
    """Answer: terminal txn seq 4 ‖ MAC1 4."""

    terminal_seq: int
    mac1: bytes

    @classmethod
    def from_bytes(cls, data: bytes) -> SamInit:
        d = _exact(data, 8, "INIT SAM FOR PURCHASE")
        return cls(int.from_bytes(d[0:4], "big"), d[4:8])


@dataclass(frozen=True, slots=True)
class CreditSamForPurchase:
    """CREDIT SAM FOR PURCHASE `80 72 00 00 04` MAC2; with `terminal_seq` the project's Lc 08 form."""

    mac2: bytes
    terminal_seq: int | None = None

    def to_bytes(self) -> bytes:
        data = _fixed(self.mac2, 4, "MAC2")
        if self.terminal_seq is not None:
            data = _u(self.terminal_seq, 4, "terminal seq") + data
        return CommandApdu(0x80, 0x72, 0x00, 0x00, data).to_bytes()
