"""TUI test set-up: a fixed clock, a fixed terminal size, the demo cards in the fresh YKT_HOME of
tests/conftest.py, and the ledger as a relative path (so no temporary path reaches a snapshot)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from terminal.tui.app import TuiOptions, YktApp

CST = timezone(timedelta(hours=8))
NOW = datetime(2025, 3, 1, 10, 30, tzinfo=CST)
SIZE = (120, 36)
OPERATOR = "c001"  # the demo operators (data/operators.example.csv), added on the embedded demo terminal
PASSWORD = "demo-cashier"
SUPERVISOR = "sup1"
SUPERVISOR_PASSWORD = "demo-supervisor"


def fixed_clock() -> datetime:
    return NOW


def make_app(**options: Any) -> YktApp:
    options.setdefault("clock", fixed_clock)
    options.setdefault("blink", False)
    options.setdefault("ledger", "ledger.sqlite")
    options.setdefault("language", "en")
    options.setdefault("pcsc", False)
    return YktApp(TuiOptions(**options))


@pytest.fixture(autouse=True)
def in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.chdir(tmp_path)
    yield tmp_path


def run(scenario: Callable[[], Awaitable[None]]) -> None:
    asyncio.run(scenario())


WATCHERS = {"pcsc", "pcsc-card", "tap-watch"}  # workers that run as long as their screen


async def settle(pilot: Any, timeout: float = 10.0) -> None:
    """Let workers finish (watchers excepted) and their results reach the screen."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    for _ in range(2):
        await pilot.pause()
        while any(w.is_running and w.group not in WATCHERS for w in pilot.app.workers):
            if loop.time() > deadline:
                raise TimeoutError("workers still running")
            await pilot.pause(0.02)
        await pilot.pause()


async def sign_in(pilot: Any, *, kiosk: bool = False, supervisor: bool = False) -> None:
    app = pilot.app
    app.screen.query_one("#operator").value = SUPERVISOR if supervisor else OPERATOR
    app.screen.query_one("#password").value = SUPERVISOR_PASSWORD if supervisor else PASSWORD
    if kiosk:
        app.screen.query_one("#mode-kiosk").value = True
    await pilot.pause()
    await pilot.press("f10")
    await settle(pilot)


async def insert(pilot: Any, name: str) -> None:
    screen = pilot.app.screen
    screen.insert_card(name)
    await settle(pilot)


def text_of(app: YktApp, selector: str) -> str:
    widget = app.screen.query_one(selector)
    rendered = widget.render()
    return str(getattr(rendered, "plain", rendered))


async def type_in(pilot: Any, selector: str, text: str, *, enter: bool = True) -> None:
    """Fill an input at once (pressing key by key costs ≈ 0.1 s a key under Pilot), then Enter."""
    widget = pilot.app.screen.query_one(selector)
    widget.focus()
    widget.value = text
    await pilot.pause()
    if enter:
        await pilot.press("enter")


async def enter_pin(pilot: Any, pin: str = "123456") -> None:
    await type_in(pilot, "#pin", pin)
