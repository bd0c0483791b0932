"""Issuing virtual cards: TEST keys and holder profiles from data files, images written atomically."""

from __future__ import annotations

import json
import os
import tomllib
from dataclasses import replace
from datetime import date
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from applets.holder import CardInfo, HolderInfo, ssn_valid
from applets.image import CardImage
from applets.personalize import HolderProfile, IssuerTestKeys, personalize
from reader.card_file import save_new_image
from terminal.datafiles import data_dir
from terminal.errors import ProfileError

KEYS_FILE = "TEST-issuer-keys.json"
CA_KEY_FILE = "TEST-issuer-ca.key.pem"
CA_PUB_FILE = "TEST-issuer-ca.pub.pem"


def keys_dir() -> Path:
    return data_dir() / "keys"


def load_test_keys(folder: Path | None = None) -> IssuerTestKeys:
    folder = folder or keys_dir()
    path = folder / KEYS_FILE
    try:
        obj = json.loads(path.read_text(encoding="utf-8"))
        extra = {k: bytes.fromhex(v) for k, v in obj.items() if k not in ("warning", "version") and isinstance(v, str)}
        ca = serialization.load_pem_private_key((folder / CA_KEY_FILE).read_bytes(), password=None)
    except FileNotFoundError as e:
        raise ProfileError(f"{e.filename}: TEST key file missing") from None
    except (json.JSONDecodeError, ValueError) as e:
        raise ProfileError(f"{path}: not a valid TEST key file ({e})") from None
    if not isinstance(ca, ec.EllipticCurvePrivateKey):
        raise ProfileError(f"{folder / CA_KEY_FILE}: not an EC private key")
    try:
        return IssuerTestKeys(
            ssse_auth_master=extra.pop("ssse_auth_master"),
            ecdsa_seed=extra.pop("ssse_ecdsa_seed"),
            ca_private_key=ca,
            extra=extra,
        )
    except KeyError as e:
        raise ProfileError(f"{path}: missing key {e.args[0]!r}") from None


def issuer_ca_public_key(folder: Path | None = None) -> ec.EllipticCurvePublicKey:
    path = (folder or keys_dir()) / CA_PUB_FILE
    try:
        key = serialization.load_pem_public_key(path.read_bytes())
    except (OSError, ValueError) as e:
        raise ProfileError(f"{path}: cannot load the issuer CA public key ({e})") from None
    if not isinstance(key, ec.EllipticCurvePublicKey):
        raise ProfileError(f"{path}: not an EC public key")
    return key


def _need(table: dict[str, Any], key: str, kind: type, where: str) -> Any:
    if key not in table:
        raise ProfileError(f"{where}: missing {key!r}")
    value = table[key]
    if kind is str and isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise ProfileError(f"{where}: {key!r} must be {kind.__name__}, got {type(value).__name__}")
    return value


def profile_from_dict(obj: dict[str, Any], where: str) -> HolderProfile:
    """Build a HolderProfile from parsed TOML (data/cards/*.toml); errors name `where` and the field."""
    card = obj.get("card")
    holder = obj.get("holder")
    if not isinstance(card, dict) or not isinstance(holder, dict):
        raise ProfileError(f"{where}: needs [card] and [holder] tables")
    try:
        serial = bytes.fromhex(_need(card, "serial", str, f"{where} [card]"))
    except ValueError:
        raise ProfileError(f"{where} [card]: 'serial' must be 16 hex digits") from None
    if len(serial) != 8:
        raise ProfileError(f"{where} [card]: 'serial' must be 16 hex digits (8 bytes)")
    try:
        info = CardInfo(
            region=_need(card, "region", str, f"{where} [card]"),
            serial=serial,
            card_type=str(card.get("card_type", "1")),
            spec_version=str(card.get("spec_version", "3.00")),
            initialising_institution=_need(card, "initialising_institution", str, f"{where} [card]"),
            issue_date=_need(card, "issue_date", date, f"{where} [card]"),
            expiry_date=_need(card, "expiry_date", date, f"{where} [card]"),
            card_number=_need(card, "card_number", str, f"{where} [card]"),
        )
        ssn = _need(holder, "ssn", str, f"{where} [holder]")
        if not ssn_valid(ssn):
            raise ProfileError(f"{where} [holder]: 'ssn' fails the GB 11643 check digit")
        person = HolderInfo(
            ssn=ssn,
            name=_need(holder, "name", str, f"{where} [holder]"),
            sex=_need(holder, "sex", str, f"{where} [holder]"),
            ethnicity=_need(holder, "ethnicity", int, f"{where} [holder]"),
            birth_place=_need(holder, "birth_place", str, f"{where} [holder]"),
            birth_date=_need(holder, "birth_date", date, f"{where} [holder]"),
        )
        # Encode now so that a bad field is reported against this file, not at first use.
        info.records()
        person.records()
    except ValueError as e:
        raise ProfileError(f"{where}: {e}") from None
    extra = {k: v for k, v in obj.items() if k not in ("card", "holder") and isinstance(v, dict)}
    tries = obj.get("pin_tries_left")
    return HolderProfile(
        label=str(obj.get("label", info.card_number)),
        card=info,
        holder=person,
        pin=str(obj.get("pin", "123456")),
        pin_tries_left=int(tries) if tries is not None else None,
        ef06_needs_pin=bool(obj.get("ef06_needs_pin", False)),
        extra=_jsonable(extra),
    )


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_jsonable(v) for v in value]
    if isinstance(value, date):
        return value.isoformat()
    return value


def load_profile(path: str | os.PathLike[str]) -> HolderProfile:
    p = Path(path)
    try:
        obj = tomllib.loads(p.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ProfileError(f"{p}: no such profile file") from None
    except tomllib.TOMLDecodeError as e:
        raise ProfileError(f"{p}: not valid TOML ({e})") from None
    return profile_from_dict(obj, str(p))


def demo_profile_paths() -> list[Path]:
    return sorted((data_dir() / "cards").glob("*.toml"))


def issue_image(profile: HolderProfile, keys: IssuerTestKeys | None = None) -> CardImage:
    try:
        return personalize(profile, keys or load_test_keys(), os.urandom)
    except ValueError as e:
        raise ProfileError(f"profile {profile.label!r}: {e}") from None


def issue_card(profile: HolderProfile, path: str | os.PathLike[str], overwrite: bool = False) -> CardImage:
    image = issue_image(profile)
    save_new_image(path, image, overwrite=overwrite)
    return image


def with_pin(profile: HolderProfile, pin: str) -> HolderProfile:
    return replace(profile, pin=pin)
