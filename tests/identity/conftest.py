"""Identity test fixtures: demo cards issued into the per-test YKT_HOME, connected readers."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from reader.card_file import open_card_image
from reader.emulated import EmulatedReader
from terminal.demo import ensure_demo_cards


@pytest.fixture
def cards(ykt_home: Path) -> dict[str, Path]:
    """Demo card images by name (zhang-wei, li-na, …) in this test's YKT_HOME."""
    return {p.name.removesuffix(".card.json"): p for p in ensure_demo_cards()}


@pytest.fixture
def connect() -> Iterator[Callable[[Path], EmulatedReader]]:
    readers: list[EmulatedReader] = []

    def _connect(path: Path) -> EmulatedReader:
        reader = EmulatedReader(open_card_image(path), name=f"emulated:{path.name}")
        reader.connect()
        readers.append(reader)
        return reader

    yield _connect
    for r in readers:
        r.disconnect()
