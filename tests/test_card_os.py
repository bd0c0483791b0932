"""The card OS (applets.card + applets.iso): dispatch, CLA checks, SELECT, READ/UPDATE BINARY,
READ/UPDATE/APPEND RECORD and access conditions, over a small custom image with every file structure."""

from __future__ import annotations

import pytest

from applets.application import Application
from applets.card import MemoryStorage, VirtualCard
from applets.errors import CardStatus, ImageError
from applets.fs import DF, EF, Structure
from applets.image import CardImage
from applets.personalize import DEFAULT_ATR, make_atr
from applets.sw import SW
from applets.tlv import decode, decode_one
from tests.cards_fixtures import (
    CUSTOM_APP_NAME,
    CUSTOM_NESTED_NAME,
    CUSTOM_PIN,
    card_from_bytes,
    custom_card,
    custom_image,
    demo_card,
    det_entropy,
    h,
    send,
    sw_of,
    verify_apdu,
)


@pytest.fixture
def card() -> VirtualCard:
    return custom_card()[0]


@pytest.fixture
def card_storage() -> tuple[VirtualCard, MemoryStorage]:
    return custom_card()


def fci(data: bytes) -> dict[int, bytes]:
    top = decode_one(data)
    return {t.tag: t.value for t in decode(top.value)}


def stored(storage: MemoryStorage) -> CardImage:
    return CardImage.from_bytes(storage.image)


def stored_ef(storage: MemoryStorage, fid: int) -> EF:
    ef = stored(storage).mf.child(fid)
    assert isinstance(ef, EF)
    return ef


def select_df_name(name: bytes, p2: int = 0x0C) -> bytes:
    le = b"" if p2 == 0x0C else b"\x00"
    return bytes((0x00, 0xA4, 0x04, p2, len(name))) + name + le


def read_binary_current(card: VirtualCard) -> bytes:
    data, sw = send(card, "00B0000000")
    assert sw == SW.OK
    return data


# ---- power, ATR, dispatch ----


def test_atr_is_iso_7816_3_with_tck() -> None:
    assert DEFAULT_ATR[0] == 0x3B
    tck = 0
    for b in DEFAULT_ATR[1:]:
        tck ^= b
    assert tck == 0  # XOR of T0..TCK is zero
    assert DEFAULT_ATR[4:-1] == b"YKT-SSC3"
    with pytest.raises(ValueError):
        make_atr(bytes(16))


def test_power_on_returns_the_image_atr(card_storage: tuple[VirtualCard, MemoryStorage]) -> None:
    card, _ = card_storage
    assert card.power_on() == DEFAULT_ATR
    assert card.atr == DEFAULT_ATR


def test_an_unpowered_card_powers_itself_on_for_a_command() -> None:
    card = VirtualCard(MemoryStorage(custom_image().to_bytes()), det_entropy())
    assert not card.powered
    assert send(card, "00A40000")[1] == SW.OK
    assert card.powered


@pytest.mark.parametrize("raw", ["", "00", "00A404", "00A4040003AABB", "00B0000000 0010"])
def test_malformed_apdus_answer_6700(card: VirtualCard, raw: str) -> None:
    assert card.process(h(raw)) == h("6700")


def test_no_le_means_no_response_data(card: VirtualCard) -> None:
    assert card.process(select_df_name(CUSTOM_APP_NAME, p2=0x00)[:-1]) == h("9000")


def test_an_unknown_application_name_in_the_image_is_refused() -> None:
    image = custom_image()
    image.mf.add(DF(0x2000, name=b"\xa0\x00\x00\x00\x09", application="nope"))
    with pytest.raises(ImageError, match="unknown application 'nope'"):
        VirtualCard(MemoryStorage(image.to_bytes()), det_entropy())


class _Boom(Application):
    """An application with a bug: changes the image, then crashes."""

    name = "boom"

    def _explode(card: VirtualCard, cmd) -> bytes:  # type: ignore[no-untyped-def]
        card.image.pin.tries_left = 0
        raise RuntimeError("bug")

    commands = {(True, 0x01): _explode}


def test_a_bug_answers_6f00_and_drops_uncommitted_ram() -> None:
    image = custom_image()
    image.mf.add(DF(0x2000, name=b"\xa0\x00\x00\x00\x09", application="boom"))
    storage = MemoryStorage(image.to_bytes())
    from applets.registry import default_applications

    apps = {**default_applications(), "boom": _Boom()}
    card = VirtualCard(storage, det_entropy(), applications=apps)
    assert sw_of(card, select_df_name(b"\xa0\x00\x00\x00\x09")) == SW.OK
    assert card.process(h("8001000000")) == h("6F00")
    # RAM was reloaded from the last commit: the half-done change is gone, the session reset.
    assert card.image.pin.tries_left == 3
    assert card.session.current_df is card.image.mf
    assert storage.saves == 0


# ---- CLA ----


@pytest.mark.parametrize(
    ("cla", "sw"),
    [
        (0xFF, SW.CLA_NOT_SUPPORTED),
        (0x01, SW.LOGICAL_CHANNEL_NOT_SUPPORTED),
        (0x02, SW.LOGICAL_CHANNEL_NOT_SUPPORTED),
        (0x03, SW.LOGICAL_CHANNEL_NOT_SUPPORTED),
        (0x40, SW.LOGICAL_CHANNEL_NOT_SUPPORTED),
        (0x4F, SW.LOGICAL_CHANNEL_NOT_SUPPORTED),
        (0x10, SW.CHAINING_NOT_SUPPORTED),
        (0x04, SW.SECURE_MESSAGING_NOT_SUPPORTED),
        (0x08, SW.SECURE_MESSAGING_NOT_SUPPORTED),
        (0x0C, SW.SECURE_MESSAGING_NOT_SUPPORTED),
        (0x81, SW.LOGICAL_CHANNEL_NOT_SUPPORTED),
        (0x90, SW.CHAINING_NOT_SUPPORTED),
        (0x88, SW.CLA_NOT_SUPPORTED),
        (0xA0, SW.CLA_NOT_SUPPORTED),
    ],
)
def test_cla_checks(card: VirtualCard, cla: int, sw: int) -> None:
    assert sw_of(card, bytes((cla, 0xA4, 0x00, 0x00))) == sw


def test_unknown_ins_answers_6d00(card: VirtualCard) -> None:
    assert sw_of(card, "00CA9F7F00") == SW.INS_NOT_SUPPORTED
    assert sw_of(card, "80CA9F7F00") == SW.INS_NOT_SUPPORTED
    assert sw_of(card, "00FE0000") == SW.INS_NOT_SUPPORTED


def test_ins_known_only_in_the_other_class_answers_6e00(card: VirtualCard) -> None:
    assert sw_of(card, "80A40000") == SW.CLA_NOT_SUPPORTED  # SELECT is an ISO (CLA 00) command
    assert sw_of(card, "80B0810000") == SW.CLA_NOT_SUPPORTED
    assert sw_of(card, "84200000031234FF") == SW.CLA_NOT_SUPPORTED


def test_application_commands_only_exist_while_their_application_is_selected() -> None:
    card, _ = demo_card("zhang-wei")
    # SSSE is not selected yet: INTERNAL AUTHENTICATE and CHANGE PIN are unknown instructions.
    assert sw_of(card, "008800020401020304 00".replace(" ", "")) == SW.INS_NOT_SUPPORTED
    assert sw_of(card, "805E0100071234 56FF123456".replace(" ", "")) == SW.INS_NOT_SUPPORTED
    assert sw_of(card, "00A4040C0F7378312E73682EC9E7BBE1B1A3D5CF") == SW.OK
    # …and once it is, CHANGE PIN in the ISO class is the other class's instruction.
    assert sw_of(card, "005E0100071234 56FF123456".replace(" ", "")) == SW.CLA_NOT_SUPPORTED


# ---- SELECT ----


def test_select_by_df_name_fci(card: VirtualCard) -> None:
    data, sw = send(card, select_df_name(CUSTOM_APP_NAME, p2=0x00))
    assert sw == SW.OK
    assert data[0] == 0x6F
    fields = fci(data)
    assert fields[0x84] == CUSTOM_APP_NAME
    assert fields[0x83] == h("1000")
    assert fields[0x82] == h("38")
    assert card.session.current_df.fid == 0x1000
    assert card.session.current_ef is None


def test_select_by_df_name_fcp(card: VirtualCard) -> None:
    data, sw = send(card, select_df_name(CUSTOM_NESTED_NAME, p2=0x04))
    assert sw == SW.OK
    assert data[0] == 0x62
    assert fci(data)[0x84] == CUSTOM_NESTED_NAME
    assert card.session.current_df.path() == [0x3F00, 0x1000, 0x1100]


def test_select_p2_0c_answers_no_data(card: VirtualCard) -> None:
    assert card.process(select_df_name(CUSTOM_APP_NAME, p2=0x0C)) == h("9000")
    assert card.session.current_df.fid == 0x1000


def test_select_fci_shorter_than_le_answers_6cxx(card: VirtualCard) -> None:
    full, _ = send(card, select_df_name(CUSTOM_APP_NAME, p2=0x00))
    raw = select_df_name(CUSTOM_APP_NAME, p2=0x00)[:-1] + b"\x04"
    assert card.process(raw) == bytes((0x6C, len(full)))


@pytest.mark.parametrize("name", ["A000000002", "A0000000", "A00000000103", "D156000005"])
def test_select_unknown_df_name_is_6a82(card: VirtualCard, name: str) -> None:
    assert sw_of(card, select_df_name(h(name))) == SW.FILE_NOT_FOUND
    assert card.session.current_df.fid == 0x3F00  # a failed SELECT leaves the current DF alone


@pytest.mark.parametrize("data", ["", "00" * 17])
def test_select_by_name_length_checked(card: VirtualCard, data: str) -> None:
    raw = h("00A4040C") + (bytes((len(h(data)),)) + h(data) if data else b"")
    assert sw_of(card, raw) == SW.WRONG_LENGTH


def test_select_ef_by_fid_fci(card: VirtualCard) -> None:
    data, sw = send(card, "00A4000002010100")
    assert sw == SW.OK
    fields = fci(data)
    assert fields[0x82] == h("01")  # transparent
    assert fields[0x83] == h("0101")
    assert fields[0x80] == h("0010")  # 16 bytes
    assert fields[0x88] == h("08")  # SFI 1 << 3
    assert card.session.current_ef is not None and card.session.current_ef.fid == 0x0101


@pytest.mark.parametrize(
    ("fid", "descriptor"), [("0104", "02"), ("0105", "06"), ("0106", "04"), ("0107", "05")]
)
def test_select_record_ef_descriptor(card: VirtualCard, fid: str, descriptor: str) -> None:
    data, sw = send(card, f"00A40004 02 {fid} 00".replace(" ", ""))
    assert sw == SW.OK
    assert data[0] == 0x62
    assert fci(data)[0x82] == h(descriptor)
    assert 0x80 not in fci(data)


def test_select_mf_by_fid_and_by_empty_data(card: VirtualCard) -> None:
    assert sw_of(card, select_df_name(CUSTOM_NESTED_NAME)) == SW.OK
    assert sw_of(card, "00A4000C023F00") == SW.OK
    assert card.session.current_df.fid == 0x3F00
    assert sw_of(card, select_df_name(CUSTOM_NESTED_NAME)) == SW.OK
    assert sw_of(card, "00A4000C") == SW.OK
    assert card.session.current_df.fid == 0x3F00


def test_select_child_df_p1_01_and_child_ef_p1_02(card: VirtualCard) -> None:
    assert sw_of(card, "00A4010C021000") == SW.OK
    assert card.session.current_df.fid == 0x1000
    assert sw_of(card, "00A4010C021100") == SW.OK
    assert card.session.current_df.fid == 0x1100
    assert sw_of(card, "00A4020C021101") == SW.OK
    assert card.session.current_ef.fid == 0x1101  # type: ignore[union-attr]
    # P1 01 only selects DFs, P1 02 only EFs
    assert sw_of(card, "00A4000C023F00") == SW.OK
    assert sw_of(card, "00A4010C020101") == SW.FILE_NOT_FOUND
    assert sw_of(card, "00A4020C021000") == SW.FILE_NOT_FOUND
    assert sw_of(card, "00A4010C0210") == SW.WRONG_LENGTH


def test_select_parent_p1_03(card: VirtualCard) -> None:
    assert sw_of(card, select_df_name(CUSTOM_NESTED_NAME)) == SW.OK
    assert sw_of(card, "00A4030C") == SW.OK
    assert card.session.current_df.fid == 0x1000
    assert sw_of(card, "00A4030C") == SW.OK
    assert card.session.current_df.fid == 0x3F00
    assert sw_of(card, "00A4030C") == SW.FILE_NOT_FOUND  # the MF has no parent
    assert sw_of(card, "00A4030C021000") == SW.WRONG_LENGTH


def test_select_by_path_from_mf_p1_08(card: VirtualCard) -> None:
    data, sw = send(card, "00A4080004100011 0000".replace(" ", ""))
    assert sw == SW.OK
    assert fci(data)[0x84] == CUSTOM_NESTED_NAME
    assert card.session.current_df.path() == [0x3F00, 0x1000, 0x1100]
    # path to an EF: its DF becomes current, the EF current EF
    assert sw_of(card, "00A4080C0410001001") == SW.OK
    assert card.session.current_df.fid == 0x1000
    assert read_binary_current(card) == h("1000")
    assert send(card, "00B0810000") == (h("1000"), SW.OK)  # SFI 1 of DF 1000, not of the MF


def test_select_by_path_from_current_df_p1_09(card: VirtualCard) -> None:
    assert sw_of(card, select_df_name(CUSTOM_APP_NAME)) == SW.OK
    assert sw_of(card, "00A4090C0411001101") == SW.OK
    assert card.session.current_df.fid == 0x1100
    assert read_binary_current(card) == h("1100")
    # relative to DF 1100 there is no 1000
    assert sw_of(card, "00A4090C0410001001") == SW.FILE_NOT_FOUND


@pytest.mark.parametrize(
    ("apdu", "sw"),
    [
        ("00A4080C03100011", SW.WRONG_LENGTH),  # odd path
        ("00A4080C021234", SW.FILE_NOT_FOUND),
        ("00A4080C023F00", SW.FILE_NOT_FOUND),  # a path from the MF leaves the MF out
        ("00A4080C0401011234", SW.FILE_NOT_FOUND),  # through an EF
        ("00A4000C021234", SW.FILE_NOT_FOUND),
        ("00A4000C03123456", SW.WRONG_LENGTH),
        ("00A4050C021000", SW.INCORRECT_P1P2),
        ("00A4100C021000", SW.INCORRECT_P1P2),
        ("00A4000102101000", SW.INCORRECT_P1P2),
        ("00A4000202101000", SW.INCORRECT_P1P2),
        ("00A4000802101000", SW.INCORRECT_P1P2),
        ("00A4041005A000000001", SW.INCORRECT_P1P2),
    ],
)
def test_select_errors(card: VirtualCard, apdu: str, sw: int) -> None:
    assert sw_of(card, apdu) == sw


def test_select_by_fid_finds_a_sibling_and_makes_its_df_current(card: VirtualCard) -> None:
    assert sw_of(card, select_df_name(CUSTOM_NESTED_NAME)) == SW.OK
    # 1001 is not a child of DF 1100 but of its parent 1000
    assert sw_of(card, "00A4000C021001") == SW.OK
    assert card.session.current_ef.fid == 0x1001  # type: ignore[union-attr]
    assert card.session.current_df.fid == 0x1000  # ISO 7816-4: the current DF is the EF's parent
    assert send(card, "00B0810000") == (h("1000"), SW.OK)


# ---- READ BINARY ----

EF0101 = bytes(range(0x00, 0x100, 0x11))


def test_read_binary_by_sfi(card: VirtualCard) -> None:
    assert send(card, "00B0810000") == (EF0101, SW.OK)
    assert send(card, "00B0810204") == (EF0101[2:6], SW.OK)
    assert send(card, "00B0810F00") == (EF0101[15:], SW.OK)
    assert card.session.current_ef.fid == 0x0101  # type: ignore[union-attr]  # SFI makes it current


def test_read_binary_current_ef_with_15_bit_offset(card: VirtualCard) -> None:
    assert sw_of(card, "00A4020C020101") == SW.OK
    assert send(card, "00B0000404") == (EF0101[4:8], SW.OK)
    assert send(card, "00B0000000") == (EF0101, SW.OK)
    assert sw_of(card, "00B0010000") == SW.WRONG_PARAMETERS  # offset 0x100


@pytest.mark.parametrize("apdu", ["00B0811000", "00B081FF01", "00B0001000"])
def test_read_binary_beyond_the_end_is_6b00(card: VirtualCard, apdu: str) -> None:
    send(card, "00A4020C020101")
    assert sw_of(card, apdu) == SW.WRONG_PARAMETERS


def test_read_binary_without_current_ef_is_6986(card: VirtualCard) -> None:
    assert sw_of(card, "00B0000000") == SW.COMMAND_NOT_ALLOWED_NO_EF
    send(card, "00A4020C020101")
    send(card, select_df_name(CUSTOM_APP_NAME))  # selecting a DF drops the current EF
    assert sw_of(card, "00B0000000") == SW.COMMAND_NOT_ALLOWED_NO_EF


@pytest.mark.parametrize(
    ("apdu", "sw"),
    [
        ("00B0840000", SW.COMMAND_INCOMPATIBLE),  # linear record file
        ("00B0870000", SW.COMMAND_INCOMPATIBLE),  # TLV record file
        ("00B0880000", SW.FILE_NOT_FOUND),  # no SFI 8
        ("00B0800000", SW.FILE_NOT_FOUND),  # SFI 0
        ("00B0A10000", SW.INCORRECT_P1P2),  # P1 b7..b6 must be 0 with an SFI
        ("00B0C10000", SW.INCORRECT_P1P2),
        ("00B08100", SW.WRONG_LENGTH),  # no Le
        ("00B0810001AA", SW.WRONG_LENGTH),  # data field
    ],
)
def test_read_binary_errors(card: VirtualCard, apdu: str, sw: int) -> None:
    assert sw_of(card, apdu) == sw


def test_read_binary_with_a_record_file_current_is_6981(card: VirtualCard) -> None:
    send(card, "00A4020C020104")
    assert sw_of(card, "00B0000000") == SW.COMMAND_INCOMPATIBLE


# ---- UPDATE BINARY ----


def test_update_binary_write_always_commits(card_storage: tuple[VirtualCard, MemoryStorage]) -> None:
    card, storage = card_storage
    before = storage.saves
    assert card.process(h("00D6810302AABB")) == h("9000")
    assert storage.saves == before + 1
    expected = EF0101[:3] + h("AABB") + EF0101[5:]
    assert send(card, "00B0810000") == (expected, SW.OK)
    assert bytes(stored_ef(storage, 0x0101).data) == expected
    # a power cycle keeps it (it was committed)
    card.power_off()
    card.power_on()
    assert send(card, "00B0810000") == (expected, SW.OK)


def test_update_binary_current_ef_with_offset(card: VirtualCard) -> None:
    send(card, "00A4020C020101")
    assert sw_of(card, "00D6000E02CCDD") == SW.OK
    assert read_binary_current(card)[-2:] == h("CCDD")


@pytest.mark.parametrize(
    ("apdu", "sw"),
    [
        ("00D6820001FF", SW.SECURITY_STATUS_NOT_SATISFIED),  # write never
        ("00D6830001FF", SW.SECURITY_STATUS_NOT_SATISFIED),  # write pin, not verified
        ("00D6811001FF", SW.WRONG_PARAMETERS),  # offset at the end
        ("00D6810F02FFFF", SW.WRONG_LENGTH),  # would grow the file
        ("00D68100", SW.WRONG_LENGTH),  # no data
        ("00D6810001FF01", SW.WRONG_LENGTH),  # Le present
        ("00D6840001FF", SW.COMMAND_INCOMPATIBLE),
        ("00D6880001FF", SW.FILE_NOT_FOUND),
    ],
)
def test_update_binary_refused(card_storage: tuple[VirtualCard, MemoryStorage], apdu: str, sw: int) -> None:
    card, storage = card_storage
    before = storage.image
    assert sw_of(card, apdu) == sw
    assert storage.image == before  # nothing committed


def test_update_binary_never_stays_never_after_verify(card: VirtualCard) -> None:
    assert sw_of(card, verify_apdu(CUSTOM_PIN)) == SW.OK
    assert sw_of(card, "00D6820001FF") == SW.SECURITY_STATUS_NOT_SATISFIED
    assert send(card, "00B0820000") == (h("CAFE"), SW.OK)


def test_update_binary_without_current_ef_is_6986(card: VirtualCard) -> None:
    assert sw_of(card, "00D6000001FF") == SW.COMMAND_NOT_ALLOWED_NO_EF


# ---- access conditions ----


def test_pin_access_is_granted_by_verify_for_this_power_on_only(card: VirtualCard) -> None:
    assert sw_of(card, "00B0830000") == SW.SECURITY_STATUS_NOT_SATISFIED
    assert sw_of(card, verify_apdu(CUSTOM_PIN)) == SW.OK
    assert send(card, "00B0830000") == (h("5EC12E70"), SW.OK)
    assert sw_of(card, "00D6830001AA") == SW.OK
    card.power_off()
    card.power_on()
    assert sw_of(card, "00B0830000") == SW.SECURITY_STATUS_NOT_SATISFIED
    assert sw_of(card, verify_apdu(CUSTOM_PIN)) == SW.OK
    assert send(card, "00B0830000") == (h("AAC12E70"), SW.OK)


def test_a_wrong_verify_drops_pin_access(card: VirtualCard) -> None:
    assert sw_of(card, verify_apdu(CUSTOM_PIN)) == SW.OK
    assert sw_of(card, verify_apdu("9999")) == 0x63C2
    assert sw_of(card, "00B0830000") == SW.SECURITY_STATUS_NOT_SATISFIED


def test_never_access_is_never_granted(card: VirtualCard) -> None:
    assert sw_of(card, "00B2013400") == SW.SECURITY_STATUS_NOT_SATISFIED
    assert sw_of(card, verify_apdu(CUSTOM_PIN)) == SW.OK
    assert sw_of(card, "00B2013400") == SW.SECURITY_STATUS_NOT_SATISFIED


# ---- READ RECORD ----


def test_read_record_by_number(card: VirtualCard) -> None:
    assert send(card, "00B2012400") == (h("01010101"), SW.OK)
    assert send(card, "00B2022400") == (h("02020202"), SW.OK)
    assert sw_of(card, "00B2032400") == SW.RECORD_NOT_FOUND
    assert sw_of(card, "00B2FF2400") == SW.RECORD_NOT_FOUND


def test_read_record_by_identifier_first_and_last(card: VirtualCard) -> None:
    assert send(card, "00B2013800") == (h("010111"), SW.OK)  # P2 b3..b1 = 000: first occurrence
    assert send(card, "00B2013900") == (h("010133"), SW.OK)  # 001: last occurrence
    assert send(card, "00B2023800") == (h("02022222"), SW.OK)
    assert sw_of(card, "00B2033800") == SW.RECORD_NOT_FOUND
    assert sw_of(card, "00B2033900") == SW.RECORD_NOT_FOUND


def test_read_record_tlv_file_number_is_the_tag(card: VirtualCard) -> None:
    assert send(card, "00B2023C00") == (h("02022222"), SW.OK)
    assert send(card, "00B2013C00") == (h("010111"), SW.OK)
    assert sw_of(card, "00B2033C00") == SW.RECORD_NOT_FOUND


def test_read_record_le_too_short_answers_6cxx(card: VirtualCard) -> None:
    assert card.process(h("00B2012402")) == h("6C04")
    assert send(card, "00B2012404") == (h("01010101"), SW.OK)
    assert send(card, "00B2012410") == (h("01010101"), SW.OK)  # a longer Le is fine


def test_read_record_current_ef_with_sfi_0(card: VirtualCard) -> None:
    assert sw_of(card, "00B2010400") == SW.COMMAND_NOT_ALLOWED_NO_EF
    send(card, "00A4020C020104")
    assert send(card, "00B2020400") == (h("02020202"), SW.OK)
    send(card, "00A4020C020101")
    assert sw_of(card, "00B2010400") == SW.COMMAND_INCOMPATIBLE


def test_read_record_sfi_makes_the_ef_current(card: VirtualCard) -> None:
    assert sw_of(card, "00B2012400") == SW.OK
    assert send(card, "00B2020400") == (h("02020202"), SW.OK)


@pytest.mark.parametrize(
    ("apdu", "sw"),
    [
        ("00B2002400", SW.INCORRECT_P1P2),  # P1 00 (current record) is not supported
        ("00B2012200", SW.INCORRECT_P1P2),  # mode 010 (next occurrence)
        ("00B2012700", SW.INCORRECT_P1P2),
        ("00B201FC00", SW.INCORRECT_P1P2),  # SFI 1F
        ("00B2014400", SW.FILE_NOT_FOUND),  # SFI 8
        ("00B2010C00", SW.COMMAND_INCOMPATIBLE),  # transparent
        ("00B20124", SW.WRONG_LENGTH),  # no Le
        ("00B2012401AA00", SW.WRONG_LENGTH),  # data field
    ],
)
def test_read_record_errors(card: VirtualCard, apdu: str, sw: int) -> None:
    assert sw_of(card, apdu) == sw


# ---- UPDATE RECORD ----


def test_update_record_commits(card_storage: tuple[VirtualCard, MemoryStorage]) -> None:
    card, storage = card_storage
    assert sw_of(card, "00DC022404DEADBEEF") == SW.OK
    assert send(card, "00B2022400") == (h("DEADBEEF"), SW.OK)
    assert stored_ef(storage, 0x0104).records == [h("01010101"), h("DEADBEEF")]


def test_update_record_tlv_file_keeps_the_tag(card_storage: tuple[VirtualCard, MemoryStorage]) -> None:
    card, storage = card_storage
    assert sw_of(card, "00DC023C0402027777") == SW.OK
    assert send(card, "00B2023C00") == (h("02027777"), SW.OK)
    assert sw_of(card, "00DC023C0403027777") == SW.WRONG_DATA  # record 02 must keep tag 02
    assert stored_ef(storage, 0x0107).records[1] == h("02027777")


@pytest.mark.parametrize(
    ("apdu", "sw"),
    [
        ("00DC012403DEADBE", SW.WRONG_LENGTH),  # fixed record size 4
        ("00DC032404DEADBEEF", SW.RECORD_NOT_FOUND),
        ("00DC013404DEADBEEF", SW.SECURITY_STATUS_NOT_SATISFIED),  # read never / write never
        ("00DC002404DEADBEEF", SW.INCORRECT_P1P2),
        ("00DC012004DEADBEEF", SW.INCORRECT_P1P2),  # by identifier is not supported
        ("00DC0124", SW.WRONG_LENGTH),
        ("00DC012404DEADBEEF00", SW.WRONG_LENGTH),
        ("00DC010C04DEADBEEF", SW.COMMAND_INCOMPATIBLE),
    ],
)
def test_update_record_refused(card_storage: tuple[VirtualCard, MemoryStorage], apdu: str, sw: int) -> None:
    card, storage = card_storage
    before = storage.image
    assert sw_of(card, apdu) == sw
    assert storage.image == before


# ---- APPEND RECORD ----


def test_append_record_cyclic_newest_first_oldest_dropped(card_storage: tuple[VirtualCard, MemoryStorage]) -> None:
    card, storage = card_storage
    assert sw_of(card, "00E2002802B1B1") == SW.OK
    assert [send(card, f"00B20{n}2C00")[0] for n in (1, 2, 3)] == [h("B1B1"), h("A1A1"), h("A2A2")]
    assert sw_of(card, "00E2002802B2B2") == SW.OK  # full: the oldest (A2A2) goes
    assert [send(card, f"00B20{n}2C00")[0] for n in (1, 2, 3)] == [h("B2B2"), h("B1B1"), h("A1A1")]
    assert sw_of(card, "00B2042C00") == SW.RECORD_NOT_FOUND
    assert stored_ef(storage, 0x0105).records == [h("B2B2"), h("B1B1"), h("A1A1")]
    for i in range(10):
        assert sw_of(card, bytes.fromhex(f"00E2002802C{i}C{i}")) == SW.OK
    assert stored_ef(storage, 0x0105).records == [h("C9C9"), h("C8C8"), h("C7C7")]


def test_append_record_linear_grows_until_full(card_storage: tuple[VirtualCard, MemoryStorage]) -> None:
    card, storage = card_storage
    assert sw_of(card, "00E200200403030303") == SW.OK
    assert send(card, "00B2032400") == (h("03030303"), SW.OK)
    assert sw_of(card, "00E200200404040404") == SW.NOT_ENOUGH_MEMORY
    assert stored_ef(storage, 0x0104).records == [h("01010101"), h("02020202"), h("03030303")]


@pytest.mark.parametrize(
    ("apdu", "sw"),
    [
        ("00E2002803B1B1B1", SW.WRONG_LENGTH),  # fixed size 2
        ("00E2003803010155", SW.COMMAND_INCOMPATIBLE),  # TLV record file
        ("00E2003002AAAA", SW.SECURITY_STATUS_NOT_SATISFIED),  # write never
        ("00E2012802B1B1", SW.INCORRECT_P1P2),
        ("00E2002C02B1B1", SW.INCORRECT_P1P2),
        ("00E20028", SW.WRONG_LENGTH),
        ("00E2000802B1B1", SW.COMMAND_INCOMPATIBLE),  # transparent
        ("00E2000002B1B1", SW.COMMAND_NOT_ALLOWED_NO_EF),
    ],
)
def test_append_record_refused(card_storage: tuple[VirtualCard, MemoryStorage], apdu: str, sw: int) -> None:
    card, storage = card_storage
    before = storage.image
    assert sw_of(card, apdu) == sw
    assert storage.image == before


# ---- the image is the only state that survives ----


def test_uncommitted_session_state_is_lost_at_power_off(card: VirtualCard) -> None:
    send(card, select_df_name(CUSTOM_NESTED_NAME))
    send(card, verify_apdu(CUSTOM_PIN))
    card.power_off()
    assert card.session.current_df.fid == 0x3F00
    assert not card.session.pin_verified
    card.power_on()
    assert card.session.current_df.fid == 0x3F00
    assert card.session.challenge is None


def test_card_status_carries_its_sw() -> None:
    e = CardStatus(SW.RECORD_NOT_FOUND)
    assert e.sw == 0x6A83
    assert "6A83" in str(e)


def test_changes_reach_storage_as_parseable_images() -> None:
    card, storage = card_from_bytes(custom_image().to_bytes())
    send(card, "00D6810001FF")
    send(card, "00E2002802B1B1")
    send(card, "00DC012404DEADBEEF")
    image = CardImage.from_bytes(storage.image)
    assert image.to_bytes() == storage.image
    ef = image.mf.child(0x0101)
    assert isinstance(ef, EF) and ef.structure is Structure.TRANSPARENT and ef.data[0] == 0xFF


def test_derived_values_are_made_once_per_source_and_never_saved(card_storage: tuple[VirtualCard, MemoryStorage]) -> None:
    card, storage = card_storage
    made: list[bytes] = []

    def make(key: bytes) -> str:
        made.append(key)
        return f"schedule of {len(key)} bytes"

    first = card.derived(("dpk", 1), b"K" * 16, make)
    assert card.derived(("dpk", 1), b"K" * 16, make) is first and made == [b"K" * 16]
    assert card.derived(("dpk", 1), b"L" * 16, make) == "schedule of 16 bytes" and len(made) == 2  # key changed
    assert card.derived(("dtk", 1), b"L" * 16, make) and len(made) == 3  # another name
    card.commit()
    assert b"schedule" not in storage.image and b"KKKK" not in storage.image
