"""A counter desk for tests: a Counter on a fresh ledger (fixed clock, empty hotlist, cheap scrypt), the
operators sup1 (supervisor) and c001 (cashier), an in-memory PSAM, and demo holders' cards in memory
behind TearingStorage (fast commits, save tears)."""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from applets.card import MemoryStorage, VirtualCard
from applets.fs import DF
from applets.image import CardImage
from applets.purse.layout import PURSE_FID
from applets.purse.medical import SFI_MEDICAL, MedicalRecord
from applets.purse.personalize import PurseMasterKeys, personalize_psam
from reader.card_file import TearingStorage
from reader.emulated import EmulatedReader
from terminal.counter import Counter
from terminal.hotlist import Hotlist
from terminal.issuer import demo_profile_paths, issue_image, load_profile, load_test_keys
from terminal.purse import LoadHost, PurseManager

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "data"
NOW = datetime(2025, 3, 1, 10, 0, 0)
PIN = "123456"
TERMINAL = "310100000001"
PASSWORDS = {"sup1": "super-secret", "c001": "cashier-secret"}
HOLDERS = tuple(p.stem for p in demo_profile_paths())


@functools.cache
def _keys() -> Any:
    return load_test_keys()


@functools.cache
def holder_image(name: str) -> bytes:
    return issue_image(load_profile(DATA / "cards" / f"{name}.toml"), _keys()).to_bytes()


@functools.cache
def psam_image() -> bytes:
    masters = PurseMasterKeys.from_extra(_keys().extra)
    assert masters is not None
    return personalize_psam(masters.purchase, os.urandom, terminal_id=bytes.fromhex(TERMINAL)).to_bytes()


@functools.cache
def load_host() -> LoadHost:
    return LoadHost.from_test_keys()


@dataclass
class Card:
    """A demo holder's card in an emulated reader, in memory (TearingStorage over MemoryStorage)."""

    name: str
    card: VirtualCard
    storage: TearingStorage
    reader: EmulatedReader
    manager: PurseManager

    def reinsert(self) -> None:
        self.reader.faults = None
        self.storage.tear_at_save = None
        if self.reader.card is None:
            self.reader.insert(self.card)
        self.reader.connect()

    def committed(self) -> tuple[int, MedicalRecord]:
        """(ED balance, medical record) as committed in the card's storage."""
        inner = self.storage.inner
        assert isinstance(inner, MemoryStorage)
        image = CardImage.from_bytes(inner.image)
        df = image.mf.child(PURSE_FID)
        assert isinstance(df, DF)
        ef = df.ef_by_sfi(SFI_MEDICAL)
        assert ef is not None
        return int(image.applications["purse"]["ed"]["balance"]), MedicalRecord.from_bytes(bytes(ef.records[0]))

    def ep_balance(self) -> int:
        inner = self.storage.inner
        assert isinstance(inner, MemoryStorage)
        return int(CardImage.from_bytes(inner.image).applications["purse"]["ep"]["balance"])


@dataclass
class Desk:
    counter: Counter
    psam_reader: EmulatedReader
    psam: VirtualCard
    cards: dict[str, Card] = field(default_factory=dict)

    def reinsert_psam(self) -> None:
        self.psam_reader.faults = None
        if self.psam_reader.card is None:
            self.psam_reader.insert(self.psam)  # the manager powers it up again when it needs it

    def card(self, name: str) -> Card:
        if name not in self.cards:
            storage = TearingStorage(MemoryStorage(holder_image(name)))
            card = VirtualCard(storage, os.urandom)
            reader = EmulatedReader(card, name=name)
            reader.connect()
            self.cards[name] = Card(name, card, storage, reader, self.counter.manager(reader, self.psam_reader))
        return self.cards[name]

    def login(self, operator_id: str) -> None:
        self.counter.login(operator_id, PASSWORDS[operator_id])


def make_desk(folder: Path, *, region: str = "310000", clock: Any = None, name: str = "ledger.sqlite",
              centre: Any = None) -> Desk:
    psam = VirtualCard(MemoryStorage(psam_image()), os.urandom)
    psam_reader = EmulatedReader(psam, name="psam")
    psam_reader.connect()
    counter = Counter.open(folder / name, terminal_id=TERMINAL, region=region, clock=clock or (lambda: NOW),
                           hotlist=Hotlist.empty(), load_host=load_host(), scrypt_n=2**8, centre=centre)
    if not counter.operators.count():
        counter.operators.add("sup1", "Supervisor", "supervisor", PASSWORDS["sup1"])
        counter.operators.add("c001", "Cashier", "cashier", PASSWORDS["c001"])
    desk = Desk(counter, psam_reader, psam)
    desk.login("c001")
    return desk
