"""Suite-wide set-up: every test gets its own terminal home; pcscd fixtures come from a plugin."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

pytest_plugins = ["tests.pcsc_fixtures"]


@pytest.fixture(autouse=True)
def ykt_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """YKT_HOME in a fresh temporary folder: demo cards, ledger and settings never touch the user's."""
    home = tmp_path / "ykt-home"
    home.mkdir()
    monkeypatch.setenv("YKT_HOME", str(home))
    yield home
