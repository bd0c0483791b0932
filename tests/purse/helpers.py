"""Shared set-up for the purse tests: deterministic entropy, purse-only card images, a PSAM image,
and a terminal rig (card + PSAM in emulated readers, manager, load host)."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from applets.card import MemoryStorage, VirtualCard
from applets.fs import DF
from applets.image import CardImage, PinState
from applets.personalize import make_atr
from applets.purse.layout import PURSE_FID, SFI_CAPP, SFI_LOG, SFI_TRIP
from applets.purse.personalize import PurseMasterKeys, personalize_psam, personalize_purse
from reader.card_file import TearingStorage
from reader.emulated import EmulatedReader
from terminal.purse import LoadHost, PurseManager

SERIAL = bytes.fromhex("3100000000000042")
REGION = "310000"
PIN = "123456"
TERMINAL_ID = bytes.fromhex("310100000001")
NOW = datetime(2024, 3, 1, 8, 30, 0)


class Entropy:
    """Deterministic `entropy(n)` for cards: seeded, reproducible."""

    def __init__(self, seed: int | str = 0) -> None:
        self.rng = random.Random(seed)

    def __call__(self, n: int) -> bytes:
        return self.rng.randbytes(n)


MASTERS = PurseMasterKeys.generate(Entropy("purse masters"))


def purse_image(
    *,
    ep: int = 0,
    ed: int = 0,
    overdraft: int = 0,
    serial: bytes = SERIAL,
    masters: PurseMasterKeys = MASTERS,
    two_level_keys: bool = False,
    ed_needs_pin: bool = True,
    max_balance: int | None = None,
) -> CardImage:
    """A card with only the purse (small image: fast commits for the tear tests)."""
    image = CardImage(
        label="purse test card",
        atr=make_atr(b"YKT-TEST"),
        mf=DF(0x3F00),
        pin=PinState.create(PIN, b"\x00" * 16),
    )
    personalize_purse(
        image,
        serial=serial,
        region=REGION,
        start=date(2024, 1, 1),
        expiry=date(2034, 1, 1),
        masters=masters,
        ep_balance=ep,
        ed_balance=ed,
        overdraft=overdraft,
        ed_needs_pin=ed_needs_pin,
        two_level_keys=two_level_keys,
        max_balance=max_balance,
    )
    return image


def psam_image(masters: PurseMasterKeys = MASTERS, seq: int = 1) -> CardImage:
    return personalize_psam(masters.purchase, Entropy("psam pin salt"), terminal_id=TERMINAL_ID, seq=seq)


def card_of(image: CardImage, seed: int | str = 0) -> tuple[VirtualCard, MemoryStorage]:
    storage = MemoryStorage(image.to_bytes())
    return VirtualCard(storage, Entropy(seed)), storage


def state_of(raw: bytes) -> dict[str, Any]:
    """The purse state, log, CAPP and trip records of a committed card image (for before/after)."""
    image = CardImage.from_bytes(raw)
    df = image.mf.child(PURSE_FID)
    assert isinstance(df, DF)
    out = dict(image.applications["purse"])
    for name, sfi in (("log", SFI_LOG), ("capp", SFI_CAPP), ("trips", SFI_TRIP)):
        ef = df.ef_by_sfi(sfi)
        assert ef is not None
        out[name] = list(ef.records)
    return out


def send(card: VirtualCard, hexapdu: str | bytes) -> tuple[bytes, int]:
    raw = bytes.fromhex(hexapdu.replace(" ", "")) if isinstance(hexapdu, str) else hexapdu
    resp = card.process(raw)
    return resp[:-2], int.from_bytes(resp[-2:], "big")


@dataclass
class Rig:
    card: VirtualCard
    card_storage: TearingStorage
    psam: VirtualCard
    psam_storage: TearingStorage
    card_reader: EmulatedReader
    psam_reader: EmulatedReader
    manager: PurseManager
    host: LoadHost
    extra: dict[str, Any] = field(default_factory=dict)

    def committed(self) -> dict[str, Any]:
        inner = self.card_storage.inner
        assert isinstance(inner, MemoryStorage)
        return state_of(inner.image)

    def reinsert(self) -> None:
        """Put back whatever was pulled, and power the card up again (a new tap)."""
        self.card_reader.faults = None
        self.psam_reader.faults = None
        if self.card_reader.card is None:
            self.card_reader.insert(self.card)
        if self.psam_reader.card is None:
            self.psam_reader.insert(self.psam)  # the manager powers it up again when it needs it
        self.card_reader.connect()


def rig(
    image: CardImage | None = None,
    *,
    seed: int | str = 0,
    masters: PurseMasterKeys = MASTERS,
    key_index: int = 1,
    two_level_keys: bool = False,
) -> Rig:
    image = image or purse_image(ep=10_000, masters=masters, two_level_keys=two_level_keys)
    card_storage = TearingStorage(MemoryStorage(image.to_bytes()))
    psam_storage = TearingStorage(MemoryStorage(psam_image(masters).to_bytes()))
    card = VirtualCard(card_storage, Entropy(seed))
    psam = VirtualCard(psam_storage, Entropy(f"psam {seed}"))
    card_reader = EmulatedReader(card, name="card")
    psam_reader = EmulatedReader(psam, name="psam")
    card_reader.connect()
    psam_reader.connect()
    host = LoadHost(masters, two_level_keys=two_level_keys)
    manager = PurseManager(
        card_reader, psam_reader, load_host=host, key_index=key_index, two_level_keys=two_level_keys, clock=lambda: NOW
    )
    return Rig(card, card_storage, psam, psam_storage, card_reader, psam_reader, manager, host)

