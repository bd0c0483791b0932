"""The identity check with the card (身份凭证用卡): SELECT SSSE, read EF05/EF06, check, VERIFY the PIN when
the policy asks, and authenticate the card.

Order: everything that needs no PIN comes first (application, validity dates, region, hotlist, card
authentication, SSN check digit when EF06 is readable), so a card that will be refused anyway never costs
the holder a PIN try. The counter never unblocks a PIN: a blocked PIN sends the holder to the issuer.
"""

from __future__ import annotations

import logging
from collections.abc import Container
from datetime import date

from cryptography.hazmat.primitives.asymmetric import ec

from applets.holder import CardInfo, HolderInfo, mask_ssn, ssn_valid
from applets.ssse import EF05_SFI, EF06_SFI, SSSE_AID
from applets.sw import SW
from reader.base import Reader
from terminal.cardread import EF05_TAGS, EF06_TAGS, authenticate_card, read_tlv_records, verify_pin
from terminal.errors import CardAnswerError, PinError
from terminal.hotlist import Hotlist
from terminal.identity.errors import IdentityRefused, Reason
from terminal.identity.model import Identity, IdentityPolicy
from terminal.issuer import issuer_ca_public_key
from terminal.protocol.iso import SelectByName, expect_ok

log = logging.getLogger(__name__)

_NAME_EXTENSION = 0x4E


def identify_card(
    reader: Reader,
    *,
    pin: str | None,
    policy: IdentityPolicy,
    hotlist: Hotlist,
    regions: Container[str],
    today: date,
    ca_public_key: ec.EllipticCurvePublicKey | None = None,
) -> Identity:
    """Check the holder's identity with the card in `reader` (connected). Returns an Identity with
    source "card"; raises IdentityRefused (with a Reason) when the card is not accepted. Reader errors
    (card pulled, no answer) pass through unchanged. `ca_public_key` defaults to
    data/keys/TEST-issuer-ca.pub.pem."""
    _select(reader)
    card = _read_card_info(reader)
    _check_card(card, hotlist, regions, today)

    authenticated = False
    if policy.authenticate:
        try:
            authenticate_card(reader, ca_public_key or issuer_ca_public_key(), card)
        except CardAnswerError as e:
            raise IdentityRefused(Reason.CARD_AUTH_FAILED, f"card {card.card_number}: {e}") from None
        authenticated = True

    holder = _read_holder(reader, may_need_pin=True)
    if holder is not None:
        _check_holder(holder)

    pin_verified = False
    if pin is not None or policy.require_pin or holder is None:
        if pin is None:
            why = "this check needs the holder's PIN" if policy.require_pin else "this card shows the holder record only after the PIN"
            raise IdentityRefused(Reason.PIN_REQUIRED, why)
        _verify(reader, pin)
        pin_verified = True
        if holder is None:
            holder = _read_holder(reader, may_need_pin=False)
            if holder is None:  # pragma: no cover - _read_holder raises instead
                raise IdentityRefused(Reason.CARD_UNREADABLE, "EF06 stays unreadable after VERIFY")
            _check_holder(holder)

    identity = Identity.from_holder(
        "card",
        holder.ssn,
        holder.name,
        card.card_number,
        card.region,
        card_serial=card.serial.hex().upper(),
        card_expiry=card.expiry_date,
        pin_verified=pin_verified,
        authenticated=authenticated,
    )
    log.info("identified %s", identity)
    return identity


def _select(reader: Reader) -> None:
    raw = reader.transmit(SelectByName(SSSE_AID).to_bytes())
    sw = int.from_bytes(raw[-2:], "big") if len(raw) >= 2 else None
    if sw == SW.APPLICATION_BLOCKED:
        raise IdentityRefused(Reason.APPLICATION_BLOCKED, "the card's social security application is blocked (9303): the holder must go to the card issuer")
    if sw == SW.FILE_NOT_FOUND:
        raise IdentityRefused(Reason.NO_APPLICATION, "this card has no social security application (SSSE)")
    try:
        expect_ok(raw, "SELECT SSSE")
    except CardAnswerError as e:
        raise IdentityRefused(Reason.CARD_UNREADABLE, str(e)) from None


def _read_card_info(reader: Reader) -> CardInfo:
    try:
        return CardInfo.from_records(read_tlv_records(reader, EF05_SFI, EF05_TAGS))
    except CardAnswerError as e:
        raise IdentityRefused(Reason.CARD_UNREADABLE, f"EF05: {e}") from None
    except (KeyError, ValueError, UnicodeDecodeError) as e:
        raise IdentityRefused(Reason.CARD_UNREADABLE, f"EF05 is malformed ({e})") from None


def _read_holder(reader: Reader, *, may_need_pin: bool) -> HolderInfo | None:
    """EF06, or None when it needs a PIN that has not been verified yet (and `may_need_pin`)."""
    try:
        records = read_tlv_records(reader, EF06_SFI, EF06_TAGS, optional=(_NAME_EXTENSION,))
    except CardAnswerError as e:
        if may_need_pin and e.sw == SW.SECURITY_STATUS_NOT_SATISFIED:
            return None
        raise IdentityRefused(Reason.CARD_UNREADABLE, f"EF06: {e}") from None
    try:
        return HolderInfo.from_records(records)
    except (KeyError, ValueError, UnicodeDecodeError, IndexError):
        raise IdentityRefused(Reason.CARD_UNREADABLE, "EF06 (holder information) is malformed") from None


def _check_card(card: CardInfo, hotlist: Hotlist, regions: Container[str], today: date) -> None:
    number = card.card_number
    if today > card.expiry_date:
        raise IdentityRefused(Reason.CARD_EXPIRED, f"card {number} expired on {card.expiry_date.isoformat()}")
    if today < card.issue_date:
        raise IdentityRefused(Reason.CARD_NOT_YET_VALID, f"card {number} is valid only from {card.issue_date.isoformat()}")
    if card.region not in regions:
        raise IdentityRefused(Reason.UNKNOWN_REGION, f"card {number}: region code {card.region} is not a known region")
    serial = card.serial.hex().upper()
    listed = [what for what, key in (("serial", serial), ("number", number)) if _listed(hotlist, key)]
    if listed:
        raise IdentityRefused(
            Reason.HOTLISTED,
            f"card {number} is on the hotlist (version {hotlist.version}, by card {' and '.join(listed)}): reported lost or blocked: do not accept it, send the holder to the card issuer",
        )


def _listed(hotlist: Hotlist, key: str) -> bool:
    try:
        return hotlist.contains(key)
    except ValueError:  # a card number the hotlist cannot hold cannot be listed
        return False


def _check_holder(holder: HolderInfo) -> None:
    if not ssn_valid(holder.ssn):
        raise IdentityRefused(Reason.SSN_INVALID, f"the social security number on the card ({mask_ssn(holder.ssn)}) fails the GB 11643 check digit")


def _verify(reader: Reader, pin: str) -> None:
    try:
        verify_pin(reader, pin)
    except ValueError:
        raise IdentityRefused(Reason.PIN_FORMAT, "a PIN is 4 to 12 decimal digits") from None
    except PinError as e:
        reason = Reason.PIN_BLOCKED if e.tries_left == 0 else Reason.PIN_WRONG
        raise IdentityRefused(reason, str(e), e.tries_left) from None
    except CardAnswerError as e:
        raise IdentityRefused(Reason.CARD_UNREADABLE, str(e)) from None
