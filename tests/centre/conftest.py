"""Fixtures of the centre tests: a centre on SQLite and — the same tests — on the real PostgreSQL server of
the clearing tests (tests/clearing/conftest.py: initdb + pg_ctl on 127.0.0.1, one schema per test), a fixed
clock, and a real uvicorn server on 127.0.0.1."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import pytest

from terminal.centre import Centre
from tests.clearing.conftest import pg_url, postgres  # noqa: F401  (the real PostgreSQL fixture, reused)

from .contract import NOW
from .server import CentreServer


class Clock:
    """A settable clock shared by the centre and the counter of a test."""

    def __init__(self, now: dt.datetime = NOW) -> None:
        self.now = now

    def __call__(self) -> dt.datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += dt.timedelta(seconds=seconds)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def centre_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return str(tmp_path / "centre.sqlite")
    return pg_url(request.getfixturevalue("postgres"))


@pytest.fixture
def centre(centre_url: str, clock: Clock) -> Iterator[Centre]:
    c = Centre.open(centre_url, clock=clock)
    yield c
    c.close()


@pytest.fixture
def server(centre: Centre) -> Iterator[CentreServer]:
    with CentreServer(centre, drop_hold_s=5.0) as s:
        yield s
