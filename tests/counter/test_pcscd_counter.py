"""One holder through a real pcscd: the card in vpcd slot 0, the PSAM in slot 1, pyscard readers — identify
with the PIN, settle, refund; the card, the ledger and the receipt agree."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from applets.card import MemoryStorage, VirtualCard
from reader.pcsc import PcscReader
from reader.pcscd_service import PcscdService, vpcd_reader_name
from terminal.counter import Counter
from terminal.counter.cart import load_cart
from terminal.hotlist import Hotlist
from tests.counter.helpers import DATA, NOW, PIN, TERMINAL, holder_image, load_host, psam_image
from tests.pcscd import served_card

pytest_plugins = ["tests.pcsc_fixtures"]

pytestmark = pytest.mark.pcsc


def test_sale_and_refund_through_pcscd(pcscd: PcscdService, tmp_path: Path) -> None:
    card_storage = MemoryStorage(holder_image("zhang-wei"))
    card = VirtualCard(card_storage, os.urandom)
    psam = VirtualCard(MemoryStorage(psam_image()), os.urandom)
    counter = Counter.open(tmp_path / "ledger.sqlite", terminal_id=TERMINAL, clock=lambda: NOW,
                           hotlist=Hotlist.empty(), load_host=load_host(), scrypt_n=2**8)
    counter.operators.add("sup1", "Supervisor", "supervisor", "super-secret")
    counter.login("sup1", "super-secret")
    with served_card(card, 0), served_card(psam, 1):
        card_reader, psam_reader = PcscReader(vpcd_reader_name(0)), PcscReader(vpcd_reader_name(1))
        try:
            card_reader.connect()
            psam_reader.connect()
            manager = counter.manager(card_reader, psam_reader)
            customer = counter.identify(card_reader, manager, pin=PIN)
            assert customer.account_balance_fen == 120_000 and customer.identity.pin_verified
            draft = counter.preview(customer, load_cart(DATA / "carts" / "chronic.csv", counter.catalog))
            sale = counter.pay(draft, pin=PIN)
            assert sale.committed, sale.reason
            assert f"TAC {sale.tac}" in counter.receipt(sale.receipt_no).to_text()
            again = counter.identify(card_reader, manager, pin=PIN)
            assert again.ytd == draft.settlement.ytd_after
            assert again.account_balance_fen == draft.settlement.account_balance_after_fen
            back = counter.refund(sale.receipt_no, manager=manager, pin=PIN)
            assert back.committed, back.reason
            assert counter.identify(card_reader, manager, pin=PIN).account_balance_fen == 120_000
        finally:
            card_reader.disconnect()
            psam_reader.disconnect()
    assert counter.ledger.verify().ok
    counter.close()
