"""Personalisation: build a card image for a holder (what the issuer's bureau does). Pure: keys and
entropy are handed in."""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass, field
from typing import Any, Callable

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from applets.crypto.pboc import Algorithm, diversify
from applets.fs import DF, EF, Access, Structure
from applets.holder import CardInfo, HolderInfo
from applets.image import CardImage, PinState
from applets.ssse import EF0F_SFI, SSSE_AID, SSSE_FID
from applets.tlv import encode

_P256_ORDER = int("FFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551", 16)


def make_atr(historical: bytes) -> bytes:
    """ISO 7816-3 §8.2: TS 3B, T0 (TD1 present, K historical bytes), TD1 = 80 (TD2, T=0), TD2 = 01 (T=1),
    historical bytes, TCK (XOR of T0..last byte, present because T=1 is offered)."""
    if len(historical) > 15:
        raise ValueError("at most 15 historical bytes")
    body = bytes((0x80 | len(historical), 0x80, 0x01)) + historical
    tck = 0
    for b in body:
        tck ^= b
    return b"\x3b" + body + bytes((tck,))


DEFAULT_ATR = make_atr(b"YKT-SSC3")


@dataclass(frozen=True)
class IssuerTestKeys:
    """TEST master keys of the issuer (data/keys/). Never real keys."""

    ssse_auth_master: bytes  # SM4, 16 bytes
    ecdsa_seed: bytes  # HMAC key from which each card's ECDSA P-256 key is derived
    ca_private_key: ec.EllipticCurvePrivateKey  # signs card certificates (EF0F)
    extra: dict[str, bytes] = field(default_factory=dict)  # further masters (purse, …) by name


def card_ecdsa_scalar(seed: bytes, serial: bytes) -> bytes:
    """A card's ECDSA key: HMAC-SHA256(seed, serial) reduced into [1, n-1] of P-256."""
    value = int.from_bytes(hmac.new(seed, serial, hashlib.sha256).digest(), "big") % (_P256_ORDER - 1) + 1
    return value.to_bytes(32, "big")


def card_certificate(ca: ec.EllipticCurvePrivateKey, ident: bytes, public: ec.EllipticCurvePublicKey) -> bytes:
    """EF0F (project): 7F21 { 5A card identification code, 86 public key (uncompressed point),
    5F37 issuer CA signature (ECDSA P-256/SHA-256, DER) over the 5A and 86 objects }."""
    point = public.public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
    signed = encode(0x5A, ident) + encode(0x86, point)
    signature = ca.sign(signed, ec.ECDSA(hashes.SHA256()))
    return encode(0x7F21, signed + encode(0x5F37, signature))


@dataclass(frozen=True)
class HolderProfile:
    """Everything needed to issue one card: the EF05/EF06 contents and the card's settings."""

    label: str
    card: CardInfo
    holder: HolderInfo
    pin: str = "123456"  # factory default of many real cards
    pin_tries_left: int | None = None  # None = max; 0 = blocked
    pin_max_tries: int = 3
    ef06_needs_pin: bool = False
    extra: dict[str, Any] = field(default_factory=dict)  # insurance data etc. for other applications


def personalize(
    profile: HolderProfile,
    keys: IssuerTestKeys,
    entropy: Callable[[int], bytes],
    atr: bytes = DEFAULT_ATR,
) -> CardImage:
    serial = profile.card.serial
    sm4_key = diversify(Algorithm.SM4, keys.ssse_auth_master, serial)
    scalar = card_ecdsa_scalar(keys.ecdsa_seed, serial)
    public = ec.derive_private_key(int.from_bytes(scalar, "big"), ec.SECP256R1()).public_key()

    mf = DF(0x3F00)
    ssse = DF(SSSE_FID, name=SSSE_AID, application="ssse")
    mf.add(ssse)
    ssse.add(EF(0x0005, Structure.TLV_RECORDS, sfi=0x05, read=Access.ALWAYS, records=profile.card.records()))
    ssse.add(
        EF(
            0x0006,
            Structure.TLV_RECORDS,
            sfi=0x06,
            read=Access.PIN if profile.ef06_needs_pin else Access.ALWAYS,
            records=profile.holder.records(),
        )
    )
    cert = card_certificate(keys.ca_private_key, profile.card.identification_code, public)
    ssse.add(EF(0x000F, Structure.TRANSPARENT, sfi=EF0F_SFI, data=bytearray(cert)))

    pin = PinState.create(profile.pin, entropy(16), profile.pin_max_tries)
    if profile.pin_tries_left is not None:
        if not 0 <= profile.pin_tries_left <= profile.pin_max_tries:
            raise ValueError("pin_tries_left must be between 0 and the maximum")
        pin.tries_left = profile.pin_tries_left
    image = CardImage(
        label=profile.label,
        atr=atr,
        mf=mf,
        pin=pin,
        keys={"ssse.auth_sm4": sm4_key, "ssse.auth_ecdsa": scalar},
        applications={"ssse": {"blocked": False}, "profile": dict(profile.extra)},
    )
    _add_purse(image, profile, keys)
    return image


def _add_purse(image: CardImage, profile: HolderProfile, keys: IssuerTestKeys) -> None:
    """The e-purse (docs/purse.md), when the key file has the purse TEST masters; initial balances
    from the profile's [purse] table."""
    from applets.purse.personalize import PurseMasterKeys, personalize_purse, purse_options

    masters = PurseMasterKeys.from_extra(keys.extra)
    if masters is None:
        return
    personalize_purse(
        image,
        serial=profile.card.serial,
        region=profile.card.region,
        start=profile.card.issue_date,
        expiry=profile.card.expiry_date,
        masters=masters,
        **purse_options(profile.extra),
    )
