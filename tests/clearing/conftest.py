"""Fixtures of the clearing tests: a clearing house on SQLite and — the same tests — on a real PostgreSQL
server started from Debian's `postgresql` package (initdb + pg_ctl in a temporary folder, as the `postgres`
user when run as root, on a free port on 127.0.0.1). Without PostgreSQL the `postgres` cases skip, except
under $CI, where they fail: CI must run them (scripts/install-test-deps installs the package)."""

from __future__ import annotations

import itertools
import os
import warnings
from collections.abc import Iterator

import pytest

from terminal.clearing import ClearingHouse, TacVerifier
from tests.purse.helpers import MASTERS

from .pgserver import PostgresServer, find_pg_bin

warnings.filterwarnings("ignore", message=".*httpx.*", category=DeprecationWarning)

_schemas = itertools.count(1)


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer]:
    bindir = find_pg_bin()
    if bindir is None:
        if os.environ.get("CI"):
            pytest.fail("PostgreSQL is not installed: scripts/install-test-deps installs Debian's postgresql")
        pytest.skip("PostgreSQL binaries not found (apt-get install postgresql)")
    server = PostgresServer(bindir)
    server.start()
    try:
        yield server
    finally:
        server.stop()


def pg_url(server: PostgresServer) -> str:
    """A fresh schema on the test server, as a URL whose search_path points at it."""
    import psycopg

    schema = f"t{os.getpid()}_{next(_schemas)}"
    with psycopg.connect(server.url, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {schema}")
    return f"{server.url}?options=-csearch_path%3D{schema}"


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path) -> str:  # type: ignore[no-untyped-def]
    if request.param == "sqlite":
        return str(tmp_path / "clearing.sqlite")
    return pg_url(request.getfixturevalue("postgres"))


@pytest.fixture
def house(db_url: str) -> Iterator[ClearingHouse]:
    h = ClearingHouse.open(db_url, TacVerifier(MASTERS))
    yield h
    h.close()
