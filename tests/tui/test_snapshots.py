"""Snapshots (pytest-textual-snapshot) of every screen, in normal and large-font mode, in Chinese and
English. Deterministic: fixed clock, size, demo data, no PC/SC listing, no cursor blink.

Update after an intended change: `python -m pytest tests/tui/test_snapshots.py --snapshot-update`, look at
the SVGs, commit them.
"""

from __future__ import annotations


from typing import Any

import pytest

from tests.tui.conftest import enter_pin, type_in, NOW, SIZE, insert, make_app, settle, sign_in

VARIANTS = [
    pytest.param("en", False, id="en"),
    pytest.param("zh", False, id="zh"),
    pytest.param("en", True, id="en-large"),
    pytest.param("zh", True, id="zh-large"),
]


def app_for(language: str, large: bool, **options: Any) -> Any:
    return make_app(language=language, large=large, **options)


@pytest.mark.parametrize(("language", "large"), VARIANTS)
def test_login(snap_compare: Any, language: str, large: bool) -> None:
    assert snap_compare(app_for(language, large, operator="op01"), terminal_size=SIZE)


async def _counter_with_cart(pilot: Any) -> None:
    await sign_in(pilot)
    await insert(pilot, "zhang-wei")
    await pilot.press("f2")
    await enter_pin(pilot)
    await settle(pilot)
    await type_in(pilot, "#search", "amx")
    await type_in(pilot, "#search", "blg")
    await pilot.press("f6")
    await settle(pilot)
    await type_in(pilot, "#search", "dyx", enter=False)
    await settle(pilot)


@pytest.mark.parametrize(("language", "large"), VARIANTS)
def test_counter(snap_compare: Any, language: str, large: bool) -> None:
    assert snap_compare(app_for(language, large), terminal_size=SIZE, run_before=_counter_with_cart)


async def _pin_dialog(pilot: Any) -> None:
    await sign_in(pilot)
    await insert(pilot, "li-na")
    await pilot.press("f2", *"000000", "enter")
    await settle(pilot)
    await pilot.press(*"12")


@pytest.mark.parametrize(("language", "large"), VARIANTS)
def test_pin_dialog(snap_compare: Any, language: str, large: bool) -> None:
    assert snap_compare(app_for(language, large), terminal_size=SIZE, run_before=_pin_dialog)


async def _kiosk(pilot: Any) -> None:
    await sign_in(pilot, kiosk=True)


@pytest.mark.parametrize(("language", "large"), VARIANTS)
def test_kiosk_idle(snap_compare: Any, language: str, large: bool) -> None:
    assert snap_compare(app_for(language, large), terminal_size=SIZE, run_before=_kiosk)


async def _kiosk_tap(pilot: Any) -> None:
    await sign_in(pilot, kiosk=True)
    await pilot.press("2")  # chen-xiaoyu: student concession
    await settle(pilot)


@pytest.mark.parametrize(("language", "large"), VARIANTS)
def test_kiosk_approved(snap_compare: Any, language: str, large: bool) -> None:
    assert snap_compare(app_for(language, large), terminal_size=SIZE, run_before=_kiosk_tap)


async def _kiosk_declined(pilot: Any) -> None:
    from tests.tui.test_kiosk import hotlist_li_na

    hotlist_li_na()
    await sign_in(pilot, kiosk=True)
    await pilot.press("3")
    await settle(pilot)


@pytest.mark.parametrize(("language", "large"), VARIANTS[:2])
def test_kiosk_declined(snap_compare: Any, language: str, large: bool) -> None:
    assert snap_compare(app_for(language, large), terminal_size=SIZE, run_before=_kiosk_declined)


async def _receipt(pilot: Any) -> None:
    await _counter_with_cart(pilot)
    await pilot.press("f7")
    await enter_pin(pilot)
    await settle(pilot)


@pytest.mark.parametrize(("language", "large"), VARIANTS)
def test_receipt(snap_compare: Any, language: str, large: bool) -> None:
    assert snap_compare(app_for(language, large), terminal_size=SIZE, run_before=_receipt)


async def _settings(pilot: Any) -> None:
    await sign_in(pilot)
    await pilot.press("f9")
    await pilot.pause()


@pytest.mark.parametrize(("language", "large"), VARIANTS)
def test_settings(snap_compare: Any, language: str, large: bool) -> None:
    assert snap_compare(app_for(language, large), terminal_size=SIZE, run_before=_settings)


def book_demo_day() -> None:
    """A ledger with a few cash sales on the test day, booked through the ledger library."""
    from terminal.ledger import Ledger
    from terminal.ledger.accounts import cash_sale

    hours = iter([9, 9, 10, 11, 11, 11, 14])
    with Ledger.open("ledger.sqlite", terminal_id="310100000001",
                     clock=lambda: NOW.replace(hour=next(hours, 15))) as ledger:
        for n, (op, fen) in enumerate([("op01", 1250), ("op01", 4500), ("op02", 890), ("op01", 12000)]):
            intent = ledger.begin_intent(kind="cash_sale", amount_fen=fen, card_serial=None, operator=op,
                                         business_day="2025-03-01", postings=cash_sale(fen, "drugs"))
            ledger.commit_intent(intent.intent_id)


async def _day_close(pilot: Any) -> None:
    book_demo_day()
    await sign_in(pilot, supervisor=True)
    await pilot.press("f11")
    await settle(pilot)


@pytest.mark.parametrize(("language", "large"), VARIANTS)
def test_day_close(snap_compare: Any, language: str, large: bool) -> None:
    assert snap_compare(app_for(language, large), terminal_size=SIZE, run_before=_day_close)


