"""Applying downloaded updates atomically: a terminal sees the old version or the new one, never a mix.

| kind | installed at (under the terminal's home) | how |
|---|---|---|
| hotlist | `hotlist.ykthl` | `terminal.hotlist.install` (version must go up; temp file, fsync, rename) |
| policy | `updates/policy/current/policy.json` | new folder `v<N>`, fsync'd, then the `current` symlink replaced (rename) |
| fares | `updates/fares/current/*.toml, *.csv` | same; `load_fares(current_dir(home, "fares"))` reads it |

The version installed is read back from what is installed (the hotlist header, the symlink's target), so a
crash between download and switch simply downloads again.
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from terminal import hotlist as hl
from terminal.clearing.house import check_artifact

KINDS = ("hotlist", "policy", "fares")


@dataclass(frozen=True)
class Applied:
    kind: str
    old_version: int
    new_version: int


def hotlist_path(home: Path) -> Path:
    return Path(home) / "hotlist.ykthl"


def current_dir(home: str | Path, kind: str) -> Path | None:
    """The folder of the installed policy / fares version, or None when none is installed."""
    link = Path(home) / "updates" / kind / "current"
    return link.resolve() if link.is_symlink() and link.resolve().is_dir() else None


def installed_version(home: str | Path, kind: str) -> int:
    if kind == "hotlist":
        try:
            return hl.installed_version(hotlist_path(Path(home)))
        except Exception:  # a damaged file: any published version replaces it
            return 0
    folder = current_dir(home, kind)
    if folder is None or not folder.name.startswith("v") or not folder.name[1:].isdigit():
        return 0
    return int(folder.name[1:])


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _write(path: Path, data: bytes) -> None:
    with path.open("wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())


def apply(home: str | Path, kind: str, version: int, content: bytes) -> Applied:
    """Install `content` as `kind` version `version` (checked first: a bad artifact changes nothing)."""
    home = Path(home)
    check_artifact(kind, version, content)
    old = installed_version(home, kind)
    if kind == "hotlist":
        info = hl.Hotlist.from_bytes(content).info
        keys = [content[hl.HEADER_SIZE + i * hl.RECORD_SIZE: hl.HEADER_SIZE + (i + 1) * hl.RECORD_SIZE]
                for i in range(info.count)]
        hl.install(hotlist_path(home), version, keys, created=info.created)
        return Applied(kind, old, version)
    if version <= old:
        raise ValueError(f"{kind} version {version} is not newer than the installed version {old}")
    base = home / "updates" / kind
    base.mkdir(parents=True, exist_ok=True)
    final = base / f"v{version}"
    tmp = base / f".v{version}.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    doc = json.loads(content.decode("utf-8"))
    files = doc["files"] if kind == "fares" else {"policy.json": json.dumps(doc, ensure_ascii=False, indent=1) + "\n"}
    for name, text in files.items():
        _write(tmp / name, text.encode("utf-8"))
    _fsync_dir(tmp)
    if final.exists():
        shutil.rmtree(final)
    os.rename(tmp, final)
    link_tmp = base / ".current.tmp"
    if link_tmp.is_symlink() or link_tmp.exists():
        link_tmp.unlink()
    os.symlink(final.name, link_tmp)
    os.replace(link_tmp, base / "current")
    _fsync_dir(base)
    for stale in base.iterdir():  # keep the previous version for a manual rollback, drop older ones
        if stale.name.startswith("v") and stale.name[1:].isdigit() and int(stale.name[1:]) < min(old, version) or (
                stale.name.startswith(".v") and stale.name.endswith(".tmp")):
            shutil.rmtree(stale, ignore_errors=True)
    return Applied(kind, old, version)
