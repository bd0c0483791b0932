"""The centre's demo data (data/centre/): institutions, operators, and the insured persons of the demo card
profiles (data/cards/*.toml) with their personal accounts; filings from data/filings.example.csv.

A person's ID number, name, sex, ethnicity, birth date, card number and identification code, insurance
scheme / category / insured region come from the card profile — the centre and the cards always agree. The
centre-only facts (psn_no, the account balance held at the centre, insurance status, employer) are in
data/centre/persons.csv. The offline allowance starts as the card's issued ED balance (the card as issued
holds that much of the account). Seeding inserts what is missing and never changes a row that exists.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from terminal import datafile
from terminal.datafiles import data_dir
from terminal.identity.model import ssn_hash
from terminal.issuer import load_profile
from terminal.medical import MedicalError, category_for, parse_filings

from .errors import SeedError
from .settling import INSUTYPES, PSN_TYPES
from .wire import INSTITUTION_RE

if TYPE_CHECKING:
    from .centre import Centre

NATIONAL_RID = "D156000005"


def card_sn(region: str, serial_hex: str) -> str:
    """The card's identification code (EF05 tag 01): region BCD ‖ D156000005 ‖ serial, 32 hex digits."""
    return f"{region}{NATIONAL_RID}{serial_hex}".upper()


def _insert(centre: Centre, table: str, columns: tuple[str, ...], rows: list[tuple[object, ...]], key: str) -> int:
    sql = (f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})"
           f" ON CONFLICT ({key}) DO NOTHING")
    added = 0
    for row in rows:
        added += max(0, centre.db.execute(sql, row))
    return added


def seed_demo(centre: Centre, folder: Path | None = None) -> dict[str, int]:
    """Insert the demo data that is missing; returns how many rows of each kind were added."""
    folder = folder or data_dir() / "centre"
    try:
        institutions = _institutions(folder / "institutions.csv", centre)
        operators = [(r["fixmedins_code"], r["opter_no"], r["opter_name"])
                     for _, r in _rows(folder / "operators.csv", ("fixmedins_code", "opter_no", "opter_name"))]
        persons, accounts = _persons(folder / "persons.csv", centre)
        by_certno = {p[1]: p[0] for p in persons}
        filings_path = data_dir() / "filings.example.csv"
        filings = [(f.filing_id, by_certno[f.person_id], f.home_region, f.destination_region, f.kind.value,
                    f.start.isoformat(), f.end.isoformat() if f.end else None)
                   for f in parse_filings(datafile.read_text(filings_path, SeedError), str(filings_path),
                                          centre.regions)
                   if f.person_id in by_certno]
    except MedicalError as exc:
        raise SeedError(str(exc)) from None
    with centre.db.transaction():
        return {
            "institutions": _insert(centre, "institutions", ("fixmedins_code", "fixmedins_name", "admvs", "kind",
                                                             "hospital_level", "enabled"), institutions, "fixmedins_code"),
            "operators": _insert(centre, "operators", ("fixmedins_code", "opter_no", "opter_name"), operators,
                                 "fixmedins_code, opter_no"),
            "persons": _insert(centre, "persons", ("psn_no", "certno", "cert_sha", "psn_name", "gend", "naty", "brdy",
                                                   "card_no", "card_sn", "insutype", "psn_type", "psn_insu_stas",
                                                   "cvlserv_flag", "insuplc_admdvs", "emp_name", "scheme", "category",
                                                   "retired"), persons, "psn_no"),
            "accounts": _insert(centre, "accounts", ("psn_no", "balc_fen", "allowance_fen", "ytd_year",
                                                     "deductible_used_fen", "pooled_paid_fen",
                                                     "inpatient_pooled_paid_fen", "updated_at"), accounts, "psn_no"),
            "filings": _insert(centre, "filings", ("filing_id", "psn_no", "home_region", "destination_region", "kind",
                                                   "start_date", "end_date"), filings, "filing_id"),
        }


def _rows(path: Path, header: tuple[str, ...]) -> list[tuple[int, dict[str, str]]]:
    return list(datafile.csv_rows(datafile.read_text(path, SeedError), str(path), header, SeedError))


def _institutions(path: Path, centre: Centre) -> list[tuple[object, ...]]:
    rows = []
    source = str(path)
    header = ("fixmedins_code", "fixmedins_name", "admvs", "kind", "hospital_level")
    for line, r in _rows(path, header):
        if not INSTITUTION_RE.match(r["fixmedins_code"]):
            raise SeedError(source, "fixmedins_code must be 12 upper-case letters/digits", line=line)
        if r["admvs"] not in centre.regions:
            raise SeedError(source, f"admvs {r['admvs']} is not in data/regions.csv", line=line)
        if r["kind"] not in ("pharmacy", "clinic"):
            raise SeedError(source, f"kind must be pharmacy or clinic, got {r['kind']!r}", line=line)
        level = (datafile.parse_int(r["hospital_level"], source, line, "hospital_level", SeedError, 1, 3)
                 if r["hospital_level"] else None)
        if (r["kind"] == "clinic") != (level is not None):
            raise SeedError(source, "a clinic has hospital_level 1..3, a pharmacy none", line=line)
        rows.append((r["fixmedins_code"], r["fixmedins_name"], r["admvs"], r["kind"], level, 1))
    return rows


def _persons(path: Path, centre: Centre) -> tuple[list[tuple[object, ...]], list[tuple[object, ...]]]:
    source = str(path)
    header = ("card", "psn_no", "balc_fen", "psn_insu_stas", "cvlserv_flag", "emp_name")
    persons, accounts = [], []
    year = centre.now().year
    for line, r in _rows(path, header):
        profile_path = data_dir() / "cards" / f"{r['card']}.toml"
        try:
            profile = load_profile(profile_path)
        except ValueError as exc:
            raise SeedError(source, str(exc), line=line) from None
        insurance = profile.extra.get("insurance")
        if not isinstance(insurance, dict):
            raise SeedError(source, f"{profile_path.name} has no [insurance]", line=line)
        scheme, category, retired = insurance["scheme"], insurance["category"], bool(insurance.get("retired"))
        if r["psn_insu_stas"] not in ("1", "2", "4") or r["cvlserv_flag"] not in ("0", "1"):
            raise SeedError(source, "psn_insu_stas must be 1/2/4 and cvlserv_flag 0/1", line=line)
        card, holder = profile.card, profile.holder
        persons.append((
            r["psn_no"], holder.ssn, ssn_hash(holder.ssn), holder.name, holder.sex, f"{holder.ethnicity:02d}",
            holder.birth_date.isoformat(), card.card_number, card_sn(card.region, card.serial.hex()),
            INSUTYPES[scheme], PSN_TYPES[category_for(scheme, retired, category)], r["psn_insu_stas"],
            r["cvlserv_flag"], str(insurance.get("insured_region", card.region)), r["emp_name"], scheme, category,
            int(retired)))
        purse = profile.extra.get("purse") if isinstance(profile.extra.get("purse"), dict) else {}
        accounts.append((r["psn_no"], datafile.parse_int(r["balc_fen"], source, line, "balc_fen", SeedError),
                         int(purse.get("ed_balance", 0)), year, 0, 0, 0, centre.now().isoformat(sep=" ")))
    return persons, accounts
