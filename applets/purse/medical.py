"""The medical record (file 0019 of the purse DF): the insured's scheme and the year-to-date counters of the
medical-insurance settlement, kept on the card so that settlement works offline and across pharmacies.

It is written only through the purse's cached update (UPDATE CAPP DATA CACHE before the DEBIT of an ED
purchase, or before the CREDIT of an ED load), so the counters change in the same atomic card commit as the
personal-account (ED) debit or credit — or not at all. Layout (48 bytes, docs/counter.md)::

    0  2  record ID 4D 01                     ┐
    2  1  format 01                           │ issuer part: set at issue,
    3  1  scheme: 01 employee, 02 resident    │ a cached update must keep it
    4  1  category (CATEGORY_CODES)           │ (else 6A80)
    5  1  flags: bit 0 retired                │
    6  3  insured region (参保地), BCD         ┘
    9  2  year of the counters, BCD (0000 = none yet)
    11 4  deductible used (outpatient pool), fen
    15 4  pooled fund paid (outpatient pool), fen
    19 4  pooled fund paid (inpatient pool), fen
    23 2  updates written in that year
    25 4  date of the last update, BCD YYYYMMDD
    29 6  terminal id of the last update
    35 13 reserved (zero)

>>> rec = MedicalRecord("employee", "active", False, "310000", 2025, 50000, 10800, 0, 1,
...                     bytes.fromhex("20250301"), bytes.fromhex("310100000001"))
>>> MedicalRecord.from_bytes(rec.to_bytes()) == rec
True
"""

from __future__ import annotations

from dataclasses import dataclass, replace

SFI_MEDICAL = 0x19  # 0019, linear fixed, one record
MEDICAL_FID = 0x0019
MEDICAL_RECORD_SIZE = 48
MEDICAL_RECORD_ID = b"\x4d\x01"
MEDICAL_FORMAT = 0x01
ISSUER_PART = 9  # bytes 0..8 are written at issue only

SCHEME_CODES = {"employee": 0x01, "resident": 0x02}
CATEGORY_CODES = {"active": 0x01, "retired": 0x02, "adult": 0x03, "elderly": 0x04, "student": 0x05, "child": 0x06}
_MAX_U32 = 0xFFFFFFFF


def _bcd(digits: str, size: int, what: str) -> bytes:
    if len(digits) != 2 * size or not digits.isdigit():
        raise ValueError(f"{what} must be {2 * size} digits, got {digits!r}")
    return bytes.fromhex(digits)


def _digits(raw: bytes, what: str) -> str:
    text = raw.hex()
    if not text.isdigit():
        raise ValueError(f"{what} is not BCD ({raw.hex().upper()})")
    return text


def _name(table: dict[str, int], code: int, what: str) -> str:
    for name, value in table.items():
        if value == code:
            return name
    raise ValueError(f"unknown {what} code {code:02X}")


@dataclass(frozen=True, slots=True)
class MedicalRecord:
    """File 0019: who is insured how (issuer part) and the counters of `year` (fen)."""

    scheme: str  # "employee" | "resident"
    category: str  # a key of CATEGORY_CODES (as in the holder profile)
    retired: bool
    insured_region: str  # 6 digits
    year: int  # 0 = no counters yet
    deductible_used_fen: int = 0
    pooled_paid_fen: int = 0
    inpatient_pooled_paid_fen: int = 0
    updates: int = 0
    last_date: bytes = bytes(4)  # BCD YYYYMMDD, zero before the first update
    last_terminal: bytes = bytes(6)

    def __post_init__(self) -> None:
        if self.scheme not in SCHEME_CODES:
            raise ValueError(f"scheme must be one of {', '.join(SCHEME_CODES)}, got {self.scheme!r}")
        if self.category not in CATEGORY_CODES:
            raise ValueError(f"category must be one of {', '.join(CATEGORY_CODES)}, got {self.category!r}")
        _bcd(self.insured_region, 3, "insured region")
        if not 0 <= self.year <= 9999:
            raise ValueError(f"year {self.year} must be 0..9999")
        for what in ("deductible_used_fen", "pooled_paid_fen", "inpatient_pooled_paid_fen"):
            value = getattr(self, what)
            if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= _MAX_U32:
                raise ValueError(f"{what} must be int fen 0..{_MAX_U32}, got {value!r}")
        if not 0 <= self.updates <= 0xFFFF:
            raise ValueError("updates is 2 bytes")
        if len(self.last_date) != 4 or len(self.last_terminal) != 6:
            raise ValueError("last_date is 4 bytes and last_terminal 6 bytes")

    def to_bytes(self) -> bytes:
        out = (
            MEDICAL_RECORD_ID
            + bytes((MEDICAL_FORMAT, SCHEME_CODES[self.scheme], CATEGORY_CODES[self.category], int(self.retired)))
            + _bcd(self.insured_region, 3, "insured region")
            + _bcd(f"{self.year:04d}", 2, "year")
            + self.deductible_used_fen.to_bytes(4, "big")
            + self.pooled_paid_fen.to_bytes(4, "big")
            + self.inpatient_pooled_paid_fen.to_bytes(4, "big")
            + self.updates.to_bytes(2, "big")
            + bytes(self.last_date)
            + bytes(self.last_terminal)
        )
        return out + bytes(MEDICAL_RECORD_SIZE - len(out))

    @classmethod
    def from_bytes(cls, raw: bytes) -> MedicalRecord:
        if len(raw) != MEDICAL_RECORD_SIZE:
            raise ValueError(f"a medical record is {MEDICAL_RECORD_SIZE} bytes, got {len(raw)}")
        if raw[0:2] != MEDICAL_RECORD_ID:
            raise ValueError(f"medical record ID is {raw[0:2].hex().upper()}, not 4D01")
        if raw[2] != MEDICAL_FORMAT:
            raise ValueError(f"medical record format {raw[2]:02X} is not supported")
        return cls(
            scheme=_name(SCHEME_CODES, raw[3], "scheme"),
            category=_name(CATEGORY_CODES, raw[4], "category"),
            retired=bool(raw[5] & 0x01),
            insured_region=_digits(raw[6:9], "insured region"),
            year=int(_digits(raw[9:11], "year")),
            deductible_used_fen=int.from_bytes(raw[11:15], "big"),
            pooled_paid_fen=int.from_bytes(raw[15:19], "big"),
            inpatient_pooled_paid_fen=int.from_bytes(raw[19:23], "big"),
            updates=int.from_bytes(raw[23:25], "big"),
            last_date=bytes(raw[25:29]),
            last_terminal=bytes(raw[29:35]),
        )

    def for_year(self, year: int) -> MedicalRecord:
        """The record as it stands in `year`: counters of an earlier year count as zero (a new year resets)."""
        if year == self.year:
            return self
        if year < self.year:
            raise ValueError(f"the card's counters are for {self.year}, later than {year}: check the terminal clock")
        return replace(self, year=year, deductible_used_fen=0, pooled_paid_fen=0, inpatient_pooled_paid_fen=0,
                       updates=0)


def medical_record_from_profile(insurance: object, region: str) -> MedicalRecord:
    """The record written at issue from a holder profile's `[insurance]` table (scheme, retired, category,
    optional insured_region — default the card's region)."""
    if not isinstance(insurance, dict):
        raise ValueError("[insurance] must be a table")
    unknown = set(insurance) - {"scheme", "retired", "category", "insured_region"}
    if unknown:
        raise ValueError(f"[insurance]: unknown setting(s) {', '.join(sorted(unknown))}")
    try:
        return MedicalRecord(
            scheme=str(insurance.get("scheme", "")),
            category=str(insurance.get("category", "adult")),
            retired=bool(insurance.get("retired", False)),
            insured_region=str(insurance.get("insured_region", region)),
            year=0,
        )
    except ValueError as e:
        raise ValueError(f"[insurance]: {e}") from None


def keeps_issuer_part(old: bytes, new: bytes) -> bool:
    """A cached update of 0019 may change the counters only, never the issuer part (bytes 0..8)."""
    return len(old) == len(new) == MEDICAL_RECORD_SIZE and old[:ISSUER_PART] == new[:ISSUER_PART]
