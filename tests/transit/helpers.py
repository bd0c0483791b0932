"""A validator rig for the transit tests: demo-profile cards (full SSSE + purse + 0019 images, balances set per
test), a TEST-key PSAM, a fresh ledger for the PSAM's terminal, in-process readers and a settable clock."""

from __future__ import annotations

import functools
import os
import tomllib
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from applets.card import MemoryStorage, VirtualCard
from applets.image import CardImage
from applets.purse.layout import PURSE_FID, SFI_CAPP, SFI_LOG, SFI_TRIP
from applets.purse.personalize import PurseMasterKeys, personalize_psam
from reader.card_file import TearingStorage
from reader.emulated import EmulatedReader
from terminal.datafiles import data_dir
from terminal.issuer import issue_image, load_test_keys, profile_from_dict
from terminal.ledger import Ledger
from terminal.purse import LoadHost
from terminal.transit.engine import Mode
from terminal.transit.fares import FareTables, load_fares
from terminal.transit.outcome import TapOutcome
from terminal.transit.validator import Validator

KEYS = load_test_keys()
MASTERS = PurseMasterKeys.from_extra(KEYS.extra)
HOST = LoadHost(MASTERS)  # type: ignore[arg-type]
TERMINAL_ID = bytes.fromhex("310100000001")
START = datetime(2024, 3, 1, 8, 0, 0)
TABLES = load_fares()


@functools.cache
def card_bytes(name: str, ep: int | None = None, serial: str | None = None) -> bytes:
    """The demo holder `name` (data/cards/NAME.toml) issued afresh, EP balance `ep` fen, optional serial."""
    obj = tomllib.loads((data_dir() / "cards" / f"{name}.toml").read_text(encoding="utf-8"))
    if ep is not None:
        obj.setdefault("purse", {})["ep_balance"] = ep
    if serial is not None:
        obj["card"]["serial"] = serial
    return issue_image(profile_from_dict(obj, name), KEYS).to_bytes()


@functools.cache
def psam_bytes() -> bytes:
    return personalize_psam(MASTERS.purchase, os.urandom, terminal_id=TERMINAL_ID).to_bytes()  # type: ignore[union-attr]


def new_card(name: str, ep: int | None = None, serial: str | None = None) -> VirtualCard:
    return VirtualCard(TearingStorage(MemoryStorage(card_bytes(name, ep, serial))), os.urandom)


def card_state(card: VirtualCard) -> dict[str, Any]:
    """The committed purse state of a card: balance, counters, log, CAPP and trip records."""
    storage = card.storage
    inner = storage.inner if isinstance(storage, TearingStorage) else storage
    image = CardImage.from_bytes(inner.load())
    df = image.mf.child(PURSE_FID)
    purse = image.applications["purse"]
    out: dict[str, Any] = {"ep": dict(purse["ep"]), "blocked": purse.get("blocked", False)}
    for label, sfi in (("log", SFI_LOG), ("capp", SFI_CAPP), ("trips", SFI_TRIP)):
        ef = df.ef_by_sfi(sfi)  # type: ignore[union-attr]
        out[label] = [bytes(r) for r in ef.records]  # type: ignore[union-attr]
    return out


@dataclass
class Rig:
    folder: Path
    tables: FareTables = TABLES
    now: datetime = START
    hotlist: Any = None
    validators: dict[tuple[str, str], Validator] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.psam = VirtualCard(MemoryStorage(psam_bytes()), os.urandom)
        self.psam_reader = EmulatedReader(self.psam, "PSAM")
        self.psam_reader.connect()
        self.reader = EmulatedReader(None, "validator")
        self.ledger = Ledger.open(self.folder / "ledger.sqlite", terminal_id=TERMINAL_ID.hex().upper())

    def clock(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)

    def validator(self, mode: str, station: str, *, fresh: bool = False, **kwargs: Any) -> Validator:
        key = (mode, station)
        if fresh or key not in self.validators:
            self.validators[key] = Validator(
                self.tables, Mode(mode), station, card=self.reader, psam=self.psam_reader, ledger=self.ledger,
                hotlist=self.hotlist, block_mac=HOST.application_block_mac, clock=self.clock, **kwargs,
            )
        return self.validators[key]

    def tap(self, card: VirtualCard, mode: str, station: str, *, faults: Any = None, keep: bool = False) -> TapOutcome:
        """Present `card` to the (mode, station) validator; `faults` tear this tap; the card is taken away
        after the tap unless `keep`."""
        validator = self.validator(mode, station)
        if self.reader.card is not card:
            self.reader.insert(card)
        self.reader.faults = faults
        try:
            return validator.process_tap()
        finally:
            self.reader.faults = None
            if not keep:
                self.reader.remove()

    def close(self) -> None:
        self.ledger.close()
