"""What the TUI holds between screens, without any widget: the reader slot (emulated demo cards or a PC/SC
reader), the APDU trace, the ledger path, the business day, the operator and the card on the counter.

Every method that talks to a card blocks: screens call them from thread workers only (never on the event
loop), one at a time (`card_lock`). Nothing here keeps a PIN or a full SSN: card summaries are masked when
they are built.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

from applets.holder import mask_name, mask_ssn
from reader.base import Reader
from reader.card_file import open_card_image
from reader.emulated import EmulatedReader, Faults
from reader.trace import Trace
from terminal.cardread import read_card
from terminal.demo import ensure_demo_cards
from terminal.identity import ssn_hash
from terminal.paths import default_home, default_ledger_path
from terminal.tui.settings import Settings

TRACE_KEEP = 400  # entries (commands and answers) kept for the trace panel


@dataclass(frozen=True)
class DemoCard:
    name: str  # e.g. "zhang-wei"
    label: str  # the profile's label (English, TEST data)
    path: Path


@dataclass(frozen=True)
class CardSummary:
    """The card on the counter, as the status bar shows it: masked holder, region, flags, expiry."""

    card_number: str
    region: str
    expiry: date
    expired: bool
    masked_name: str | None  # None when EF06 needs the PIN first
    masked_ssn: str | None
    cross_region: bool  # 异地: the card's region differs from the terminal's
    cross_province: bool  # 跨省异地
    filed: bool  # 备案: a filing covers this terminal's region today


def demo_cards(home: Path | None = None) -> list[DemoCard]:
    """The demo cards (issued into the terminal's home on first use), with their profile labels."""
    from terminal.issuer import demo_profile_paths, load_profile

    labels = {p.stem: load_profile(p).label for p in demo_profile_paths()}
    out = []
    for path in ensure_demo_cards(home):
        name = path.name.removesuffix(".card.json")
        out.append(DemoCard(name, labels.get(name, name), path))
    return out


class CardSlot:
    """One reader slot. `reader` is what every library call gets."""

    kind = "slot"
    reader: Reader

    def present(self) -> bool:
        try:
            return bool(self.reader.card_present())
        except Exception:  # a reader that cannot say counts as empty
            return False


class EmulatedSlot(CardSlot):
    """The embedded default: demo cards run in-process; the operator inserts and pulls them."""

    kind = "emulated"

    def __init__(self, trace: Trace, home: Path | None = None) -> None:
        self.home = home
        self.reader = EmulatedReader(name="Emulated 0", trace=trace)
        self.card_name: str | None = None

    def cards(self) -> list[DemoCard]:
        return demo_cards(self.home)

    def insert(self, card: DemoCard) -> None:
        self.reader.remove()
        self.reader.faults = None
        self.reader.insert(open_card_image(card.path))
        self.card_name = card.name

    def pull(self) -> None:
        """Pull the card out of the reader (it loses power at once, even during an APDU)."""
        self.reader.remove()
        self.card_name = None

    def set_faults(self, faults: Faults | None) -> None:
        self.reader.faults = faults


class PcscSlot(CardSlot):
    """A real PC/SC reader (pcscd); presence comes from pyscard's CardMonitor (see widgets.pcsc_watch)."""

    kind = "pcsc"

    def __init__(self, name: str, trace: Trace) -> None:
        from reader.pcsc import PcscReader

        self.name = name
        self.reader = PcscReader(name, trace=trace)


@dataclass
class Session:
    """The terminal's state for one run of the app."""

    settings: Settings
    clock: Callable[[], datetime] = datetime.now
    home: Path = field(default_factory=default_home)
    trace: Trace = field(default_factory=lambda: Trace(keep=TRACE_KEEP))
    slot: CardSlot | None = None
    ledger_path: Path = field(default_factory=default_ledger_path)
    business_day: str = ""
    operator: str | None = None
    operator_role: str | None = None
    card: CardSummary | None = None
    notice: str | None = None  # an i18n key the next screen shows once (e.g. operator not checked)
    card_lock: threading.Lock = field(default_factory=threading.Lock)
    kiosk: Any = None  # runtime.KioskRuntime once the kiosk's first tap has opened it
    counter: Any = None  # runtime.CounterRuntime once an operator signed in

    def __post_init__(self) -> None:
        if not self.business_day:
            self.business_day = self.clock().date().isoformat()
        if self.settings.ledger_path:
            self.ledger_path = Path(self.settings.ledger_path)

    def today(self) -> date:
        return self.clock().date()

    def use_emulated(self) -> EmulatedSlot:
        slot = EmulatedSlot(self.trace, self.home)
        self.slot = slot
        return slot

    def use_pcsc(self, name: str) -> PcscSlot:
        slot = PcscSlot(name, self.trace)
        self.slot = slot
        return slot

    @property
    def reader(self) -> Reader:
        if self.slot is None:
            raise ValueError("no reader chosen")
        return self.slot.reader

    def read_card_summary(self, filed_by: Callable[[str, str, str, date], bool] | None = None) -> CardSummary:
        """Connect and read EF05 (and EF06 when it needs no PIN). Blocking: call from a worker. `filed_by(ssn
        hash, home region, treatment region, day)` says whether a 备案 filing covers the visit."""
        with self.card_lock:
            reader = self.reader
            reader.connect()
            got = read_card(reader)
        card, holder = got.card, got.holder
        terminal_region = self.settings.terminal_region
        filed = False
        if holder is not None and filed_by is not None and card.region[:2] != terminal_region[:2]:
            filed = filed_by(ssn_hash(holder.ssn), card.region, terminal_region, self.today())
        summary = CardSummary(
            card_number=card.card_number,
            region=card.region,
            expiry=card.expiry_date,
            expired=self.today() > card.expiry_date,
            masked_name=mask_name(holder.name) if holder else None,
            masked_ssn=mask_ssn(holder.ssn) if holder else None,
            cross_region=card.region != terminal_region,
            cross_province=card.region[:2] != terminal_region[:2],
            filed=filed,
        )
        self.card = summary
        return summary

    def clear_card(self) -> None:
        self.card = None
