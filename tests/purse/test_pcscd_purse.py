"""Purchases through a real pcscd: the card in vpcd slot 0, the PSAM in slot 1, pyscard readers; and a
DEBIT whose answer is lost inside the vpcd bridge, recovered once the card is back."""

from __future__ import annotations

import time

import pytest

from applets.purse.layout import CappTransitRecord, TxnType
from reader.pcsc import PcscReader
from reader.pcscd_service import PcscdService, vpcd_reader_name
from terminal.purse import LoadHost, Outcome, PurseManager
from tests.pcscd import served_card
from tests.purse.helpers import MASTERS, card_of, psam_image, purse_image

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
