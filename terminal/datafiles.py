"""Where the shipped data files are (catalogs, policies, fares, demo cards, TEST keys)."""

from __future__ import annotations

import os
from pathlib import Path


def data_dir() -> Path:
    """$YKT_DATA, else the `data/` folder of this checkout."""
    env = os.environ.get("YKT_DATA")
    return Path(env) if env else Path(__file__).resolve().parent.parent / "data"
