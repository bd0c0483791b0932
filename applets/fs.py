"""The card's file system: MF/DF/EF tree (ISO/IEC 7816-4 §5.3) with per-file access conditions.

Records of an EF are plain bytes. `TLV_RECORDS` files number their records by the record's tag, as the
social security card's EF05/EF06 do (ssc-card.md: "record number = tag number").
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from typing import Any, Iterator

from applets.errors import ImageError


class Access(str, Enum):
    """Access condition of one operation on a file."""

    ALWAYS = "always"
    PIN = "pin"  # after a successful VERIFY in this power-on session
    NEVER = "never"


class Structure(str, Enum):
    TRANSPARENT = "transparent"
    LINEAR = "linear"  # records 1..n in the order written
    CYCLIC = "cyclic"  # record 1 is the newest; the oldest is overwritten when full
    TLV_RECORDS = "tlv-records"  # record number = first byte (tag) of the record


@dataclass(slots=True)
class EF:
    fid: int
    structure: Structure
    sfi: int | None = None
    read: Access = Access.ALWAYS
    write: Access = Access.NEVER
    data: bytearray = field(default_factory=bytearray)  # transparent
    records: list[bytes] = field(default_factory=list)  # record structures
    max_records: int = 0  # 0 = no limit (linear / tlv); cyclic must set it
    record_size: int = 0  # 0 = variable; fixed otherwise (cyclic, fixed linear)

    def find_record(self, number: int) -> int | None:
        """Index into `records` of record `number` (1-based, or the tag for TLV_RECORDS files)."""
        if self.structure is Structure.TLV_RECORDS:
            for i, rec in enumerate(self.records):
                if rec and rec[0] == number:
                    return i
            return None
        if 1 <= number <= len(self.records):
            return number - 1
        return None


@dataclass(slots=True)
class DF:
    fid: int
    name: bytes | None = None  # DF name (AID), ISO 7816-4 §8.2.1.1
    application: str | None = None  # key into the application registry; None = plain DF
    children: list[DF | EF] = field(default_factory=list)
    parent: DF | None = field(default=None, repr=False, compare=False)

    def child(self, fid: int) -> DF | EF | None:
        for c in self.children:
            if c.fid == fid:
                return c
        return None

    def ef_by_sfi(self, sfi: int) -> EF | None:
        for c in self.children:
            if isinstance(c, EF) and c.sfi == sfi:
                return c
        return None

    def add(self, node: DF | EF) -> DF | EF:
        if self.child(node.fid) is not None:
            raise ValueError(f"FID {node.fid:04X} already exists in DF {self.fid:04X}")
        if isinstance(node, DF):
            node.parent = self
        self.children.append(node)
        return node

    def walk_dfs(self) -> Iterator[DF]:
        yield self
        for c in self.children:
            if isinstance(c, DF):
                yield from c.walk_dfs()

    def find_by_name(self, name: bytes) -> DF | None:
        for df in self.walk_dfs():
            if df.name == name:
                return df
        return None

    def path(self) -> list[int]:
        out: list[int] = []
        node: DF | None = self
        while node is not None:
            out.append(node.fid)
            node = node.parent
        return out[::-1]


# ---- JSON codec (card image format v1, see docs/card-image.md) ----


def df_to_json(df: DF) -> dict[str, Any]:
    out: dict[str, Any] = {"type": "DF", "fid": f"{df.fid:04X}"}
    if df.name is not None:
        out["name"] = df.name.hex().upper()
    if df.application:
        out["application"] = df.application
    out["children"] = [df_to_json(c) if isinstance(c, DF) else ef_to_json(c) for c in df.children]
    return out


def ef_to_json(ef: EF) -> dict[str, Any]:
    out: dict[str, Any] = {
        "type": "EF",
        "fid": f"{ef.fid:04X}",
        "structure": ef.structure.value,
        "read": ef.read.value,
        "write": ef.write.value,
    }
    if ef.sfi is not None:
        out["sfi"] = ef.sfi
    if ef.structure is Structure.TRANSPARENT:
        out["data"] = ef.data.hex().upper()
    else:
        out["records"] = [r.hex().upper() for r in ef.records]
        if ef.max_records:
            out["max_records"] = ef.max_records
        if ef.record_size:
            out["record_size"] = ef.record_size
    return out


def _hex(value: Any, where: str) -> bytes:
    if not isinstance(value, str):
        raise ImageError(f"{where}: expected a hex string, got {type(value).__name__}")
    try:
        return bytes.fromhex(value)
    except ValueError:
        raise ImageError(f"{where}: not valid hex") from None


def _fid(value: Any, where: str) -> int:
    raw = _hex(value, where)
    if len(raw) != 2:
        raise ImageError(f"{where}: a FID is 2 bytes")
    return int.from_bytes(raw, "big")


def _count(value: Any, where: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise ImageError(f"{where}: expected a non-negative integer, got {value!r}")
    return value


def _enum(cls: type, value: Any, where: str) -> Any:
    try:
        return cls(value)
    except ValueError:
        allowed = ", ".join(m.value for m in cls)  # type: ignore[attr-defined]
        raise ImageError(f"{where}: {value!r} is not one of {allowed}") from None


def df_from_json(obj: Any, where: str = "mf") -> DF:
    if not isinstance(obj, dict) or obj.get("type") != "DF":
        raise ImageError(f"{where}: expected a DF object")
    df = DF(_fid(obj.get("fid"), f"{where}.fid"))
    if "name" in obj:
        df.name = _hex(obj["name"], f"{where}.name")
    app = obj.get("application")
    if app is not None and not isinstance(app, str):
        raise ImageError(f"{where}.application: expected a string")
    df.application = app
    children = obj.get("children", [])
    if not isinstance(children, list):
        raise ImageError(f"{where}.children: expected a list")
    for i, c in enumerate(children):
        here = f"{where}/{c.get('fid', i) if isinstance(c, dict) else i}"
        node = df_from_json(c, here) if isinstance(c, dict) and c.get("type") == "DF" else ef_from_json(c, here)
        try:
            df.add(node)
        except ValueError as e:
            raise ImageError(f"{here}: {e}") from None
    return df


def ef_from_json(obj: Any, where: str) -> EF:
    if not isinstance(obj, dict) or obj.get("type") != "EF":
        raise ImageError(f"{where}: expected an EF object")
    ef = EF(
        fid=_fid(obj.get("fid"), f"{where}.fid"),
        structure=_enum(Structure, obj.get("structure"), f"{where}.structure"),
        read=_enum(Access, obj.get("read", "always"), f"{where}.read"),
        write=_enum(Access, obj.get("write", "never"), f"{where}.write"),
    )
    sfi = obj.get("sfi")
    if sfi is not None:
        if not isinstance(sfi, int) or not 1 <= sfi <= 30:
            raise ImageError(f"{where}.sfi: must be an integer 1..30")
        ef.sfi = sfi
    if ef.structure is Structure.TRANSPARENT:
        ef.data = bytearray(_hex(obj.get("data", ""), f"{where}.data"))
    else:
        recs = obj.get("records", [])
        if not isinstance(recs, list):
            raise ImageError(f"{where}.records: expected a list")
        ef.records = [_hex(r, f"{where}.records[{i}]") for i, r in enumerate(recs)]
        ef.max_records = _count(obj.get("max_records", 0), f"{where}.max_records")
        ef.record_size = _count(obj.get("record_size", 0), f"{where}.record_size")
        if ef.structure is Structure.CYCLIC and ef.max_records <= 0:
            raise ImageError(f"{where}: a cyclic file needs max_records")
        if ef.max_records and len(ef.records) > ef.max_records:
            raise ImageError(f"{where}: {len(ef.records)} records but max_records is {ef.max_records}")
        if ef.record_size and any(len(r) != ef.record_size for r in ef.records):
            raise ImageError(f"{where}: a record is not {ef.record_size} bytes long")
        if ef.structure is Structure.TLV_RECORDS and any(not r for r in ef.records):
            raise ImageError(f"{where}: an empty record in a TLV record file")
    return ef
