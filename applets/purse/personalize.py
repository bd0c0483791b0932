"""Personalising the purse on a card image, and personalising a PSAM card image. Pure: keys and
entropy are handed in. TEST master keys only (data/keys/TEST-issuer-keys.json, docs/purse.md).

Card keys: for key set `i` with algorithm `a` (state.DEFAULT_KEY_TABLE: 1 = SM4, 2 = 3DES), the
purchase, load and TAC keys are ``diversify(a, master[a], factor)`` with the factor = the last 8 bytes
of the app serial (= the 8-byte card serial); with ``two_level`` (T-Union style)
``diversify(a, diversify(a, master[a], issuer code), factor)``. The maintenance key (APPLICATION BLOCK)
is ``diversify(SM4, maintenance master, factor)``.

Example::

    >>> masters = PurseMasterKeys.generate(lambda n: bytes(n))
    >>> keys = card_keys(masters, bytes(8))
    >>> sorted(keys)[:3]
    ['purse.damk', 'purse.dlk.1', 'purse.dlk.2']
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any, Callable, Mapping

from applets.crypto.pboc import Algorithm, bcd_date, diversify, two_level_diversify
from applets.fs import DF, EF, Access, Structure
from applets.image import CardImage, PinState
from applets.psam.application import APP_NAME as PSAM_APP, PSAM_AID, PSAM_FID, SFI_TERMINAL_ID, master_key_name
from applets.purse.layout import (
    CAPP_RECORD_SIZE,
    CAPP_RECORDS,
    LOG_RECORD_SIZE,
    LOG_RECORDS,
    PURSE_AID,
    PURSE_FID,
    SFI_CAPP,
    SFI_ISSUER,
    SFI_LOG,
    SFI_TRIP,
    TRIP_RECORD_SIZE,
    TRIP_RECORDS,
    IssuerInfo,
    empty_capp_record,
)
from applets.purse.medical import (
    MEDICAL_FID,
    MEDICAL_RECORD_SIZE,
    SFI_MEDICAL,
    MedicalRecord,
    medical_record_from_profile,
)
from applets.purse.state import APP_NAME, DEFAULT_KEY_TABLE, MAINTENANCE_KEY, initial_state, key_name

# Names of the TEST master keys in data/keys/TEST-issuer-keys.json.
MASTER_KEY_NAMES: dict[str, tuple[str, Algorithm | None]] = {
    "purse_dpk_master_sm4": ("purchase", Algorithm.SM4),
    "purse_dpk_master_3des": ("purchase", Algorithm.TDES),
    "purse_dlk_master_sm4": ("load", Algorithm.SM4),
    "purse_dlk_master_3des": ("load", Algorithm.TDES),
    "purse_dtk_master_sm4": ("tac", Algorithm.SM4),
    "purse_dtk_master_3des": ("tac", Algorithm.TDES),
    "purse_damk_master": ("maintenance", None),
}

DEMO_TERMINAL_ID = bytes.fromhex("310100000001")
PSAM_ATR_HISTORICAL = b"YKT-PSAM"


@dataclass(frozen=True)
class PurseMasterKeys:
    """The issuer's purse master keys by algorithm (TEST keys). `repr` never shows them."""

    purchase: Mapping[Algorithm, bytes]
    load: Mapping[Algorithm, bytes]
    tac: Mapping[Algorithm, bytes]
    maintenance: bytes = field(default=bytes(16))

    def __repr__(self) -> str:
        return "PurseMasterKeys(***)"

    @classmethod
    def from_extra(cls, extra: Mapping[str, bytes]) -> PurseMasterKeys | None:
        """From `IssuerTestKeys.extra`; None when the key file has no purse masters."""
        if not all(name in extra for name in MASTER_KEY_NAMES):
            return None
        tables: dict[str, dict[Algorithm, bytes]] = {"purchase": {}, "load": {}, "tac": {}}
        maintenance = b""
        for name, (kind, alg) in MASTER_KEY_NAMES.items():
            value = bytes(extra[name])
            if len(value) != 16:
                raise ValueError(f"TEST key {name} must be 16 bytes")
            if alg is None:
                maintenance = value
            else:
                tables[kind][alg] = value
        return cls(tables["purchase"], tables["load"], tables["tac"], maintenance)

    @classmethod
    def generate(cls, entropy: Callable[[int], bytes]) -> PurseMasterKeys:
        """Fresh throwaway masters (tests)."""
        algs = (Algorithm.SM4, Algorithm.TDES)
        return cls(
            {a: entropy(16) for a in algs}, {a: entropy(16) for a in algs}, {a: entropy(16) for a in algs}, entropy(16)
        )


def issuer_code_for(region: str) -> bytes:
    """0015 issuer code (project): `D1 56` ‖ city = first 4 digits of the region code, BCD (bytes 2–3,
    where T-Union readers look) ‖ issuer institution `00 00 00 01`."""
    if len(region) < 4 or not region[:4].isdigit():
        raise ValueError(f"region {region!r} must start with 4 digits")
    return b"\xd1\x56" + bytes.fromhex(region[:4]) + b"\x00\x00\x00\x01"


def app_serial_for(region: str, serial: bytes) -> bytes:
    """App serial (10 B): city BCD 2 ‖ card serial 8 — the last 8 bytes are the diversification factor."""
    if len(serial) != 8:
        raise ValueError("the card serial is 8 bytes")
    return bytes.fromhex(region[:4]) + bytes(serial)


def _div(alg: Algorithm, master: bytes, factor: bytes, issuer_code: bytes | None) -> bytes:
    if issuer_code is None:
        return diversify(alg, master, factor)
    return two_level_diversify(alg, master, issuer_code, factor)


def card_keys(
    masters: PurseMasterKeys,
    factor: bytes,
    *,
    issuer_code: bytes | None = None,
    key_table: Mapping[str, Mapping[str, int]] = DEFAULT_KEY_TABLE,
) -> dict[str, bytes]:
    """The card's purse keys (image key names → key), diversified from the masters with `factor`
    (one level), or with `issuer_code` then `factor` (two levels, T-Union)."""
    keys: dict[str, bytes] = {}
    for index, entry in key_table.items():
        alg = Algorithm(entry["alg"])
        keys[key_name("dpk", int(index))] = _div(alg, masters.purchase[alg], factor, issuer_code)
        keys[key_name("dlk", int(index))] = _div(alg, masters.load[alg], factor, issuer_code)
        keys[key_name("dtk", int(index))] = _div(alg, masters.tac[alg], factor, issuer_code)
    keys[MAINTENANCE_KEY] = diversify(Algorithm.SM4, masters.maintenance, factor)
    return keys


def purse_df(info: IssuerInfo, medical: MedicalRecord | None = None) -> DF:
    """DF 1001 (AID A000000632010105) with 0015, 0018, 001A and 001E, and 0019 (the medical record) for an
    insured holder."""
    df = DF(PURSE_FID, name=PURSE_AID, application=APP_NAME)
    df.add(EF(0x0015, Structure.TRANSPARENT, sfi=SFI_ISSUER, data=bytearray(info.to_bytes())))
    df.add(EF(0x0018, Structure.CYCLIC, sfi=SFI_LOG, max_records=LOG_RECORDS, record_size=LOG_RECORD_SIZE))
    df.add(
        EF(
            0x001A,
            Structure.LINEAR,
            sfi=SFI_CAPP,
            records=[empty_capp_record(n) for n in range(1, CAPP_RECORDS + 1)],
            max_records=CAPP_RECORDS,
            record_size=CAPP_RECORD_SIZE,
        )
    )
    df.add(EF(0x001E, Structure.CYCLIC, sfi=SFI_TRIP, max_records=TRIP_RECORDS, record_size=TRIP_RECORD_SIZE))
    if medical is not None:
        df.add(
            EF(
                MEDICAL_FID,
                Structure.LINEAR,
                sfi=SFI_MEDICAL,
                records=[medical.to_bytes()],
                max_records=1,
                record_size=MEDICAL_RECORD_SIZE,
            )
        )
    return df


def add_purse(
    image: CardImage,
    info: IssuerInfo,
    keys: Mapping[str, bytes],
    state: dict[str, Any],
    medical: MedicalRecord | None = None,
) -> None:
    """Add the purse DF, its keys and its state to `image` (raises ValueError if already there)."""
    image.mf.add(purse_df(info, medical))
    image.keys.update(keys)
    image.applications[APP_NAME] = state


def purse_options(extra: Mapping[str, Any]) -> dict[str, Any]:
    """Initial purse settings from a holder profile's `[purse]` table (data/cards/*.toml):
    ep_balance, ed_balance, overdraft (fen), max_balance, ed_needs_pin, two_level_keys; and `medical_insurance`
    from its `[insurance]` table (scheme, retired, category), which gives the card a medical record 0019."""
    table = extra.get("purse", {})
    if not isinstance(table, Mapping):
        raise ValueError("[purse] must be a table")
    known = {"ep_balance", "ed_balance", "overdraft", "max_balance", "ed_needs_pin", "two_level_keys"}
    unknown = set(table) - known
    if unknown:
        raise ValueError(f"[purse]: unknown setting(s) {', '.join(sorted(unknown))}")
    out: dict[str, Any] = {}
    for name in ("ep_balance", "ed_balance", "overdraft", "max_balance"):
        if name in table:
            value = table[name]
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                raise ValueError(f"[purse] {name} must be a whole number of fen ≥ 0")
            out[name] = value
    for name in ("ed_needs_pin", "two_level_keys"):
        if name in table:
            out[name] = bool(table[name])
    if "insurance" in extra:
        out["medical_insurance"] = dict(extra["insurance"])
    return out


def personalize_purse(
    image: CardImage,
    *,
    serial: bytes,
    region: str,
    start: date,
    expiry: date,
    masters: PurseMasterKeys,
    ep_balance: int = 0,
    ed_balance: int = 0,
    overdraft: int = 0,
    max_balance: int | None = None,
    ed_needs_pin: bool = True,
    two_level_keys: bool = False,
    medical_insurance: Mapping[str, Any] | None = None,
) -> IssuerInfo:
    """Issue the purse on a social security card image; returns its 0015 contents. `medical_insurance`
    (a profile's `[insurance]` table) adds the medical record 0019 (applets/purse/medical.py)."""
    info = IssuerInfo(
        issuer_code=issuer_code_for(region),
        app_type=0x03,  # ED + EP
        app_version=0x01,
        app_serial=app_serial_for(region, serial),
        start_date=bcd_date(start),
        expiry_date=bcd_date(expiry),
    )
    keys = card_keys(masters, info.factor, issuer_code=info.issuer_code if two_level_keys else None)
    settings: dict[str, Any] = {"ep_balance": ep_balance, "ed_balance": ed_balance, "overdraft": overdraft}
    if max_balance is not None:
        settings["max_balance"] = max_balance
    medical = None if medical_insurance is None else medical_record_from_profile(dict(medical_insurance), region)
    add_purse(image, info, keys, initial_state(ed_needs_pin=ed_needs_pin, **settings), medical)
    return info


# ---- PSAM ----


def personalize_psam(
    masters: Mapping[Algorithm, bytes],
    entropy: Callable[[int], bytes],
    *,
    terminal_id: bytes = DEMO_TERMINAL_ID,
    key_version: int = 1,
    seq: int = 1,
    label: str = "PSAM (TEST keys)",
) -> CardImage:
    """A PSAM card image: MF / DF 1001 (AID D15600000590, application "psam") with 0016 = terminal id,
    the purchase master keys (by algorithm, one key version) and the next terminal txn sequence."""
    from applets.personalize import make_atr  # late: applets.personalize imports this module

    if len(terminal_id) != 6:
        raise ValueError("a terminal id is 6 bytes")
    if not 0 <= seq <= 0xFFFFFFFF:
        raise ValueError("the terminal transaction sequence is 4 bytes")
    mf = DF(0x3F00)
    df = DF(PSAM_FID, name=PSAM_AID, application=PSAM_APP)
    mf.add(df)
    df.add(EF(0x0016, Structure.TRANSPARENT, sfi=SFI_TERMINAL_ID, read=Access.ALWAYS, data=bytearray(terminal_id)))
    keys = {master_key_name(alg, key_version): bytes(key) for alg, key in masters.items()}
    return CardImage(
        label=label,
        atr=make_atr(PSAM_ATR_HISTORICAL),
        mf=mf,
        pin=PinState.create("000000", entropy(16)),
        keys=keys,
        applications={PSAM_APP: {"seq": seq, "blocked": False}},
    )
