"""What a purse transaction leaves behind: an outcome that is never a guess, and everything a ledger
and the clearing house need (docs/purse.md "Results").

* ``done`` — the card changed (debited / credited) and the terminal holds its TAC; the MAC2 of a purchase
  was verified by the PSAM.
* ``not_done`` — the card did not change (or, for a card whose MAC2 fails, the terminal refuses it:
  `reason` says so); nothing is to be booked.
* ``unknown`` — the card went away between sending the DEBIT/CREDIT and learning its result; `attempt`
  holds what `PurseManager.recover` needs when the card is presented again. Keep it as *pending*.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime
from enum import Enum
from typing import Any

from applets.purse.layout import IssuerInfo, LogRecord, PurseKind, TxnType


class Outcome(str, Enum):
    DONE = "done"
    NOT_DONE = "not_done"
    UNKNOWN = "unknown"


class Kind(str, Enum):
    PURCHASE = "purchase"
    CAPP_PURCHASE = "capp_purchase"
    LOAD = "load"


ALG_NAMES = {0x00: "3DES", 0x04: "SM4"}


def _hex(value: bytes | None) -> str | None:
    return None if value is None else value.hex().upper()


def _unhex(value: str | None) -> bytes | None:
    return None if value is None else bytes.fromhex(value)


@dataclass(frozen=True, slots=True)
class CardIdentity:
    """Who the card is, from its 0015 file."""

    app_serial: bytes  # 10 bytes
    issuer_code: bytes  # 8 bytes

    @property
    def factor(self) -> bytes:
        """The diversification factor and card serial: last 8 bytes of the app serial."""
        return self.app_serial[2:]

    @classmethod
    def from_issuer_info(cls, info: IssuerInfo) -> CardIdentity:
        return cls(info.app_serial, info.issuer_code)


@dataclass(frozen=True, slots=True)
class Attempt:
    """A DEBIT or CREDIT that was sent but whose answer never came: enough to recover it later
    (purse.md "Atomicity, tearing and recovery"). JSON-able with `to_dict` / `from_dict`."""

    kind: Kind
    purse: PurseKind
    txn_type: TxnType
    app_serial: bytes
    issuer_code: bytes
    amount: int
    balance_before: int
    counter: int  # the card counter the transaction used (before increment)
    terminal_id: bytes
    date: bytes
    time: bytes
    alg: int
    key_version: int
    key_index: int
    terminal_seq: int | None = None  # purchases
    host_mac2: bytes | None = None  # loads: the MAC2 the issuer host gave
    card_tac: bytes | None = None  # a TAC seen during recovery, kept for clearing

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind.value,
            "purse": self.purse.label,
            "txn_type": int(self.txn_type),
            "app_serial": _hex(self.app_serial),
            "issuer_code": _hex(self.issuer_code),
            "amount": self.amount,
            "balance_before": self.balance_before,
            "counter": self.counter,
            "terminal_id": _hex(self.terminal_id),
            "date": self.date.hex(),
            "time": self.time.hex(),
            "alg": self.alg,
            "key_version": self.key_version,
            "key_index": self.key_index,
            "terminal_seq": self.terminal_seq,
            "host_mac2": _hex(self.host_mac2),
            "card_tac": _hex(self.card_tac),
        }

    @classmethod
    def from_dict(cls, obj: dict[str, Any]) -> Attempt:
        try:
            return cls(
                kind=Kind(obj["kind"]),
                purse=PurseKind.parse(obj["purse"]),
                txn_type=TxnType(obj["txn_type"]),
                app_serial=bytes.fromhex(obj["app_serial"]),
                issuer_code=bytes.fromhex(obj["issuer_code"]),
                amount=int(obj["amount"]),
                balance_before=int(obj["balance_before"]),
                counter=int(obj["counter"]),
                terminal_id=bytes.fromhex(obj["terminal_id"]),
                date=bytes.fromhex(obj["date"]),
                time=bytes.fromhex(obj["time"]),
                alg=int(obj["alg"]),
                key_version=int(obj["key_version"]),
                key_index=int(obj["key_index"]),
                terminal_seq=obj.get("terminal_seq"),
                host_mac2=_unhex(obj.get("host_mac2")),
                card_tac=_unhex(obj.get("card_tac")),
            )
        except (KeyError, TypeError, ValueError) as e:
            raise ValueError(f"not a pending purse attempt ({e})") from None


@dataclass(frozen=True, slots=True)
class PurseResult:
    """One purchase or load: its outcome and the clearing record (ids as bytes; `to_dict` gives hex)."""

    outcome: Outcome
    kind: Kind
    txn_type: TxnType
    purse: PurseKind
    amount: int  # fen
    reason: str | None = None  # why not done / why unknown; None when done
    sw: int | None = None  # the status word that declined it, if any
    app_serial: bytes | None = None  # 10 bytes (card serial = last 8)
    issuer_code: bytes | None = None
    terminal_id: bytes | None = None
    terminal_seq: int | None = None  # PSAM terminal transaction sequence (purchases)
    card_counter: int | None = None  # card offline (purchase) / online (load) counter used
    balance_before: int | None = None
    balance_after: int | None = None
    tac: bytes | None = None
    mac2_verified: bool = False  # purchase: PSAM accepted the card's MAC2; load: not applicable
    alg: int | None = None  # 00 3DES, 04 SM4
    key_version: int | None = None
    date: bytes | None = None  # BCD YYYYMMDD as sent to the card
    time: bytes | None = None  # BCD hhmmss
    recovered: bool = False  # resolved by the recovery rule (re-INIT + counter + proof)
    attempt: Attempt | None = field(default=None)  # set when outcome is unknown

    @property
    def done(self) -> bool:
        return self.outcome is Outcome.DONE

    @property
    def card_serial(self) -> bytes | None:
        return None if self.app_serial is None else self.app_serial[2:]

    @property
    def timestamp(self) -> datetime | None:
        if self.date is None or self.time is None:
            return None
        return datetime.strptime(self.date.hex() + self.time.hex(), "%Y%m%d%H%M%S")

    @property
    def alg_name(self) -> str | None:
        return None if self.alg is None else ALG_NAMES.get(self.alg, f"{self.alg:02X}")

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out.update(
            outcome=self.outcome.value,
            kind=self.kind.value,
            txn_type=int(self.txn_type),
            purse=self.purse.label,
            app_serial=_hex(self.app_serial),
            card_serial=_hex(self.card_serial),
            issuer_code=_hex(self.issuer_code),
            terminal_id=_hex(self.terminal_id),
            tac=_hex(self.tac),
            alg=self.alg,
            alg_name=self.alg_name,
            date=None if self.date is None else self.date.hex(),
            time=None if self.time is None else self.time.hex(),
            attempt=None if self.attempt is None else self.attempt.to_dict(),
        )
        return out


@dataclass(frozen=True, slots=True)
class LogEntry:
    """One 0018 record, decoded for display."""

    number: int  # record number, 1 = newest
    record: LogRecord

    @property
    def txn_type(self) -> str:
        try:
            return TxnType(self.record.txn_type).name.lower()
        except ValueError:
            return f"type {self.record.txn_type:02X}"
