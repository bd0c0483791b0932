"""Cross-province filings (跨省异地就医备案): the insured's registration with the home region that allows
direct settlement at the place of treatment.

The counter never creates a filing (the insured files with the home region); it only asks whether one covers
this visit. :class:`FilingLookup` is that question; :class:`FilingRegistry` answers it from memory and imports /
exports CSV. The ledger database will later be another implementation of the same protocol.

CSV format (``data/filings.example.csv``)::

    filing_id,person_id,home_region,destination_region,kind,start_date,end_date
    BA510100202401150001,510104198802030103,510100,310000,residence,2024-01-15,

`destination_region` may be a province (``310000`` covers every 31xxxx), a city (``440100`` covers 4401xx) or a
county; `end_date` is empty for an open-ended filing; dates are ISO ``YYYY-MM-DD``, both ends inclusive.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import date
from enum import StrEnum
from pathlib import Path
from typing import Protocol

from ._files import csv_rows, read_text
from .errors import PolicyError
from .model import REGION_RE, check_region, same_province
from .regions import RegionTable

HEADER = ("filing_id", "person_id", "home_region", "destination_region", "kind", "start_date", "end_date")
PERSON_ID_RE = re.compile(r"^[0-9]{17}[0-9X]$")  # 社会保障号码 = citizen ID number
FILING_ID_RE = re.compile(r"^[A-Za-z0-9-]{1,40}$")


class FilingKind(StrEnum):
    RESIDENCE = "residence"  # 异地长期居住 (incl. retirees settled elsewhere)
    POSTING = "posting"  # 常驻异地工作
    REFERRAL = "referral"  # 异地转诊
    TEMPORARY = "temporary"  # 临时外出就医


def region_covers(filed: str, treatment: str) -> bool:
    """True when a filing for region `filed` covers care in `treatment` (province ⊇ city ⊇ county).

    >>> region_covers("310000", "310104"), region_covers("440100", "440300")
    (True, False)
    """
    if filed.endswith("0000"):
        return filed[:2] == treatment[:2]
    if filed.endswith("00"):
        return filed[:4] == treatment[:4]
    return filed == treatment


@dataclass(frozen=True)
class Filing:
    filing_id: str
    person_id: str
    home_region: str
    destination_region: str
    kind: FilingKind
    start: date
    end: date | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.filing_id, str) or not FILING_ID_RE.match(self.filing_id):
            raise ValueError(f"filing_id must be 1-40 letters, digits or '-', got {self.filing_id!r}")
        if not isinstance(self.person_id, str) or not PERSON_ID_RE.match(self.person_id):
            raise ValueError(f"person_id must be an 18-character ID number, got {self.person_id!r}")
        check_region(self.home_region, "home_region")
        check_region(self.destination_region, "destination_region")
        if same_province(self.home_region, self.destination_region):
            raise ValueError(f"destination {self.destination_region} is in the home province of {self.home_region}")
        object.__setattr__(self, "kind", FilingKind(self.kind))
        if self.end is not None and self.end < self.start:
            raise ValueError(f"end {self.end} is before start {self.start}")

    def covers(self, treatment_region: str, on: date) -> bool:
        """Valid on `on` (both ends inclusive) for care in `treatment_region`."""
        in_time = self.start <= on and (self.end is None or on <= self.end)
        return in_time and region_covers(self.destination_region, treatment_region)


class FilingLookup(Protocol):
    """What settlement needs from a filing store."""

    def find(self, person_id: str, home_region: str, treatment_region: str, on: date) -> Filing | None: ...


def _parse_date(value: str, source: str, line: int, field: str) -> date:
    try:
        if not re.match(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$", value):
            raise ValueError(value)
        return date.fromisoformat(value)
    except ValueError:
        raise PolicyError(source, f"{field} must be YYYY-MM-DD, got {value!r}", line=line) from None


def parse_filings(text: str, source: str, regions: RegionTable | None = None) -> list[Filing]:
    """Every filing in a CSV text; a bad row is a PolicyError naming the source, line and problem."""
    filings: list[Filing] = []
    seen: dict[str, int] = {}
    for line, row in csv_rows(text, source, HEADER):
        for field in ("home_region", "destination_region"):
            code = row[field]
            if not REGION_RE.match(code):
                raise PolicyError(source, f"{field} must be a 6-digit region code, got {code!r}", line=line)
            if regions is not None and code not in regions and code[:2] + "0000" not in regions:
                raise PolicyError(source, f"{field} {code} is not a known region", line=line)
        if row["kind"] not in {k.value for k in FilingKind}:
            kinds = ", ".join(k.value for k in FilingKind)
            raise PolicyError(source, f"kind must be one of {kinds}, got {row['kind']!r}", line=line)
        start = _parse_date(row["start_date"], source, line, "start_date")
        end = _parse_date(row["end_date"], source, line, "end_date") if row["end_date"] else None
        if row["filing_id"] in seen:
            raise PolicyError(source, f"duplicate filing_id {row['filing_id']} (first on line "
                                      f"{seen[row['filing_id']]})", line=line)
        try:
            filing = Filing(row["filing_id"], row["person_id"], row["home_region"], row["destination_region"],
                            FilingKind(row["kind"]), start, end)
        except ValueError as exc:
            raise PolicyError(source, str(exc), line=line) from None
        seen[filing.filing_id] = line
        filings.append(filing)
    return filings


def filings_to_csv(filings: Iterable[Filing]) -> str:
    """The CSV text of `filings` (header first), readable by :func:`parse_filings`."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(HEADER)
    for f in filings:
        writer.writerow([f.filing_id, f.person_id, f.home_region, f.destination_region, f.kind.value,
                         f.start.isoformat(), f.end.isoformat() if f.end else ""])
    return out.getvalue()


class FilingRegistry:
    """In-memory filings, a :class:`FilingLookup`.

    >>> reg = FilingRegistry()
    >>> reg.add(Filing("BA1", "510104198802030103", "510100", "310000", "residence", date(2024, 1, 15)))
    >>> reg.find("510104198802030103", "510100", "310104", date(2025, 3, 1)).filing_id
    'BA1'
    """

    def __init__(self, filings: Iterable[Filing] = ()) -> None:
        self._by_id: dict[str, Filing] = {}
        for filing in filings:
            self.add(filing)

    def __iter__(self) -> Iterator[Filing]:
        return iter(self._by_id.values())

    def __len__(self) -> int:
        return len(self._by_id)

    def add(self, filing: Filing) -> None:
        if filing.filing_id in self._by_id:
            raise ValueError(f"filing {filing.filing_id} already exists")
        self._by_id[filing.filing_id] = filing

    def remove(self, filing_id: str) -> Filing:
        try:
            return self._by_id.pop(filing_id)
        except KeyError:
            raise KeyError(f"no filing {filing_id}") from None

    def for_person(self, person_id: str) -> list[Filing]:
        return [f for f in self._by_id.values() if f.person_id == person_id]

    def find(self, person_id: str, home_region: str, treatment_region: str, on: date) -> Filing | None:
        """The filing covering this visit (the most recently started one if several do), else None."""
        matches = [f for f in self.for_person(person_id)
                   if f.home_region == home_region and f.covers(treatment_region, on)]
        return max(matches, key=lambda f: (f.start, f.filing_id)) if matches else None

    def load_csv(self, path: Path, regions: RegionTable | None = None) -> int:
        """Import a CSV file; all or nothing (a bad row or a filing_id already here adds none). Returns the count."""
        source = str(path)
        filings = parse_filings(read_text(path), source, regions)
        for filing in filings:
            if filing.filing_id in self._by_id:
                raise PolicyError(source, f"filing {filing.filing_id} is already in the registry")
        for filing in filings:
            self._by_id[filing.filing_id] = filing
        return len(filings)

    def to_csv(self) -> str:
        return filings_to_csv(self)

    def dump_csv(self, path: Path) -> None:
        path.write_text(self.to_csv(), encoding="utf-8")
