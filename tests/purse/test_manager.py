"""The terminal's purse manager over emulated readers: complete results, lost answers, hostile and broken
cards (declined with a reason, never approved), MAC tampering and the key lock, two-level keys, the load
host, and recovery across a re-insertion."""

from __future__ import annotations

import json
import os
from typing import Callable

import pytest

from applets.purse.layout import SFI_TRIP, CappTransitRecord, TripState, TxnType
from applets.sw import SW
from reader.emulated import Faults
from terminal.purse import Attempt, CappUpdate, Outcome, PurseResult
from terminal.purse.errors import NotSameCard, PurseError
from terminal.purse.issuer_host import LoadHost
from tests.purse.helpers import NOW, PIN, SERIAL, TERMINAL_ID, purse_image, rig

# card APDUs of a purchase after connect: 1 SELECT, 2 READ 0015, 3 INIT, 4 DEBIT (CAPP: 4 UPDATE, 5 DEBIT)
INIT_N, DEBIT_N = 3, 4


def corrupt(at: int, fn: Callable[[bytes], bytes]) -> Callable[[int, bytes, bytes], bytes]:
    return lambda n, cmd, resp: fn(resp) if n == at else resp


def by_ins(ins: int, fn: Callable[[bytes], bytes]) -> Callable[[int, bytes, bytes], bytes]:
    return lambda n, cmd, resp: fn(resp) if cmd[1] == ins else resp


def flip_mac2(resp: bytes) -> bytes:  # DEBIT answer: TAC 4 ‖ MAC2 4 ‖ SW
    return resp[:4] + bytes((resp[4] ^ 0xFF,)) + resp[5:] if len(resp) == 10 else resp


# ---- happy paths: everything clearing needs ----


def test_purchase_result_carries_everything_clearing_needs() -> None:
    r = rig()
    result = r.manager.purchase(150)
    assert result.outcome is Outcome.DONE and result.reason is None
    assert result.mac2_verified and not result.recovered
    assert result.kind.value == "purchase" and result.txn_type is TxnType.EP_PURCHASE
    assert (result.amount, result.balance_before, result.balance_after) == (150, 10_000, 9_850)
    assert result.card_serial == SERIAL and result.terminal_id == TERMINAL_ID
    assert (result.card_counter, result.terminal_seq) == (0, 1)
    assert result.timestamp == NOW and result.alg_name == "SM4"
    assert r.host.verify_tac(result)
    json.dumps(result.to_dict())
    second = r.manager.purchase(50)
    assert (second.card_counter, second.terminal_seq, second.balance_after) == (1, 2, 9_800)
    assert r.manager.balance() == 9_800
    assert [e.record.amount for e in r.manager.log()] == [50, 150]


@pytest.mark.parametrize("purpose", ["topup", "subsidy", "refund"])
def test_loads_for_every_purpose(purpose: str) -> None:
    r = rig()
    result = r.manager.load(2_000, purpose=purpose)
    assert result.outcome is Outcome.DONE and result.balance_after == 12_000
    assert r.host.verify_tac(result)
    assert r.host.authorizations[-1].request.purpose == purpose
    assert r.manager.balance() == 12_000


def test_3des_key_set_end_to_end() -> None:
    r = rig(key_index=2)
    assert r.manager.load(100).alg_name == "3DES"
    result = r.manager.purchase(100)
    assert result.outcome is Outcome.DONE and result.alg_name == "3DES" and r.host.verify_tac(result)


def test_ed_purchase_needs_the_pin() -> None:
    r = rig(purse_image(ed=5_000))
    declined = r.manager.purchase(100, TxnType.ED_PURCHASE)
    assert declined.outcome is Outcome.NOT_DONE and declined.sw == SW.SECURITY_STATUS_NOT_SATISFIED
    done = r.manager.purchase(100, TxnType.ED_PURCHASE, pin=PIN)
    assert done.outcome is Outcome.DONE and done.balance_after == 4_900 and r.host.verify_tac(done)
    assert r.manager.balance("ed", pin=PIN) == 4_900
    assert r.manager.load(300, "ed", purpose="subsidy").balance_after == 5_200


def test_capp_purchase_writes_the_transit_and_trip_records() -> None:
    r = rig()
    entry = CappTransitRecord(state=TripState.ENTERED, held_fare=600)
    trip = CappUpdate(SFI_TRIP, 0, bytes(range(48)))
    result = r.manager.purchase(0, TxnType.CAPP_PURCHASE, [CappUpdate(0x1A, 2, entry.to_bytes()), trip])
    assert result.outcome is Outcome.DONE and r.host.verify_tac(result)
    assert CappTransitRecord.from_bytes(r.manager.read_capp_record()).held_fare == 600
    exit_ = r.manager.purchase(400, TxnType.CAPP_PURCHASE, CappTransitRecord(state=TripState.EXITED).to_bytes())
    assert exit_.outcome is Outcome.DONE and exit_.balance_after == 9_600
    assert CappTransitRecord.from_bytes(r.manager.read_capp_record()).state == TripState.EXITED


def test_two_level_keys_use_the_lc_24_psam_form() -> None:
    r = rig(purse_image(ep=1_000, two_level_keys=True), two_level_keys=True)
    seen: list[bytes] = []
    r.psam_reader.faults = Faults(corrupt_response=lambda n, cmd, resp: seen.append(cmd) or resp)
    result = r.manager.purchase(10)
    assert result.outcome is Outcome.DONE and r.host.verify_tac(result)
    assert any(cmd[1] == 0x70 and cmd[4] == 0x24 for cmd in seen)
    assert r.manager.load(10).outcome is Outcome.DONE


def test_demo_card_from_the_test_key_file() -> None:
    from applets.card import MemoryStorage, VirtualCard
    from applets.personalize import personalize
    from applets.purse.personalize import PurseMasterKeys, personalize_psam
    from reader.emulated import EmulatedReader
    from terminal.issuer import load_profile, load_test_keys
    from terminal.datafiles import data_dir
    from terminal.purse import PurseManager

    keys = load_test_keys()
    masters = PurseMasterKeys.from_extra(keys.extra)
    assert masters is not None
    image = personalize(load_profile(data_dir() / "cards" / "zhang-wei.toml"), keys, os.urandom)
    card = EmulatedReader(VirtualCard(MemoryStorage(image.to_bytes()), os.urandom))
    psam = EmulatedReader(VirtualCard(MemoryStorage(personalize_psam(masters.purchase, os.urandom).to_bytes()), os.urandom))
    card.connect()
    psam.connect()
    host = LoadHost.from_test_keys()
    manager = PurseManager(card, psam, load_host=host)
    start = manager.balance()
    assert manager.load(1_000).outcome is Outcome.DONE
    result = manager.purchase(250)
    assert result.outcome is Outcome.DONE and host.verify_tac(result)
    assert manager.balance() == start + 750


# ---- declines ----


def test_insufficient_balance_is_declined_and_nothing_changes() -> None:
    r = rig()
    before = r.committed()
    result = r.manager.purchase(10_001)
    assert result.outcome is Outcome.NOT_DONE and result.sw == SW.INSUFFICIENT_BALANCE
    assert "insufficient balance" in (result.reason or "")
    assert r.committed() == before


def test_no_psam_no_purchase_but_queries_work() -> None:
    r = rig()
    r.manager.psam = None
    assert r.manager.purchase(1).reason == "no PSAM in the terminal"
    assert r.manager.balance() == 10_000


# ---- lost answers and tearing ----


def test_lost_debit_answer_is_recovered_to_done_with_the_true_tac() -> None:
    r = rig()
    r.card_reader.faults = Faults(lose_response=DEBIT_N)
    result = r.manager.purchase(300)
    assert result.outcome is Outcome.DONE and result.recovered and result.mac2_verified
    assert r.host.verify_tac(result) and result.balance_after == 9_700
    assert r.committed()["ep"]["balance"] == 9_700


def test_lost_credit_answer_is_recovered_to_done() -> None:
    r = rig()
    r.card_reader.faults = Faults(lose_response=DEBIT_N)
    result = r.manager.load(500)
    assert result.outcome is Outcome.DONE and result.recovered and r.host.verify_tac(result)
    assert r.committed()["ep"]["balance"] == 10_500


@pytest.mark.parametrize(("after_write", "outcome"), [(False, Outcome.NOT_DONE), (True, Outcome.DONE)])
def test_torn_save_is_unknown_then_recovered_after_reinsertion(after_write: bool, outcome: Outcome) -> None:
    r = rig()
    r.card_storage.tear_at_save = r.card_storage.saves + 1
    r.card_storage.after_write = after_write
    pending = r.manager.purchase(300)
    assert pending.outcome is Outcome.UNKNOWN and pending.attempt is not None
    attempt = Attempt.from_dict(json.loads(json.dumps(pending.attempt.to_dict())))  # survives a ledger round trip
    r.card_storage.tear_at_save = None
    r.reinsert()
    result = r.manager.recover(attempt)
    assert result.outcome is outcome and result.recovered
    assert r.committed()["ep"]["balance"] == (9_700 if outcome is Outcome.DONE else 10_000)
    if outcome is Outcome.DONE:
        assert r.host.verify_tac(result)


@pytest.mark.parametrize("sw", [b"\x6f\x00", b"\x65\x81", b"\x90\x00"])
def test_a_debit_answer_that_is_not_a_refusal_is_resolved_by_recovery(sw: bytes) -> None:
    """A card torn inside its save answers 6F00 through the vpcd bridge: not trusted either way."""
    r = rig()
    r.card_reader.faults = Faults(corrupt_response=corrupt(DEBIT_N, lambda resp: sw))
    result = r.manager.purchase(300)
    assert result.outcome is Outcome.DONE and result.recovered and r.host.verify_tac(result)


def test_card_pulled_right_after_the_debit_answer_is_done() -> None:
    r = rig()
    r.card_reader.faults = Faults(remove_after_apdu=DEBIT_N)
    assert r.manager.purchase(300).outcome is Outcome.DONE


def test_recovery_refuses_another_card() -> None:
    r = rig()
    r.card_reader.faults = Faults(remove_before_apdu=DEBIT_N)
    pending = r.manager.purchase(300)
    assert pending.outcome is Outcome.UNKNOWN and pending.attempt is not None
    other = rig(purse_image(ep=10_000, serial=bytes.fromhex("3100000000000099")))
    r.card_reader.insert(other.card)
    r.card_reader.faults = None
    with pytest.raises(NotSameCard):
        r.manager.recover(pending.attempt)


def test_psam_answer_lost_on_credit_sam_is_still_verified() -> None:
    r = rig()
    r.psam_reader.faults = Faults(lose_response=r.psam_reader.apdu_count + 4)  # SELECT, READ, INIT, CREDIT
    result = r.manager.purchase(10)
    assert result.outcome is Outcome.DONE and result.mac2_verified


# ---- hostile and broken cards: declined with a reason, never approved ----


def flip_proof_mac2(resp: bytes) -> bytes:  # GET TRANSACTION PROOF answer: MAC2 4 ‖ TAC 4 ‖ SW
    return bytes((resp[0] ^ 0xFF,)) + resp[1:] if len(resp) == 10 else resp


def _answer(ins: int, raw: bytes) -> Callable[[int, bytes, bytes], bytes]:
    return lambda n, cmd, resp: raw if cmd[1] == ins else resp


def _both(*faults: Callable[[int, bytes, bytes], bytes]) -> Callable[[int, bytes, bytes], bytes]:
    def run(n: int, cmd: bytes, resp: bytes) -> bytes:
        for f in faults:
            resp = f(n, cmd, resp)
        return resp

    return run


@pytest.mark.parametrize(
    ("fault", "reason"),
    [
        pytest.param(corrupt(INIT_N, lambda resp: resp[:13] + resp[-2:]), "expected 15 bytes", id="short-init"),
        pytest.param(corrupt(INIT_N, lambda resp: b"\x6a\x80"), "6A80", id="wrong-sw"),
        pytest.param(corrupt(INIT_N, lambda resp: bytes(4) + resp[4:]), "above its balance", id="balance-lie"),
        pytest.param(corrupt(INIT_N, lambda resp: resp[:4] + b"\x00\x09" + resp[6:]), "refused the MAC", id="wrong-counter"),
        pytest.param(_both(by_ins(0x54, flip_mac2), by_ins(0x5A, flip_proof_mac2)), "MAC2 is invalid", id="bad-mac2"),
        pytest.param(_both(_answer(0x54, b"\x90\x00"), _answer(0x5A, b"\x94\x06")), "no proof", id="empty-debit"),
        pytest.param(_both(_answer(0x54, b"\x01\x90\x00"), by_ins(0x5A, flip_proof_mac2)), "MAC2 invalid", id="short-debit"),
    ],
)
def test_hostile_answers_are_declined(fault: Callable[[int, bytes, bytes], bytes], reason: str) -> None:
    r = rig()
    r.card_reader.faults = Faults(corrupt_response=fault)
    result = r.manager.purchase(100)
    assert result.outcome is Outcome.NOT_DONE, result
    assert reason in (result.reason or ""), result.reason


def test_mac2_corrupted_once_on_the_way_is_recovered_through_the_proof() -> None:
    r = rig()
    r.card_reader.faults = Faults(corrupt_response=by_ins(0x54, flip_mac2))  # the DEBIT answer only
    result = r.manager.purchase(100)
    assert result.outcome is Outcome.DONE and result.mac2_verified and r.host.verify_tac(result)


def test_recovery_with_a_jumping_counter_is_unknown_not_a_guess() -> None:
    r = rig()
    r.card_reader.faults = Faults(
        lose_response=DEBIT_N,
        corrupt_response=lambda n, cmd, resp: resp[:4] + b"\x00\x05" + resp[6:] if n > DEBIT_N and cmd[1] == 0x50 else resp,
    )
    result = r.manager.purchase(100)
    assert result.outcome is Outcome.UNKNOWN and "counter" in (result.reason or "")


def test_tampered_mac1_gives_9302_then_the_keys_lock() -> None:
    r = rig()
    tamper = lambda n, cmd, resp: resp[:4] + bytes((resp[4] ^ 1,)) + resp[5:] if cmd[1] == 0x70 and len(resp) == 10 else resp  # noqa: E731
    r.psam_reader.faults = Faults(corrupt_response=tamper)
    for _ in range(3):
        result = r.manager.purchase(10)
        assert result.outcome is Outcome.NOT_DONE and result.sw == SW.MAC_INVALID
    locked = r.manager.purchase(10)
    assert locked.sw == SW.AUTH_METHOD_BLOCKED and "locked" in (locked.reason or "")
    r.psam_reader.faults = None
    assert r.manager.purchase(10).sw == SW.AUTH_METHOD_BLOCKED
    assert r.manager.balance() == 10_000
    assert r.committed()["locked"] is True


def test_load_host_refuses_a_bad_mac1() -> None:
    r = rig()
    r.card_reader.faults = Faults(corrupt_response=corrupt(INIT_N, lambda resp: resp[:12] + bytes(4) + resp[-2:]))
    result = r.manager.load(100)
    assert result.outcome is Outcome.NOT_DONE and "load host refused" in (result.reason or "")
    assert r.committed()["ep"]["balance"] == 10_000


def test_slow_card_still_works() -> None:
    r = rig()
    r.card_reader.faults = Faults(latency_s=0.001)
    assert r.manager.purchase(1).outcome is Outcome.DONE


def test_application_block_from_the_issuer_host() -> None:
    from terminal.protocol.iso import GetChallenge

    from terminal.purse.commands import ApplicationBlock

    r = rig()
    r.manager.identity()
    challenge = r.card_reader.transmit(GetChallenge(8).to_bytes())[:-2]
    mac = r.host.application_block_mac(r.manager.identity().app_serial, challenge)
    # identity() re-selected: the challenge is still the card's last one
    assert r.card_reader.transmit(ApplicationBlock(mac).to_bytes())[-2:] == b"\x90\x00"
    result = r.manager.purchase(1)
    assert result.outcome is Outcome.NOT_DONE and "blocked" in (result.reason or "")
    with pytest.raises(PurseError):
        r.manager.balance()


def test_result_round_trips_to_json() -> None:
    r = rig()
    r.card_reader.faults = Faults(remove_before_apdu=DEBIT_N)
    pending = r.manager.purchase(1)
    assert isinstance(pending, PurseResult) and pending.outcome is Outcome.UNKNOWN
    obj = json.loads(json.dumps(pending.to_dict()))
    assert obj["outcome"] == "unknown" and obj["attempt"]["terminal_seq"] == pending.terminal_seq
