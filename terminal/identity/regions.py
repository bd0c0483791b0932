"""Which administrative region codes (GB/T 2260, 6 digits) the terminal knows: data/regions.csv when it is
there, else every code under a province-level prefix."""

from __future__ import annotations

import csv
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from terminal.datafiles import data_dir
from terminal.errors import ProfileError

REGIONS_FILE = "regions.csv"

# GB/T 2260 province-level divisions (incl. 71 Taiwan, 81 Hong Kong, 82 Macao).
PROVINCE_PREFIXES = frozenset(
    "11 12 13 14 15 21 22 23 31 32 33 34 35 36 37 41 42 43 44 45 46 50 51 52 53 54 61 62 63 64 65 71 81 82".split()
)

_CODE = re.compile(r"\d{6}")


@dataclass(frozen=True, slots=True)
class KnownRegions:
    """A region code is known when it is listed in `codes`, or is a 6-digit code whose first two digits
    are in `prefixes`. `source` says where the set came from (a file, or the fallback)."""

    codes: frozenset[str] = frozenset()
    prefixes: frozenset[str] = frozenset()
    source: str = field(default="", compare=False)

    def __contains__(self, code: object) -> bool:
        if not isinstance(code, str):
            return False
        return code in self.codes or (bool(_CODE.fullmatch(code)) and code[:2] in self.prefixes)

    @classmethod
    def of(cls, codes: Iterable[str], source: str = "given") -> KnownRegions:
        return cls(codes=frozenset(codes), source=source)


FALLBACK_REGIONS = KnownRegions(prefixes=PROVINCE_PREFIXES, source="province-level prefixes (no data/regions.csv)")


def read_regions_csv(path: Path) -> KnownRegions:
    """`code,name,…` after a header row; blank lines and `#` comments are skipped. Errors name the file
    and line."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as e:
        raise ProfileError(f"{path}: cannot read ({getattr(e, 'strerror', None) or e})") from None
    codes: set[str] = set()
    column: int | None = None
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        cells = [c.strip() for c in next(csv.reader([line]))]
        if column is None:
            if "code" not in cells:
                raise ProfileError(f"{path}:{n}: needs a header row with a 'code' column")
            column = cells.index("code")
            continue
        code = cells[column] if column < len(cells) else ""
        if not _CODE.fullmatch(code):
            raise ProfileError(f"{path}:{n}: region code {code!r} is not 6 digits")
        codes.add(code)
    if column is None:
        raise ProfileError(f"{path}: no header row with a 'code' column")
    return KnownRegions(codes=frozenset(codes), source=str(path))


def load_known_regions(path: Path | None = None) -> KnownRegions:
    """The codes of `path` (default data/regions.csv); without that file, the province-level fallback."""
    p = path or data_dir() / REGIONS_FILE
    if not p.exists():
        return FALLBACK_REGIONS
    return read_regions_csv(p)
