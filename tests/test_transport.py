"""reader.transport.exchange: 61xx (GET RESPONSE) and 6Cxx (Le retry), against a scripted card."""

from __future__ import annotations

import pytest

from reader.errors import CardError
from reader.transport import MAX_CHAINED, exchange


def h(spaced: str) -> bytes:
    return bytes.fromhex(spaced.replace(" ", ""))


class ScriptedCard:
    """Answers an exact, ordered conversation; fails the test on any other command."""

    def __init__(self, conversation: list[tuple[str, str]]) -> None:
        self.conversation = [(h(c), h(r)) for c, r in conversation]
        self.sent: list[bytes] = []

    def send(self, apdu: bytes) -> bytes:
        index = len(self.sent)
        self.sent.append(apdu)
        if index >= len(self.conversation):
            pytest.fail(f"unexpected extra command {apdu.hex(' ')}")
        expected, response = self.conversation[index]
        if apdu != expected:
            pytest.fail(f"command {index}: expected {expected.hex(' ')}, got {apdu.hex(' ')}")
        return response

    def finished(self) -> bool:
        return len(self.sent) == len(self.conversation)


def test_plain_response_is_returned_unchanged_in_one_round_trip() -> None:
    card = ScriptedCard([("00 A4 04 00 02 3F 00", "6F 02 84 00 90 00")])
    assert exchange(card.send, h("00 A4 04 00 02 3F 00")) == h("6F 02 84 00 90 00")
    assert card.finished()


def test_error_status_word_is_passed_through() -> None:
    card = ScriptedCard([("00 B0 81 00 00", "6A 82")])
    assert exchange(card.send, h("00 B0 81 00 00")) == h("6A 82")
    assert card.finished()


def test_61xx_fetches_with_get_response() -> None:
    card = ScriptedCard(
        [
            ("00 A4 04 00 02 3F 00", "61 04"),
            ("00 C0 00 00 04", "DE AD BE EF 90 00"),
        ]
    )
    assert exchange(card.send, h("00 A4 04 00 02 3F 00")) == h("DE AD BE EF 90 00")
    assert card.finished()


def test_chained_61xx_concatenates_data_and_keeps_last_status_word() -> None:
    card = ScriptedCard(
        [
            ("80 50 01 02 0B 01 00 00 03 E8 11 22 33 44 55 66 10", "01 02 61 03"),
            ("00 C0 00 00 03", "03 04 05 61 02"),
            ("00 C0 00 00 02", "06 07 62 83"),
        ]
    )
    response = exchange(card.send, h("80 50 01 02 0B 01 00 00 03 E8 11 22 33 44 55 66 10"))
    assert response == h("01 02 03 04 05 06 07 62 83")
    assert card.finished()


def test_get_response_keeps_the_logical_channel_of_an_interindustry_class() -> None:
    card = ScriptedCard([("02 B2 01 0C 00", "61 01"), ("02 C0 00 00 01", "AA 90 00")])
    assert exchange(card.send, h("02 B2 01 0C 00")) == h("AA 90 00")
    assert card.finished()


def test_6cxx_resends_case_2_command_with_the_right_le() -> None:
    data = bytes(range(0x1E))
    card = ScriptedCard([("00 B0 95 00 00", "6C 1E"), ("00 B0 95 00 1E", data.hex() + "9000")])
    assert exchange(card.send, h("00 B0 95 00 00")) == data + h("90 00")
    assert card.finished()


def test_6cxx_adds_le_to_case_1_and_case_3_commands() -> None:
    case1 = ScriptedCard(
        [("00 84 00 00", "6C 08"), ("00 84 00 00 08", "01 02 03 04 05 06 07 08 90 00")]
    )
    assert exchange(case1.send, h("00 84 00 00")) == h("01 02 03 04 05 06 07 08 90 00")
    case3 = ScriptedCard(
        [("80 CA 00 00 01 9F", "6C 02"), ("80 CA 00 00 01 9F 02", "12 34 90 00")]
    )
    assert exchange(case3.send, h("80 CA 00 00 01 9F")) == h("12 34 90 00")
    assert case1.finished() and case3.finished()


def test_6cxx_replaces_le_of_case_4_command() -> None:
    card = ScriptedCard(
        [("00 88 00 00 02 AB CD 10", "6C 04"), ("00 88 00 00 02 AB CD 04", "01 02 03 04 90 00")]
    )
    assert exchange(card.send, h("00 88 00 00 02 AB CD 10")) == h("01 02 03 04 90 00")
    assert card.finished()


def test_6cxx_then_61xx_combined() -> None:
    card = ScriptedCard(
        [
            ("00 B2 01 0C 00", "6C 05"),
            ("00 B2 01 0C 05", "61 05"),
            ("00 C0 00 00 05", "01 02 03 04 05 90 00"),
        ]
    )
    assert exchange(card.send, h("00 B2 01 0C 00")) == h("01 02 03 04 05 90 00")
    assert card.finished()


def test_get_response_answered_with_6cxx_is_retried_with_that_le() -> None:
    card = ScriptedCard(
        [
            ("00 A4 04 00 02 3F 00", "61 00"),
            ("00 C0 00 00 00", "6C 03"),
            ("00 C0 00 00 03", "0A 0B 0C 90 00"),
        ]
    )
    assert exchange(card.send, h("00 A4 04 00 02 3F 00")) == h("0A 0B 0C 90 00")
    assert card.finished()


def test_endless_61xx_raises_card_error_with_status_word() -> None:
    calls = 0

    def always_more(apdu: bytes) -> bytes:
        nonlocal calls
        calls += 1
        return h("61 10")

    with pytest.raises(CardError) as caught:
        exchange(always_more, h("00 C0 00 00 10"))
    assert caught.value.sw == 0x6110
    assert calls == MAX_CHAINED + 1


def test_response_without_status_word_raises_card_error() -> None:
    with pytest.raises(CardError, match="without status word"):
        exchange(lambda apdu: h("90"), h("00 A4 00 00"))


@pytest.mark.parametrize("bad", ["00 A4 00", "00 A4 04 00 05 3F 00"])
def test_malformed_apdu_raises_value_error(bad: str) -> None:
    with pytest.raises(ValueError):
        exchange(lambda apdu: h("6C 01"), h(bad))


def test_send_errors_propagate_unchanged() -> None:
    class Boom(Exception):
        pass

    def broken(apdu: bytes) -> bytes:
        raise Boom("link down")

    with pytest.raises(Boom, match="link down"):
        exchange(broken, h("00 A4 00 00"))
