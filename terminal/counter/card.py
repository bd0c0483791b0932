"""The card at the counter: who the holder is (identity check with the PIN), how they are insured and what
the year-to-date counters and the personal account (ED) hold — all read from the card, offline.

The personal account (个人账户) is the card's ED (e-deposit) purse; the counters are the medical record
0019 of the purse DF (applets/purse/medical.py). Both change only in one atomic card commit (docs/counter.md).
"""

from __future__ import annotations

from collections.abc import Container
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from typing import Any

from applets.purse.medical import SFI_MEDICAL, MedicalRecord
from applets.sw import SW
from reader.base import Reader
from terminal.counter.errors import CardNotReady, StaleSettlement
from terminal.hotlist import Hotlist
from terminal.identity import COUNTER_POLICY, Identity, identify_card
from terminal.medical import Policy, PolicyBook, PolicyNotFound, YearToDate
from terminal.purse import CappUpdate, PurseManager
from terminal.purse.errors import BadAnswer, PurseError


@dataclass(frozen=True)
class Customer:
    """A checked card holder at the counter. `repr` shows masked data only; no PIN is kept here."""

    identity: Identity
    card_serial: str  # 16 hex digits (EF05 serial = the purse's diversification factor)
    record: MedicalRecord  # file 0019 as read (counters of `record.year`)
    account_balance_fen: int  # the ED (personal account) balance
    policy: Policy
    read_on: date
    manager: PurseManager = field(repr=False, compare=False)
    centre: Any = field(default=None, repr=False, compare=False)  # CentrePerson from 1101 when online

    @property
    def mode(self) -> str:
        """online when the insurance centre answered 1101 for this card, else offline."""
        return "offline" if self.centre is None else "online"

    @property
    def ytd(self) -> YearToDate:
        """The counters for the year of `read_on` (an earlier year's counters count as zero)."""
        return ytd_of(self.record.for_year(self.read_on.year))

    @property
    def home_region(self) -> str:
        return self.record.insured_region

    def masked(self) -> dict[str, object]:
        return {
            **self.identity.masked(),
            "scheme": self.record.scheme,
            "category": self.record.category,
            "retired": self.record.retired,
            "insured_region": self.record.insured_region,
            "policy": self.policy.name,
            "account_balance_fen": self.account_balance_fen,
            "year": self.read_on.year,
            "deductible_used_fen": self.ytd.deductible_used_fen,
            "pooled_paid_fen": self.ytd.pooled_paid_fen,
            "inpatient_pooled_paid_fen": self.ytd.inpatient_pooled_paid_fen,
            "mode": self.mode,
        }


def ytd_of(record: MedicalRecord) -> YearToDate:
    return YearToDate(record.deductible_used_fen, record.pooled_paid_fen, record.inpatient_pooled_paid_fen)


def read_record(manager: PurseManager, *, reopen: bool = True) -> MedicalRecord:
    """The medical record 0019; CardNotReady when the card has none or it does not parse."""
    try:
        raw = manager.read_medical_record(reopen=reopen)
    except PurseError as e:
        if e.sw in (SW.FILE_NOT_FOUND, SW.RECORD_NOT_FOUND):
            raise CardNotReady("this card has no medical record (0019): it was issued without [insurance] "
                               "or before the record existed; re-issue it") from None
        raise CardNotReady(f"cannot read the medical record: {e}") from None
    except BadAnswer as e:
        raise CardNotReady(f"cannot read the medical record: {e}") from None
    try:
        return MedicalRecord.from_bytes(raw)
    except ValueError as e:
        raise CardNotReady(f"the card's medical record is unreadable: {e}") from None


def read_customer(
    reader: Reader,
    manager: PurseManager,
    *,
    pin: str,
    hotlist: Hotlist,
    regions: Container[str],
    policies: PolicyBook,
    today: date,
) -> Customer:
    """Identity check with the PIN (IdentityRefused for a refused card), then the purse: medical record and
    ED balance (the PIN verified by the identity check opens the ED). Reader errors pass through."""
    identity = identify_card(reader, pin=pin, policy=COUNTER_POLICY, hotlist=hotlist, regions=regions, today=today)
    try:
        purse = manager.identity()
    except PurseError as e:
        raise CardNotReady(f"card {identity.card_number}: {e}") from None
    serial = purse.factor.hex().upper()
    if serial != identity.card_serial:
        raise CardNotReady(f"card {identity.card_number}: the purse serial {serial} is not the card's")
    record = read_record(manager, reopen=False)
    try:
        balance = manager.balance("ed")
    except PurseError as e:
        if e.sw != SW.SECURITY_STATUS_NOT_SATISFIED:
            raise CardNotReady(f"card {identity.card_number}: personal account: {e}") from None
        balance = manager.balance("ed", pin=pin)  # the card lost the verified state (reset): verify again
    try:
        policy = policies.for_card(record.insured_region, record.scheme, retired=record.retired,
                                   category=record.category)
    except PolicyNotFound as e:
        raise CardNotReady(f"card {identity.card_number}: no medical policy for this holder ({e})") from None
    return Customer(identity, serial, record, balance, policy, today, manager)


def check_unchanged(customer: Customer, *, reopen: bool = True) -> MedicalRecord:
    """Read 0019 again right before paying; StaleSettlement when it changed since `customer` was read (the
    card was used elsewhere, or another card is in the reader)."""
    try:
        purse = customer.manager.identity() if reopen else None
    except PurseError as e:
        raise CardNotReady(str(e)) from None
    if purse is not None and purse.factor.hex().upper() != customer.card_serial:
        raise StaleSettlement("another card is in the reader: identify the holder again")
    record = read_record(customer.manager, reopen=False)
    if record != customer.record:
        raise StaleSettlement("the card's medical counters changed since the preview: identify and settle again")
    return record


def updated_record(record: MedicalRecord, ytd: YearToDate, *, on: datetime, terminal_id: bytes) -> CappUpdate:
    """The cached update carrying the new counters of `on.year` (written with the DEBIT / CREDIT)."""
    base = record.for_year(on.year)
    new = replace(
        base,
        deductible_used_fen=ytd.deductible_used_fen,
        pooled_paid_fen=ytd.pooled_paid_fen,
        inpatient_pooled_paid_fen=ytd.inpatient_pooled_paid_fen,
        updates=min(base.updates + 1, 0xFFFF),
        last_date=bytes.fromhex(on.strftime("%Y%m%d")),
        last_terminal=terminal_id,
    )
    return CappUpdate(SFI_MEDICAL, 1, new.to_bytes())
