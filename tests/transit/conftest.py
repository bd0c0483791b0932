from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.transit.helpers import Rig


@pytest.fixture
def rig(tmp_path: Path) -> Iterator[Rig]:
    r = Rig(tmp_path)
    yield r
    r.close()
