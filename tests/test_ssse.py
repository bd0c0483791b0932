"""DF SSSE, the social security application, exactly as /work/shared/reference/ssc-card.md describes it:
SELECT by DF name, EF05/EF06 records, VERIFY and the try counter (also under tearing), CHANGE PIN,
GET CHALLENGE, INTERNAL/EXTERNAL AUTHENTICATE, and the EF06-needs-PIN profile."""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from applets.card import MemoryStorage, VirtualCard
from applets.crypto.pboc import Algorithm, diversify
from applets.errors import PowerLost
from applets.holder import CardInfo, HolderInfo, parse_record, ssn_valid
from applets.image import CardImage, PinState
from applets.ssse import SSSE_AID, SSSE_FID, sm4_cryptogram
from applets.sw import SW
from applets.tlv import decode, decode_one
from reader.card_file import TearingStorage
from reader.emulated import EmulatedReader
from terminal.cardread import authenticate_card
from terminal.issuer import issuer_ca_public_key
from tests.cards_fixtures import (
    DEFAULT_PIN,
    DEMO_NAMES,
    SELECT_SSSE,
    SELECT_SSSE_FCI,
    change_pin_apdu,
    card_from_bytes,
    demo_card,
    demo_image_bytes,
    demo_profile,
    det_entropy,
    h,
    issuer_keys,
    read_record_apdu,
    send,
    sw_of,
    verify_apdu,
)

EF05_LENGTHS = {0x01: 16, 0x02: 1, 0x03: 4, 0x04: 12, 0x05: 4, 0x06: 4, 0x07: 9}
EF06_LENGTHS = {0x08: 18, 0x09: 30, 0x0A: 1, 0x0B: 1, 0x0C: 3, 0x0D: 4}
WRONG_PIN = "654321"


def ssse_card(name: str = "zhang-wei") -> tuple[VirtualCard, MemoryStorage]:
    card, storage = demo_card(name)
    assert sw_of(card, SELECT_SSSE) == SW.OK
    return card, storage


def stored_tries(storage: MemoryStorage | TearingStorage) -> int:
    raw = storage.inner.image if isinstance(storage, TearingStorage) else storage.image  # type: ignore[attr-defined]
    return CardImage.from_bytes(raw).pin.tries_left


def read_tlv_record(card: VirtualCard, sfi: int, tag: int) -> tuple[int, bytes]:
    data, sw = send(card, read_record_apdu(sfi, tag))
    assert sw == SW.OK, f"EF{sfi:02X} tag {tag:02X}: {sw:04X}"
    return parse_record(data)


# ---- selecting ----


def test_aid_is_sx1_sh_and_gbk_shebao() -> None:
    assert SSSE_AID == b"sx1.sh." + "社会保障".encode("gbk")
    assert SSSE_AID.hex().upper() == "7378312E73682EC9E7BBE1B1A3D5CF"


def test_select_by_df_name_answers_9000() -> None:
    card, _ = demo_card()
    assert card.process(h("00A404000F7378312E73682EC9E7BBE1B1A3D5CF")) == h("9000")
    assert card.session.current_df.fid == SSSE_FID
    assert card.session.application is not None and card.session.application.name == "ssse"


def test_select_fci_names_the_application() -> None:
    card, _ = demo_card()
    data, sw = send(card, SELECT_SSSE_FCI)
    assert sw == SW.OK
    fields = {t.tag: t.value for t in decode(decode_one(data).value)}
    assert fields[0x84] == SSSE_AID
    assert fields[0x83] == SSSE_FID.to_bytes(2, "big")


@pytest.mark.parametrize("aid", ["D15600000503", "D15600000590", "7378312E73682E"])
def test_absent_applications_answer_6a82(aid: str) -> None:
    card, _ = demo_card()
    assert sw_of(card, "00A4040C" + f"{len(h(aid)):02X}" + aid) == SW.FILE_NOT_FOUND


def test_a_blocked_application_answers_9303() -> None:
    image = CardImage.from_bytes(demo_image_bytes("zhang-wei"))
    image.applications["ssse"]["blocked"] = True
    card, _ = card_from_bytes(image.to_bytes())
    assert sw_of(card, SELECT_SSSE) == SW.APPLICATION_BLOCKED
    assert card.session.current_df.fid == 0x3F00


# ---- EF05 / EF06 ----


@pytest.mark.parametrize("name", DEMO_NAMES)
def test_ef05_every_tag_as_the_spec_lists_it(name: str) -> None:
    card, _ = ssse_card(name)
    profile = demo_profile(name)
    records: dict[int, bytes] = {}
    for tag, length in EF05_LENGTHS.items():
        got_tag, value = read_tlv_record(card, 0x05, tag)
        assert got_tag == tag
        assert len(value) == length, f"tag {tag:02X}"
        records[tag] = value
    ident = records[0x01]
    assert ident[:3] == bytes.fromhex(profile.card.region)
    assert ident[3:8] == h("D156000005")
    assert ident[8:] == profile.card.serial
    assert records[0x02] == b"1"
    assert records[0x03] in (b"1.00", b"2.00", b"3.00")
    assert records[0x07] == profile.card.card_number.encode("ascii")
    assert CardInfo.from_records(records) == profile.card


@pytest.mark.parametrize("name", [n for n in DEMO_NAMES if not demo_profile(n).ef06_needs_pin])
def test_ef06_every_tag_as_the_spec_lists_it(name: str) -> None:
    card, _ = ssse_card(name)
    profile = demo_profile(name)
    records: dict[int, bytes] = {}
    for tag, length in EF06_LENGTHS.items():
        got_tag, value = read_tlv_record(card, 0x06, tag)
        assert got_tag == tag
        assert len(value) == length, f"tag {tag:02X}"
        records[tag] = value
    data, sw = send(card, read_record_apdu(0x06, 0x4E))
    if sw == SW.OK:
        tag, value = parse_record(data)
        assert tag == 0x4E and len(value) == 20
        records[0x4E] = value
    else:
        assert sw == SW.RECORD_NOT_FOUND
        assert len(profile.holder.name.encode("gbk")) <= 30
    holder = HolderInfo.from_records(records)
    assert holder == profile.holder
    assert ssn_valid(records[0x08].decode("ascii"))
    assert records[0x0A] in (b"1", b"2")
    # the name is GBK, padded with 00 to 30 bytes
    name_bytes = records[0x09].rstrip(b"\x00") + records.get(0x4E, b"").rstrip(b"\x00")
    assert name_bytes.decode("gbk") == profile.holder.name
    assert name_bytes == profile.holder.name.encode("gbk")


def test_long_name_continues_in_tag_4e() -> None:
    card, _ = ssse_card("ayguli")
    name = demo_profile("ayguli").holder.name
    assert len(name.encode("gbk")) > 30
    _, head = read_tlv_record(card, 0x06, 0x09)
    tag, ext = read_tlv_record(card, 0x06, 0x4E)
    assert tag == 0x4E
    assert len(head) == 30 and len(ext) == 20
    assert (head.rstrip(b"\x00") + ext.rstrip(b"\x00")).decode("gbk") == name
    # the split is on a character boundary: each part decodes on its own
    head.rstrip(b"\x00").decode("gbk")
    ext.rstrip(b"\x00").decode("gbk")


def test_read_record_answers_the_whole_tlv_record() -> None:
    card, _ = ssse_card()
    data, sw = send(card, "00B2072C00")  # EF05 tag 07 by number
    assert sw == SW.OK
    assert data == h("0709") + demo_profile("zhang-wei").card.card_number.encode("ascii")
    assert send(card, "00B2072800") == (data, SW.OK)  # by identifier, first occurrence


@pytest.mark.parametrize(
    ("apdu", "sw"),
    [
        ("00B2082C00", SW.RECORD_NOT_FOUND),  # EF05 has no tag 08
        ("00B2013400", SW.RECORD_NOT_FOUND),  # EF06 has no tag 01
        ("00B2015400", SW.FILE_NOT_FOUND),  # no SFI 0A
        ("00B2017C00", SW.COMMAND_INCOMPATIBLE),  # EF0F is transparent
    ],
)
def test_record_errors(apdu: str, sw: int) -> None:
    card, _ = ssse_card()
    assert sw_of(card, apdu) == sw


def test_records_cannot_be_written() -> None:
    card, storage = ssse_card()
    assert sw_of(card, verify_apdu(DEFAULT_PIN)) == SW.OK  # even with the PIN verified
    before = storage.image
    assert sw_of(card, "00DC072C0B0709413030303030303039") == SW.SECURITY_STATUS_NOT_SATISFIED
    assert sw_of(card, "00D68F0001FF") == SW.SECURITY_STATUS_NOT_SATISFIED
    assert storage.image == before


# ---- EF06 needs a PIN (li-na) ----


def test_ef06_needs_pin_profile() -> None:
    card, _ = ssse_card("li-na")
    assert demo_profile("li-na").ef06_needs_pin
    assert sw_of(card, read_record_apdu(0x05, 0x07)) == SW.OK  # EF05 stays readable
    for tag in EF06_LENGTHS:
        assert sw_of(card, read_record_apdu(0x06, tag)) == SW.SECURITY_STATUS_NOT_SATISFIED
    assert sw_of(card, verify_apdu(WRONG_PIN)) == 0x63C2
    assert sw_of(card, read_record_apdu(0x06, 0x08)) == SW.SECURITY_STATUS_NOT_SATISFIED
    assert sw_of(card, verify_apdu(DEFAULT_PIN)) == SW.OK
    records = dict(read_tlv_record(card, 0x06, tag) for tag in EF06_LENGTHS)
    assert HolderInfo.from_records(records) == demo_profile("li-na").holder
    # a new power-on forgets the verification
    card.power_off()
    card.power_on()
    assert sw_of(card, SELECT_SSSE) == SW.OK
    assert sw_of(card, read_record_apdu(0x06, 0x08)) == SW.SECURITY_STATUS_NOT_SATISFIED


# ---- VERIFY ----


def test_default_pin_is_123456() -> None:
    for name in DEMO_NAMES:
        assert demo_profile(name).pin == "123456"


def test_verify_right_pin() -> None:
    card, storage = ssse_card()
    assert card.process(h("0020000003123456")) == h("9000")
    assert card.session.pin_verified
    assert stored_tries(storage) == 3


def test_wrong_pin_counts_down_then_blocks() -> None:
    card, storage = ssse_card()
    assert [sw_of(card, verify_apdu(WRONG_PIN)) for _ in range(3)] == [0x63C2, 0x63C1, 0x63C0]
    assert stored_tries(storage) == 0
    assert sw_of(card, verify_apdu(WRONG_PIN)) == SW.AUTH_METHOD_BLOCKED
    assert sw_of(card, verify_apdu(DEFAULT_PIN)) == SW.AUTH_METHOD_BLOCKED  # the right PIN too
    assert sw_of(card, "00200000") == SW.AUTH_METHOD_BLOCKED
    assert not card.session.pin_verified
    # the counter never unblocks, not even after a power cycle
    card.power_off()
    card.power_on()
    assert sw_of(card, verify_apdu(DEFAULT_PIN)) == SW.AUTH_METHOD_BLOCKED
    assert stored_tries(storage) == 0


def test_right_pin_resets_the_counter() -> None:
    card, storage = ssse_card()
    assert sw_of(card, verify_apdu(WRONG_PIN)) == 0x63C2
    assert sw_of(card, verify_apdu(WRONG_PIN)) == 0x63C1
    assert stored_tries(storage) == 1
    assert sw_of(card, verify_apdu(DEFAULT_PIN)) == SW.OK
    assert stored_tries(storage) == 3
    assert sw_of(card, verify_apdu(WRONG_PIN)) == 0x63C2


def test_verify_without_data_reports_the_counter() -> None:
    card, _ = ssse_card()
    assert sw_of(card, "00200000") == 0x63C3
    assert sw_of(card, verify_apdu(WRONG_PIN)) == 0x63C2
    assert sw_of(card, "00200000") == 0x63C2
    assert sw_of(card, verify_apdu(DEFAULT_PIN)) == SW.OK
    assert sw_of(card, "00200000") == SW.OK  # already verified in this session


def test_blocked_demo_card_liu_yang() -> None:
    card, _ = ssse_card("liu-yang")
    assert sw_of(card, "00200000") == SW.AUTH_METHOD_BLOCKED
    assert sw_of(card, verify_apdu(DEFAULT_PIN)) == SW.AUTH_METHOD_BLOCKED


@pytest.mark.parametrize(
    ("apdu", "sw"),
    [
        ("0020010003123456", SW.INCORRECT_P1P2),
        ("0020000103123456", SW.REFERENCED_DATA_NOT_FOUND),
        ("0020008103123456", SW.REFERENCED_DATA_NOT_FOUND),
        ("002000000112", SW.WRONG_LENGTH),  # 1 byte: too short
        ("002000000712345612345612", SW.WRONG_LENGTH),  # 7 bytes: too long
        ("00200000031234AB", SW.WRONG_DATA),  # not BCD
        ("0020000003FFFFFF", SW.WRONG_DATA),  # padding only
        ("002000000312345600", SW.WRONG_LENGTH),  # Le present
    ],
)
def test_malformed_verify_costs_no_try(apdu: str, sw: int) -> None:
    card, storage = ssse_card()
    assert sw_of(card, apdu) == sw
    assert stored_tries(storage) == 3
    assert sw_of(card, "00200000") == 0x63C3


def test_pin_padded_with_f_nibbles() -> None:
    image = CardImage.from_bytes(demo_image_bytes("zhang-wei"))
    image.pin = PinState.create("12345", b"\x01" * 16)
    card, _ = card_from_bytes(image.to_bytes())
    assert sw_of(card, "00200000031234 5F".replace(" ", "")) == SW.OK


# ---- the try counter under tearing ----


def tearing_card(
    name: str, tear_at_save: int, after_write: bool, image: bytes | None = None
) -> tuple[VirtualCard, MemoryStorage]:
    inner = MemoryStorage(image if image is not None else demo_image_bytes(name))
    card = VirtualCard(TearingStorage(inner, tear_at_save, after_write), det_entropy("tear"))
    card.power_on()
    return card, inner


@pytest.mark.parametrize("pin", [WRONG_PIN, DEFAULT_PIN], ids=["wrong", "right"])
def test_tear_at_the_first_save_after_write_keeps_the_decrement(pin: str) -> None:
    """The decrement is the first save of a VERIFY: once it happened, a torn card has lost the try."""
    card, inner = tearing_card("zhang-wei", tear_at_save=1, after_write=True)
    with pytest.raises(PowerLost):
        card.process(verify_apdu(pin))
    assert CardImage.from_bytes(inner.image).pin.tries_left == 2
    card.power_on()
    assert card.image.pin.tries_left == 2
    assert not card.session.pin_verified
    assert sw_of(card, "00200000") == 0x63C2


@pytest.mark.parametrize("pin", [WRONG_PIN, DEFAULT_PIN], ids=["wrong", "right"])
def test_tear_before_the_first_save_answers_nothing_and_changes_nothing(pin: str) -> None:
    """Torn before the decrement reached memory: no answer came out, so no information about the PIN."""
    card, inner = tearing_card("zhang-wei", tear_at_save=1, after_write=False)
    with pytest.raises(PowerLost):
        card.process(verify_apdu(pin))
    assert CardImage.from_bytes(inner.image).pin.tries_left == 3
    card.power_on()
    assert card.image.pin.tries_left == 3
    assert not card.session.pin_verified


@pytest.mark.parametrize("after_write", [False, True])
def test_tear_at_the_reset_of_a_right_verify(after_write: bool) -> None:
    card, inner = tearing_card("zhang-wei", tear_at_save=2, after_write=after_write)
    with pytest.raises(PowerLost):
        card.process(verify_apdu(DEFAULT_PIN))
    card.power_on()
    assert card.image.pin.tries_left == (3 if after_write else 2)
    assert not card.session.pin_verified  # torn: the verification never completed


def test_a_wrong_verify_answers_only_after_the_decrement_is_stored() -> None:
    """Spy on the storage: the image holding tries-1 is saved before process() returns 63Cx."""
    events: list[str] = []

    class Spy(MemoryStorage):
        def save(self, image: bytes) -> None:
            events.append(f"save tries={CardImage.from_bytes(image).pin.tries_left}")
            super().save(image)

    card = VirtualCard(Spy(demo_image_bytes("zhang-wei")), det_entropy())
    card.power_on()
    answer = card.process(verify_apdu(WRONG_PIN))
    events.append(f"answer {answer.hex().upper()}")
    assert events == ["save tries=2", "answer 63C2"]
    events.clear()
    card.process(verify_apdu(DEFAULT_PIN))
    assert events == ["save tries=1", "save tries=3"]


# (PIN right?, tear at save n, after the write?) → tries stored afterwards, relative to the start ("max" = reset)
_TORN = {
    (False, 1, False): 0,  # torn before the decrement reached memory: no answer left the card
    (False, 1, True): -1,
    (True, 1, False): 0,
    (True, 1, True): -1,  # the decrement is stored, the reset never happens
    (True, 2, False): -1,
    (True, 2, True): "max",  # the reset was written: the right PIN's own doing, not the tearing's
}


@pytest.mark.parametrize("right", [False, True], ids=["wrong", "right"])
@pytest.mark.parametrize("start_tries", [3, 2, 1])
def test_tearing_never_gives_a_try_back(right: bool, start_tries: int) -> None:
    image = CardImage.from_bytes(demo_image_bytes("zhang-wei"))
    image.pin.tries_left = start_tries
    raw = image.to_bytes()
    pin = DEFAULT_PIN if right else WRONG_PIN
    for tear_at in (1, 2, 3):
        for after_write in (False, True):
            card, inner = tearing_card("zhang-wei", tear_at, after_write, image=raw)
            try:
                answer: bytes | None = card.process(verify_apdu(pin))
            except PowerLost:
                answer = None
            card.power_on()  # reloads the last committed image
            tries = card.image.pin.tries_left
            assert tries == CardImage.from_bytes(inner.image).pin.tries_left
            where = f"tear at save {tear_at}, after_write={after_write}"
            expected = _TORN.get((right, tear_at, after_write))
            if expected is None:  # not torn: the command ran to its answer
                assert answer == (h("9000") if right else (0x63C0 | (start_tries - 1)).to_bytes(2, "big")), where
                assert tries == (3 if right else start_tries - 1), where
            else:
                assert answer is None, where
                assert tries == (3 if expected == "max" else start_tries + expected), where
                if not right:
                    assert tries <= start_tries, where  # a wrong PIN never wins a try back
                assert not card.session.pin_verified


# ---- CHANGE PIN ----


def test_change_pin_with_the_right_old_pin() -> None:
    card, storage = ssse_card()
    assert card.process(change_pin_apdu(DEFAULT_PIN, "246810")) == h("9000")
    assert card.process(h("805E010007123456FF246810")) == h("63C2")  # the old PIN is gone
    assert sw_of(card, verify_apdu("246810")) == SW.OK
    assert stored_tries(storage) == 3
    # persisted: a fresh power-on still has the new PIN
    card.power_off()
    card.power_on()
    assert sw_of(card, verify_apdu(DEFAULT_PIN)) == 0x63C2
    assert sw_of(card, verify_apdu("246810")) == SW.OK


def test_change_pin_with_a_wrong_old_pin_counts_and_keeps_the_pin() -> None:
    card, storage = ssse_card()
    assert sw_of(card, change_pin_apdu(WRONG_PIN, "111111")) == 0x63C2
    assert stored_tries(storage) == 2
    assert sw_of(card, verify_apdu("111111")) == 0x63C1
    assert sw_of(card, verify_apdu(DEFAULT_PIN)) == SW.OK


def test_change_pin_when_blocked() -> None:
    card, _ = ssse_card("liu-yang")
    assert sw_of(card, change_pin_apdu(DEFAULT_PIN, "111111")) == SW.AUTH_METHOD_BLOCKED


@pytest.mark.parametrize(
    ("apdu", "sw"),
    [
        ("805E000007123456FF654321", SW.INCORRECT_P1P2),
        ("805E010107123456FF654321", SW.INCORRECT_P1P2),
        ("805E010006123456654321", SW.WRONG_DATA),  # no FF separator
        ("805E010004123456FF", SW.WRONG_LENGTH),  # too short
        ("805E010007123456FF65432100", SW.WRONG_LENGTH),  # Le present
        ("805E01000712345AFF654321", SW.WRONG_DATA),  # old PIN not BCD
        ("805E010005FF12345678", SW.WRONG_LENGTH),  # no old PIN
    ],
)
def test_change_pin_malformed(apdu: str, sw: int) -> None:
    card, storage = ssse_card()
    assert sw_of(card, apdu) == sw
    assert stored_tries(storage) == 3
    assert sw_of(card, verify_apdu(DEFAULT_PIN)) == SW.OK


def test_change_pin_in_the_mac_class_84() -> None:
    card, _ = ssse_card()
    raw = bytearray(change_pin_apdu(DEFAULT_PIN, "135790"))
    raw[0] = 0x84
    assert sw_of(card, bytes(raw)) == SW.OK
    assert sw_of(card, verify_apdu("135790")) == SW.OK


# ---- GET CHALLENGE ----


@pytest.mark.parametrize("n", [4, 8, 16])
def test_get_challenge_lengths(n: int) -> None:
    card, _ = ssse_card()
    first, sw = send(card, f"00840000{n:02X}")
    assert sw == SW.OK and len(first) == n
    second, _ = send(card, f"00840000{n:02X}")
    assert len(second) == n and second != first
    assert card.session.challenge == second


def test_challenges_come_from_the_entropy_handed_to_the_card() -> None:
    storage = MemoryStorage(demo_image_bytes("zhang-wei"))
    card = VirtualCard(storage, det_entropy("same"))
    expected = det_entropy("same")(8)
    assert send(card, "0084000008") == (expected, SW.OK)


@pytest.mark.parametrize("apdu", ["0084000001", "0084000005", "0084000007", "0084000020", "0084000000", "00840000", "008400000112 08"])
def test_get_challenge_other_lengths_are_6700(apdu: str) -> None:
    card, _ = ssse_card()
    assert sw_of(card, apdu.replace(" ", "")) == SW.WRONG_LENGTH


def test_get_challenge_p1_p2() -> None:
    card, _ = ssse_card()
    assert sw_of(card, "0084010008") == SW.INCORRECT_P1P2
    assert sw_of(card, "0084000108") == SW.INCORRECT_P1P2


# ---- INTERNAL AUTHENTICATE ----


def test_internal_authenticate_sm4_kid_01() -> None:
    card, _ = ssse_card()
    challenge = h("0102030405060708")
    data, sw = send(card, "0088000108" + challenge.hex() + "00")
    assert sw == SW.OK
    key = card.image.keys["ssse.auth_sm4"]
    assert data == sm4_cryptogram(key, challenge)
    # the key is the TEST master diversified with the card serial
    assert key == diversify(Algorithm.SM4, issuer_keys().ssse_auth_master, demo_profile("zhang-wei").card.serial)
    # and the cryptogram is SM4-ECB of the challenge padded by ISO 9797-1 method 2
    enc = Cipher(algorithms.SM4(key), modes.ECB()).encryptor()
    assert data == enc.update(challenge + b"\x80" + bytes(7)) + enc.finalize()


def test_internal_authenticate_sm4_differs_per_card() -> None:
    a, _ = ssse_card("zhang-wei")
    b, _ = ssse_card("li-na")
    apdu = "0088000108" + "11" * 8 + "00"
    assert send(a, apdu)[0] != send(b, apdu)[0]


def test_internal_authenticate_ecdsa_kid_02_verifies_under_the_certified_key() -> None:
    card, _ = ssse_card()
    challenge = bytes(range(16))
    answer, sw = send(card, "0088000210" + challenge.hex() + "00")
    assert sw == SW.OK and len(answer) == 64
    cert_raw, sw = send(card, "00B08F0000")
    assert sw == SW.OK
    cert = decode_one(cert_raw)
    assert cert.tag == 0x7F21
    fields = {t.tag: t.value for t in cert.children()}
    public = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), fields[0x86])
    der = encode_dss_signature(int.from_bytes(answer[:32], "big"), int.from_bytes(answer[32:], "big"))
    public.verify(der, challenge, ec.ECDSA(hashes.SHA256()))  # raises InvalidSignature if wrong
    # the certificate is the issuer CA's
    signed = cert.value[: cert.value.index(h("5F37"))]
    issuer_ca_public_key().verify(fields[0x5F37], signed, ec.ECDSA(hashes.SHA256()))
    # deterministic (RFC 6979): the same challenge gets the same signature
    assert send(card, "0088000210" + challenge.hex() + "00")[0] == answer


@pytest.mark.parametrize("name", DEMO_NAMES)
def test_authenticate_card_with_the_issuer_ca(name: str) -> None:
    card, _ = demo_card(name)
    reader = EmulatedReader(card)
    reader.connect()
    assert reader.transmit(h(SELECT_SSSE)) == h("9000")
    authenticate_card(reader, issuer_ca_public_key(), demo_profile(name).card)  # raises on failure


def test_ca_public_key_matches_the_test_ca_private_key() -> None:
    pub = issuer_ca_public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    priv = issuer_keys().ca_private_key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    assert pub == priv


@pytest.mark.parametrize(
    ("apdu", "sw"),
    [
        ("008800030401020304", SW.REFERENCED_DATA_NOT_FOUND),  # no key 03
        ("008800000401020304", SW.REFERENCED_DATA_NOT_FOUND),
        ("008801010401020304", SW.INCORRECT_P1P2),
        ("0088000100", SW.WRONG_LENGTH),  # no data
        ("0088000141" + "00" * 65, SW.WRONG_LENGTH),  # more than 64 bytes
    ],
)
def test_internal_authenticate_errors(apdu: str, sw: int) -> None:
    card, _ = ssse_card()
    assert sw_of(card, apdu) == sw


def test_internal_authenticate_without_le_answers_no_data() -> None:
    card, _ = ssse_card()
    assert card.process(h("00880001080102030405060708")) == h("9000")


def test_internal_authenticate_short_le_answers_6c() -> None:
    card, _ = ssse_card()
    assert card.process(h("008800020401020304 08".replace(" ", ""))) == h("6C40")


def test_internal_authenticate_without_card_keys_is_6a88() -> None:
    image = CardImage.from_bytes(demo_image_bytes("zhang-wei"))
    image.keys.clear()
    card, _ = card_from_bytes(image.to_bytes())
    assert sw_of(card, SELECT_SSSE) == SW.OK
    assert sw_of(card, "0088000104010203 0400".replace(" ", "")) == SW.REFERENCED_DATA_NOT_FOUND
    assert sw_of(card, "0088000204010203 0400".replace(" ", "")) == SW.REFERENCED_DATA_NOT_FOUND
    assert sw_of(card, "0082000110" + "00" * 16) == SW.REFERENCED_DATA_NOT_FOUND


# ---- EXTERNAL AUTHENTICATE ----


def test_external_authenticate_after_get_challenge() -> None:
    card, _ = ssse_card()
    challenge, sw = send(card, "0084000008")
    assert sw == SW.OK
    cryptogram = sm4_cryptogram(card.image.keys["ssse.auth_sm4"], challenge)
    assert card.process(h("0082000110") + cryptogram) == h("9000")
    assert card.session.scratch.get("ssse.external_auth") is True
    # a challenge is good for one try only
    assert sw_of(card, h("0082000110") + cryptogram) == SW.CONDITIONS_NOT_SATISFIED


def test_external_authenticate_wrong_cryptogram_uses_up_the_challenge() -> None:
    card, _ = ssse_card()
    challenge, _ = send(card, "0084000008")
    good = sm4_cryptogram(card.image.keys["ssse.auth_sm4"], challenge)
    bad = bytes([good[0] ^ 1]) + good[1:]
    assert sw_of(card, h("0082000110") + bad) == SW.VERIFY_FAILED
    assert sw_of(card, h("0082000110") + good) == SW.CONDITIONS_NOT_SATISFIED
    assert "ssse.external_auth" not in card.session.scratch


def test_external_authenticate_without_challenge_and_after_power_cycle() -> None:
    card, _ = ssse_card()
    assert sw_of(card, "0082000110" + "00" * 16) == SW.CONDITIONS_NOT_SATISFIED
    challenge, _ = send(card, "0084000008")
    card.power_off()
    card.power_on()
    send(card, SELECT_SSSE)
    good = sm4_cryptogram(card.image.keys["ssse.auth_sm4"], challenge)
    assert sw_of(card, h("0082000110") + good) == SW.CONDITIONS_NOT_SATISFIED


@pytest.mark.parametrize(
    ("apdu", "sw"),
    [
        ("0082000210" + "00" * 16, SW.REFERENCED_DATA_NOT_FOUND),
        ("0082010110" + "00" * 16, SW.INCORRECT_P1P2),
        ("00820001", SW.WRONG_LENGTH),
        ("0082000110" + "00" * 16 + "00", SW.WRONG_LENGTH),
    ],
)
def test_external_authenticate_errors(apdu: str, sw: int) -> None:
    card, _ = ssse_card()
    send(card, "0084000008")
    assert sw_of(card, apdu) == sw
