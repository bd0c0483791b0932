"""Holder and card records of DF SSSE (ssc-card.md, EF05/EF06): dataclasses, TLV record coding, and the
GB 11643 check digit. Pure: used by personalisation (card side) and by the terminal to parse reads."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from applets.tlv import Tlv, decode_one

NATIONAL_RID = bytes.fromhex("D156000005")

_WEIGHTS = [pow(2, 17 - i, 11) for i in range(17)]  # GB 11643-1999 / ISO 7064 MOD 11-2
_CHECK = "10X98765432"


def ssn_check_digit(first17: str) -> str:
    if len(first17) != 17 or not first17.isdigit():
        raise ValueError("the first 17 characters of a citizen ID are digits")
    return _CHECK[sum(int(c) * w for c, w in zip(first17, _WEIGHTS)) % 11]


def ssn_valid(ssn: str) -> bool:
    return len(ssn) == 18 and ssn[:17].isdigit() and ssn_check_digit(ssn[:17]) == ssn[17].upper()


def mask_ssn(ssn: str) -> str:
    """Display form: first 6 and last 4 characters (region and check), the birth date hidden."""
    return ssn[:6] + "*" * max(0, len(ssn) - 10) + ssn[-4:] if len(ssn) > 10 else "*" * len(ssn)


def mask_name(name: str) -> str:
    return name[:1] + "*" * (len(name) - 1) if len(name) > 1 else name


def bcd(digits: str) -> bytes:
    if len(digits) % 2 or not digits.isdigit():
        raise ValueError(f"{digits!r} is not an even number of decimal digits")
    return bytes.fromhex(digits)


def bcd_date(d: date) -> bytes:
    return bcd(d.strftime("%Y%m%d"))


def parse_bcd_date(raw: bytes) -> date:
    text = raw.hex()
    if len(text) != 8 or not text.isdigit():
        raise ValueError(f"{raw.hex().upper()} is not a BCD date")
    return date(int(text[:4]), int(text[4:6]), int(text[6:]))


def _fixed(value: bytes, size: int, what: str) -> bytes:
    if len(value) > size:
        raise ValueError(f"{what} is {len(value)} bytes, at most {size} fit")
    return value + b"\x00" * (size - len(value))


def _record(tag: int, value: bytes) -> bytes:
    return Tlv(tag, value).to_bytes()


@dataclass(frozen=True, slots=True)
class CardInfo:
    """EF05: card information."""

    region: str  # 6-digit administrative region code of the issuing (insured) region
    serial: bytes  # 8 bytes
    card_type: str  # "1" = social security card
    spec_version: str  # "3.00"
    initialising_institution: str  # 12 characters
    issue_date: date
    expiry_date: date
    card_number: str  # 9 characters, e.g. A00000001

    @property
    def identification_code(self) -> bytes:
        """Tag 01: 3 bytes BCD region ‖ D156000005 ‖ 8 bytes serial."""
        return bcd(self.region) + NATIONAL_RID + self.serial

    def records(self) -> list[bytes]:
        if len(self.serial) != 8:
            raise ValueError("the card serial is 8 bytes")
        if len(self.card_number) != 9:
            raise ValueError("the card number is 9 characters")
        return [
            _record(0x01, self.identification_code),
            _record(0x02, self.card_type.encode("ascii")),
            _record(0x03, self.spec_version.encode("ascii")),
            _record(0x04, _fixed(self.initialising_institution.encode("ascii"), 12, "institution")),
            _record(0x05, bcd_date(self.issue_date)),
            _record(0x06, bcd_date(self.expiry_date)),
            _record(0x07, self.card_number.encode("ascii")),
        ]

    @classmethod
    def from_records(cls, records: dict[int, bytes]) -> CardInfo:
        ident = records[0x01]
        if len(ident) != 16 or ident[3:8] != NATIONAL_RID:
            raise ValueError("tag 01 is not a card identification code")
        return cls(
            region=ident[:3].hex(),
            serial=ident[8:],
            card_type=records[0x02].decode("ascii"),
            spec_version=records[0x03].decode("ascii"),
            initialising_institution=records[0x04].rstrip(b"\x00").decode("ascii"),
            issue_date=parse_bcd_date(records[0x05]),
            expiry_date=parse_bcd_date(records[0x06]),
            card_number=records[0x07].decode("ascii"),
        )


def split_gbk_name(name: str) -> tuple[bytes, bytes]:
    """Tag 09 holds 30 GBK bytes; a longer name continues in tag 4E (20 bytes), split on a character."""
    head = b""
    for i, ch in enumerate(name):
        enc = ch.encode("gbk")
        if len(head) + len(enc) > 30:
            tail = name[i:].encode("gbk")
            if len(tail) > 20:
                raise ValueError(f"name is too long for tags 09 + 4E ({len(name.encode('gbk'))} GBK bytes)")
            return head, tail
        head += enc
    return head, b""


@dataclass(frozen=True, slots=True)
class HolderInfo:
    """EF06: holder information."""

    ssn: str
    name: str
    sex: str  # "1" male, "2" female (GB/T 2261.1)
    ethnicity: int  # GB 3304 code
    birth_place: str  # 6-digit region code
    birth_date: date

    def records(self) -> list[bytes]:
        if not ssn_valid(self.ssn):
            raise ValueError(f"social security number {mask_ssn(self.ssn)} fails the GB 11643 check digit")
        head, ext = split_gbk_name(self.name)
        recs = [_record(0x08, self.ssn.encode("ascii")), _record(0x09, _fixed(head, 30, "name"))]
        if ext:
            recs.append(_record(0x4E, _fixed(ext, 20, "name extension")))
        recs += [
            _record(0x0A, self.sex.encode("ascii")),
            _record(0x0B, bytes((self.ethnicity,))),
            _record(0x0C, bcd(self.birth_place)),
            _record(0x0D, bcd_date(self.birth_date)),
        ]
        return recs

    @classmethod
    def from_records(cls, records: dict[int, bytes]) -> HolderInfo:
        name = records[0x09].rstrip(b"\x00") + records.get(0x4E, b"").rstrip(b"\x00")
        return cls(
            ssn=records[0x08].decode("ascii"),
            name=name.decode("gbk"),
            sex=records[0x0A].decode("ascii"),
            ethnicity=records[0x0B][0],
            birth_place=records[0x0C].hex(),
            birth_date=parse_bcd_date(records[0x0D]),
        )

    @property
    def masked_ssn(self) -> str:
        return mask_ssn(self.ssn)

    @property
    def masked_name(self) -> str:
        return mask_name(self.name)


def parse_record(raw: bytes) -> tuple[int, bytes]:
    """A READ RECORD answer of EF05/EF06 is one whole TLV."""
    item = decode_one(raw)
    return item.tag, item.value
