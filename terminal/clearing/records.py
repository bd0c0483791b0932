"""The upload record: one committed ledger transaction as the terminal sends it (docs/clearing.md "Records").

JSON object, integers for money (fen) and counters, upper-case hex for bytes::

    {"seq": 57, "prev_seq": 41, "txn_id": 53, "intent_id": "…", "kind": "purse_purchase", "amount_fen": 250,
     "card_serial": "3100000000000042", "card_counter": 0, "txn_type": 6, "tac": "1A2B3C4D",
     "terminal_seq": 1, "card_time": "20240301083000", "operator": "op1", "business_day": "2024-03-01",
     "committed_at": "2024-03-01T00:30:00.000Z", "postings": [["purse_float", 250], ["revenue:drugs", -250]],
     "row_hash": "…", "details": {"receipt": "…"},
     "card": {"app_serial": "31003100000000000042", "issuer_code": "D156310000000001", "alg": 4,
              "key_version": 1, "balance_before": 10000, "purse": "ep", "purpose": null}}

`seq` is the ledger's outbox seq, `prev_seq` the outbox seq before it (0 for the first): the server
follows that chain to know what it holds without gaps (its *cursor*). `card` carries what the TAC covers
but the transaction row does not (the purse attempt the booking layer stored in the intent). Cash
transactions have no card fields.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from typing import Any

_HEX = re.compile(r"[0-9A-F]*")
_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")
_CARD_TIME = re.compile(r"\d{14}")
PURCHASE_TYPES = frozenset({0x05, 0x06, 0x09})
LOAD_TYPES = frozenset({0x01, 0x02})
MAX_SEQ = 2**62


class RecordError(ValueError):
    """A record the clearing cannot use as it is (stored quarantined with this reason)."""


@dataclass(frozen=True, slots=True)
class CardProof:
    """The purse fields the TAC covers beyond the transaction row."""

    app_serial: str  # 20 hex digits (city 2 bytes ‖ card serial 8 bytes)
    issuer_code: str  # 16 hex digits
    alg: int  # 0x00 3DES, 0x04 SM4
    key_version: int
    balance_before: int | None  # loads: the TAC covers the balance after = before + amount
    purse: str  # "ep" / "ed"
    purpose: str | None = None  # loads: topup / subsidy / refund


@dataclass(frozen=True, slots=True)
class Record:
    seq: int
    prev_seq: int
    txn_id: int | None
    intent_id: str | None
    kind: str
    amount_fen: int
    card_serial: str | None
    card_counter: int | None
    txn_type: int | None
    tac: str | None
    terminal_seq: int | None
    card_time: str | None
    operator: str
    business_day: str
    committed_at: str | None
    postings: tuple[tuple[str, int], ...]
    row_hash: str | None
    details: str  # canonical JSON text
    card: CardProof | None
    digest: str

    @property
    def is_card(self) -> bool:
        return self.card_serial is not None and self.txn_type is not None and self.card_counter is not None


def canonical(obj: Any) -> str:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def digest_of(obj: Any) -> str:
    """SHA-256 of the record's canonical JSON: a retransmission with other content is a conflict."""
    return hashlib.sha256(canonical(obj).encode("utf-8")).hexdigest()


def _int(obj: dict[str, Any], name: str, *, lo: int = 0, hi: int = MAX_SEQ, optional: bool = False) -> int | None:
    value = obj.get(name)
    if value is None and optional:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
        raise RecordError(f"{name}: {value!r} is not a whole number in {lo}..{hi}")
    return value


def _text(obj: dict[str, Any], name: str, *, optional: bool = False, pattern: re.Pattern[str] | None = None,
          max_len: int = 256) -> str | None:
    value = obj.get(name)
    if value is None and optional:
        return None
    if not isinstance(value, str) or len(value) > max_len or (pattern is not None and not pattern.fullmatch(value)):
        raise RecordError(f"{name}: {str(value)[:40]!r} is not valid")
    return value


def _hex(obj: dict[str, Any], name: str, length: int, *, optional: bool = False) -> str | None:
    value = obj.get(name)
    if value is None and optional:
        return None
    if not isinstance(value, str) or len(value) != length or not _HEX.fullmatch(value):
        raise RecordError(f"{name}: {str(value)[:40]!r} is not {length} upper-case hex digits")
    return value


def chain_position(obj: Any) -> tuple[int, int]:
    """(seq, prev_seq) of a record; a record without them cannot be placed at all (the batch is refused)."""
    if not isinstance(obj, dict):
        raise RecordError("a record is a JSON object")
    seq = _int(obj, "seq", lo=1)
    prev = _int(obj, "prev_seq")
    if prev >= seq:  # type: ignore[operator]
        raise RecordError(f"prev_seq {prev} is not below seq {seq}")
    return seq, prev  # type: ignore[return-value]


def parse(obj: dict[str, Any], digest: str | None = None) -> Record:
    """Check one record and return it normalised; RecordError says what is wrong. `digest`: digest_of(obj)
    when the caller has it already."""
    seq, prev = chain_position(obj)
    lines = obj.get("postings")
    if not isinstance(lines, list) or len(lines) < 2:
        raise RecordError("postings: at least two journal lines are needed")
    postings: list[tuple[str, int]] = []
    for line in lines:
        if (not isinstance(line, list) or len(line) != 2 or not isinstance(line[0], str) or not line[0]
                or len(line[0]) > 64 or isinstance(line[1], bool) or not isinstance(line[1], int) or line[1] == 0):
            raise RecordError(f"postings: {str(line)[:60]} is not [account, non-zero fen]")
        postings.append((line[0], line[1]))
    if sum(a for _, a in postings) != 0:
        raise RecordError("postings do not sum to zero (unbalanced entry)")
    details = obj.get("details", {})
    if not isinstance(details, dict):
        raise RecordError("details: not a JSON object")
    card_obj = obj.get("card")
    card: CardProof | None = None
    serial = _hex(obj, "card_serial", 16, optional=True)
    txn_type = _int(obj, "txn_type", hi=0xFF, optional=True)
    counter = _int(obj, "card_counter", hi=0xFFFFFFFF, optional=True)
    tac = _hex(obj, "tac", 8, optional=True)
    amount = _int(obj, "amount_fen", hi=2**40)
    if card_obj is not None:
        if not isinstance(card_obj, dict):
            raise RecordError("card: not a JSON object")
        purse = card_obj.get("purse")
        if purse not in ("ep", "ed"):
            raise RecordError(f"card.purse: {purse!r} is not ep or ed")
        card = CardProof(
            app_serial=_hex(card_obj, "app_serial", 20),  # type: ignore[arg-type]
            issuer_code=_hex(card_obj, "issuer_code", 16),  # type: ignore[arg-type]
            alg=_int(card_obj, "alg", hi=0xFF),  # type: ignore[arg-type]
            key_version=_int(card_obj, "key_version", hi=0xFF),  # type: ignore[arg-type]
            balance_before=_int(card_obj, "balance_before", lo=-(2**31), hi=2**31, optional=True),
            purse=purse,
            purpose=_text(card_obj, "purpose", optional=True, max_len=32),
        )
    if counter is not None and (serial is None or txn_type is None):
        raise RecordError("card_counter without card_serial and txn_type")
    return Record(
        seq=seq, prev_seq=prev,
        txn_id=_int(obj, "txn_id", optional=True),
        intent_id=_text(obj, "intent_id", optional=True, max_len=64),
        kind=_text(obj, "kind", max_len=64),  # type: ignore[arg-type]
        amount_fen=amount,  # type: ignore[arg-type]
        card_serial=serial, card_counter=counter, txn_type=txn_type, tac=tac,
        terminal_seq=_int(obj, "terminal_seq", hi=0xFFFFFFFF, optional=True),
        card_time=_text(obj, "card_time", optional=True, pattern=_CARD_TIME),
        operator=_text(obj, "operator", max_len=128),  # type: ignore[arg-type]
        business_day=_text(obj, "business_day", pattern=_DAY),  # type: ignore[arg-type]
        committed_at=_text(obj, "committed_at", optional=True, max_len=40),
        postings=tuple(postings),
        row_hash=_text(obj, "row_hash", optional=True, max_len=64),
        details=canonical(details) if details else "{}",
        card=card,
        digest=digest or digest_of(obj),
    )


def salvage(obj: dict[str, Any]) -> dict[str, Any]:
    """What can be kept of a bad record (for the quarantine row): plain values of known simple fields."""
    out: dict[str, Any] = {}
    for name, kind in (("txn_id", int), ("intent_id", str), ("kind", str), ("amount_fen", int), ("card_serial", str),
                       ("card_counter", int), ("txn_type", int), ("tac", str), ("terminal_seq", int),
                       ("card_time", str), ("operator", str), ("business_day", str), ("committed_at", str)):
        value = obj.get(name)
        if isinstance(value, kind) and not isinstance(value, bool) and (not isinstance(value, str) or len(value) <= 256):
            if isinstance(value, int) and not -(2**62) < value < 2**62:
                continue
            out[name] = value
    return out
