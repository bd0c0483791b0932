"""Tearing at every APDU of the entry, exit and bus taps (the card pulled before or after it), and power lost
inside the DEBIT's save (before or after the write): the card is exactly before or exactly after the tap, and
once the card is presented again the tap is completed or recognised — never charged twice, never lost, the
ledger agreeing with the card."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from reader.emulated import Faults
from terminal.transit.outcome import TapStatus
from tests.transit.helpers import Rig, card_state, new_card

TAPS = {
    # mode: (setup taps before it, the tap under test)
    "metro-entry": ([], ("metro-entry", "xinzhuang")),
    "metro-exit": ([("metro-entry", "xinzhuang")], ("metro-exit", "peoples-square")),
    "bus": ([], ("bus", "71")),
}
FARE = {"metro-entry": 0, "metro-exit": 500, "bus": 200}


def _prepared(folder: Path, mode: str) -> tuple[Rig, Any, dict[str, Any]]:
    rig = Rig(folder)
    card = new_card("zhang-wei", ep=5_000)
    for setup in TAPS[mode][0]:
        assert rig.tap(card, *setup).status is TapStatus.APPROVED
        rig.advance(minutes=20)
    rig.validators.clear()  # a fresh validator: the first tap also reads the card facts (category, birth date)
    return rig, card, card_state(card)


def _clean_after(folder: Path, mode: str) -> tuple[dict[str, Any], int]:
    rig, card, _ = _prepared(folder, mode)
    rig.reader.insert(card)
    out = rig.tap(card, *TAPS[mode][1])
    assert out.status is TapStatus.APPROVED and out.amount == FARE[mode]
    count = rig.reader.apdu_count
    rig.close()
    return card_state(card), count


@pytest.fixture(scope="module")
def clean(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[dict[str, Any], int]]:
    return {mode: _clean_after(tmp_path_factory.mktemp(f"clean-{mode}"), mode) for mode in TAPS}


def _check_tear(folder: Path, mode: str, clean_after: dict[str, Any], tear: dict[str, Any]) -> TapStatus:
    rig, card, before = _prepared(folder, mode)
    committed_before = rig.ledger.conn.execute("SELECT count(*) FROM transactions").fetchone()[0]
    storage = card.storage
    faults = None
    if "save" in tear:
        storage.tear_at_save, storage.after_write = storage.saves + 1, tear["save"] == "after"
    else:
        faults = Faults(**tear)
    first = rig.tap(card, *TAPS[mode][1], faults=faults)
    storage.tear_at_save = None
    middle = card_state(card)
    assert middle in (before, clean_after), f"{tear}: the card is neither before nor after the tap"
    assert first.status is not TapStatus.APPROVED or middle == clean_after
    # the passenger presents the card again, straight away
    second = rig.tap(card, *TAPS[mode][1])
    assert second.ok, f"{tear}: {first.status} then {second.status} ({second.reason})"
    assert card_state(card) == clean_after, f"{tear}: charged {'twice' if middle == clean_after else 'never'}"
    assert not rig.ledger.pending_intents()
    fares = rig.ledger.conn.execute("SELECT count(*), coalesce(sum(amount_fen), 0) FROM transactions").fetchone()
    assert fares[0] == committed_before + 1, f"{tear}: {fares[0] - committed_before} bookings for one tap"
    report = rig.ledger.verify()
    assert report.ok, report.first
    rig.close()
    return first.status


@pytest.mark.parametrize("mode", list(TAPS))
def test_tear_at_every_apdu_and_save_point(tmp_path: Path, mode: str, clean: dict[str, tuple[dict[str, Any], int]]) -> None:
    clean_after, count = clean[mode]
    assert count >= 12
    tears: list[dict[str, Any]] = [{"remove_before_apdu": n} for n in range(1, count + 1)]
    tears += [{"remove_after_apdu": n} for n in range(1, count + 1)]
    tears += [{"lose_response": n} for n in range(1, count + 1)]
    tears += [{"save": "before"}, {"save": "after"}]
    seen: set[TapStatus] = set()
    for i, tear in enumerate(tears):
        seen.add(_check_tear(tmp_path / f"t{i}", mode, clean_after, tear))
    assert TapStatus.PENDING in seen and TapStatus.DECLINED in seen and TapStatus.APPROVED in seen
