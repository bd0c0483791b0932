from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.counter.helpers import Desk, make_desk


@pytest.fixture
def desk(tmp_path: Path) -> Iterator[Desk]:
    d = make_desk(tmp_path)
    yield d
    d.counter.close()
