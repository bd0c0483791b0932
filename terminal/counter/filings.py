"""Cross-province filings (跨省异地就医备案) in the ledger database: a `FilingLookup` for settlement.

The table `counter_filings` keeps the filing and, instead of the insured's ID number, its SHA-256 (the join
key of `Identity.ssn_hash`) and its masked form: the counter never holds the full ID of a card holder, and
an import does not add one. CSV import (the format of data/filings.example.csv) is all or nothing.
"""

from __future__ import annotations

import datetime as _dt
from datetime import date
from pathlib import Path

from applets.holder import mask_ssn
from terminal.counter.errors import BadInput
from terminal.counter.store import CounterStore
from terminal.identity import ssn_hash
from terminal.medical import Filing, FilingKind, PolicyError, RegionTable, parse_filings
from terminal.medical.filings import region_covers


def _filing(row: dict, person: str) -> Filing:
    end = row["end_date"]
    return Filing(row["filing_id"], person, row["home_region"], row["destination_region"], FilingKind(row["kind"]),
                  date.fromisoformat(row["start_date"]), date.fromisoformat(end) if end else None)


class LedgerFilings:
    """Filings stored in the ledger database. `find` takes the ID number (FilingLookup); `find_by_hash` the
    SHA-256 of it, which is what a card identity carries."""

    def __init__(self, store: CounterStore) -> None:
        self.store = store

    def __len__(self) -> int:
        row = self.store.one("SELECT COUNT(*) FROM counter_filings")
        return int(row[0]) if row else 0

    def import_csv(self, path: Path, regions: RegionTable | None = None) -> int:
        """Import a filings CSV; all or nothing (a bad row, or a filing id already here, imports none)."""
        source = str(path)
        try:
            text = Path(path).read_text(encoding="utf-8-sig")
        except OSError as e:
            raise BadInput(f"{source}: cannot read ({e.strerror or e})") from None
        try:
            filings = parse_filings(text, source, regions)
        except PolicyError as e:
            raise BadInput(str(e)) from None
        now = _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")
        with self.store.write() as conn:
            for f in filings:
                if conn.execute("SELECT 1 FROM counter_filings WHERE filing_id = ?", (f.filing_id,)).fetchone():
                    raise BadInput(f"{source}: filing {f.filing_id} is already imported; nothing imported")
                conn.execute(
                    "INSERT INTO counter_filings VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (f.filing_id, ssn_hash(f.person_id), mask_ssn(f.person_id), f.home_region, f.destination_region,
                     f.kind.value, f.start.isoformat(), f.end.isoformat() if f.end else None, now),
                )
        return len(filings)

    def find_by_hash(self, person_hash: str, home_region: str, treatment_region: str, on: date) -> Filing | None:
        """The filing covering this visit (the most recently started one if several do), else None. The
        returned Filing carries the masked ID number with its `*` as `0` (a Filing needs 18 digits; the
        counter never learns the real one from the store)."""
        rows = self.store.all(
            "SELECT * FROM counter_filings WHERE person_hash = ? AND home_region = ? ORDER BY start_date DESC, filing_id DESC",
            (person_hash, home_region),
        )
        for row in rows:
            start, end = date.fromisoformat(row["start_date"]), row["end_date"]
            if start <= on and (end is None or on <= date.fromisoformat(end)) and region_covers(
                    row["destination_region"], treatment_region):
                return _filing(dict(row), _placeholder_id(row["person_masked"]))
        return None

    def find(self, person_id: str, home_region: str, treatment_region: str, on: date) -> Filing | None:
        """FilingLookup: by the full ID number (hashed here, not kept)."""
        return self.find_by_hash(ssn_hash(person_id), home_region, treatment_region, on)


def _placeholder_id(masked: str) -> str:
    """An 18-character stand-in for a masked ID number (`*` → `0`), only to satisfy Filing's format check."""
    return masked.replace("*", "0")
