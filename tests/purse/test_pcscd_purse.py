"""Purchases through a real pcscd: the card in vpcd slot 0, the PSAM in slot 1, pyscard readers; and a
DEBIT whose answer is lost inside the vpcd bridge, recovered once the card is back."""

from __future__ import annotations

import time

import pytest

from typing import Callable

from applets.card import MemoryStorage, VirtualCard
from applets.purse.layout import CappTransitRecord, TxnType
from reader.card_file import TearingStorage
from reader.pcsc import PcscReader
from reader.pcscd_service import PcscdService, vpcd_reader_name
from terminal.purse import LoadHost, Outcome, PurseManager
from tests.pcscd import served_card
from tests.purse.helpers import MASTERS, Entropy, card_of, psam_image, purse_image

pytest_plugins = ["tests.pcsc_fixtures"]

pytestmark = pytest.mark.pcsc


class FaultAt:
    """vpcd bridge fault hook: `action` at the bridge's APDU number `n`."""

    def __init__(self, n: int, action: str) -> None:
        self.n, self.action = n, action

    def before_apdu(self, n: int, apdu: bytes) -> str | None:
        return self.action if n == self.n else None


def test_purchase_through_pcscd_with_card_and_psam_in_two_slots(pcscd: PcscdService) -> None:
    card, storage = card_of(purse_image(ep=5_000), seed="pcsc card")
    psam, _ = card_of(psam_image(), seed="pcsc psam")
    host = LoadHost(MASTERS)
    with served_card(card, 0), served_card(psam, 1):
        card_reader, psam_reader = PcscReader(vpcd_reader_name(0)), PcscReader(vpcd_reader_name(1))
        try:
            card_reader.connect()
            psam_reader.connect()
            manager = PurseManager(card_reader, psam_reader, load_host=host)
            assert manager.balance() == 5_000
            result = manager.purchase(120)
            assert result.outcome is Outcome.DONE and result.mac2_verified and host.verify_tac(result)
            assert manager.load(1_000).outcome is Outcome.DONE
            capp = manager.purchase(0, TxnType.CAPP_PURCHASE, CappTransitRecord(state=1).to_bytes())
            assert capp.outcome is Outcome.DONE and host.verify_tac(capp)
            timings = []
            for _ in range(20):
                start = time.perf_counter()
                assert manager.purchase(1).outcome is Outcome.DONE
                timings.append(time.perf_counter() - start)
            assert manager.balance() == 5_000 - 120 + 1_000 - 20
            print(f"\npurchase through pcscd: median {sorted(timings)[10] * 1000:.2f} ms")
        finally:
            card_reader.disconnect()
            psam_reader.disconnect()


@pytest.mark.parametrize("action", ["lose", "remove"])
def test_debit_fault_in_the_vpcd_bridge_is_recovered(pcscd: PcscdService, action: str) -> None:
    card, storage = card_of(purse_image(ep=5_000), seed="pcsc tear")
    psam, _ = card_of(psam_image(), seed="pcsc tear psam")
    host = LoadHost(MASTERS)
    # card APDUs over the bridge: 1 SELECT, 2 READ 0015, 3 INIT, 4 DEBIT
    with served_card(card, 0, faults=FaultAt(4, action), reinsert_after=0.3), served_card(psam, 1):
        card_reader, psam_reader = PcscReader(vpcd_reader_name(0)), PcscReader(vpcd_reader_name(1))
        try:
            card_reader.connect()
            psam_reader.connect()
            manager = PurseManager(card_reader, psam_reader, load_host=host)
            result = manager.purchase(300)
            if result.outcome is Outcome.UNKNOWN:
                assert result.attempt is not None
                assert card_reader.wait_for_card(5.0)
                result = manager.recover(result.attempt)
            expected = Outcome.DONE if action == "lose" else Outcome.NOT_DONE
            assert result.outcome is expected, result.reason
            assert manager.balance() == (4_700 if action == "lose" else 5_000)
        finally:
            card_reader.disconnect()
            psam_reader.disconnect()


class FaultyCard:
    """A served card whose answers are slowed down and/or corrupted (the bridge hook only removes or
    loses): `corrupt(n, apdu, response)` with n counting this card's APDUs."""

    def __init__(self, card: VirtualCard, *, latency_s: float = 0.0,
                 corrupt: Callable[[int, bytes, bytes], bytes] | None = None) -> None:
        self.card, self.latency_s, self.corrupt, self.n = card, latency_s, corrupt, 0

    @property
    def atr(self) -> bytes:
        return self.card.atr

    def power_on(self) -> bytes:
        return self.card.power_on()

    def power_off(self) -> None:
        self.card.power_off()

    def process(self, apdu: bytes) -> bytes:
        self.n += 1
        if self.latency_s:
            time.sleep(self.latency_s)
        response = self.card.process(apdu)
        return self.corrupt(self.n, apdu, response) if self.corrupt else response


@pytest.mark.parametrize(("after_write", "balance"), [(False, 5_000), (True, 4_700)])
def test_card_crash_during_its_save_through_the_bridge(pcscd: PcscdService, after_write: bool, balance: int) -> None:
    """PowerLost inside DEBIT's save: the card goes silent and leaves the reader, as a torn real card does;
    once it is back, the manager's recovery finds out whether the debit happened."""
    storage = TearingStorage(MemoryStorage(purse_image(ep=5_000).to_bytes()), tear_at_save=1, after_write=after_write)
    card = VirtualCard(storage, Entropy("pcsc save"))
    psam, _ = card_of(psam_image(), seed="pcsc save psam")
    host = LoadHost(MASTERS)
    with served_card(card, 0, reinsert_after=0.6), served_card(psam, 1):
        card_reader, psam_reader = PcscReader(vpcd_reader_name(0)), PcscReader(vpcd_reader_name(1))
        try:
            card_reader.connect()
            psam_reader.connect()
            manager = PurseManager(card_reader, psam_reader, load_host=host)
            result = manager.purchase(300)
            if result.outcome is Outcome.UNKNOWN:  # the card was still out: recover once it is back
                assert card_reader.wait_for_card(5.0)
                result = manager.recover(result.attempt)
            assert result.outcome is (Outcome.DONE if after_write else Outcome.NOT_DONE), result.reason
            assert result.recovered
            assert manager.balance() == balance
        finally:
            card_reader.disconnect()
            psam_reader.disconnect()


def test_slow_card_and_corrupted_mac_through_the_bridge(pcscd: PcscdService) -> None:
    inner, _ = card_of(purse_image(ep=5_000), seed="pcsc slow")
    flip_once = lambda n, apdu, resp: resp[:4] + bytes((resp[4] ^ 0xFF,)) + resp[5:] if apdu[1] == 0x54 and n < 6 else resp  # noqa: E731
    card = FaultyCard(inner, latency_s=0.01, corrupt=flip_once)
    psam, _ = card_of(psam_image(), seed="pcsc slow psam")
    host = LoadHost(MASTERS)
    with served_card(card, 0), served_card(psam, 1):
        card_reader, psam_reader = PcscReader(vpcd_reader_name(0)), PcscReader(vpcd_reader_name(1))
        try:
            card_reader.connect()
            psam_reader.connect()
            manager = PurseManager(card_reader, psam_reader, load_host=host)
            start = time.perf_counter()
            result = manager.purchase(100)  # MAC2 corrupted on the way: verified through the proof
            assert result.outcome is Outcome.DONE and result.mac2_verified and host.verify_tac(result)
            assert time.perf_counter() - start >= 0.05  # ≥ 5 slow APDUs
            card.corrupt = lambda n, apdu, resp: resp[:4] + bytes((resp[4] ^ 0xFF,)) + resp[5:] if apdu[1] == 0x54 else (
                bytes((resp[0] ^ 0xFF,)) + resp[1:] if apdu[1] == 0x5A and len(resp) == 10 else resp)
            declined = manager.purchase(100)  # a card whose MAC2 is always wrong: declined
            assert declined.outcome is Outcome.NOT_DONE and "MAC2" in (declined.reason or "")
        finally:
            card_reader.disconnect()
            psam_reader.disconnect()
