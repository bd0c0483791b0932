"""Reading the social security application: select SSSE, read EF05/EF06, verify the PIN, authenticate
the card against the issuer's TEST CA."""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from applets.holder import CardInfo, HolderInfo, parse_record
from applets.ssse import EF05_SFI, EF06_SFI, EF0F_SFI, KID_ECDSA, SSSE_AID
from applets.sw import SW
from applets.tlv import decode, encode
from reader.base import Reader
from terminal.errors import CardAnswerError
from terminal.protocol.iso import (
    GetChallenge,
    InternalAuthenticate,
    ReadBinary,
    ReadRecord,
    SelectByName,
    Verify,
    check_verify,
    expect_ok,
)

EF05_TAGS = (0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07)
EF06_TAGS = (0x08, 0x09, 0x0A, 0x0B, 0x0C, 0x0D)


@dataclass(frozen=True)
class CardRead:
    card: CardInfo
    holder: HolderInfo | None  # None when EF06 needs a PIN that was not given
    holder_needs_pin: bool
    pin_verified: bool


def select_ssse(reader: Reader) -> None:
    raw = reader.transmit(SelectByName(SSSE_AID).to_bytes())
    if raw[-2:] == SW.FILE_NOT_FOUND.to_bytes(2, "big"):
        raise CardAnswerError("this card has no social security application (SSSE)", SW.FILE_NOT_FOUND)
    expect_ok(raw, "SELECT SSSE")


def read_tlv_records(reader: Reader, sfi: int, tags: tuple[int, ...], optional: tuple[int, ...] = ()) -> dict[int, bytes]:
    """READ RECORD each tag of a TLV-record EF, then each `optional` one (skipped when the card has no such
    record). Raises CardAnswerError (with the SW) on a refusal or a record that is not the tag asked for."""
    out: dict[int, bytes] = {}
    for tag in tags + optional:
        raw = reader.transmit(ReadRecord(sfi, tag).to_bytes())
        if tag in optional and raw[-2:] == SW.RECORD_NOT_FOUND.to_bytes(2, "big"):
            continue
        data = expect_ok(raw, f"READ RECORD EF{sfi:02X} tag {tag:02X}")
        try:
            got_tag, value = parse_record(data)
        except ValueError as e:
            raise CardAnswerError(f"EF{sfi:02X} record {tag:02X} is not a TLV record ({e})") from None
        if got_tag != tag:
            raise CardAnswerError(f"EF{sfi:02X} record {tag:02X} carries tag {got_tag:02X}")
        out[tag] = value
    return out


def verify_pin(reader: Reader, pin: str) -> None:
    """VERIFY; raises PinError with the tries left, or CardAnswerError."""
    check_verify(reader.transmit(Verify(pin).to_bytes()))


def read_card(reader: Reader, pin: str | None = None) -> CardRead:
    """Select SSSE and read EF05 (and EF06, after VERIFY when a PIN is given or the card needs it)."""
    select_ssse(reader)
    try:
        card = CardInfo.from_records(read_tlv_records(reader, EF05_SFI, EF05_TAGS))
    except (KeyError, ValueError, UnicodeDecodeError) as e:
        raise CardAnswerError(f"EF05 is malformed ({e})") from None
    verified = False
    if pin is not None:
        verify_pin(reader, pin)
        verified = True
    try:
        records = read_tlv_records(reader, EF06_SFI, EF06_TAGS, optional=(0x4E,))
    except CardAnswerError as e:
        if e.sw == SW.SECURITY_STATUS_NOT_SATISFIED and not verified:
            return CardRead(card, None, True, False)
        raise
    try:
        holder = HolderInfo.from_records(records)
    except (KeyError, ValueError, UnicodeDecodeError) as e:
        raise CardAnswerError(f"EF06 is malformed ({e})") from None
    return CardRead(card, holder, False, verified)


def authenticate_card(reader: Reader, ca_public: ec.EllipticCurvePublicKey, card: CardInfo) -> None:
    """Card authentication (project TEST scheme, docs/card-image.md): the issuer CA's signature on the
    card certificate in EF0F, then INTERNAL AUTHENTICATE (kid 02) on a fresh challenge under the
    certified key. Raises CardAnswerError when anything does not check out."""
    cert_raw = expect_ok(reader.transmit(ReadBinary(EF0F_SFI).to_bytes()), "READ BINARY EF0F")
    try:
        # The certificate may be followed by 00/FF padding (a fixed-size file); decode() skips it. Do not
        # strip zeros: the DER signature at the end ends in a 00 byte for about 1 card in 256.
        objects = decode(cert_raw)
        if not objects:
            raise ValueError("empty")
        cert = objects[0]
        fields = {t.tag: t.value for t in decode(cert.value)}
        ident, point, signature = fields[0x5A], fields[0x86], fields[0x5F37]
        signed = encode(0x5A, ident) + encode(0x86, point)  # what the CA signed (EF0F layout)
        ca_public.verify(signature, signed, ec.ECDSA(hashes.SHA256()))
        card_key = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), point)
    except (ValueError, KeyError):
        raise CardAnswerError("the card certificate (EF0F) is malformed") from None
    except InvalidSignature:
        raise CardAnswerError("the card certificate is not signed by the issuer CA") from None
    if ident != card.identification_code:
        raise CardAnswerError("the card certificate belongs to another card")
    challenge = secrets.token_bytes(16)
    answer = expect_ok(reader.transmit(InternalAuthenticate(KID_ECDSA, challenge).to_bytes()), "INTERNAL AUTHENTICATE")
    if len(answer) != 64:
        raise CardAnswerError(f"INTERNAL AUTHENTICATE answered {len(answer)} bytes, expected 64")
    der = encode_dss_signature(int.from_bytes(answer[:32], "big"), int.from_bytes(answer[32:], "big"))
    try:
        card_key.verify(der, challenge, ec.ECDSA(hashes.SHA256()))
    except InvalidSignature:
        raise CardAnswerError("card authentication failed: the card does not hold its certified key") from None


def challenge(reader: Reader, length: int = 8) -> bytes:
    data = expect_ok(reader.transmit(GetChallenge(length).to_bytes()), "GET CHALLENGE")
    if len(data) != length:
        raise CardAnswerError(f"GET CHALLENGE answered {len(data)} bytes, expected {length}")
    return data
