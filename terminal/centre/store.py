"""Reading and changing the centre's rows: institutions, persons, accounts (with their moves), filings.

Accounts (the model, docs/centre.md "Personal account and the card's ED"): `balc_fen` is the personal account
held at the centre (online settlements draw on it), `allowance_fen` the part loaded (圈存) onto the card's ED
as the offline allowance (offline settlements draw on the card; the upload tells the centre). The person's
personal account is `balc_fen + allowance_fen`. The year-to-date counters belong to `ytd_year`; a settlement
of a later year starts from zero. Every change is a `moves` row carrying the msgid that caused it, so a 2601
reversal undoes exactly that msgid's changes.
"""

from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass
from typing import Any

from terminal.clearing.db import Database
from terminal.medical import Filing, FilingKind, YearToDate
from terminal.medical.filings import region_covers

from .errors import Refused


@dataclass(frozen=True)
class Institution:
    fixmedins_code: str
    fixmedins_name: str
    admvs: str
    kind: str  # pharmacy | clinic
    hospital_level: int | None
    enabled: bool


@dataclass(frozen=True)
class Person:
    psn_no: str
    certno: str
    cert_sha: str
    psn_name: str
    gend: str
    naty: str
    brdy: str
    card_no: str | None
    card_sn: str | None
    insutype: str
    psn_type: str
    psn_insu_stas: str
    cvlserv_flag: str
    insuplc_admdvs: str
    emp_name: str
    scheme: str
    category: str
    retired: bool

    def age(self, on: _dt.date) -> int:
        born = _dt.date.fromisoformat(self.brdy)
        return on.year - born.year - ((on.month, on.day) < (born.month, born.day))

    @property
    def masked_certno(self) -> str:
        return self.certno[:6] + "*" * 8 + self.certno[14:]


@dataclass(frozen=True)
class Account:
    psn_no: str
    balc_fen: int
    allowance_fen: int
    ytd_year: int
    deductible_used_fen: int
    pooled_paid_fen: int
    inpatient_pooled_paid_fen: int

    def ytd(self, year: int) -> YearToDate:
        """The counters for `year` (a later year than the stored one starts from zero)."""
        if year > self.ytd_year:
            return YearToDate()
        return YearToDate(self.deductible_used_fen, self.pooled_paid_fen, self.inpatient_pooled_paid_fen)


_PERSON_COLUMNS = ("psn_no, certno, cert_sha, psn_name, gend, naty, brdy, card_no, card_sn, insutype, psn_type,"
                   " psn_insu_stas, cvlserv_flag, insuplc_admdvs, emp_name, scheme, category, retired")


def institution(db: Database, code: str) -> Institution | None:
    row = db.one("SELECT fixmedins_code, fixmedins_name, admvs, kind, hospital_level, enabled FROM institutions"
                 " WHERE fixmedins_code = ?", (code,))
    return None if row is None else Institution(row[0], row[1], row[2], row[3], row[4], bool(row[5]))


def _person(row: Any) -> Person | None:
    return None if row is None else Person(*row[:-1], retired=bool(row[-1]))


def person(db: Database, psn_no: str) -> Person | None:
    return _person(db.one(f"SELECT {_PERSON_COLUMNS} FROM persons WHERE psn_no = ?", (psn_no,)))


def person_by(db: Database, column: str, value: str) -> Person | None:
    if column not in ("certno", "cert_sha", "card_no"):
        raise ValueError(column)
    return _person(db.one(f"SELECT {_PERSON_COLUMNS} FROM persons WHERE {column} = ?", (value,)))


def account(db: Database, psn_no: str, *, for_update: bool = False) -> Account:
    lock = " FOR UPDATE" if for_update and db.dialect == "postgres" else ""
    row = db.one("SELECT psn_no, balc_fen, allowance_fen, ytd_year, deductible_used_fen, pooled_paid_fen,"
                 f" inpatient_pooled_paid_fen FROM accounts WHERE psn_no = ?{lock}", (psn_no,))
    if row is None:
        raise Refused(f"psn_no {psn_no} has no personal account record at the centre")
    return Account(*row)


def move(db: Database, msgid: str, acct: Account, kind: str, *, year: int, at: str, balc: int = 0,
         allowance: int = 0, ytd_before: YearToDate | None = None, ytd_after: YearToDate | None = None) -> Account:
    """Change an account (inside the request's transaction) and record the move under `msgid`.

    The counters change by `ytd_after − ytd_before` in `year`: a later year than the account's resets them
    first, an earlier year's settlement leaves the current counters alone. Refused when the centre-held
    balance or the allowance would go negative."""
    deltas = (0, 0, 0)
    if ytd_before is not None and ytd_after is not None:
        deltas = (ytd_after.deductible_used_fen - ytd_before.deductible_used_fen,
                  ytd_after.pooled_paid_fen - ytd_before.pooled_paid_fen,
                  ytd_after.inpatient_pooled_paid_fen - ytd_before.inpatient_pooled_paid_fen)
    return apply(db, msgid, acct, kind, year=year, at=at, balc=balc, allowance=allowance, counters=deltas)


def apply(db: Database, msgid: str, acct: Account, kind: str, *, year: int, at: str, balc: int, allowance: int,
          counters: tuple[int, int, int]) -> Account:
    new_balc, new_allowance = acct.balc_fen + balc, acct.allowance_fen + allowance
    if new_balc < 0:
        raise Refused(f"the personal account of psn_no {acct.psn_no} holds {acct.balc_fen / 100:.2f} at the centre:"
                      f" {-balc / 100:.2f} cannot be taken")
    if new_allowance < 0:
        raise Refused(f"the offline allowance of psn_no {acct.psn_no} is {acct.allowance_fen / 100:.2f}:"
                      f" {-allowance / 100:.2f} cannot be taken from it")
    current = [acct.deductible_used_fen, acct.pooled_paid_fen, acct.inpatient_pooled_paid_fen]
    ytd_year = acct.ytd_year
    if year > ytd_year:
        current, ytd_year = [0, 0, 0], year
    if year == ytd_year:
        current = [c + d for c, d in zip(current, counters)]
        if min(current) < 0:
            raise Refused(f"the year-to-date counters of psn_no {acct.psn_no} would go below zero")
    db.execute("UPDATE accounts SET balc_fen = ?, allowance_fen = ?, ytd_year = ?, deductible_used_fen = ?,"
               " pooled_paid_fen = ?, inpatient_pooled_paid_fen = ?, updated_at = ? WHERE psn_no = ?",
               (new_balc, new_allowance, ytd_year, *current, at, acct.psn_no))
    db.execute("INSERT INTO moves (msgid, psn_no, kind, ytd_year, balc_delta, allowance_delta, deductible_delta,"
               " pooled_delta, inpatient_delta, at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
               (msgid, acct.psn_no, kind, year, balc, allowance, *counters, at))
    return Account(acct.psn_no, new_balc, new_allowance, ytd_year, *current)


def undo_moves(db: Database, omsgid: str, msgid: str, at: str) -> int:
    """Apply the negation of every move of `omsgid` (2601); returns how many there were."""
    rows = db.query("SELECT psn_no, ytd_year, balc_delta, allowance_delta, deductible_delta, pooled_delta,"
                    " inpatient_delta FROM moves WHERE msgid = ? ORDER BY move_id", (omsgid,))
    for psn_no, year, balc, allowance, ded, pooled, inpat in reversed(rows):
        apply(db, msgid, account(db, psn_no, for_update=True), "reversal", year=year, at=at, balc=-balc,
              allowance=-allowance, counters=(-ded, -pooled, -inpat))
    return len(rows)


def filing(db: Database, psn: Person, home_region: str, treatment_region: str, on: _dt.date) -> Filing | None:
    """The person's filing (备案) covering this visit, the most recently started one if several do."""
    rows = db.query("SELECT filing_id, home_region, destination_region, kind, start_date, end_date FROM filings"
                    " WHERE psn_no = ? AND home_region = ?", (psn.psn_no, home_region))
    found = []
    for fid, home, dest, kind, start, end in rows:
        f = Filing(fid, psn.certno, home, dest, FilingKind(kind), _dt.date.fromisoformat(start),
                   _dt.date.fromisoformat(end) if end else None)
        if f.covers(treatment_region, on) and region_covers(dest, treatment_region):
            found.append(f)
    return max(found, key=lambda f: (f.start, f.filing_id)) if found else None
