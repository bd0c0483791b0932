"""applets.apdu: command APDU short cases 1–4 (ISO 7816-4 §5.1) and response APDUs."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from applets.apdu import CommandApdu, ResponseApdu
from applets.errors import CardStatus
from applets.sw import SW
from tests.cards_fixtures import h


def parse(spaced: str) -> CommandApdu:
    return CommandApdu.from_bytes(h(spaced))


def wrong_length(raw: bytes) -> None:
    with pytest.raises(CardStatus) as exc:
        CommandApdu.from_bytes(raw)
    assert exc.value.sw == SW.WRONG_LENGTH


def test_case_1_header_only() -> None:
    cmd = parse("00 A4 00 00")
    assert (cmd.cla, cmd.ins, cmd.p1, cmd.p2, cmd.data, cmd.ne) == (0x00, 0xA4, 0x00, 0x00, b"", 0)
    assert cmd.case == 1


def test_case_2_le() -> None:
    cmd = parse("00 B0 81 02 10")
    assert (cmd.p1, cmd.p2, cmd.data, cmd.ne) == (0x81, 0x02, b"", 0x10)
    assert cmd.case == 2


def test_case_2_le_00_means_256() -> None:
    cmd = parse("00 B2 01 2C 00")
    assert cmd.ne == 256
    assert cmd.case == 2


def test_case_3_lc_and_data() -> None:
    cmd = parse("00 20 00 00 03 12 34 56")
    assert cmd.data == h("123456")
    assert cmd.ne == 0
    assert cmd.case == 3


def test_case_4_lc_data_le() -> None:
    cmd = parse("00 88 00 02 04 01 02 03 04 40")
    assert cmd.data == h("01020304")
    assert cmd.ne == 0x40
    assert cmd.case == 4


def test_case_4_le_00_means_256() -> None:
    cmd = parse("00 A4 04 00 02 3F 00 00")
    assert cmd.data == h("3F00")
    assert cmd.ne == 256


def test_case_4_with_255_data_bytes() -> None:
    raw = h("00 D6 00 00 FF") + bytes(255) + b"\x00"
    cmd = CommandApdu.from_bytes(raw)
    assert len(cmd.data) == 255
    assert cmd.ne == 256


@pytest.mark.parametrize("raw", ["", "00", "00 A4", "00 A4 04"])
def test_shorter_than_a_header_is_wrong_length(raw: str) -> None:
    wrong_length(h(raw))


@pytest.mark.parametrize(
    "raw",
    [
        "00 B0 00 00 00 01 00",  # extended Le (case 2E)
        "00 D6 00 00 00 00 02 AA BB",  # extended Lc (case 3E)
        "00 D6 00 00 00 00 02 AA BB 00 00",  # case 4E
        "00 A4 04 00 00 00",  # Lc 00 is only legal as the extended marker
    ],
)
def test_extended_length_is_wrong_length(raw: str) -> None:
    wrong_length(h(raw))


@pytest.mark.parametrize(
    "raw",
    [
        "00 20 00 00 03 12 34",  # Lc 3, 2 bytes follow
        "00 20 00 00 03 12 34 56 78 9A",  # Lc 3, 5 bytes follow: neither case 3 nor case 4
        "00 20 00 00 05 01 02",  # Lc 5, 2 bytes follow
        "00 D6 00 00 FF 01",  # Lc 255, 1 byte follows
    ],
)
def test_lc_mismatch_is_wrong_length(raw: str) -> None:
    wrong_length(h(raw))


def test_wrong_length_is_a_card_status_not_a_value_error() -> None:
    """The card answers 6700; it is not a programming error of the caller."""
    with pytest.raises(CardStatus) as exc:
        CommandApdu.from_bytes(h("00 20 00 00 04 12 34"))
    assert not isinstance(exc.value, ValueError)
    assert f"{exc.value.sw:04X}" == "6700"


def test_proprietary_class() -> None:
    assert parse("80 5E 01 00 01 00").proprietary
    assert parse("84 5E 01 00 01 00").proprietary
    assert not parse("00 A4 00 00").proprietary


def test_to_bytes_known_encodings() -> None:
    assert CommandApdu(0x00, 0xA4, 0x04, 0x0C, h("A000000001")).to_bytes() == h("00A4040C05A000000001")
    assert CommandApdu(0x00, 0xB2, 0x01, 0x2C, b"", 256).to_bytes() == h("00B2012C00")
    assert CommandApdu(0x00, 0x84, 0x00, 0x00, b"", 8).to_bytes() == h("0084000008")
    assert CommandApdu(0x00, 0x88, 0x00, 0x02, h("0102"), 256).to_bytes() == h("0088000202010200")
    assert CommandApdu(0x00, 0xA4, 0x00, 0x00).to_bytes() == h("00A40000")


@pytest.mark.parametrize("kwargs", [{"data": bytes(256)}, {"ne": 257}])
def test_to_bytes_refuses_extended(kwargs: dict) -> None:
    with pytest.raises(ValueError):
        CommandApdu(0x00, 0xD6, 0x00, 0x00, **kwargs).to_bytes()


bytes_1 = st.integers(0, 255)
apdus = st.builds(
    CommandApdu,
    cla=bytes_1,
    ins=bytes_1,
    p1=bytes_1,
    p2=bytes_1,
    data=st.binary(min_size=0, max_size=255),
    ne=st.integers(0, 256),
)


@settings(max_examples=400, deadline=None)
@given(apdus)
def test_command_round_trip(cmd: CommandApdu) -> None:
    raw = cmd.to_bytes()
    again = CommandApdu.from_bytes(raw)
    assert again == cmd
    assert again.to_bytes() == raw
    assert len(raw) == 4 + (1 + len(cmd.data) if cmd.data else 0) + (1 if cmd.ne else 0)


@settings(max_examples=400, deadline=None)
@given(st.binary(min_size=0, max_size=300))
def test_from_bytes_never_raises_anything_but_6700(raw: bytes) -> None:
    try:
        cmd = CommandApdu.from_bytes(raw)
    except CardStatus as e:
        assert e.sw == SW.WRONG_LENGTH
    else:
        assert cmd.to_bytes() == raw  # whatever parses encodes back to the same bytes


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=258), st.integers(0, 0xFFFF))
def test_response_round_trip(data: bytes, sw: int) -> None:
    resp = ResponseApdu.from_bytes(data + sw.to_bytes(2, "big"))
    assert resp.data == data
    assert resp.sw == sw
    assert (resp.sw1, resp.sw2) == (sw >> 8, sw & 0xFF)
    assert resp.ok == (sw == 0x9000)
    assert resp.to_bytes() == data + sw.to_bytes(2, "big")


@pytest.mark.parametrize("raw", [b"", b"\x90"])
def test_response_without_sw_raises_value_error(raw: bytes) -> None:
    with pytest.raises(ValueError, match="SW1 SW2"):
        ResponseApdu.from_bytes(raw)
