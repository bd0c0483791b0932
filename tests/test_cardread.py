"""terminal.cardread over the emulated reader: every demo card issued the way the terminal issues it
(terminal.issuer.issue_image, into a temporary YKT_HOME), read back field by field; blocked and wrong
PINs; card authentication against the issuer's TEST CA, and its failures."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Callable

import pytest

from applets.fs import EF
from applets.holder import ssn_check_digit, ssn_valid
from applets.image import CardImage
from applets.ssse import SSSE_FID
from applets.tlv import decode_one, encode
from reader.card_file import open_card_image, read_image, save_new_image
from reader.emulated import EmulatedReader, Faults
from terminal.cardread import authenticate_card, challenge, read_card, select_ssse, verify_pin
from terminal.demo import ensure_demo_cards, resolve_card
from terminal.errors import CardAnswerError, PinError
from terminal.issuer import demo_profile_paths, issue_image, issuer_ca_public_key, load_profile
from tests.cards_fixtures import DEMO_NAMES, custom_image, demo_profile, det_entropy, h


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "home"
    folder.mkdir()
    monkeypatch.setenv("YKT_HOME", str(folder))
    return folder


def issued_path(home: Path, name: str, edit: Callable[[CardImage], None] | None = None) -> Path:
    image = issue_image(load_profile(Path(__file__).resolve().parent.parent / "data" / "cards" / f"{name}.toml"))
    if edit is not None:
        edit(image)
    path = home / "cards" / f"{name}.card.json"
    save_new_image(path, image)
    return path


def reader_for(path: Path, faults: Faults | None = None) -> EmulatedReader:
    reader = EmulatedReader(open_card_image(path, entropy=det_entropy()), faults=faults)
    reader.connect()
    return reader


def ef0f(image: CardImage) -> EF:
    ef = image.mf.child(SSSE_FID).child(0x000F)  # type: ignore[union-attr]
    assert isinstance(ef, EF)
    return ef


# ---- reading ----


def test_every_demo_profile_is_covered() -> None:
    assert sorted(p.stem for p in demo_profile_paths()) == list(DEMO_NAMES)
    assert len(DEMO_NAMES) >= 7


@pytest.mark.parametrize("name", DEMO_NAMES)
def test_read_card_matches_the_profile(home: Path, name: str) -> None:
    profile = demo_profile(name)
    reader = reader_for(issued_path(home, name))
    result = read_card(reader)
    assert result.card == profile.card
    assert result.card.card_number == profile.card.card_number
    assert result.card.serial == profile.card.serial
    assert not result.pin_verified
    if profile.ef06_needs_pin:
        assert result.holder is None and result.holder_needs_pin
    else:
        holder = result.holder
        assert holder is not None and not result.holder_needs_pin
        assert holder == profile.holder
        assert (holder.ssn, holder.name, holder.sex, holder.ethnicity, holder.birth_place, holder.birth_date) == (
            profile.holder.ssn,
            profile.holder.name,
            profile.holder.sex,
            profile.holder.ethnicity,
            profile.holder.birth_place,
            profile.holder.birth_date,
        )
        assert ssn_valid(holder.ssn)
        assert holder.ssn[17] == ssn_check_digit(holder.ssn[:17])
        assert holder.birth_date.strftime("%Y%m%d") == holder.ssn[6:14]  # GB 11643: birth date inside
        assert holder.masked_ssn.startswith(holder.ssn[:6]) and "*" in holder.masked_ssn


@pytest.mark.parametrize("name", [n for n in DEMO_NAMES if n != "liu-yang"])
def test_read_card_with_the_pin(home: Path, name: str) -> None:
    reader = reader_for(issued_path(home, name))
    result = read_card(reader, pin=demo_profile(name).pin)
    assert result.pin_verified
    assert result.holder == demo_profile(name).holder
    assert not result.holder_needs_pin


def test_long_name_card_reads_the_whole_name(home: Path) -> None:
    result = read_card(reader_for(issued_path(home, "ayguli")))
    assert result.holder is not None
    assert result.holder.name == "阿依古丽·买买提艾力·阿不都热合曼"


def test_blocked_pin_card_liu_yang(home: Path) -> None:
    reader = reader_for(issued_path(home, "liu-yang"))
    with pytest.raises(PinError) as exc:
        read_card(reader, pin="123456")
    assert exc.value.tries_left == 0
    assert "issuer" in str(exc.value)
    # without a PIN the card still reads (its EF06 needs none)
    assert read_card(reader).holder == demo_profile("liu-yang").holder


def test_wrong_pin_reports_the_tries_left_and_persists(home: Path) -> None:
    path = issued_path(home, "li-na")
    reader = reader_for(path)
    with pytest.raises(PinError) as exc:
        read_card(reader, pin="000000")
    assert exc.value.tries_left == 2
    assert read_image(path).pin.tries_left == 2
    with pytest.raises(PinError) as exc:
        verify_pin(reader, "000000")
    assert exc.value.tries_left == 1
    with pytest.raises(PinError) as exc:
        verify_pin(reader, "000000")
    assert exc.value.tries_left == 0
    with pytest.raises(PinError) as exc:
        verify_pin(reader, "123456")
    assert exc.value.tries_left == 0


def test_a_card_without_ssse(tmp_path: Path) -> None:
    path = tmp_path / "custom.card.json"
    save_new_image(path, custom_image())
    with pytest.raises(CardAnswerError, match="no social security application") as exc:
        read_card(reader_for(path))
    assert exc.value.sw == 0x6A82


def test_challenge(home: Path) -> None:
    reader = reader_for(issued_path(home, "zhang-wei"))
    select_ssse(reader)
    assert len(challenge(reader)) == 8
    assert len(challenge(reader, 16)) == 16


def test_a_record_with_the_wrong_tag_is_refused(home: Path) -> None:
    def swap_tag(n: int, command: bytes, response: bytes) -> bytes:
        if command[1] == 0xB2 and command[2] == 0x03:  # EF05 tag 03 answered as tag 04
            return bytes([0x04]) + response[1:]
        return response

    reader = reader_for(issued_path(home, "zhang-wei"), Faults(corrupt_response=swap_tag))
    with pytest.raises(CardAnswerError, match="carries tag 04"):
        read_card(reader)


def test_a_record_that_is_not_tlv_is_refused(home: Path) -> None:
    def truncate(n: int, command: bytes, response: bytes) -> bytes:
        if command[1] == 0xB2 and command[2] == 0x01:
            return response[:3] + response[-2:]
        return response

    reader = reader_for(issued_path(home, "zhang-wei"), Faults(corrupt_response=truncate))
    with pytest.raises(CardAnswerError, match="not a TLV record"):
        read_card(reader)


def test_a_malformed_ef05_value_is_refused(home: Path) -> None:
    def bad_date(n: int, command: bytes, response: bytes) -> bytes:
        if command[1] == 0xB2 and command[2] == 0x05:  # issue date
            return h("0504") + b"ABCD" + response[-2:]
        return response

    reader = reader_for(issued_path(home, "zhang-wei"), Faults(corrupt_response=bad_date))
    with pytest.raises(CardAnswerError, match="EF05 is malformed"):
        read_card(reader)


# ---- card authentication ----


@pytest.mark.parametrize("name", DEMO_NAMES)
def test_authenticate_card_succeeds(home: Path, name: str) -> None:
    reader = reader_for(issued_path(home, name))
    result = read_card(reader)
    authenticate_card(reader, issuer_ca_public_key(), result.card)  # raises CardAnswerError on failure


def _flip_in_cert(tag: int) -> Callable[[CardImage], None]:
    def edit(image: CardImage) -> None:
        ef = ef0f(image)
        cert = decode_one(bytes(ef.data))
        kids = [t for t in cert.children()]
        out = b""
        for t in kids:
            value = t.value
            if t.tag == tag:
                value = value[:-1] + bytes([value[-1] ^ 0x01])
            out += encode(t.tag, value)
        ef.data = bytearray(encode(cert.tag, out))

    return edit


@pytest.mark.parametrize(("tag", "message"), [(0x5A, "not signed by the issuer CA"), (0x5F37, "not signed by the issuer CA|malformed")])
def test_a_tampered_certificate_is_refused(home: Path, tag: int, message: str) -> None:
    reader = reader_for(issued_path(home, "zhang-wei", _flip_in_cert(tag)))
    result = read_card(reader)
    with pytest.raises(CardAnswerError, match=message):
        authenticate_card(reader, issuer_ca_public_key(), result.card)


def test_a_tampered_public_key_is_refused(home: Path) -> None:
    """Swap in another card's public key: the CA signature no longer covers it."""
    other = issue_image(demo_profile("li-na"))

    def edit(image: CardImage) -> None:
        mine = decode_one(bytes(ef0f(image).data))
        theirs = decode_one(bytes(ef0f(other).data))
        point = {t.tag: t.value for t in theirs.children()}[0x86]
        kids = {t.tag: t.value for t in mine.children()}
        body = encode(0x5A, kids[0x5A]) + encode(0x86, point) + encode(0x5F37, kids[0x5F37])
        ef0f(image).data = bytearray(encode(0x7F21, body))

    reader = reader_for(issued_path(home, "zhang-wei", edit))
    result = read_card(reader)
    with pytest.raises(CardAnswerError, match="not signed by the issuer CA"):
        authenticate_card(reader, issuer_ca_public_key(), result.card)


def test_another_cards_certificate_is_refused(home: Path) -> None:
    """A genuine certificate, but of another card (a cloned EF0F)."""
    other = issue_image(demo_profile("li-na"))

    def edit(image: CardImage) -> None:
        ef0f(image).data = bytearray(ef0f(other).data)

    reader = reader_for(issued_path(home, "zhang-wei", edit))
    result = read_card(reader)
    with pytest.raises(CardAnswerError, match="belongs to another card"):
        authenticate_card(reader, issuer_ca_public_key(), result.card)


def test_a_certificate_that_is_not_tlv_is_refused(home: Path) -> None:
    def edit(image: CardImage) -> None:
        ef0f(image).data = bytearray(h("7F2105AABB"))

    reader = reader_for(issued_path(home, "zhang-wei", edit))
    result = read_card(reader)
    with pytest.raises(CardAnswerError, match="malformed"):
        authenticate_card(reader, issuer_ca_public_key(), result.card)


def test_a_card_that_does_not_hold_its_key_is_refused(home: Path) -> None:
    """The certificate is genuine, but the card signs with another key (a clone without the key)."""
    other = issue_image(demo_profile("li-na"))

    def edit(image: CardImage) -> None:
        image.keys["ssse.auth_ecdsa"] = other.keys["ssse.auth_ecdsa"]

    reader = reader_for(issued_path(home, "zhang-wei", edit))
    result = read_card(reader)
    with pytest.raises(CardAnswerError, match="does not hold its certified key"):
        authenticate_card(reader, issuer_ca_public_key(), result.card)


def test_a_wrong_signature_from_the_card_is_refused(home: Path) -> None:
    def corrupt_signature(n: int, command: bytes, response: bytes) -> bytes:
        if command[1] == 0x88 and len(response) > 2:
            return bytes([response[0] ^ 0x80]) + response[1:]
        return response

    reader = reader_for(issued_path(home, "zhang-wei"), Faults(corrupt_response=corrupt_signature))
    result = read_card(reader)
    with pytest.raises(CardAnswerError, match="does not hold its certified key"):
        authenticate_card(reader, issuer_ca_public_key(), result.card)


def test_a_short_signature_from_the_card_is_refused(home: Path) -> None:
    def cut(n: int, command: bytes, response: bytes) -> bytes:
        return response[:32] + response[-2:] if command[1] == 0x88 else response

    reader = reader_for(issued_path(home, "zhang-wei"), Faults(corrupt_response=cut))
    result = read_card(reader)
    with pytest.raises(CardAnswerError, match="expected 64"):
        authenticate_card(reader, issuer_ca_public_key(), result.card)


def test_authentication_is_against_the_given_card_info(home: Path) -> None:
    reader = reader_for(issued_path(home, "zhang-wei"))
    result = read_card(reader)
    someone_else = replace(result.card, serial=bytes(8))
    with pytest.raises(CardAnswerError, match="belongs to another card"):
        authenticate_card(reader, issuer_ca_public_key(), someone_else)


# ---- the demo cards in the terminal's home ----


def test_ensure_demo_cards_issues_every_profile_once(home: Path) -> None:
    paths = ensure_demo_cards()
    assert [p.name for p in paths] == [f"{n}.card.json" for n in DEMO_NAMES]
    assert all(p.parent == home / "cards" for p in paths)
    # state persists: a second call keeps the images (and their PIN counters)
    reader = reader_for(paths[0])
    with pytest.raises(PinError):
        verify_pin(reader, "000000")
    before = paths[0].read_bytes()
    assert ensure_demo_cards() == paths
    assert paths[0].read_bytes() == before
    assert read_image(paths[0]).pin.tries_left == 2
    assert resolve_card("zhang-wei") == home / "cards" / "zhang-wei.card.json"
    assert resolve_card("./x.card.json") == Path("./x.card.json")


def test_a_certificate_whose_signature_ends_in_00_authenticates(home: Path) -> None:
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec

    from tests.cards_fixtures import issuer_keys

    def edit(image: CardImage) -> None:
        kids = {t.tag: t.value for t in decode_one(bytes(ef0f(image).data)).children()}
        signed = encode(0x5A, kids[0x5A]) + encode(0x86, kids[0x86])
        ca = issuer_keys().ca_private_key
        for _ in range(20_000):  # ECDSA signatures are randomised: draw until the DER ends in 00
            signature = ca.sign(signed, ec.ECDSA(hashes.SHA256()))
            if signature[-1] == 0x00:
                break
        else:
            pytest.skip("no signature ending in 00 found")
        ef0f(image).data = bytearray(encode(0x7F21, signed + encode(0x5F37, signature)))
        # still a genuine certificate of this card
        issuer_ca_public_key().verify(signature, signed, ec.ECDSA(hashes.SHA256()))

    reader = reader_for(issued_path(home, "zhang-wei", edit))
    result = read_card(reader)
    authenticate_card(reader, issuer_ca_public_key(), result.card)
