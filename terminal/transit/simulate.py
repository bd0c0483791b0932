"""A simulated day of random trips through in-process validators (`ykt transit simulate`).

`cards` virtual cards (issued from the demo profiles with random categories, birth dates and balances) ride
buses and the metro from 06:00: bus boardings, metro entries and exits, transfers within the window, missed
exits, repeated taps, a few hotlisted cards and cards pulled mid-tap (torn: resolved at their next tap). Every
tap goes through a real `Validator` (card OS, PSAM, compound purchases, the durable ledger) on a simulated
clock. Deterministic for a given seed.

Example::

    >>> summary = simulate(cards=20, taps=200, ledger_path=tmp / "ledger.sqlite", seed=1)   # doctest: +SKIP
    >>> summary.taps, summary.approved                                                       # doctest: +SKIP
"""

from __future__ import annotations

import heapq
import random
import time
import tomllib
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

from applets.card import MemoryStorage, VirtualCard
from applets.holder import ssn_check_digit
from applets.personalize import personalize
from applets.purse.personalize import PurseMasterKeys, personalize_psam
from reader.card_file import TearingStorage
from reader.emulated import EmulatedReader, Faults
from terminal.hotlist import Hotlist
from terminal.issuer import load_test_keys, profile_from_dict
from terminal.datafiles import data_dir
from terminal.ledger import Ledger
from terminal.purse import LoadHost
from terminal.transit.engine import Mode
from terminal.transit.fares import FareTables, load_fares
from terminal.transit.outcome import TapOutcome, TapStatus
from terminal.transit.validator import Validator

TEMPLATE = "zhang-wei.toml"
TERMINAL_ID = bytes.fromhex("310100000001")


@dataclass
class Summary:
    taps: int = 0
    by_status: Counter[str] = field(default_factory=Counter)
    revenue: int = 0  # fen debited from cards (the ledger's purse_float)
    subsidy: int = 0  # concession discounts booked against the subsidy (payable or receivable)
    declines: Counter[str] = field(default_factory=Counter)  # reason → count
    torn: int = 0  # taps torn by the simulation (card pulled mid-tap)
    recoveries: int = 0  # earlier torn taps resolved at a later tap of the card
    pending_left: int = 0  # intents still pending at the end (cards that never came back)
    ledger_ok: bool = False
    seconds: float = 0.0

    @property
    def approved(self) -> int:
        return self.by_status[TapStatus.APPROVED.value]

    def lines(self) -> list[str]:
        def y(fen: int) -> str:
            return f"{fen // 100}.{fen % 100:02d}"

        rate = self.taps / self.seconds if self.seconds else 0.0
        out = [
            f"taps        {self.taps} in {self.seconds:.1f} s ({rate:.0f} taps/s)",
            "outcomes    " + ", ".join(f"{k} {v}" for k, v in sorted(self.by_status.items())),
            f"revenue     {y(self.revenue)} yuan from purses, {y(self.subsidy)} yuan concessions (subsidy)",
            f"declines    {sum(self.declines.values())}",
        ]
        out += [f"  {n:>5}  {reason}" for reason, n in self.declines.most_common(6)]
        out += [
            f"torn        {self.torn} taps pulled mid-tap; {self.recoveries} recoveries at a later tap; "
            f"{self.pending_left} still pending",
            f"ledger      {'verified' if self.ledger_ok else 'VERIFY FAILED'}",
        ]
        return out


def _profile(template: dict[str, Any], i: int, rng: random.Random) -> dict[str, Any]:
    obj = {k: dict(v) if isinstance(v, dict) else v for k, v in template.items()}
    category = rng.choices(["adult", "student", "elderly"], weights=[80, 12, 8])[0]
    year = {"adult": rng.randint(1960, 2004), "student": rng.randint(2005, 2012), "elderly": rng.randint(1935, 1959)}[category]
    born = date(year, rng.randint(1, 12), rng.randint(1, 28))
    head = f"310105{born:%Y%m%d}{i % 1000:03d}"
    obj["card"].update(serial=f"31{i:014d}", card_number=f"S{i:08d}")
    obj["holder"].update(ssn=head + ssn_check_digit(head), birth_date=born)
    obj["insurance"] = {**obj.get("insurance", {}), "category": category}
    obj["purse"] = {"ep_balance": rng.choices([250, 1_000, 3_000, 5_000, 10_000, 20_000], weights=[1, 2, 4, 4, 4, 2])[0]}
    obj["label"] = f"simulated holder {i}"
    return obj


def make_cards(n: int, rng: random.Random) -> list[VirtualCard]:
    keys = load_test_keys()
    template = tomllib.loads((data_dir() / "cards" / TEMPLATE).read_text(encoding="utf-8"))
    cards = []
    for i in range(1, n + 1):
        profile = profile_from_dict(_profile(template, i, rng), f"simulated card {i}")
        image = personalize(profile, keys, rng.randbytes)
        cards.append(VirtualCard(TearingStorage(MemoryStorage(image.to_bytes())), rng.randbytes))
    return cards


def _trips(rng: random.Random, tables: FareTables, start: datetime) -> list[tuple[datetime, Mode, str]]:
    """One rider's day: a few trips, bus or metro, some with a quick transfer, some missed exits."""
    stations = sorted(tables.network.stations)
    routes = ["71", "49", "916", "20"]
    out: list[tuple[datetime, Mode, str]] = []
    now = start + timedelta(minutes=rng.randint(0, 14 * 60))
    for _ in range(rng.randint(1, 4)):
        if rng.random() < 0.45:
            out.append((now, Mode.BUS, rng.choice(routes)))
            now += timedelta(minutes=rng.randint(10, 40))
        else:
            a, b = rng.sample(stations, 2)
            out.append((now, Mode.METRO_ENTRY, a))
            now += timedelta(minutes=rng.randint(8, 70))
            if rng.random() > 0.04:  # 4 % forget to tap out
                out.append((now, Mode.METRO_EXIT, b))
        now += timedelta(minutes=rng.choice([3, 10, 30, 120, 240]))
    return out


def simulate(
    *,
    cards: int,
    taps: int,
    ledger_path: Path,
    seed: int = 0,
    tear_rate: float = 0.02,
    repeat_rate: float = 0.03,
    hotlisted: float = 0.01,
    day: date = date(2024, 3, 1),
    tables: FareTables | None = None,
    on_tap: Callable[[TapOutcome], None] | None = None,
) -> Summary:
    """Drive `taps` taps of `cards` riders through validators; `on_tap` sees every outcome (progress)."""
    rng = random.Random(seed)
    tables = tables or load_fares()
    keys = load_test_keys()
    masters = PurseMasterKeys.from_extra(keys.extra)
    if masters is None:
        raise ValueError("the TEST key file has no purse master keys")
    riders = make_cards(cards, rng)
    psam = VirtualCard(MemoryStorage(personalize_psam(masters.purchase, rng.randbytes, terminal_id=TERMINAL_ID).to_bytes()),
                       rng.randbytes)
    psam_reader = EmulatedReader(psam, "PSAM")
    psam_reader.connect()
    reader = EmulatedReader(None, "simulated validator")
    listed = [f"31{i:014d}" for i in range(1, cards + 1) if rng.random() < hotlisted]
    clock = [datetime.combine(day, datetime.min.time())]
    summary = Summary()
    started = time.perf_counter()
    host = LoadHost(masters)
    with Ledger.open(ledger_path, terminal_id=TERMINAL_ID.hex().upper()) as ledger:
        validators: dict[tuple[Mode, str], Validator] = {}
        before = _totals(ledger)

        def validator(mode: Mode, station: str) -> Validator:
            key = (mode, station)
            if key not in validators:
                validators[key] = Validator(tables, mode, station, card=reader, psam=psam_reader, ledger=ledger,
                                            hotlist=Hotlist.of(listed), block_mac=host.application_block_mac,
                                            clock=lambda: clock[0])
            return validators[key]

        events: list[tuple[datetime, int, int, Mode, str]] = []
        start = clock[0].replace(hour=6)
        order = 0
        while len(events) < taps:
            for index in range(cards):
                for when, mode, station in _trips(rng, tables, start):
                    events.append((when, order, index, mode, station))
                    order += 1
            start += timedelta(minutes=1)
        heapq.heapify(events)
        while events and summary.taps < taps:
            when, _, index, mode, station = heapq.heappop(events)
            clock[0] = max(clock[0], when)
            card = riders[index]
            reader.insert(card)
            torn = rng.random() < tear_rate
            storage = card.storage
            if torn and isinstance(storage, TearingStorage):
                if rng.random() < 0.5:  # pulled before some APDU of the tap
                    reader.faults = Faults(remove_before_apdu=rng.randint(1, 16))
                else:  # power lost while the card saves (the DEBIT's commit), before or after the write
                    storage.tear_at_save, storage.after_write = storage.saves + 1, rng.random() < 0.5
            outcome = validator(mode, station).process_tap()
            reader.faults = None
            if isinstance(storage, TearingStorage):
                storage.tear_at_save = None
            reader.remove()
            _count(summary, outcome, torn)
            if on_tap is not None:
                on_tap(outcome)
            if summary.taps < taps and rng.random() < repeat_rate:
                reader.insert(card)
                clock[0] += timedelta(seconds=1)
                again = validator(mode, station).process_tap()
                reader.remove()
                _count(summary, again, False)
                if on_tap is not None:
                    on_tap(again)
        after = _totals(ledger)
        summary.revenue = after[0] - before[0]
        summary.subsidy = after[1] - before[1]
        summary.pending_left = len(ledger.pending_intents())
        summary.ledger_ok = ledger.verify(quick=True).ok
    summary.seconds = time.perf_counter() - started
    return summary


def _totals(ledger: Ledger) -> tuple[int, int]:
    """(fen owed by the purse issuer, fen of concessions) in the ledger so far."""
    b = ledger.balances()
    subsidy = sum(b[a].balance_fen for a in ("subsidy_payable", "subsidy_receivable") if a in b)
    return b["purse_float"].balance_fen, subsidy


def _count(summary: Summary, outcome: TapOutcome, torn: bool) -> None:
    summary.taps += 1
    summary.by_status[outcome.status.value] += 1
    summary.torn += int(torn)
    summary.recoveries += sum(1 for r in outcome.recovered if not r.startswith("pending"))
    if outcome.status is TapStatus.DECLINED and outcome.reason:
        summary.declines[_reason_kind(outcome.reason)] += 1


_REASONS = (
    ("insufficient balance", "insufficient balance"),
    ("needed to enter", "balance below the minimum to enter"),
    ("on the hotlist", "hotlisted card refused (and blocked)"),
    ("is blocked", "blocked card"),
    ("no entry tap", "exit without an entry tap"),
    ("a trip is open", "entry while a trip is open"),
    ("card removed", "card removed before payment"),
    ("unresolved", "earlier tap unresolved"),
)


def _reason_kind(reason: str) -> str:
    """Group decline reasons without their amounts, times and stations."""
    for marker, label in _REASONS:
        if marker in reason:
            return label
    return reason[:60]
