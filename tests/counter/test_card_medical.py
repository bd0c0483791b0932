"""The medical record 0019 on the card: written only by the DEBIT of an ED purchase or the CREDIT of an ED
load that carries it, in the same commit; its issuer part never changes; nothing else may carry it."""

from __future__ import annotations

from dataclasses import replace
from datetime import date

import pytest

from applets.card import MemoryStorage, VirtualCard
from applets.fs import DF
from applets.image import CardImage, PinState
from applets.personalize import make_atr
from applets.purse.layout import PURSE_FID
from applets.purse.medical import SFI_MEDICAL, MedicalRecord, medical_record_from_profile
from applets.purse.personalize import personalize_purse
from reader.card_file import TearingStorage
from reader.emulated import EmulatedReader
from terminal.purse import CappUpdate, LoadHost, Outcome, PurseManager
from tests.purse.helpers import MASTERS, NOW, PIN, REGION, SERIAL, Entropy, psam_image

INSURANCE = {"scheme": "employee", "retired": False, "category": "active"}


def medical_image(ed: int = 100_000, insurance: dict | None = INSURANCE) -> CardImage:
    image = CardImage(label="medical test card", atr=make_atr(b"YKT-TEST"), mf=DF(0x3F00),
                      pin=PinState.create(PIN, b"\x00" * 16))
    personalize_purse(image, serial=SERIAL, region=REGION, start=date(2024, 1, 1), expiry=date(2034, 1, 1),
                      masters=MASTERS, ep_balance=5_000, ed_balance=ed, medical_insurance=insurance)
    return image


def setup(image: CardImage | None = None) -> tuple[PurseManager, MemoryStorage]:
    inner = MemoryStorage((image or medical_image()).to_bytes())
    card = VirtualCard(TearingStorage(inner), Entropy(1))
    psam = VirtualCard(MemoryStorage(psam_image().to_bytes()), Entropy(2))
    card_reader, psam_reader = EmulatedReader(card, name="card"), EmulatedReader(psam, name="psam")
    card_reader.connect()
    psam_reader.connect()
    return PurseManager(card_reader, psam_reader, load_host=LoadHost(MASTERS), clock=lambda: NOW), inner


def committed_record(storage: MemoryStorage) -> MedicalRecord:
    df = CardImage.from_bytes(storage.image).mf.child(PURSE_FID)
    assert isinstance(df, DF)
    ef = df.ef_by_sfi(SFI_MEDICAL)
    assert ef is not None
    return MedicalRecord.from_bytes(bytes(ef.records[0]))


def test_issued_record_holds_the_insurance_and_no_counters() -> None:
    manager, storage = setup()
    rec = MedicalRecord.from_bytes(manager.read_medical_record())
    assert rec == medical_record_from_profile(INSURANCE, REGION)
    assert (rec.scheme, rec.category, rec.retired, rec.insured_region, rec.year) == ("employee", "active", False, "310000", 0)


def test_ed_purchase_writes_the_record_with_the_debit() -> None:
    manager, storage = setup()
    new = replace(medical_record_from_profile(INSURANCE, REGION), year=2024, deductible_used_fen=500, pooled_paid_fen=900)
    result = manager.purchase(1_200, 0x05, CappUpdate(SFI_MEDICAL, 1, new.to_bytes()), pin=PIN)
    assert result.outcome is Outcome.DONE, result.reason
    assert result.balance_after == 100_000 - 1_200
    assert committed_record(storage) == new


def test_zero_amount_ed_purchase_only_updates_the_record() -> None:
    manager, storage = setup(medical_image(ed=0))
    new = replace(medical_record_from_profile(INSURANCE, REGION), year=2024, pooled_paid_fen=4_000)
    result = manager.purchase(0, 0x05, CappUpdate(SFI_MEDICAL, 1, new.to_bytes()), pin=PIN)
    assert result.outcome is Outcome.DONE and result.balance_after == 0
    assert committed_record(storage) == new


def test_a_refused_debit_leaves_the_record() -> None:
    manager, storage = setup(medical_image(ed=100))
    before = committed_record(storage)
    new = replace(before, year=2024, pooled_paid_fen=1)
    result = manager.purchase(5_000, 0x05, CappUpdate(SFI_MEDICAL, 1, new.to_bytes()), pin=PIN)
    assert result.outcome is Outcome.NOT_DONE and "insufficient" in (result.reason or "")
    assert committed_record(storage) == before


def test_ed_load_writes_the_record_with_the_credit() -> None:
    manager, storage = setup()
    new = replace(medical_record_from_profile(INSURANCE, REGION), year=2024, deductible_used_fen=7)
    result = manager.load(300, "ed", purpose="refund", capp_record=CappUpdate(SFI_MEDICAL, 1, new.to_bytes()))
    assert result.outcome is Outcome.DONE, result.reason
    assert committed_record(storage) == new


def test_the_issuer_part_cannot_change() -> None:
    manager, storage = setup()
    before = committed_record(storage)
    for forged in (replace(before, scheme="resident"), replace(before, retired=True), replace(before, insured_region="110000")):
        result = manager.purchase(10, 0x05, CappUpdate(SFI_MEDICAL, 1, forged.to_bytes()), pin=PIN)
        assert result.outcome is Outcome.NOT_DONE and result.sw == 0x6A80
    assert committed_record(storage) == before


def test_only_ed_transactions_carry_the_record() -> None:
    manager, _ = setup()
    record = CappUpdate(SFI_MEDICAL, 1, committed_record(setup()[1]).to_bytes())
    with pytest.raises(ValueError, match="medical record"):
        manager.purchase(10, 0x06, record)
    with pytest.raises(ValueError, match="medical record"):
        manager.load(10, "ep", capp_record=record)
    # at the card: an EP purchase INIT followed by UPDATE of 0019 is out of sequence
    channel = manager.channel
    channel.reopen()
    init = channel.send(bytes.fromhex("805001020B") + bytes((1,)) + (10).to_bytes(4, "big") + bytes(6) + b"\x0f")
    assert init.sw == 0x9000
    assert channel.send(record).sw == 0x6985


def test_a_card_without_insurance_has_no_record() -> None:
    manager, _ = setup(medical_image(insurance=None))
    with pytest.raises(Exception, match="6A83|6A82"):
        manager.read_medical_record()


def test_bad_insurance_tables_are_refused() -> None:
    with pytest.raises(ValueError, match=r"\[insurance\]: scheme"):
        medical_record_from_profile({"scheme": "private"}, REGION)
    with pytest.raises(ValueError, match="unknown setting"):
        medical_record_from_profile({"scheme": "employee", "colour": "red"}, REGION)


def test_counters_of_an_earlier_year_count_as_zero() -> None:
    rec = replace(medical_record_from_profile(INSURANCE, REGION), year=2024, pooled_paid_fen=5, updates=3)
    assert rec.for_year(2025).pooled_paid_fen == 0 and rec.for_year(2025).updates == 0
    assert rec.for_year(2024) is rec
    with pytest.raises(ValueError, match="terminal clock"):
        rec.for_year(2023)
