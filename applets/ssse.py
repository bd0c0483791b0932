"""The social security identity application, DF SSSE (ssc-card.md), and its record layouts.

Test-key scheme (documented in docs/card-image.md):
- INTERNAL AUTHENTICATE kid 01 / EXTERNAL AUTHENTICATE kid 01: SM4 under the card key
  `ssse.auth_sm4` = SM4 diversification (purse.md, project variant) of the TEST master key with the
  8-byte card serial; the cryptogram is SM4-ECB over the challenge padded ISO 9797-1 method 2.
- INTERNAL AUTHENTICATE kid 02: ECDSA P-256 / SHA-256 (stand-in for SM2), deterministic (RFC 6979),
  answer r ‖ s (64 bytes), under the card's key `ssse.auth_ecdsa`, whose public key the issuer's TEST CA
  certifies in EF0F.
"""

from __future__ import annotations

import hmac
from typing import TYPE_CHECKING

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

from applets import pin as pins
from applets.apdu import CommandApdu
from applets.application import Application
from applets.crypto.pboc import Algorithm, ecb_encrypt, pad
from applets.errors import CardStatus
from applets.fs import DF
from applets.sw import SW

if TYPE_CHECKING:
    from applets.card import VirtualCard

# ssc-card.md "Selecting": ASCII "sx1.sh." followed by GBK "社会保障"
SSSE_AID = bytes.fromhex("7378312E73682EC9E7BBE1B1A3D5CF")
SSSE_FID = 0xDDF1
EF05_SFI, EF06_SFI, EF0F_SFI = 0x05, 0x06, 0x0F  # EF0F: project file, card authentication certificate

KID_SM4, KID_ECDSA = 0x01, 0x02


def sm4_cryptogram(key: bytes, challenge: bytes) -> bytes:
    return ecb_encrypt(Algorithm.SM4, key, pad(challenge, 16))


def _internal_authenticate(card: VirtualCard, cmd: CommandApdu) -> bytes:
    """INTERNAL AUTHENTICATE `00 88 00 kid Lc data Le` (ISO 7816-4 §11.5.2)."""
    if cmd.p1 != 0x00:
        raise CardStatus(SW.INCORRECT_P1P2)
    if not 1 <= len(cmd.data) <= 64:
        raise CardStatus(SW.WRONG_LENGTH)
    if cmd.p2 == KID_SM4:
        key = card.image.keys.get("ssse.auth_sm4")
        if key is None:
            raise CardStatus(SW.REFERENCED_DATA_NOT_FOUND)
        return sm4_cryptogram(key, cmd.data)
    if cmd.p2 == KID_ECDSA:
        scalar = card.image.keys.get("ssse.auth_ecdsa")
        if scalar is None:
            raise CardStatus(SW.REFERENCED_DATA_NOT_FOUND)
        private = ec.derive_private_key(int.from_bytes(scalar, "big"), ec.SECP256R1())
        der = private.sign(cmd.data, ec.ECDSA(hashes.SHA256(), deterministic_signing=True))
        r, s = decode_dss_signature(der)
        return r.to_bytes(32, "big") + s.to_bytes(32, "big")
    raise CardStatus(SW.REFERENCED_DATA_NOT_FOUND)


def _external_authenticate(card: VirtualCard, cmd: CommandApdu) -> bytes:
    """EXTERNAL AUTHENTICATE `00 82 00 01 Lc cryptogram` after GET CHALLENGE (ISO 7816-4 §11.5.4)."""
    if cmd.p1 != 0x00:
        raise CardStatus(SW.INCORRECT_P1P2)
    if cmd.p2 != KID_SM4 or "ssse.auth_sm4" not in card.image.keys:
        raise CardStatus(SW.REFERENCED_DATA_NOT_FOUND)
    if not cmd.data or cmd.ne:
        raise CardStatus(SW.WRONG_LENGTH)
    challenge, card.session.challenge = card.session.challenge, None  # one use per challenge
    if challenge is None:
        raise CardStatus(SW.CONDITIONS_NOT_SATISFIED)
    expected = sm4_cryptogram(card.image.keys["ssse.auth_sm4"], challenge)
    if not hmac.compare_digest(expected, cmd.data):
        raise CardStatus(SW.VERIFY_FAILED)
    card.session.scratch["ssse.external_auth"] = True
    return b""


def _change_pin(card: VirtualCard, cmd: CommandApdu) -> bytes:
    """CHANGE PIN (PBOC style) `80 5E 01 00 Lc old ‖ FF ‖ new`: old PIN checked with the VERIFY rule."""
    if cmd.p1 != 0x01 or cmd.p2 != 0x00:
        raise CardStatus(SW.INCORRECT_P1P2)
    if cmd.ne or not 5 <= len(cmd.data) <= 13:
        raise CardStatus(SW.WRONG_LENGTH)
    old, sep, new = cmd.data.partition(b"\xff")
    if not sep:
        raise CardStatus(SW.WRONG_DATA)
    old_digits = pins.decode_bcd_pin(old)
    new_digits = pins.decode_bcd_pin(new)
    pins.check_pin(card, old_digits)
    state = card.image.pin
    state.digest = state.hash(state.salt, new_digits)
    card.commit()
    return b""


class SocialSecurityApplication(Application):
    name = "ssse"
    commands = {
        (False, 0x88): _internal_authenticate,
        (False, 0x82): _external_authenticate,
        (True, 0x5E): _change_pin,
    }

    def on_select(self, card: VirtualCard, df: DF) -> None:
        if card.image.applications.get(self.name, {}).get("blocked"):
            raise CardStatus(SW.APPLICATION_BLOCKED)
