"""Lost answers: the centre commits a 2102 and its answer never reaches the counter (fault switch `drop`).
The counter confirms by resending the same msgid, or reverses with 2601 — at once, or at the next upload when
the centre is gone — so that each sale is settled at the centre exactly once, and the day balances."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from terminal.centre import Centre, Faults
from terminal.counter.cart import load_cart
from tests.counter.helpers import DATA, PIN, Desk, make_desk

from .conftest import Clock
from .server import CentreServer
from .test_counter_online import account, link_for

COLD = DATA / "carts" / "cold.csv"
ZW_PSN = "31000019800315000001"


@pytest.fixture
def centre(tmp_path: Path, clock: Clock) -> Iterator[Centre]:  # SQLite is enough here: the HTTP and the link are tested
    c = Centre.open(tmp_path / "centre.sqlite", clock=clock)
    yield c
    c.close()


@pytest.fixture
def desk(tmp_path: Path, server: CentreServer, clock: Clock) -> Iterator[Desk]:
    d = make_desk(tmp_path, clock=clock, centre=link_for(server, clock, timeout=0.4))
    yield d
    d.counter.close()


def preview(desk: Desk, name: str = "zhang-wei") -> tuple[Any, Any]:
    card = desk.card(name)
    customer = desk.counter.identify(card.reader, card.manager, pin=PIN)
    return card, desk.counter.preview(customer, load_cart(COLD, desk.counter.catalog))


def settlements(centre: Centre) -> list[tuple[str, str, str]]:
    return centre.db.query("SELECT msgid, mode, state FROM settlements WHERE kind = 'settle' ORDER BY msgid")


def assert_exactly_once(desk: Desk, centre: Centre) -> None:
    """Every committed sale of the ledger is settled at the centre once; nothing else is."""
    from terminal.counter.history import load_sale

    journal = desk.counter.centre.journal
    live = {row[0] for row in settlements(centre) if row[2] == "settled"}
    committed = set()
    for sale in journal.sales():
        if load_sale(desk.counter, sale["receipt_no"]).state == "committed":
            committed.add(sale["msgid"] or sale["upload_msgid"])
    assert live == committed


def test_lost_2102_answer_is_confirmed_with_the_same_msgid(desk: Desk, centre: Centre) -> None:
    card, draft = preview(desk)
    centre.faults.replace_with(Faults(drop={"2102": 1}))
    sale = desk.counter.pay(draft, pin=PIN)
    assert sale.committed and sale.mode == "online"
    assert len(settlements(centre)) == 1
    call = desk.counter.centre.journal.call(settlements(centre)[0][0])
    assert call["state"] == "answered"
    assert_exactly_once(desk, centre)


def test_lost_2102_answer_and_lost_retry_are_reversed_by_2601(desk: Desk, centre: Centre, tmp_path: Path) -> None:
    balc0, _, ytd0 = account(centre, ZW_PSN)
    card, draft = preview(desk)
    centre.faults.replace_with(Faults(drop={"2102": 2}))
    sale = desk.counter.pay(draft, pin=PIN)
    assert not sale.committed and "reversed by 2601" in sale.reason
    assert [row[2] for row in settlements(centre)] == ["reversed"]
    assert account(centre, ZW_PSN)[0::2] == (balc0, ytd0)  # the account and counters as before
    assert card.committed()[1].deductible_used_fen == ytd0.deductible_used_fen  # the card untouched
    # the cashier settles again: online, once
    card, draft = preview(desk)
    again = desk.counter.pay(draft, pin=PIN)
    assert again.committed and again.mode == "online"
    assert [row[2] for row in settlements(centre)] == ["reversed", "settled"]
    assert_exactly_once(desk, centre)
    desk.login("sup1")
    assert desk.counter.close_day(tmp_path / "close").summary["centre"]["balanced"] is True


def test_when_even_2601_is_lost_the_reversal_is_owed_and_goes_first_at_upload(desk: Desk, centre: Centre,
                                                                                server: CentreServer) -> None:
    card, draft = preview(desk)
    centre.faults.replace_with(Faults(drop={"2102": 2, "2601": 2}))
    sale = desk.counter.pay(draft, pin=PIN)
    assert not sale.committed and "2601" in sale.reason
    journal = desk.counter.centre.journal
    assert [r["infno"] for r in journal.calls("reverse_owed")] == ["2102"]
    # the centre went down: the cashier settles offline meanwhile
    server.stop()
    card, draft = preview(desk)
    offline = desk.counter.pay(draft, pin=PIN)
    assert offline.committed and offline.mode == "offline"
    server.start()
    report = desk.counter.upload()
    assert (report.reversed, report.uploaded) == (1, 1)
    assert sorted((row[1], row[2]) for row in settlements(centre)) == [("offline", "settled"), ("online", "reversed")]
    assert journal.calls("reverse_owed") == []
    assert_exactly_once(desk, centre)


def test_a_card_that_declines_after_the_centre_settled_gets_the_settlement_reversed(
        desk: Desk, centre: Centre, monkeypatch: pytest.MonkeyPatch) -> None:
    from reader.emulated import Faults as ReaderFaults

    card, draft = preview(desk)
    link = desk.counter.centre
    real = link.stateful

    def settled_then_card_pulled(*args: Any, **kwargs: Any) -> Any:
        reply = real(*args, **kwargs)
        card.reader.faults = ReaderFaults(remove_before_apdu=card.reader.apdu_count + 1)
        return reply

    monkeypatch.setattr(link, "stateful", settled_then_card_pulled)
    sale = desk.counter.pay(draft, pin=PIN)
    monkeypatch.undo()
    assert sale.status != "committed"
    card.reinsert()
    desk.counter.recover(card.manager, pin=PIN)  # the card says: not done → the centre's settlement is reversed
    assert [row[2] for row in settlements(centre)] == ["reversed"]
    assert_exactly_once(desk, centre)


def test_lost_upload_answer_is_resent_with_the_same_msgid(desk: Desk, centre: Centre, server: CentreServer) -> None:
    server.stop()
    card, draft = preview(desk)
    assert desk.counter.pay(draft, pin=PIN).mode == "offline"
    server.start()
    centre.faults.replace_with(Faults(drop={"Y201": 2}))
    first = desk.counter.upload()
    assert first.uploaded == 0 and first.error
    second = desk.counter.upload()
    assert second.uploaded == 1
    assert len(settlements(centre)) == 1
    assert_exactly_once(desk, centre)


def test_fault_switches_over_http(server: CentreServer, centre: Centre, clock: Clock) -> None:
    http = httpx.Client(timeout=5)
    put = http.put(server.url + "/ykt/faults", json={"latency_ms": 5, "fail": {"1101": 1}, "clock_skew_s": 3600})
    assert put.status_code == 200 and put.json()["fail"] == {"1101": 1}
    assert centre.now().hour == 11  # the centre's clock runs an hour ahead: the counter's inf_time is refused
    desk_link = link_for(server, clock)
    from terminal.centre_client import CentreRefused

    with pytest.raises(CentreRefused, match="away from the centre's clock"):
        desk_link.client.sign_in("c001")
    assert http.put(server.url + "/ykt/faults", json={"latency": 1}).status_code == 400
    http.delete(server.url + "/ykt/faults")
    desk_link.client.sign_in("c001")
    centre.faults.replace_with(Faults(fail={"1101": 1}, fail_msg="系统繁忙"))
    with pytest.raises(CentreRefused, match="系统繁忙"):
        desk_link.client.call("1101", {"data": {"mdtrt_cert_type": "02", "mdtrt_cert_no": "31010519800315001X"}})
    assert desk_link.client.call("1101", {"data": {"mdtrt_cert_type": "02",
                                                   "mdtrt_cert_no": "31010519800315001X"}}).output["baseinfo"]
    desk_link.close()
