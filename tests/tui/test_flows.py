"""Pilot tests of the TUI flows that dispatch to the libraries: sign-in, card status, identity with PIN
and QR, catalog search and cart, trace panel, settings, errors in the screen."""

from __future__ import annotations

from pathlib import Path

from terminal.tui.screens.counter import CounterScreen
from terminal.tui.screens.login import LoginScreen
from terminal.tui.screens.pin import PinScreen
from terminal.tui.settings import load_settings
from tests.tui.conftest import enter_pin, type_in, NOW, SIZE, insert, make_app, run, settle, sign_in, text_of


def test_sign_in_opens_the_counter() -> None:
    async def scenario() -> None:
        app = make_app()
        async with app.run_test(size=SIZE) as pilot:
            assert isinstance(app.screen, LoginScreen)
            await sign_in(pilot)
            assert isinstance(app.screen, CounterScreen)
            assert app.session.operator == "c001" and app.session.operator_role == "cashier"
            assert app.session.business_day == "2025-03-01"
            assert "c001" in text_of(app, "TitleBar")
            assert "TEST operators" in text_of(app, "#message")

    run(scenario)


def test_sign_in_refuses_a_bad_business_day() -> None:
    async def scenario() -> None:
        app = make_app()
        async with app.run_test(size=SIZE) as pilot:
            app.screen.query_one("#operator").value = "c001"
            app.screen.query_one("#day").value = "2025-13-01"
            await pilot.press("f10")
            await settle(pilot)
            assert isinstance(app.screen, LoginScreen)
            assert "YYYY-MM-DD" in text_of(app, "#message")

    run(scenario)


def test_card_status_bar_shows_the_card_masked() -> None:
    async def scenario() -> None:
        app = make_app()
        async with app.run_test(size=SIZE) as pilot:
            await sign_in(pilot)
            await insert(pilot, "zhang-wei")
            status = text_of(app, "CardStatusBar")
            assert "张*" in status and "310105********001X" in status
            assert "A00000001" in status and "2031-05-31" in status
            assert "31010519800315001X" not in status  # never the full SSN
            await insert(pilot, "li-na")  # Beijing card at a Shanghai counter; EF06 needs the PIN
            status = text_of(app, "CardStatusBar")
            assert "holder after PIN" in status and "110000" in status
            assert "跨省异地" in status and "not filed" in status
            await pilot.press("f3")
            await settle(pilot)
            assert "No card" in text_of(app, "CardStatusBar")

    run(scenario)


def test_identity_with_pin_wrong_then_right() -> None:
    async def scenario() -> None:
        app = make_app()
        async with app.run_test(size=SIZE) as pilot:
            await sign_in(pilot)
            await insert(pilot, "zhang-wei")
            await pilot.press("f2")
            await pilot.pause()
            assert isinstance(app.screen, PinScreen)
            pin = app.screen.query_one("#pin")
            assert pin.password  # masked
            await pilot.press(*"111111", "enter")
            await settle(pilot)
            assert isinstance(app.screen, PinScreen)
            assert "2 tries left" in text_of(app, "#tries")
            assert "Wrong PIN" in text_of(app, "#message")
            await enter_pin(pilot)
            await settle(pilot)
            assert isinstance(app.screen, CounterScreen)
            identity = text_of(app, "#identity")
            assert "张*" in identity and "PIN ok" in identity and "card genuine" in identity
            assert "123456" not in identity

    run(scenario)


def test_blocked_pin_card_is_refused_in_the_screen() -> None:
    async def scenario() -> None:
        app = make_app()
        async with app.run_test(size=SIZE) as pilot:
            await sign_in(pilot)
            await insert(pilot, "liu-yang")
            await pilot.press("f2")
            await enter_pin(pilot)
            await settle(pilot)
            assert isinstance(app.screen, CounterScreen)
            assert "Refused" in text_of(app, "#message")
            assert "Not checked" in text_of(app, "#identity")

    run(scenario)


def test_qr_e_card_identifies_once() -> None:
    from terminal.identity import issue_qr
    from terminal.issuer import demo_profile_paths, load_profile

    profile = load_profile(next(p for p in demo_profile_paths() if p.stem == "zhang-wei"))
    payload = issue_qr(profile, NOW)

    async def scenario() -> None:
        app = make_app()
        async with app.run_test(size=SIZE) as pilot:
            await sign_in(pilot)
            await pilot.press("f4")
            app.screen.query_one("#qr").value = payload
            await pilot.press("enter")
            await settle(pilot)
            assert "QR e-card" in text_of(app, "#identity")
            await pilot.press("f4")
            app.screen.query_one("#qr").value = payload  # the same code again
            await pilot.press("enter")
            await settle(pilot)
            assert "already used" in text_of(app, "#message")

    run(scenario)


def test_catalog_search_by_pinyin_initials_and_cart_quantity() -> None:
    async def scenario() -> None:
        app = make_app()
        async with app.run_test(size=SIZE) as pilot:
            await sign_in(pilot)
            await pilot.press("f5", *"amx")
            await pilot.pause()
            results = app.screen.query_one("#results")
            assert results.option_count >= 1
            assert "阿莫西林胶囊" in str(results.get_option_at_index(0).prompt)
            await pilot.press("enter")  # adds the best match
            await pilot.press(*"XN02BED010A001", "enter")
            await pilot.pause()
            cart = app.screen.query_one("#cart")
            await pilot.click("#cart")
            cart.focus()
            cart.move_cursor(row=0)
            await pilot.press("plus", "plus")
            await pilot.pause()
            assert [(i.code, q) for i, q in app.screen.cart] == [("XJ01CAA040A001", 3), ("XN02BED010A001", 1)]
            assert cart.get_row_at(0)[0] == "甲" and cart.get_row_at(0)[4] == "37.50"
            assert cart.get_row("__total__")[4] == "42.00"
            cart.move_cursor(row=1)
            await pilot.press("delete")
            assert [i.code for i, _ in app.screen.cart] == ["XJ01CAA040A001"]

    run(scenario)


def test_trace_panel_shows_masked_exchanges_and_saves(ykt_home: Path) -> None:
    async def scenario() -> None:
        app = make_app()
        async with app.run_test(size=SIZE) as pilot:
            await sign_in(pilot)
            await insert(pilot, "zhang-wei")
            await pilot.press("f2")
            await enter_pin(pilot)
            await settle(pilot)
            await pilot.press("ctrl+t")
            await pilot.pause(0.3)
            panel = app.screen.query_one("TracePanel")
            assert panel.display
            lines = text_of(app, "#trace-lines")
            assert "SELECT" in lines and "VERIFY" in lines and "µs" in lines
            assert "313233343536" not in lines  # the PIN's bytes never appear
            await pilot.press("ctrl+s")
            await pilot.pause()
            saved = list((ykt_home / "traces").glob("trace-*.jsonl"))
            assert len(saved) == 1
            assert "313233343536" not in saved[0].read_text()
            await pilot.press("ctrl+t")
            assert not panel.display

    run(scenario)


def test_settings_switch_language_and_large_mode_persist(ykt_home: Path) -> None:
    async def scenario() -> None:
        app = make_app(language=None)
        async with app.run_test(size=SIZE) as pilot:
            await sign_in(pilot)
            await insert(pilot, "zhang-wei")
            await type_in(pilot, "#search", "amx")
            assert "柜台" in text_of(app, "TitleBar")  # the default language
            await pilot.press("f9")
            await pilot.pause()
            app.screen.query_one("#lang-en").value = True
            app.screen.query_one("#large").value = True
            await pilot.pause()
            await pilot.press("f10")
            await settle(pilot)
            assert app.has_class("-large")
            assert "Saved" in text_of(app, "#message")
            await pilot.press("escape")
            await pilot.pause()
            assert isinstance(app.screen, CounterScreen)
            assert "Counter" in text_of(app, "TitleBar")
            assert "Card" in text_of(app, "CardStatusBar") and "张*" in text_of(app, "CardStatusBar")
            cart = app.screen.query_one("#cart")
            assert cart.row_count == 2 and cart.get_row_at(0)[1] == "阿莫西林胶囊"  # the cart survived
        saved = load_settings(ykt_home)
        assert saved.language == "en" and saved.large

    run(scenario)


def test_errors_are_shown_in_the_screen_not_raised() -> None:
    async def scenario() -> None:
        app = make_app()
        async with app.run_test(size=SIZE) as pilot:
            await sign_in(pilot)
            await pilot.press("f2")  # no card yet
            assert "Insert a card first" in text_of(app, "#message")
            await pilot.press("f6")  # nothing identified
            assert "Check the holder's identity first" in text_of(app, "#message")
            await pilot.press("f7")  # nothing to pay
            assert "Check the holder's identity first" in text_of(app, "#message")

    run(scenario)
