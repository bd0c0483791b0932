"""reader.emulated.EmulatedReader: the Reader contract over an in-process VirtualCard, and its fault
hooks (card pulled before/after an APDU, lost answers, latency, corrupted answers, tearing)."""

from __future__ import annotations

import io
import json
import time

import pytest

from applets.card import MemoryStorage, VirtualCard
from applets.image import CardImage
from reader.base import Reader
from reader.card_file import TearingStorage
from reader.emulated import EmulatedReader, Faults
from reader.errors import CardRemoved, NoCard, ReaderError, ResponseLost
from reader.trace import Trace
from tests.cards_fixtures import (
    DEFAULT_PIN,
    SELECT_SSSE,
    change_pin_apdu,
    custom_image,
    demo_card,
    demo_image_bytes,
    det_entropy,
    h,
    read_record_apdu,
    verify_apdu,
)

WRONG = verify_apdu("000000")


def tries(storage: MemoryStorage) -> int:
    return CardImage.from_bytes(storage.image).pin.tries_left


def connected(name: str = "zhang-wei", faults: Faults | None = None) -> tuple[EmulatedReader, VirtualCard, MemoryStorage]:
    card, storage = demo_card(name)
    reader = EmulatedReader(card, faults=faults)
    reader.connect()
    return reader, card, storage


# ---- the Reader contract ----


def test_is_a_reader() -> None:
    assert isinstance(EmulatedReader(), Reader)


def test_connect_returns_the_atr() -> None:
    card, _ = demo_card()
    reader = EmulatedReader(card, name="Emulated 7")
    assert reader.name == "Emulated 7"
    assert reader.card_present()
    atr = reader.connect()
    assert atr == card.atr == reader.atr
    assert atr[0] == 0x3B


def test_no_card() -> None:
    reader = EmulatedReader()
    assert not reader.card_present()
    with pytest.raises(NoCard, match="no card"):
        reader.connect()
    with pytest.raises(CardRemoved):
        reader.transmit(h("00A40000"))
    assert issubclass(NoCard, ReaderError) and issubclass(CardRemoved, ReaderError)


def test_transmit_before_connect_is_a_reader_error() -> None:
    card, _ = demo_card()
    reader = EmulatedReader(card)
    with pytest.raises(ReaderError, match="not connected"):
        reader.transmit(h(SELECT_SSSE))


def test_transmit_answers_like_the_card() -> None:
    reader, _, _ = connected()
    assert reader.transmit(h(SELECT_SSSE)) == h("9000")
    answer = reader.transmit(read_record_apdu(0x05, 0x07))
    assert answer[-2:] == h("9000") and answer[:2] == h("0709")
    assert reader.apdu_count == 2


def test_6cxx_is_handled_by_the_reader() -> None:
    """READ RECORD with a short Le: the card says 6C12, the reader re-sends with Le 12."""
    reader, card, _ = connected()
    reader.transmit(h(SELECT_SSSE))
    assert card.process(read_record_apdu(0x05, 0x07, le=2)) == h("6C0B")
    answer = reader.transmit(read_record_apdu(0x05, 0x07, le=2))
    assert answer[:-2] == h("0709") + b"A00000001"
    assert answer[-2:] == h("9000")
    assert reader.apdu_count == 3  # SELECT, the first READ RECORD and its re-send


def test_remove_then_transmit_is_card_removed() -> None:
    reader, card, _ = connected()
    assert reader.transmit(h(SELECT_SSSE)) == h("9000")
    assert reader.transmit(WRONG) == h("63C2")
    assert reader.remove() is card
    assert not reader.card_present()
    assert not card.powered
    with pytest.raises(CardRemoved, match="removed"):
        reader.transmit(h(SELECT_SSSE))
    assert reader.remove() is None


def test_reinserting_starts_a_new_session() -> None:
    reader, card, _ = connected()
    reader.transmit(h(SELECT_SSSE))
    assert reader.transmit(verify_apdu(DEFAULT_PIN)) == h("9000")
    reader.remove()
    reader.insert(card)
    with pytest.raises(ReaderError, match="not connected"):
        reader.transmit(h(SELECT_SSSE))
    reader.connect()
    assert reader.apdu_count == 0
    assert card.session.current_df.fid == 0x3F00
    assert not card.session.pin_verified  # power was lost: the verification is gone


def test_disconnect_powers_the_card_off() -> None:
    reader, card, _ = connected("li-na")
    reader.transmit(h(SELECT_SSSE))
    reader.transmit(verify_apdu(DEFAULT_PIN))
    assert reader.transmit(read_record_apdu(0x06, 0x08))[-2:] == h("9000")
    reader.disconnect()
    assert not card.powered
    assert reader.card_present()
    reader.connect()
    reader.transmit(h(SELECT_SSSE))
    assert reader.transmit(read_record_apdu(0x06, 0x08)) == h("6982")


# ---- faults ----


def test_remove_before_apdu_never_reaches_the_card() -> None:
    reader, card, storage = connected(faults=Faults(remove_before_apdu=2))
    assert reader.transmit(h(SELECT_SSSE)) == h("9000")
    with pytest.raises(CardRemoved, match="before APDU 2"):
        reader.transmit(WRONG)
    assert not reader.card_present()
    assert tries(storage) == 3  # the VERIFY never ran


def test_remove_after_apdu_returns_the_answer_then_the_card_is_gone() -> None:
    reader, card, storage = connected(faults=Faults(remove_after_apdu=2))
    reader.transmit(h(SELECT_SSSE))
    assert reader.transmit(WRONG) == h("63C2")
    assert tries(storage) == 2
    assert not reader.card_present()
    with pytest.raises(CardRemoved):
        reader.transmit(h(SELECT_SSSE))


def test_lose_response_the_card_executed_the_command() -> None:
    reader, card, storage = connected(faults=Faults(lose_response=2))
    reader.transmit(h(SELECT_SSSE))
    with pytest.raises(ResponseLost, match="APDU 2"):
        reader.transmit(WRONG)
    assert tries(storage) == 2  # the wrong PIN cost a try although the terminal never saw 63C2
    assert reader.card_present()
    # the session goes on: the card is still there and answers
    assert reader.transmit(h("00200000")) == h("63C2")


def test_latency_slows_every_exchange() -> None:
    stream = io.StringIO()
    card, _ = demo_card()
    reader = EmulatedReader(card, faults=Faults(latency_s=0.03), trace=Trace(stream))
    reader.connect()
    start = time.perf_counter()
    assert reader.transmit(h(SELECT_SSSE)) == h("9000")
    assert time.perf_counter() - start >= 0.03
    response = json.loads(stream.getvalue().splitlines()[1])
    assert response["us"] >= 30_000


def test_corrupt_response_reaches_the_caller_and_not_the_card() -> None:
    seen: list[tuple[int, bytes, bytes]] = []

    def flip_first_byte(n: int, command: bytes, response: bytes) -> bytes:
        seen.append((n, command, response))
        if n == 2:
            return bytes([response[0] ^ 0xFF]) + response[1:]
        return response

    reader, card, _ = connected(faults=Faults(corrupt_response=flip_first_byte))
    reader.transmit(h(SELECT_SSSE))
    answer = reader.transmit(read_record_apdu(0x05, 0x07))
    assert answer[:2] == h("F809")
    assert seen[1][0] == 2 and seen[1][2][:2] == h("0709")  # the card's own answer was right
    assert reader.transmit(read_record_apdu(0x05, 0x07))[:2] == h("0709")


def test_faults_count_from_connect() -> None:
    card, storage = demo_card()
    reader = EmulatedReader(card, faults=Faults(lose_response=1))
    reader.connect()
    with pytest.raises(ResponseLost):
        reader.transmit(h(SELECT_SSSE))
    reader.connect()  # counting starts again
    with pytest.raises(ResponseLost):
        reader.transmit(h(SELECT_SSSE))


# ---- tearing: the card is the old or the new one ----


def tearing_reader(image: bytes, tear_at_save: int, after_write: bool) -> tuple[EmulatedReader, VirtualCard, MemoryStorage]:
    inner = MemoryStorage(image)
    card = VirtualCard(TearingStorage(inner, tear_at_save, after_write), det_entropy("tear"))
    reader = EmulatedReader(card)
    reader.connect()
    return reader, card, inner


@pytest.mark.parametrize("after_write", [False, True])
def test_tearing_during_verify_is_card_removed(after_write: bool) -> None:
    reader, card, inner = tearing_reader(demo_image_bytes("zhang-wei"), 1, after_write)
    with pytest.raises(CardRemoved, match="torn"):
        reader.transmit(WRONG)
    assert not reader.card_present()
    reader.insert(card)
    reader.connect()  # power on: the last committed image
    assert card.image.pin.tries_left == (2 if after_write else 3)
    assert tries(inner) == card.image.pin.tries_left
    assert reader.transmit(h("00200000")) == bytes((0x63, 0xC0 | card.image.pin.tries_left))


@pytest.mark.parametrize("after_write", [False, True])
def test_tearing_during_update_binary_leaves_old_or_new(after_write: bool) -> None:
    old = custom_image().to_bytes()
    reader, card, inner = tearing_reader(old, 1, after_write)
    with pytest.raises(CardRemoved):
        reader.transmit(h("00D6810004DEADBEEF"))
    reader.insert(card)
    reader.connect()
    data = reader.transmit(h("00B0810004"))
    assert data[-2:] == h("9000")
    assert data[:-2] == (h("DEADBEEF") if after_write else h("00112233"))
    assert CardImage.from_bytes(inner.image).to_bytes() == inner.image


@pytest.mark.parametrize("after_write", [False, True])
@pytest.mark.parametrize("tear_at", [1, 2, 3])
def test_tearing_during_change_pin(tear_at: int, after_write: bool) -> None:
    """CHANGE PIN commits three times (decrement, reset, new PIN): torn anywhere, the card holds
    either the old PIN or the new one, and a PIN that works."""
    reader, card, inner = tearing_reader(demo_image_bytes("zhang-wei"), tear_at, after_write)
    reader.transmit(h(SELECT_SSSE))
    with pytest.raises(CardRemoved):
        reader.transmit(change_pin_apdu(DEFAULT_PIN, "777777"))
    reader.insert(card)
    reader.connect()
    old_ok = reader.transmit(verify_apdu(DEFAULT_PIN)) == h("9000")
    new_ok = reader.transmit(verify_apdu("777777")) == h("9000")
    assert old_ok != new_ok  # exactly one of them
    assert new_ok == (tear_at == 3 and after_write)  # the new PIN only once its own save happened
