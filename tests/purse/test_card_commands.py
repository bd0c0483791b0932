"""The purse application's command rules: sequence (6985), lengths and parameters, balance limits and
overdraft, MAC failure counting and key lock, transaction proof, application block, the cyclic log,
compound records, atomic commits, and random APDUs that must always get a status word."""

from __future__ import annotations

import random

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from applets.card import VirtualCard
from applets.crypto import pboc
from applets.crypto.pboc import Algorithm
from applets.purse.layout import (
    LOG_RECORDS,
    TRIP_RECORD_SIZE,
    CappTransitRecord,
    LogRecord,
    TripState,
    empty_capp_record,
)
from applets.purse.state import key_name
from tests.purse.helpers import PIN, card_of, purse_image, send, state_of

SELECT = "00A4040C08A000000632010105"
TERM = bytes.fromhex("001122334455")
DATE, TIME = bytes.fromhex("20240301"), bytes.fromhex("083000")


def fresh(**kwargs: object) -> VirtualCard:
    card, _ = card_of(purse_image(**kwargs))  # type: ignore[arg-type]
    assert send(card, SELECT)[1] == 0x9000
    return card


def init_purchase(card: VirtualCard, amount: int, index: int = 1, p1: int = 0x01, p2: int = 0x02) -> tuple[bytes, int]:
    return send(card, bytes((0x80, 0x50, p1, p2, 0x0B, index)) + amount.to_bytes(4, "big") + TERM + b"\x0f")


def debit(card: VirtualCard, init: bytes, amount: int, txn_type: int = 6, seq: int = 7, index: int = 1,
          tamper: bool = False) -> tuple[bytes, int]:
    """DEBIT with the MAC1 a genuine PSAM would compute from the card's own key (or a wrong one)."""
    alg = Algorithm(init[10])
    counter, random4 = int.from_bytes(init[4:6], "big"), init[11:15]
    sk = pboc.session_key(alg, card.image.keys[key_name("dpk", index)], pboc.purchase_session_input(random4, counter, seq))
    mac1 = pboc.mac(alg, sk, pboc.purchase_mac1_data(amount, txn_type, TERM, DATE, TIME))
    if tamper:
        mac1 = bytes((mac1[0] ^ 1,)) + mac1[1:]
    return send(card, b"\x80\x54\x01\x00\x0f" + seq.to_bytes(4, "big") + DATE + TIME + mac1 + b"\x08")


def purchase(card: VirtualCard, amount: int, **kwargs: object) -> tuple[bytes, int]:
    init, sw = init_purchase(card, amount)
    assert sw == 0x9000, f"{sw:04X}"
    return debit(card, init, amount, **kwargs)  # type: ignore[arg-type]


def balance(card: VirtualCard) -> int:
    data, sw = send(card, "805C000204")
    assert sw == 0x9000
    return int.from_bytes(data, "big", signed=True)


# ---- sequence rules ----


def test_debit_without_init_is_out_of_sequence() -> None:
    card = fresh(ep=1000)
    assert send(card, "805401000F" + "00" * 15 + "08")[1] == 0x6985


@pytest.mark.parametrize(
    "between",
    ["805C000204", "00B095001E", "00A4040C08A000000632010105", "0084000004", "805A000602000008", "power"],
)
def test_any_other_command_between_init_and_debit_ends_the_transaction(between: str) -> None:
    card = fresh(ep=1000)
    init, _ = init_purchase(card, 100)
    if between == "power":
        card.power_off()
        card.power_on()
        send(card, SELECT)
    else:
        send(card, between)
    assert debit(card, init, 100)[1] == 0x6985
    assert balance(card) == 1000


def test_credit_after_purchase_init_and_debit_after_load_init_are_refused() -> None:
    card = fresh(ep=1000)
    init_purchase(card, 100)
    assert send(card, "805200000B" + "20240301083000" + "00000000" + "04")[1] == 0x6985
    send(card, b"\x80\x50\x00\x02\x0b\x01" + (100).to_bytes(4, "big") + TERM + b"\x10")
    assert send(card, "805401000F" + "00" * 15 + "08")[1] == 0x6985


def test_update_capp_cache_needs_a_capp_init() -> None:
    card = fresh(ep=1000)
    record = empty_capp_record(2)
    assert send(card, b"\x80\xdc\x02\xd0\x80" + record)[1] == 0x6985
    init_purchase(card, 100)  # a plain purchase: no CAPP cache allowed, and the INIT is gone
    assert send(card, b"\x80\xdc\x02\xd0\x80" + record)[1] == 0x6985


# ---- purchase, overdraft, limits ----


def test_purchase_debits_counts_logs_and_proves() -> None:
    card = fresh(ep=1000)
    answer, sw = purchase(card, 250)
    assert sw == 0x9000 and len(answer) == 8
    assert balance(card) == 750
    init, _ = init_purchase(card, 0)
    assert init[4:6] == b"\x00\x01"  # offline counter moved
    log = LogRecord.from_bytes(send(card, "00B201C417")[0])
    assert (log.counter, log.amount, log.txn_type, log.terminal_id, log.date, log.time) == (0, 250, 6, TERM, DATE, TIME)
    proof, sw = send(card, "805A000602000008")
    assert sw == 0x9000 and proof == answer[4:] + answer[:4]
    assert send(card, "805A000602000108")[1] == 0x9406  # not that counter
    assert send(card, "805A000902000008")[1] == 0x9406  # not that type


def test_insufficient_balance_and_overdraft() -> None:
    card = fresh(ep=100, overdraft=50)
    assert init_purchase(card, 151)[1] == 0x9401
    init, sw = init_purchase(card, 150)
    assert sw == 0x9000 and init[6:9] == (50).to_bytes(3, "big")
    assert debit(card, init, 150)[1] == 0x9000
    assert balance(card) == -50  # inside the overdraft: two's complement on the wire
    assert init_purchase(card, 1)[1] == 0x9401
    assert init_purchase(card, 0)[1] == 0x9000  # a zero-amount INIT (recovery probe, entry tap)


def test_load_may_not_pass_the_maximum_balance() -> None:
    card = fresh(ep=900, max_balance=1000)
    assert send(card, b"\x80\x50\x00\x02\x0b\x01" + (101).to_bytes(4, "big") + TERM + b"\x10")[1] == 0x6A80
    assert send(card, b"\x80\x50\x00\x02\x0b\x01" + (100).to_bytes(4, "big") + TERM + b"\x10")[1] == 0x9000


def test_key_index_and_ed_pin() -> None:
    card = fresh(ep=1000, ed=1000)
    assert init_purchase(card, 1, index=3)[1] == 0x9403
    assert init_purchase(card, 1, p2=0x01)[1] == 0x6982  # ED purchase needs the PIN
    assert send(card, "805C000104")[1] == 0x6982
    assert send(card, "0020000003" + PIN)[1] == 0x9000
    init, sw = init_purchase(card, 100, p2=0x01)
    assert sw == 0x9000 and init[6:9] == b"\x00\x00\x00"  # no overdraft on ED
    assert debit(card, init, 100, txn_type=5)[1] == 0x9000
    assert send(card, "805C000104") == ((900).to_bytes(4, "big"), 0x9000)


def test_3des_key_set_works_like_sm4() -> None:
    card = fresh(ep=1000)
    init, sw = init_purchase(card, 10, index=2)
    assert sw == 0x9000 and init[10] == 0x00
    assert debit(card, init, 10, index=2)[1] == 0x9000


# ---- MAC failures and key lock ----


def test_three_bad_macs_lock_the_keys_persistently() -> None:
    card, storage = card_of(purse_image(ep=1000))
    send(card, SELECT)
    for attempt in range(3):
        init, sw = init_purchase(card, 10)
        assert sw == 0x9000
        assert debit(card, init, 10, tamper=True)[1] == 0x9302, attempt
        assert state_of(storage.image)["mac_failures"] == attempt + 1  # committed at once
    assert init_purchase(card, 10)[1] == 0x6983
    assert send(card, b"\x80\x50\x00\x02\x0b\x01" + (1).to_bytes(4, "big") + TERM + b"\x10")[1] == 0x6983
    card.power_off()
    card.power_on()  # the lock is persistent
    send(card, SELECT)
    assert init_purchase(card, 10)[1] == 0x6983
    assert balance(card) == 1000  # GET BALANCE still answers


def test_a_good_mac_resets_the_failure_count() -> None:
    card, storage = card_of(purse_image(ep=1000))
    send(card, SELECT)
    for _ in range(2):
        init, _ = init_purchase(card, 10)
        debit(card, init, 10, tamper=True)
    assert purchase(card, 10)[1] == 0x9000
    assert state_of(storage.image)["mac_failures"] == 0


def test_bad_load_mac2_counts_too() -> None:
    card, storage = card_of(purse_image(ep=0))
    send(card, SELECT)
    send(card, b"\x80\x50\x00\x02\x0b\x01" + (100).to_bytes(4, "big") + TERM + b"\x10")
    assert send(card, "805200000B" + "20240301083000" + "DEADBEEF" + "04")[1] == 0x9302
    assert state_of(storage.image)["mac_failures"] == 1
    assert balance(card) == 0


# ---- application block ----


def test_application_block_needs_the_maintenance_mac_then_select_answers_9303() -> None:
    card = fresh(ep=1000)
    assert send(card, "841E000004DEADBEEF")[1] == 0x6985  # no challenge
    challenge, sw = send(card, "0084000008")
    assert sw == 0x9000
    assert send(card, "841E000004DEADBEEF")[1] == 0x9302
    challenge, _ = send(card, "0084000008")
    mac = pboc.mac(Algorithm.SM4, card.image.keys["purse.damk"], challenge + bytes.fromhex("841E000004"))
    assert send(card, b"\x84\x1e\x00\x00\x04" + mac)[1] == 0x9000
    assert init_purchase(card, 1)[1] == 0x9303
    assert send(card, SELECT)[1] == 0x9303
    card.power_off()
    card.power_on()
    assert send(card, SELECT)[1] == 0x9303


# ---- log, compound records ----


def test_log_is_cyclic_newest_first() -> None:
    card = fresh(ep=100_000)
    for amount in range(1, LOG_RECORDS + 4):
        assert purchase(card, amount)[1] == 0x9000
    amounts = []
    for n in range(1, LOG_RECORDS + 2):
        data, sw = send(card, f"00B2{n:02X}C400")
        if sw != 0x9000:
            assert sw == 0x6A83 and n == LOG_RECORDS + 1
            break
        amounts.append(LogRecord.from_bytes(data).amount)
    assert amounts == list(range(LOG_RECORDS + 3, 3, -1))


def test_capp_purchase_writes_its_cached_records_with_the_debit_only() -> None:
    card, storage = card_of(purse_image(ep=1000))
    send(card, SELECT)
    new = CappTransitRecord(state=TripState.ENTERED, held_fare=900).to_bytes()
    trip = bytes(range(TRIP_RECORD_SIZE))
    init, sw = init_purchase(card, 0, p1=0x03)
    assert sw == 0x9000
    assert send(card, b"\x80\xdc\x02\xd0\x80" + new)[1] == 0x9000
    assert send(card, b"\x80\xdc\x00\xf0\x30" + trip)[1] == 0x9000
    assert state_of(storage.image)["capp"][1] == empty_capp_record(2)  # cached, not written
    assert debit(card, init, 0, txn_type=9)[1] == 0x9000
    after = state_of(storage.image)
    assert after["capp"][1] == new and after["trips"][0] == trip
    assert CappTransitRecord.from_bytes(send(card, "00B202D400")[0]).held_fare == 900


def test_capp_cache_refuses_wrong_records_and_a_failed_debit_writes_nothing() -> None:
    card, storage = card_of(purse_image(ep=1000))
    send(card, SELECT)
    before = state_of(storage.image)
    init, _ = init_purchase(card, 5, p1=0x03)
    assert send(card, b"\x80\xdc\x02\xd0\x10" + bytes(16))[1] == 0x6700  # wrong size
    init, _ = init_purchase(card, 5, p1=0x03)
    assert send(card, b"\x80\xdc\x01\xd0\x80" + empty_capp_record(2))[1] == 0x6A80  # another record's ID
    init, _ = init_purchase(card, 5, p1=0x03)
    assert send(card, b"\x80\xdc\x09\xd0\x80" + empty_capp_record(9))[1] == 0x6A83
    init, _ = init_purchase(card, 5, p1=0x03)
    assert send(card, b"\x80\xdc\x02\xb0\x80" + empty_capp_record(2))[1] == 0x6A82  # SFI 16: not a CAPP file
    init, _ = init_purchase(card, 5, p1=0x03)
    assert send(card, b"\x80\xdc\x02\xd0\x80" + CappTransitRecord(state=1).to_bytes())[1] == 0x9000
    assert debit(card, init, 5, txn_type=9, tamper=True)[1] == 0x9302
    after = state_of(storage.image)
    assert after["capp"] == before["capp"] and after["ep"] == before["ep"]


# ---- atomicity ----


def test_debit_and_credit_commit_exactly_once() -> None:
    card, storage = card_of(purse_image(ep=1000))
    send(card, SELECT)
    saves = storage.saves
    init, _ = init_purchase(card, 10, p1=0x03)
    send(card, b"\x80\xdc\x02\xd0\x80" + CappTransitRecord(state=1).to_bytes())
    assert storage.saves == saves  # INIT and the cache do not write
    assert debit(card, init, 10, txn_type=9)[1] == 0x9000
    assert storage.saves == saves + 1


# ---- malformed commands ----


@pytest.mark.parametrize(
    ("apdu", "sw"),
    [
        ("805C000304", 0x6A86),  # GET BALANCE, P2 neither ED nor EP
        ("805C010204", 0x6A86),
        ("805C00020100", 0x6700),  # data where none belongs
        ("805002020B0100000001001122334455", 0x6A86),  # INITIALIZE P1 02
        ("805003010B0100000001001122334455", 0x6A86),  # CAPP is EP only
        ("805001020A01000000010011223344", 0x6700),  # Lc 0A
        ("805401000E" + "00" * 14, 0x6700),  # DEBIT with Lc 0E
        ("805A000602000108", 0x9406),
        ("805A000702000008", 0x6A86),  # unknown txn type
        ("805A0006010008", 0x6700),
        ("801E00000400000000", 0x6982),  # APPLICATION BLOCK needs CLA 84
        ("80", 0x6700),
    ],
)
def test_malformed_commands_get_the_right_status(apdu: str, sw: int) -> None:
    card = fresh(ep=1000)
    assert send(card, apdu)[1] == sw


def test_debit_with_a_bad_date_is_refused_after_the_mac() -> None:
    card = fresh(ep=1000)
    init, _ = init_purchase(card, 10)
    alg = Algorithm(init[10])
    sk = pboc.session_key(alg, card.image.keys["purse.dpk.1"], pboc.purchase_session_input(init[11:15], 0, 1))
    bad_date = bytes.fromhex("20241301")
    mac1 = pboc.mac(alg, sk, pboc.purchase_mac1_data(10, 6, TERM, bad_date, TIME))
    assert send(card, b"\x80\x54\x01\x00\x0f" + (1).to_bytes(4, "big") + bad_date + TIME + mac1 + b"\x08")[1] == 0x6A80
    assert balance(card) == 1000


_apdus = st.builds(
    lambda cla, ins, p1, p2, data, le: bytes((cla, ins, p1, p2)) + (bytes((len(data),)) + data if data else b"") + le,
    st.sampled_from([0x80, 0x84, 0x00, 0x90]),
    st.sampled_from([0x5C, 0x50, 0x52, 0x54, 0xDC, 0x5A, 0x1E, 0xB2, 0xB0, 0xA4, 0x84]),
    st.integers(0, 4) | st.integers(0, 255),
    st.sampled_from([0x00, 0x01, 0x02, 0x06, 0x09, 0xD0, 0xF0, 0xC4]) | st.integers(0, 255),
    st.binary(max_size=140),
    st.sampled_from([b"", b"\x00", b"\x04", b"\x08", b"\x0f", b"\x10"]),
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(_apdus | st.binary(max_size=20), min_size=1, max_size=15))
def test_random_commands_always_get_a_status_word_and_money_never_appears(apdus: list[bytes]) -> None:
    card, storage = card_of(purse_image(ep=1000, ed=500))
    send(card, SELECT)
    for raw in apdus:
        resp = card.process(raw)
        assert len(resp) >= 2 and resp[-2:] != b"\x6f\x00", raw.hex()
    state = state_of(storage.image)
    # without a genuine MAC1/MAC2 no balance or counter may change
    assert state["ep"] == {"balance": 1000, "online": 0, "offline": 0}
    assert state["ed"] == {"balance": 500, "online": 0, "offline": 0}


def test_many_random_sessions_deterministic() -> None:
    """A seeded long run mixing genuine purchases with random junk: the balance always equals the
    initial balance minus what was genuinely debited."""
    rng = random.Random(99)
    card, storage = card_of(purse_image(ep=1_000_000), seed=5)
    send(card, SELECT)
    spent = 0
    for _ in range(300):
        if rng.random() < 0.3:
            amount = rng.randrange(0, 500)
            if purchase(card, amount)[1] == 0x9000:
                spent += amount
        else:
            junk = bytes((rng.choice([0x80, 0x00]), rng.choice([0x50, 0x54, 0x52, 0xDC, 0x5A, 0x5C]))) + rng.randbytes(rng.randrange(2, 30))
            resp = card.process(junk)
            assert resp[-2:] != b"\x6f\x00"
    assert state_of(storage.image)["ep"]["balance"] == 1_000_000 - spent
