"""Default locations: the terminal's home (ledger, demo cards, settings) and the shipped data files."""

from __future__ import annotations

import os
from pathlib import Path


def default_home() -> Path:
    """$YKT_HOME, else the user data dir (e.g. ~/.local/share/yikatong)."""
    env = os.environ.get("YKT_HOME")
    if env:
        return Path(env)
    from platformdirs import user_data_dir

    return Path(user_data_dir("yikatong", appauthor=False))


def default_ledger_path() -> Path:
    return default_home() / "ledger.sqlite"
