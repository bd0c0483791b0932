"""TUI settings persisted per terminal: `$YKT_HOME/tui-settings.json` (language, large-font mode, reader,
ledger path, terminal region). Unknown or broken values fall back to the defaults, never to a crash."""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path
from typing import Any

from terminal.paths import default_home
from terminal.tui.i18n import LANGUAGES

FILE_NAME = "tui-settings.json"


@dataclass(frozen=True)
class Settings:
    language: str = "zh"
    large: bool = False  # 适老化: bigger text, stronger contrast, fewer items per screen
    reader: str = "emulated"  # "emulated" or a PC/SC reader name
    ledger_path: str = ""  # empty: $YKT_HOME/ledger.sqlite
    terminal_region: str = "310000"  # where this counter is (异地 = the card's province differs)
    terminal_id: str = "000000000001"
    kiosk_mode: str = "bus"  # the validator kiosk: bus, metro-entry, metro-exit or gate (terminal.transit)
    kiosk_station: str = "71"  # bus route, metro station, or gate id

    def __post_init__(self) -> None:
        if self.language not in LANGUAGES:
            raise ValueError(f"language must be one of {', '.join(LANGUAGES)}")
        if not (len(self.terminal_region) == 6 and self.terminal_region.isdigit()):
            raise ValueError("terminal_region must be 6 digits")

    def with_(self, **changes: Any) -> Settings:
        return replace(self, **changes)


def settings_path(home: Path | None = None) -> Path:
    return (home or default_home()) / FILE_NAME


def load_settings(home: Path | None = None) -> Settings:
    """The saved settings, or the defaults (also for a missing, unreadable or invalid file)."""
    path = settings_path(home)
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return Settings()
    if not isinstance(raw, dict):
        return Settings()
    known = {f.name: f.type for f in fields(Settings)}
    values = {k: v for k, v in raw.items() if k in known and isinstance(v, type(getattr(Settings(), k)))}
    try:
        return Settings(**values)
    except ValueError:
        return Settings()


def save_settings(settings: Settings, home: Path | None = None) -> Path:
    """Write atomically (temp file + replace)."""
    path = settings_path(home)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(asdict(settings), ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    os.replace(tmp, path)
    return path
