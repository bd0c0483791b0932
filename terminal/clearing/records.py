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
    when the caller has it already.

    A well-formed record takes the fast path (the same checks written inline, for bulk ingest); anything the
    fast path does not accept goes through `_parse_checked`, the reference, which finds the error and its
    message (or accepts what the fast path is too strict for: int subclasses)."""
    record = _parse_fast(obj, digest) if type(obj) is dict else None
    return record if record is not None else _parse_checked(obj, digest)


def _parse_fast(obj: dict[str, Any], digest: str | None) -> Record | None:
    get = obj.get
    seq, prev = get("seq"), get("prev_seq")
    if type(seq) is not int or type(prev) is not int or not 0 <= prev < seq <= MAX_SEQ:
        return None
    lines = get("postings")
    if type(lines) is not list or len(lines) < 2:
        return None
    postings = []
    total = 0
    for line in lines:
        if type(line) is not list or len(line) != 2:
            return None
        account, fen = line
        if type(account) is not str or not account or len(account) > 64 or type(fen) is not int or fen == 0:
            return None
        postings.append((account, fen))
        total += fen
    if total:
        return None
    details = get("details", {})
    if type(details) is not dict:
        return None
    serial, txn_type, counter, tac = get("card_serial"), get("txn_type"), get("card_counter"), get("tac")
    amount, txn_id, tseq = get("amount_fen"), get("txn_id"), get("terminal_seq")
    intent, kind, card_time, operator = get("intent_id"), get("kind"), get("card_time"), get("operator")
    day, committed, row_hash = get("business_day"), get("committed_at"), get("row_hash")
    if not ((serial is None or (type(serial) is str and len(serial) == 16 and _HEX.fullmatch(serial)))
            and (txn_type is None or (type(txn_type) is int and 0 <= txn_type <= 0xFF))
            and (counter is None or (type(counter) is int and 0 <= counter <= 0xFFFFFFFF))
            and (tac is None or (type(tac) is str and len(tac) == 8 and _HEX.fullmatch(tac)))
            and type(amount) is int and 0 <= amount <= 2**40
            and (counter is None or (serial is not None and txn_type is not None))
            and (txn_id is None or (type(txn_id) is int and 0 <= txn_id <= MAX_SEQ))
            and (intent is None or (type(intent) is str and len(intent) <= 64))
            and type(kind) is str and len(kind) <= 64
            and (tseq is None or (type(tseq) is int and 0 <= tseq <= 0xFFFFFFFF))
            and (card_time is None or (type(card_time) is str and len(card_time) <= 256 and _CARD_TIME.fullmatch(card_time)))
            and type(operator) is str and len(operator) <= 128
            and type(day) is str and len(day) <= 256 and _DAY.fullmatch(day)
            and (committed is None or (type(committed) is str and len(committed) <= 40))
            and (row_hash is None or (type(row_hash) is str and len(row_hash) <= 64))):
        return None
    card_obj = get("card")
    card: CardProof | None = None
    if card_obj is not None:
        if type(card_obj) is not dict:
            return None
        cget = card_obj.get
        app, issuer, alg, version = cget("app_serial"), cget("issuer_code"), cget("alg"), cget("key_version")
        before, purse, purpose = cget("balance_before"), cget("purse"), cget("purpose")
        if not (purse in ("ep", "ed") and type(purse) is str
                and type(app) is str and len(app) == 20 and _HEX.fullmatch(app)
                and type(issuer) is str and len(issuer) == 16 and _HEX.fullmatch(issuer)
                and type(alg) is int and 0 <= alg <= 0xFF and type(version) is int and 0 <= version <= 0xFF
                and (before is None or (type(before) is int and -(2**31) <= before <= 2**31))
                and (purpose is None or (type(purpose) is str and len(purpose) <= 32))):
            return None
        card = CardProof(app, issuer, alg, version, before, purse, purpose)
    return Record(seq, prev, txn_id, intent, kind, amount, serial, counter, txn_type, tac, tseq, card_time, operator,
                  day, committed, tuple(postings), row_hash, canonical(details) if details else "{}", card,
                  digest or digest_of(obj))


def _parse_checked(obj: dict[str, Any], digest: str | None = None) -> Record:
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
