"""identify_card: every demo card, and each refusal with its reason (ssc-card.md, issue 6)."""

from __future__ import annotations

import dataclasses
import hashlib
import logging
from collections.abc import Callable
from datetime import date
from pathlib import Path

import pytest

from applets.image import CardImage
from applets.tlv import Tlv
from reader.card_file import read_image
from reader.emulated import EmulatedReader
from terminal.hotlist import Hotlist
from terminal.identity import (
    COUNTER_POLICY,
    FALLBACK_REGIONS,
    LOOKUP_POLICY,
    Identity,
    IdentityPolicy,
    IdentityRefused,
    KnownRegions,
    Reason,
    identify_card,
    load_known_regions,
)
from tests.identity.helpers import TODAY, edit_image, ef, issue_variant, profile

Connect = Callable[[Path], EmulatedReader]
EMPTY = Hotlist.empty()


def identify(
    reader: EmulatedReader,
    pin: str | None = None,
    policy: IdentityPolicy = LOOKUP_POLICY,
    hotlist: Hotlist = EMPTY,
    regions: object = FALLBACK_REGIONS,
    today: date = TODAY,
) -> Identity:
    return identify_card(reader, pin=pin, policy=policy, hotlist=hotlist, regions=regions, today=today)  # type: ignore[arg-type]


def refused(fn: Callable[[], object], reason: Reason) -> IdentityRefused:
    with pytest.raises(IdentityRefused) as info:
        fn()
    assert info.value.reason is reason, f"{info.value.reason}: {info.value}"
    return info.value


def tries_left(path: Path) -> int:
    return read_image(path).pin.tries_left


DEMO = ["ayguli", "chen-xiaoyu", "li-na", "liu-yang", "wang-jianguo", "zhang-wei", "zhao-min"]


@pytest.mark.parametrize("name", DEMO)
def test_every_demo_card_identifies(name: str, cards: dict[str, Path], connect: Connect) -> None:
    p = profile(name)
    pin = "123456" if p.ef06_needs_pin else None
    identity = identify(connect(cards[name]), pin=pin, regions=load_known_regions())
    assert identity.source == "card"
    assert identity.card_number == p.card.card_number
    assert identity.card_serial == p.card.serial.hex().upper()
    assert identity.home_region == p.card.region
    assert identity.card_expiry == p.card.expiry_date
    assert identity.name == p.holder.name
    assert identity.masked_ssn == p.holder.ssn[:6] + "********" + p.holder.ssn[-4:]
    assert identity.ssn_hash == hashlib.sha256(p.holder.ssn.encode()).hexdigest()
    assert identity.authenticated and identity.pin_verified is (pin is not None)
    assert identity.holder_matches(p.holder.ssn) and not identity.holder_matches("110105194912310021")
    shown = repr(identity) + str(identity) + str(identity.masked())
    for secret in (p.holder.ssn, p.holder.name, identity.ssn_hash, p.holder.birth_date.strftime("%Y%m%d")):
        assert secret not in shown


def test_identity_is_frozen_and_checks_its_fields(cards: dict[str, Path], connect: Connect) -> None:
    identity = identify(connect(cards["zhang-wei"]))
    with pytest.raises(dataclasses.FrozenInstanceError):
        identity.pin_verified = True  # type: ignore[misc]
    with pytest.raises(ValueError, match="ssn_hash"):
        dataclasses.replace(identity, ssn_hash="31010519800315001X")
    with pytest.raises(ValueError, match="masked"):
        dataclasses.replace(identity, masked_ssn="31010519800315001X")
    assert str(identity) == "张* 310105********001X card A00000001 region 310000 (card, authenticated)"


def test_counter_policy_verifies_the_pin(cards: dict[str, Path], connect: Connect) -> None:
    identity = identify(connect(cards["zhang-wei"]), pin="123456", policy=COUNTER_POLICY)
    assert identity.pin_verified and identity.authenticated
    assert tries_left(cards["zhang-wei"]) == 3


def test_pin_required(cards: dict[str, Path], connect: Connect) -> None:
    e = refused(lambda: identify(connect(cards["zhang-wei"]), policy=COUNTER_POLICY), Reason.PIN_REQUIRED)
    assert "needs the holder's PIN" in str(e)
    e = refused(lambda: identify(connect(cards["li-na"])), Reason.PIN_REQUIRED)
    assert "only after the PIN" in str(e)


def test_expired_and_not_yet_valid(cards: dict[str, Path], connect: Connect) -> None:
    assert identify(connect(cards["zhang-wei"]), today=date(2031, 5, 31)).card_expiry == date(2031, 5, 31)
    e = refused(lambda: identify(connect(cards["zhang-wei"]), today=date(2031, 6, 1)), Reason.CARD_EXPIRED)
    assert str(e) == "card A00000001 expired on 2031-05-31"
    refused(lambda: identify(connect(cards["zhang-wei"]), today=date(2021, 5, 31)), Reason.CARD_NOT_YET_VALID)


def test_expired_card_made_by_issuing(tmp_path: Path, connect: Connect) -> None:
    path = issue_variant(tmp_path, "zhao-min", issue_date=date(2014, 1, 1), expiry_date=date(2024, 1, 1))
    refused(lambda: identify(connect(path)), Reason.CARD_EXPIRED)


def _break_check_digit(image: CardImage) -> None:
    records = ef(image, 0x0006).records
    i = next(i for i, r in enumerate(records) if r[0] == 0x08)
    records[i] = Tlv(0x08, b"310105198003150011").to_bytes()  # the right check digit is X


def test_bad_ssn_check_digit_is_refused_before_any_pin_try(cards: dict[str, Path], connect: Connect) -> None:
    edit_image(cards["zhang-wei"], _break_check_digit)
    e = refused(lambda: identify(connect(cards["zhang-wei"]), pin="123456", policy=COUNTER_POLICY), Reason.SSN_INVALID)
    assert "310105********0011" in str(e) and "19800315" not in str(e)
    assert tries_left(cards["zhang-wei"]) == 3


def test_unknown_region(tmp_path: Path, cards: dict[str, Path], connect: Connect) -> None:
    e = refused(lambda: identify(connect(cards["zhang-wei"]), regions=KnownRegions.of({"110000"})), Reason.UNKNOWN_REGION)
    assert str(e) == "card A00000001: region code 310000 is not a known region"
    nowhere = issue_variant(tmp_path, "zhang-wei", region="990100")
    refused(lambda: identify(connect(nowhere)), Reason.UNKNOWN_REGION)
    refused(lambda: identify(connect(nowhere), regions=load_known_regions()), Reason.UNKNOWN_REGION)


@pytest.mark.parametrize("listed,by", [("3100000000000001", "serial"), ("A00000001", "number"), ("3100000000000001 A00000001", "serial and number")])
def test_hotlisted_card(listed: str, by: str, cards: dict[str, Path], connect: Connect) -> None:
    hotlist = Hotlist.of(listed.split(), version=42)
    e = refused(lambda: identify(connect(cards["zhang-wei"]), pin="123456", policy=COUNTER_POLICY, hotlist=hotlist), Reason.HOTLISTED)
    assert f"card A00000001 is on the hotlist (version 42, by card {by})" in str(e)
    assert tries_left(cards["zhang-wei"]) == 3
    assert identify(connect(cards["wang-jianguo"]), hotlist=hotlist).card_number == "A00000003"


def test_blocked_application(cards: dict[str, Path], connect: Connect) -> None:
    edit_image(cards["zhao-min"], lambda image: image.applications["ssse"].update(blocked=True))
    e = refused(lambda: identify(connect(cards["zhao-min"])), Reason.APPLICATION_BLOCKED)
    assert "9303" in str(e) and "issuer" in str(e)


def test_wrong_pin_counts_down_then_blocks_and_is_never_unblocked(cards: dict[str, Path], connect: Connect) -> None:
    path = cards["zhang-wei"]
    for left in (2, 1):
        e = refused(lambda: identify(connect(path), pin="000000", policy=COUNTER_POLICY), Reason.PIN_WRONG)
        assert e.tries_left == left
        assert str(e) == f"wrong PIN, {left} tr{'y' if left == 1 else 'ies'} left"
    e = refused(lambda: identify(connect(path), pin="000000", policy=COUNTER_POLICY), Reason.PIN_BLOCKED)
    assert e.tries_left == 0 and "go to the card issuer" in str(e)
    e = refused(lambda: identify(connect(path), pin="123456", policy=COUNTER_POLICY), Reason.PIN_BLOCKED)
    assert "go to the card issuer" in str(e)
    assert tries_left(path) == 0
    assert "000000" not in str(e) and "123456" not in str(e)


def test_blocked_demo_card(cards: dict[str, Path], connect: Connect) -> None:
    e = refused(lambda: identify(connect(cards["liu-yang"]), pin="123456", policy=COUNTER_POLICY), Reason.PIN_BLOCKED)
    assert e.tries_left == 0 and "go to the card issuer to unblock it" in str(e)
    assert tries_left(cards["liu-yang"]) == 0


def test_pin_format(cards: dict[str, Path], connect: Connect) -> None:
    e = refused(lambda: identify(connect(cards["zhang-wei"]), pin="12ab", policy=COUNTER_POLICY), Reason.PIN_FORMAT)
    assert "12ab" not in str(e)
    assert tries_left(cards["zhang-wei"]) == 3


def _tamper_certificate(image: CardImage) -> None:
    cert = ef(image, 0x000F).data
    cert[len(cert) // 2] ^= 0x01


def test_tampered_certificate_fails_card_authentication(cards: dict[str, Path], connect: Connect) -> None:
    edit_image(cards["zhang-wei"], _tamper_certificate)
    e = refused(lambda: identify(connect(cards["zhang-wei"])), Reason.CARD_AUTH_FAILED)
    assert "card A00000001" in str(e)
    assert not identify(connect(cards["zhang-wei"]), policy=IdentityPolicy(authenticate=False)).authenticated


def test_card_without_its_certified_key_fails_authentication(cards: dict[str, Path], connect: Connect) -> None:
    edit_image(cards["zhang-wei"], lambda image: image.keys.update({"ssse.auth_ecdsa": bytes(31) + b"\x07"}))
    e = refused(lambda: identify(connect(cards["zhang-wei"])), Reason.CARD_AUTH_FAILED)
    assert "does not hold its certified key" in str(e)


def test_certificate_of_another_card(cards: dict[str, Path], connect: Connect) -> None:
    other = ef(read_image(cards["wang-jianguo"]), 0x000F).data
    edit_image(cards["zhang-wei"], lambda image: setattr(ef(image, 0x000F), "data", bytearray(other)))
    e = refused(lambda: identify(connect(cards["zhang-wei"])), Reason.CARD_AUTH_FAILED)
    assert "belongs to another card" in str(e)


def test_logs_show_no_ssn_name_or_pin(cards: dict[str, Path], connect: Connect, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    identify(connect(cards["zhang-wei"]), pin="123456", policy=COUNTER_POLICY)
    text = caplog.text
    assert "identified" in text
    for secret in ("31010519800315001X", "张伟", "123456"):
        assert secret not in text


def test_region_loader(tmp_path: Path) -> None:
    csv = tmp_path / "regions.csv"
    csv.write_text("# comment\ncode,name,province\n310000,上海市,上海市\n\n330100,杭州市,浙江省\n", encoding="utf-8")
    regions = load_known_regions(csv)
    assert "310000" in regions and "330100" in regions and "330000" not in regions
    csv.write_text("code,name\n310000,上海市\n31000,bad\n", encoding="utf-8")
    with pytest.raises(Exception, match=r"regions.csv:3: region code '31000' is not 6 digits"):
        load_known_regions(csv)
    fallback = load_known_regions(tmp_path / "missing.csv")
    assert fallback is FALLBACK_REGIONS
    assert "650100" in fallback and "990000" not in fallback and "31000" not in fallback and 310000 not in fallback


def test_certificate_whose_signature_ends_in_a_zero_byte_authenticates(cards: dict[str, Path], connect: Connect) -> None:
    """Regression: about 1 card in 256 has a CA signature whose last byte is 00; the terminal used to
    strip it as padding and refuse a genuine card."""
    from cryptography.hazmat.primitives.asymmetric import ec

    from applets.personalize import card_certificate, card_ecdsa_scalar
    from terminal.issuer import load_test_keys

    keys = load_test_keys()
    card = profile("zhang-wei").card
    scalar = card_ecdsa_scalar(keys.ecdsa_seed, card.serial)
    public = ec.derive_private_key(int.from_bytes(scalar, "big"), ec.SECP256R1()).public_key()
    cert = next(c for c in (card_certificate(keys.ca_private_key, card.identification_code, public) for _ in range(5000)) if c[-1] == 0)
    edit_image(cards["zhang-wei"], lambda image: setattr(ef(image, 0x000F), "data", bytearray(cert)))
    assert identify(connect(cards["zhang-wei"])).authenticated
