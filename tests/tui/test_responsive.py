"""Cold start (scripts/bench_tui.py) and input that never waits for the card (card I/O in workers)."""

from __future__ import annotations

import time

from reader.emulated import Faults
from tests.tui.conftest import enter_pin, type_in, SIZE, insert, make_app, run, settle, sign_in


def test_cold_start_to_the_first_usable_screen_is_within_target() -> None:
    from scripts.bench_tui import TARGET_S
    from scripts.bench_tui import run as bench

    result = bench(quick=True)
    assert result["screen"] == "LoginScreen Input"
    assert result["median_s"] <= TARGET_S


def test_typing_goes_on_while_a_slow_card_is_read() -> None:
    async def scenario() -> None:
        app = make_app()
        async with app.run_test(size=SIZE) as pilot:
            await sign_in(pilot)
            await insert(pilot, "zhang-wei")
            app.session.slot.set_faults(Faults(latency_s=0.05))  # ≈ 40 APDUs: 2 s of card work
            await pilot.press("f2")
            await enter_pin(pilot)
            started = time.monotonic()
            await pilot.press("f5", *"blg")
            await pilot.pause()
            assert app.screen.query_one("#search").value == "blg"
            assert any(w.is_running and w.group == "card" for w in app.workers)  # the card is still busy
            assert time.monotonic() - started < 1.0
            await settle(pilot)
            assert "PIN ok" in str(app.screen.query_one("#identity").render())

    run(scenario)
