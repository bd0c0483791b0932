"""Pilot tests of the validator kiosk (terminal.transit): taps, "already paid", a decline, and leaving only
with the supervisor."""

from __future__ import annotations

from tests.tui.conftest import SIZE, SUPERVISOR, SUPERVISOR_PASSWORD, make_app, run, settle, sign_in, text_of


def test_kiosk_taps_approved_then_already_paid() -> None:
    async def scenario() -> None:
        app = make_app()
        async with app.run_test(size=SIZE) as pilot:
            await sign_in(pilot, kiosk=True)
            assert type(app.screen).__name__ == "KioskScreen"
            await pilot.press("6")  # zhang-wei
            await settle(pilot)
            assert "APPROVED" in text_of(app, "#kiosk-headline")
            assert app.screen.query_one("#kiosk-main").has_class("-approved")
            assert app.screen.view.fare_fen == 200 and app.screen.view.balance_fen == 4800
            await pilot.press("6")  # the same card again at once
            await settle(pilot)
            assert "Already paid" in text_of(app, "#kiosk-notes")
            await pilot.press("2")  # chen-xiaoyu, a student
            await settle(pilot)
            assert "student" in text_of(app, "#kiosk-notes")

    run(scenario)


def hotlist_li_na() -> None:
    from terminal.hotlist import default_hotlist_path, install, record_key

    install(default_hotlist_path(), 1, [record_key("1100000000000002")], created=0)


def test_kiosk_declines_a_hotlisted_card_in_red_with_the_reason() -> None:
    async def scenario() -> None:
        hotlist_li_na()
        app = make_app()
        async with app.run_test(size=SIZE) as pilot:
            await sign_in(pilot, kiosk=True)
            await pilot.press("3")  # li-na
            await settle(pilot)
            assert "DECLINED" in text_of(app, "#kiosk-headline")
            assert app.screen.query_one("#kiosk-main").has_class("-declined")
            assert "blocked" in text_of(app, "#kiosk-reason")

    run(scenario)


def test_kiosk_leaves_only_with_the_supervisor() -> None:
    async def scenario() -> None:
        app = make_app()
        async with app.run_test(size=SIZE) as pilot:
            await sign_in(pilot, kiosk=True)
            await pilot.press("ctrl+q")
            await pilot.pause()
            assert app.is_running and type(app.screen).__name__ == "KioskScreen"
            await pilot.press("f12")
            await pilot.pause()
            app.screen.query_one("#supervisor").value = "c001"
            app.screen.query_one("#password").value = "demo-cashier"
            await pilot.press("enter", "enter")
            await settle(pilot)
            assert "Not a supervisor" in text_of(app, "#message")
            app.screen.query_one("#supervisor").value = SUPERVISOR
            app.screen.query_one("#password").value = SUPERVISOR_PASSWORD
            await pilot.press("enter", "enter")
            await settle(pilot)
            assert not app.is_running

    run(scenario)
