from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from terminal.ledger import Ledger

from .helpers import fast_dir, new_ledger


@pytest.fixture
def scratch() -> Iterator[Path]:
    path = fast_dir("ykt-ledger-test-")
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def book(tmp_path: Path) -> Iterator[Ledger]:
    ledger = new_ledger(tmp_path / "ledger.sqlite")
    yield ledger
    ledger.close()
