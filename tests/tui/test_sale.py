"""Pilot tests of the counter's money flows through terminal.counter: login → identify → cart → preview →
pay → receipt; refund; subsidy; day close; a card pulled mid-payment and its recovery."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from terminal.tui.screens.counter import CounterScreen
from terminal.tui.screens.pin import PinScreen
from terminal.tui.screens.receipt import ReceiptScreen
from tests.tui.conftest import enter_pin, type_in, SIZE, insert, make_app, run, settle, sign_in, text_of


async def identified_cart(pilot: Any, card: str = "zhang-wei") -> None:
    await insert(pilot, card)
    await pilot.press("f2")
    await enter_pin(pilot)
    await settle(pilot)
    await type_in(pilot, "#search", "amx")
    await type_in(pilot, "#search", "blg")
    await pilot.press("f6")
    await settle(pilot)


async def pay(pilot: Any, pin: str = "123456") -> None:
    await pilot.press("f7")
    await pilot.pause()
    assert isinstance(pilot.app.screen, PinScreen)
    await enter_pin(pilot, pin)
    await settle(pilot)


def test_sale_from_sign_in_to_receipt() -> None:
    async def scenario() -> None:
        app = make_app()
        async with app.run_test(size=SIZE) as pilot:
            await sign_in(pilot)
            await identified_cart(pilot)
            preview = text_of(app, "#preview")
            assert "Pooled" in preview and "Account" in preview and "Cash" in preview
            assert "24.50" in preview  # 12.50 + 12.00
            assert "DUE IN CASH" in preview and "personal account" in preview
            await pay(pilot)
            assert isinstance(app.screen, ReceiptScreen)
            receipt = app.screen.receipt
            assert receipt.status == "committed" and receipt.holder_name == "张*"
            shown = str(app.screen.query_one("#receipt-lines Static").render())
            assert receipt.number in shown and "310105********001X" in shown
            assert "31010519800315001X" not in shown and "123456" not in shown
            assert app.screen.query_one("#receipt-qr")  # the receipt number as a QR code
            await pilot.press("escape")
            assert isinstance(app.screen, CounterScreen)
            assert f"receipt {receipt.number}" in text_of(app, "#message")
            assert app.screen.cart == []

    run(scenario)


def test_preview_for_a_cross_province_card() -> None:
    async def scenario() -> None:
        app = make_app()
        async with app.run_test(size=SIZE) as pilot:
            await sign_in(pilot)
            await identified_cart(pilot, "li-na")
            assert "cross-province" in text_of(app, "#preview")

    run(scenario)


def test_card_pulled_mid_payment_shows_pending_then_recovery() -> None:
    from reader.emulated import Faults

    async def scenario() -> None:
        app = make_app()
        async with app.run_test(size=SIZE) as pilot:
            await sign_in(pilot)
            await identified_cart(pilot)
            slot = app.session.slot
            faults = Faults()

            def pull_at_debit(n: int, command: bytes, response: bytes) -> bytes:
                if command[:2] == b"\x80\x54":  # DEBIT FOR PURCHASE ran on the card; the answer never comes back
                    faults.lose_response = n
                    slot.reader.remove()
                return response

            faults.corrupt_response = pull_at_debit
            slot.set_faults(faults)
            await pay(pilot)
            assert isinstance(app.screen, CounterScreen)
            message = text_of(app, "#message")
            assert "PENDING" in message
            # The holder presents the card again: the identity check resolves the pending payment first.
            await insert(pilot, "zhang-wei")
            await pilot.press("f2")
            await enter_pin(pilot)
            await settle(pilot)
            message = text_of(app, "#message")
            assert "Recovery" in message and "went through" in message

    run(scenario)


def test_refund_by_the_supervisor() -> None:
    async def scenario() -> None:
        app = make_app()
        async with app.run_test(size=SIZE) as pilot:
            await sign_in(pilot, supervisor=True)
            await identified_cart(pilot)
            await pay(pilot)
            number = app.screen.receipt.number
            await pilot.press("escape")
            await pilot.press("f8")
            await pilot.pause()
            app.screen.query_one("#receipt").value = number
            await pilot.press("enter")
            await settle(pilot)
            lines = app.screen.query_one("#lines")
            assert lines.option_count == 2
            lines.deselect(1)
            await pilot.press("f10")
            await pilot.pause()
            assert isinstance(app.screen, PinScreen)
            await enter_pin(pilot)
            await settle(pilot)
            assert "Refunded" in text_of(app, "#message")

    run(scenario)


def test_cashier_may_not_refund() -> None:
    async def scenario() -> None:
        app = make_app()
        async with app.run_test(size=SIZE) as pilot:
            await sign_in(pilot)
            await identified_cart(pilot)
            await pay(pilot)
            number = app.screen.receipt.number
            await pilot.press("escape", "f8")
            await pilot.pause()
            app.screen.query_one("#receipt").value = number
            await pilot.press("enter")
            await settle(pilot)
            await pilot.press("f10")
            await enter_pin(pilot)
            await settle(pilot)
            assert "supervisor" in text_of(app, "#message")

    run(scenario)


def test_subsidy_batch_credits_the_card_once() -> None:
    async def scenario() -> None:
        app = make_app()
        async with app.run_test(size=SIZE) as pilot:
            await sign_in(pilot)
            await insert(pilot, "zhang-wei")
            await pilot.press("f10")
            await pilot.pause()
            await pilot.press("enter")  # the example batch
            await settle(pilot)
            credits = text_of(app, "#credits")
            assert "张*" in credits and credits.count("credited") == 2
            await pilot.press("enter")
            await settle(pilot)
            assert text_of(app, "#credits").count("already credited") == 2

    run(scenario)


def test_day_close_report_and_signed_close(ykt_home: Path) -> None:
    async def scenario() -> None:
        app = make_app()
        async with app.run_test(size=SIZE) as pilot:
            await sign_in(pilot, supervisor=True)
            await identified_cart(pilot)
            await pay(pilot)
            await pilot.press("escape", "f11")
            await settle(pilot)
            summary = text_of(app, "#summary")
            assert "1 transactions" in summary and "verified: ok" in summary
            assert "medical_sale" in str(app.screen.query_one("#operators").get_row_at(0))
            await pilot.press("f10")
            await pilot.pause()
            await pilot.press("y")
            await settle(pilot)
            assert "files written" in text_of(app, "#message")
            files = sorted(p.name for p in (ykt_home / "dayclose").iterdir())
            assert files == ["dayclose-2025-03-01.csv", "dayclose-2025-03-01.json", "dayclose-2025-03-01.signed.json"]

    run(scenario)


def test_wrong_password_stays_on_sign_in() -> None:
    async def scenario() -> None:
        app = make_app()
        async with app.run_test(size=SIZE) as pilot:
            app.screen.query_one("#operator").value = "c001"
            app.screen.query_one("#password").value = "wrong-password"
            await pilot.press("f10")
            await settle(pilot)
            assert type(app.screen).__name__ == "LoginScreen"
            assert "Error" in text_of(app, "#message")
            assert app.screen.query_one("#password").value == ""

    run(scenario)
