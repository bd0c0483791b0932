"""The QR electronic social security card (电子社保卡 / 医保码): the project's own offline-verifiable
credential, a stand-in for the national platform's opaque online token (ssc-card.md; docs/identity.md).

Text form, version 1:  `YKT1.` BASE32(body) `.` BASE32(signature)
- BASE32 is RFC 4648 base32, upper case, without `=` padding: every character is in the QR
  alphanumeric set (≈20 % smaller symbols than base64 in byte mode) and a scanner that types it survives
  Caps Lock (decoding ignores case).
- body is canonical JSON (UTF-8, keys sorted, no spaces): v (1), ssn (masked), sha (SHA-256 hex of the
  SSN), name, card (card number), reg (home region code), iat / exp (Unix seconds, 0 < exp − iat ≤ 120),
  nonce (random, base64url); optional sch / cat (insurance scheme / category).
- signature: Ed25519 by the e-card issuing key over b"YKT1\\x00" ‖ body (64 bytes).
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import secrets
from datetime import datetime
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from applets.holder import mask_name, mask_ssn
from applets.personalize import HolderProfile
from terminal.hotlist import Hotlist
from terminal.identity.errors import IdentityRefused, Reason
from terminal.identity.keys import ecard_public_key, ecard_signing_key
from terminal.identity.model import Identity, ssn_hash
from terminal.identity.nonces import NonceStore

VERSION = 1
PREFIX = f"YKT{VERSION}"
DOMAIN = PREFIX.encode("ascii") + b"\x00"
MAX_TTL_S = 120
DEFAULT_TTL_S = 120
DEFAULT_SKEW_S = 15
SIGNATURE_CHARS = 103  # 64 bytes in unpadded base32

_B32 = re.compile(r"[A-Z2-7]*")
_HEAD = re.compile(r"YKT(\d+)")
_MASKED_SSN = re.compile(r"\d{6}\*{8}[0-9]{3}[0-9X]")
_SHA = re.compile(r"[0-9a-f]{64}")
_CARD = re.compile(r"[A-Z0-9]{9}")
_REGION = re.compile(r"\d{6}")
_REQUIRED = {"v": int, "ssn": str, "sha": str, "name": str, "card": str, "reg": str, "iat": int, "exp": int, "nonce": str}
_OPTIONAL = {"sch": str, "cat": str}


def _unix(now: datetime | float) -> int:
    if isinstance(now, datetime):
        if now.tzinfo is None:
            raise ValueError("`now` must be a timezone-aware datetime (e.g. datetime.now(timezone.utc))")
        return int(now.timestamp())
    return int(now)


def _b32encode(raw: bytes) -> str:
    return base64.b32encode(raw).decode("ascii").rstrip("=")


def _b32decode(text: str) -> bytes:
    return base64.b32decode(text + "=" * (-len(text) % 8))


def canonical(fields: dict[str, Any]) -> bytes:
    return json.dumps(fields, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def _fields_of(subject: Identity | HolderProfile) -> dict[str, Any]:
    if isinstance(subject, HolderProfile):
        insurance = subject.extra.get("insurance", {}) if isinstance(subject.extra.get("insurance"), dict) else {}
        h, c = subject.holder, subject.card
        fields: dict[str, Any] = {"ssn": mask_ssn(h.ssn.upper()), "sha": ssn_hash(h.ssn), "name": h.name, "card": c.card_number, "reg": c.region}
        scheme, category = insurance.get("scheme"), insurance.get("category")
    elif isinstance(subject, Identity):
        if subject.source != "card":
            raise ValueError("a QR electronic card is issued from a card identity or a holder profile, not from another QR code")
        fields = {"ssn": subject.masked_ssn.upper(), "sha": subject.ssn_hash, "name": subject.name, "card": subject.card_number, "reg": subject.home_region}
        scheme, category = subject.insurance_scheme, subject.insurance_category
    else:
        raise TypeError(f"cannot issue a QR electronic card for {type(subject).__name__}")
    if isinstance(scheme, str):
        fields["sch"] = scheme
    if isinstance(category, str):
        fields["cat"] = category
    return fields


def issue_qr(
    subject: Identity | HolderProfile,
    now: datetime | float,
    *,
    ttl_s: int = DEFAULT_TTL_S,
    key: Ed25519PrivateKey | None = None,
    nonce: str | None = None,
) -> str:
    """A signed QR payload for the holder of a checked card identity or a holder profile, valid `ttl_s`
    seconds (1..120) from `now`. `key` defaults to data/keys/TEST-ecard-signing.key.pem."""
    if not 0 < ttl_s <= MAX_TTL_S:
        raise ValueError(f"a QR electronic card is valid 1 to {MAX_TTL_S} s, not {ttl_s}")
    issued = _unix(now)
    fields = _fields_of(subject)
    fields.update(v=VERSION, iat=issued, exp=issued + ttl_s, nonce=nonce or secrets.token_urlsafe(12))
    body = canonical(fields)
    signature = (key or ecard_signing_key()).sign(DOMAIN + body)
    return f"{PREFIX}.{_b32encode(body)}.{_b32encode(signature)}"


def _refuse(reason: Reason, message: str) -> IdentityRefused:
    return IdentityRefused(reason, message)


def decode_qr(payload: str, public_key: Ed25519PublicKey | None = None) -> dict[str, Any]:
    """Check the form and the signature; return the signed fields (not yet checked for time or reuse)."""
    text = "".join(payload.split()).upper()  # scanners add CR/LF; Caps Lock flips case
    head, dot, rest = text.partition(".")
    version = _HEAD.fullmatch(head)
    if not text or version is None:
        raise _refuse(Reason.QR_GARBAGE, "this is not a yikatong QR electronic card")
    if head != PREFIX:
        raise _refuse(Reason.QR_WRONG_VERSION, f"QR electronic card version {version.group(1)} is not supported (this terminal reads version {VERSION})")
    body_text, dot2, sig_text = rest.partition(".")
    if not _B32.fullmatch(body_text) or not _B32.fullmatch(sig_text):
        raise _refuse(Reason.QR_GARBAGE, "the QR code holds characters a yikatong QR electronic card never has")
    if not dot or not dot2 or len(sig_text) < SIGNATURE_CHARS:
        raise _refuse(Reason.QR_TRUNCATED, "the QR code is cut short (scan it again)")
    if len(sig_text) > SIGNATURE_CHARS:
        raise _refuse(Reason.QR_GARBAGE, "the QR code's signature part is too long")
    try:
        body, signature = _b32decode(body_text), _b32decode(sig_text)
    except (binascii.Error, ValueError):
        raise _refuse(Reason.QR_GARBAGE, "the QR code's body is not valid base32") from None
    try:
        (public_key or ecard_public_key()).verify(signature, DOMAIN + body)
    except InvalidSignature:
        raise _refuse(Reason.QR_FORGED, "the QR code's signature does not verify: forged or altered") from None
    try:
        fields = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise _refuse(Reason.QR_INVALID, "the signed QR body is not JSON") from None
    if not isinstance(fields, dict):
        raise _refuse(Reason.QR_INVALID, "the signed QR body is not a JSON object")
    return fields


def _check_fields(fields: dict[str, Any]) -> None:
    if fields.get("v") != VERSION:
        raise _refuse(Reason.QR_WRONG_VERSION, f"the signed QR body says version {fields.get('v')!r}, expected {VERSION}")
    for name, kind in _REQUIRED.items():
        value = fields.get(name)
        if not isinstance(value, kind) or isinstance(value, bool):
            raise _refuse(Reason.QR_INVALID, f"QR field {name!r} is missing or not a {kind.__name__}")
    for name in fields.keys() - _REQUIRED.keys():
        if name not in _OPTIONAL or not isinstance(fields[name], _OPTIONAL[name]):
            raise _refuse(Reason.QR_INVALID, f"QR field {name!r} is unknown or malformed")
    checks = (("ssn", _MASKED_SSN), ("sha", _SHA), ("card", _CARD), ("reg", _REGION))
    for name, pattern in checks:
        if not pattern.fullmatch(fields[name]):
            raise _refuse(Reason.QR_INVALID, f"QR field {name!r} is malformed")
    if not fields["name"] or not 8 <= len(fields["nonce"]) <= 64:
        raise _refuse(Reason.QR_INVALID, "QR name or nonce is malformed")
    life = fields["exp"] - fields["iat"]
    if not 0 < life <= MAX_TTL_S:
        raise _refuse(Reason.QR_INVALID, f"the QR code claims a validity of {life} s (allowed: 1 to {MAX_TTL_S} s)")


def verify_qr(
    payload: str,
    now: datetime | float,
    nonce_store: NonceStore,
    *,
    public_key: Ed25519PublicKey | None = None,
    hotlist: Hotlist | None = None,
    skew_s: int = DEFAULT_SKEW_S,
) -> Identity:
    """Check a scanned QR electronic card offline: form, version, signature, fields, time window (with
    `skew_s` seconds of clock tolerance either side), one use per code (`nonce_store`), and the hotlist
    by card number. Returns an Identity with source "qr"; raises IdentityRefused with the reason."""
    fields = decode_qr(payload, public_key)
    _check_fields(fields)
    t = _unix(now)
    if t < fields["iat"] - skew_s:
        raise _refuse(Reason.QR_NOT_YET_VALID, f"the QR code was issued {fields['iat'] - t} s in the future: check the phone's and this terminal's clocks")
    if t > fields["exp"] + skew_s:
        raise _refuse(Reason.QR_EXPIRED, f"the QR code expired {t - fields['exp']} s ago: ask the holder to refresh it")
    if hotlist is not None and hotlist.contains(fields["card"]):
        raise _refuse(Reason.HOTLISTED, f"card {fields['card']} is on the hotlist (version {hotlist.version}): reported lost or blocked")
    if not nonce_store.use(fields["nonce"], fields["exp"] + skew_s, t):
        raise _refuse(Reason.QR_REUSED, "this QR code was already used: ask the holder to refresh it")
    return Identity(
        source="qr",
        masked_ssn=fields["ssn"],
        ssn_hash=fields["sha"],
        name=fields["name"],
        masked_name=mask_name(fields["name"]),
        card_number=fields["card"],
        card_serial=None,
        home_region=fields["reg"],
        insurance_scheme=fields.get("sch"),
        insurance_category=fields.get("cat"),
        card_expiry=None,
        pin_verified=False,
        authenticated=True,
    )
