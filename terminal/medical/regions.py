"""Administrative division codes (GB/T 2260) used for home region (参保地) and place of treatment (就医地).

File format (``data/regions.csv``): ``code,name,province`` — 6-digit code, Chinese name, and the name of the
province-level division it belongs to (for a province-level row, its own name). Every province-level code is
present; cities are listed as the project needs them.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from ..datafiles import data_dir
from ._files import csv_rows, read_text
from .errors import PolicyError
from .model import REGION_RE

HEADER = ("code", "name", "province")


def province_code(code: str) -> str:
    """The province-level code of a region code: ``"330100"`` → ``"330000"``."""
    return code[:2] + "0000"


@dataclass(frozen=True)
class Region:
    code: str
    name: str
    province: str  # the province-level division's name

    @property
    def is_province(self) -> bool:
        return self.code.endswith("0000")


class RegionTable:
    """Known region codes; look-ups by code.

    >>> t = load_regions()
    >>> t["330100"].name, t.province_of("330100").name
    ('杭州市', '浙江省')
    """

    def __init__(self, regions: list[Region], source: str = "<regions>") -> None:
        self.source = source
        self._by_code = {r.code: r for r in regions}

    def __getitem__(self, code: str) -> Region:
        try:
            return self._by_code[code]
        except KeyError:
            raise KeyError(f"unknown region code {code!r}") from None

    def __contains__(self, code: object) -> bool:
        return code in self._by_code

    def __iter__(self) -> Iterator[Region]:
        return iter(self._by_code.values())

    def __len__(self) -> int:
        return len(self._by_code)

    def get(self, code: str) -> Region | None:
        return self._by_code.get(code)

    def province_of(self, code: str) -> Region:
        return self[province_code(code)]

    def label(self, code: str) -> str:
        """``"330100 杭州市"``, or the bare code when it is not in the table."""
        region = self._by_code.get(code)
        return f"{code} {region.name}" if region else code


def parse_regions(text: str, source: str) -> RegionTable:
    rows: list[tuple[int, Region]] = []
    seen: dict[str, int] = {}
    for line, row in csv_rows(text, source, HEADER):
        code, name, province = row["code"], row["name"], row["province"]
        if not REGION_RE.match(code):
            raise PolicyError(source, f"code must be 6 digits, got {code!r}", line=line)
        if code in seen:
            raise PolicyError(source, f"duplicate code {code} (first on line {seen[code]})", line=line)
        if not name or not province:
            raise PolicyError(source, "name and province must not be empty", line=line)
        seen[code] = line
        rows.append((line, Region(code, name, province)))
    by_code = {r.code: r for _, r in rows}
    for line, region in rows:
        parent = by_code.get(province_code(region.code))
        if parent is None:
            missing = province_code(region.code)
            raise PolicyError(source, f"no province-level row {missing} for {region.code}", line=line)
        if region.province != parent.name:
            raise PolicyError(
                source, f"province {region.province!r} does not match {parent.code} {parent.name!r}", line=line
            )
    return RegionTable([r for _, r in rows], source)


def load_regions(path: Path | None = None) -> RegionTable:
    """The region table from `path` (default ``data/regions.csv``)."""
    path = path or data_dir() / "regions.csv"
    return parse_regions(read_text(path), str(path))
