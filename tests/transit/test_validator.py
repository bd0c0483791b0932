"""The validator end to end, in-process: card OS, PSAM, compound purchases and the durable ledger."""

from __future__ import annotations

from datetime import timedelta

from applets.purse.layout import TripRecord, TripState
from terminal.ledger import Posting
from terminal.transit.card import TransitState
from terminal.transit.outcome import TapStatus
from tests.transit.helpers import Rig, card_state, new_card


def _transactions(rig: Rig) -> list[tuple[str, int, str | None]]:
    return [tuple(r) for r in rig.ledger.conn.execute("SELECT kind, amount_fen, card_serial FROM transactions ORDER BY seq")]


def _postings(rig: Rig, txn_id: int) -> list[Posting]:
    return list(rig.ledger.get_transaction(txn_id).postings)


def test_bus_tap_debits_the_card_and_books_the_fare(rig: Rig) -> None:
    card = new_card("zhang-wei", ep=5_000)
    out = rig.tap(card, "bus", "71")
    assert out.status is TapStatus.APPROVED, out.reason
    assert (out.amount, out.balance, out.station, out.low_balance) == (200, 4_800, "route 71", False)
    assert out.tac and len(out.tac) == 8 and out.card_serial == "3100000000000001"
    state = card_state(card)
    assert state["ep"]["balance"] == 4_800 and state["ep"]["offline"] == 1
    assert state["log"][0][9] == 0x09  # a compound purchase
    trip = TripRecord.from_bytes(state["trips"][0])
    assert (trip.trip_type, trip.industry, trip.amount, trip.balance) == (0x05, 0x02, 200, 4_800)
    assert _postings(rig, out.txn_id) == [Posting("purse_float", 200), Posting("transit_revenue", -200)]
    txn = rig.ledger.get_transaction(out.txn_id)
    assert (txn.kind, txn.txn_type, txn.tac) == ("transit_fare", 0x09, out.tac)
    assert rig.ledger.verify().ok


def test_metro_entry_and_exit_write_the_trip_on_the_card(rig: Rig) -> None:
    card = new_card("zhang-wei", ep=5_000)
    entry = rig.tap(card, "metro-entry", "xinzhuang")
    assert entry.status is TapStatus.APPROVED and entry.amount == 0 and entry.tac
    state = TransitState.from_bytes(card_state(card)["capp"][1])
    assert state.record.state == TripState.ENTERED and state.record.entry.station == 1 and state.record.held_fare == 800
    rig.advance(minutes=25)
    out = rig.tap(card, "metro-exit", "peoples-square")
    assert (out.status, out.amount, out.entry_station, out.distance_m) == (TapStatus.APPROVED, 500, "莘庄", 14_000)
    state = TransitState.from_bytes(card_state(card)["capp"][1])
    assert state.record.state == TripState.EXITED and (state.day_spent, state.month_spent) == (500, 500)
    assert [TripRecord.from_bytes(r).trip_type for r in card_state(card)["trips"]] == [0x04, 0x03]
    kinds = _transactions(rig)
    assert kinds == [("transit_entry", 0, "3100000000000001"), ("transit_fare", 500, "3100000000000001")]
    assert _postings(rig, entry.txn_id) == [Posting("transit_memo", 1), Posting("transit_memo", -1)]


def test_concessions_come_from_the_card(rig: Rig) -> None:
    elderly, student = new_card("wang-jianguo"), new_card("chen-xiaoyu")
    a = rig.tap(elderly, "bus", "71")
    b = rig.tap(student, "bus", "71")
    assert (a.amount, a.concession, b.amount, b.concession) == (0, "elderly", 100, "student")
    assert a.fare.concession == 200 and "老年" in (a.concession_label or "")
    # no subsidy advance in this ledger: the concession is owed by the programme
    assert Posting("subsidy_receivable", 200) in _postings(rig, a.txn_id)
    assert Posting("subsidy_receivable", 100) in _postings(rig, b.txn_id)


def test_concessions_use_the_subsidy_advance_when_there_is_one(rig: Rig) -> None:
    advance = rig.ledger.begin_intent(kind="subsidy_advance", amount_fen=10_000, card_serial=None, operator="office",
                                      business_day="2024-03-01",
                                      postings=[Posting("settlement_receivable", 10_000), Posting("subsidy_payable", -10_000)])
    rig.ledger.commit_intent(advance.intent_id)
    out = rig.tap(new_card("chen-xiaoyu"), "bus", "71")
    assert _postings(rig, out.txn_id) == [Posting("purse_float", 100), Posting("subsidy_payable", 100),
                                          Posting("transit_revenue", -200)]


def test_repeat_tap_is_not_charged_twice(rig: Rig) -> None:
    card = new_card("zhang-wei", ep=5_000)
    first = rig.tap(card, "bus", "71")
    rig.advance(seconds=2)
    again = rig.tap(card, "bus", "71")
    assert again.status is TapStatus.ALREADY_PAID and again.ok and again.amount == 0 and "already paid" in again.reason
    assert again.extra["paid"] == 200 and again.balance == first.balance
    assert card_state(card)["ep"] == {"balance": 4_800, "online": 0, "offline": 1}
    rig.advance(seconds=2)  # 4 s after: a new ride
    third = rig.tap(card, "bus", "71")
    assert third.status is TapStatus.APPROVED and card_state(card)["ep"]["offline"] == 2


def test_repeat_tap_after_a_validator_restart_is_caught_from_the_card(rig: Rig) -> None:
    card = new_card("zhang-wei", ep=5_000)
    rig.tap(card, "metro-entry", "xinzhuang")
    rig.validator("metro-entry", "xinzhuang", fresh=True)  # restarted: no memory of the tap
    rig.advance(seconds=1)
    again = rig.tap(card, "metro-entry", "xinzhuang")
    assert again.status is TapStatus.ALREADY_PAID and "already entered" in again.reason
    assert card_state(card)["ep"]["offline"] == 1


def test_another_validator_within_seconds_is_a_new_tap(rig: Rig) -> None:
    card = new_card("zhang-wei", ep=5_000)
    rig.tap(card, "bus", "71")
    rig.advance(seconds=1)
    out = rig.tap(card, "bus", "49")
    assert out.status is TapStatus.APPROVED and out.amount == 100  # a transfer


def test_decline_below_fare_names_the_reason_and_books_a_failed_intent(rig: Rig) -> None:
    card = new_card("zhang-wei", ep=150)
    out = rig.tap(card, "bus", "71")
    assert out.status is TapStatus.DECLINED and not out.ok
    assert out.reason == "insufficient balance: fare 2.00, balance 1.50; top up"
    assert card_state(card)["ep"] == {"balance": 150, "online": 0, "offline": 0}
    intent = rig.ledger.get_intent(out.intent_id)
    assert intent.state == "failed" and intent.card_serial == "3100000000000001"
    assert _transactions(rig) == []


def test_engine_declines_are_booked_too(rig: Rig) -> None:
    out = rig.tap(new_card("zhang-wei"), "metro-exit", "xujiahui")
    assert out.status is TapStatus.DECLINED and "no entry tap" in out.reason
    row = rig.ledger.conn.execute("SELECT kind FROM v_intents WHERE card_serial = '3100000000000001'").fetchall()
    assert [r[0] for r in row] == ["transit_refusal"]


def test_low_balance_warning(rig: Rig) -> None:
    out = rig.tap(new_card("zhang-wei", ep=600), "bus", "71")
    assert out.status is TapStatus.APPROVED and out.balance == 400 and out.low_balance and "LOW BALANCE" in out.line()


def test_hotlist_refuses_every_listed_card_offline_and_blocks_it(rig: Rig, tmp_path) -> None:
    import time

    from terminal.hotlist import install, record_key
    from terminal.transit.validator import HotlistFile

    serials = [f"31000000{i:08d}" for i in range(1, 41)]
    cards = {s: new_card("zhang-wei", ep=5_000, serial=s) for s in serials}
    black = set(serials[::2])
    others = (b"S" + (0x7700000000000000 + 3 * i).to_bytes(8, "big") + b"\x00" for i in range(1_000_000 - len(black)))
    install(tmp_path / "hotlist.ykthl", 7, [*(record_key(s) for s in black), *others], created=0)
    rig.hotlist = HotlistFile(tmp_path / "hotlist.ykthl")
    assert len(rig.hotlist.current()) == 1_000_000
    t0 = time.perf_counter()
    assert all(rig.hotlist.current().contains(s) == (s in black) for s in serials)
    assert (time.perf_counter() - t0) / len(serials) < 0.001  # ≤ 1 ms a lookup at 1,000,000 entries
    results = {s: rig.tap(cards[s], "bus", "71") for s in serials}
    for s, out in results.items():
        if s in black:
            assert out.status is TapStatus.DECLINED and out.blocked and "hotlist" in out.reason, s
            assert card_state(cards[s])["blocked"] and card_state(cards[s])["ep"]["balance"] == 5_000
        else:
            assert out.status is TapStatus.APPROVED, (s, out.reason)
    # a blocked card stays refused, even by a validator without the list
    rig.hotlist = None
    again = rig.tap(cards[sorted(black)[0]], "bus", "49", keep=False)
    assert again.status is TapStatus.DECLINED and "blocked" in again.reason
    refusals = rig.ledger.conn.execute("SELECT count(*) FROM v_intents WHERE kind = 'hotlist_refusal'").fetchone()[0]
    assert refusals == len(black)


def test_a_new_hotlist_version_is_picked_up_without_restart(rig: Rig, tmp_path) -> None:
    from terminal.hotlist import install, record_key
    from terminal.transit.validator import HotlistFile

    path = tmp_path / "hotlist.ykthl"
    install(path, 1, [record_key("7700000000000001")], created=0)
    rig.hotlist = HotlistFile(path)
    card = new_card("zhang-wei", ep=5_000)
    assert rig.tap(card, "bus", "71").status is TapStatus.APPROVED
    install(path, 2, [record_key("3100000000000001")], created=0)
    rig.advance(seconds=10)
    assert rig.tap(card, "bus", "71").status is TapStatus.DECLINED


def test_torn_tap_is_resolved_at_the_next_tap_never_charged_twice(rig: Rig) -> None:
    card = new_card("zhang-wei", ep=5_000)
    storage = card.storage
    storage.tear_at_save, storage.after_write = storage.saves + 1, True  # the DEBIT commits, then power is lost
    torn = rig.tap(card, "bus", "71")
    assert torn.status is TapStatus.PENDING and rig.ledger.pending_intents()
    storage.tear_at_save = None
    rig.advance(seconds=30)
    again = rig.tap(card, "bus", "71")
    assert again.status is TapStatus.ALREADY_PAID and "torn tap went through" in again.reason and again.recovered
    assert card_state(card)["ep"]["balance"] == 4_800 and not rig.ledger.pending_intents()
    assert len(_transactions(rig)) == 1 and rig.ledger.verify().ok


def test_gate_passes(rig: Rig) -> None:
    from datetime import date

    from terminal.booking import PurseBooks
    from terminal.purse import PurseManager
    from terminal.transit.validator import issue_pass

    card = new_card("zhang-wei", ep=5_000)
    rig.reader.insert(card)
    rig.reader.connect()
    books = PurseBooks(rig.ledger, PurseManager(rig.reader, rig.psam_reader), operator="desk", business_day="2024-03-01")
    for kind in ("park-annual", "museum-booking"):
        booked, _ = issue_pass(books, rig.tables, kind, date(2024, 3, 1))
        assert booked.status == "committed"
    rig.reader.remove()
    ok = rig.tap(card, "gate", "century-park")
    assert ok.status is TapStatus.APPROVED and ok.pass_label.startswith("公园年票") and ok.entries_left is None
    rig.advance(hours=2)
    assert "once per day" in rig.tap(card, "gate", "century-park").reason
    assert rig.tap(card, "gate", "zhongshan-park").status is TapStatus.APPROVED  # another park, same day
    museum = rig.tap(card, "gate", "shanghai-museum")
    assert museum.status is TapStatus.APPROVED and museum.entries_left == 0
    rig.advance(hours=1)
    assert "already entered today" in rig.tap(card, "gate", "shanghai-museum").reason
    rig.advance(days=1)
    assert rig.tap(card, "gate", "century-park").status is TapStatus.APPROVED
    assert "expired" in rig.tap(card, "gate", "shanghai-museum").reason
    assert "no pass for" in rig.tap(card, "gate", "city-library").reason
    rig.advance(days=400)
    assert "expired" in rig.tap(card, "gate", "century-park").reason
    assert card_state(card)["ep"]["balance"] == 5_000  # no money moves
    assert rig.ledger.verify().ok


def test_every_tap_is_in_the_ledger(rig: Rig) -> None:
    card = new_card("zhang-wei", ep=5_000)
    for mode, station in [("bus", "71"), ("metro-entry", "xinzhuang"), ("metro-entry", "xujiahui"),
                          ("metro-exit", "xujiahui")]:
        rig.advance(minutes=10)
        rig.tap(card, mode, station)
    states = [r[0] for r in rig.ledger.conn.execute("SELECT state FROM v_intents ORDER BY seq")]
    assert states == ["committed", "committed", "failed", "committed"]
    assert rig.ledger.verify().ok


def test_outcome_line_and_dict(rig: Rig) -> None:
    out = rig.tap(new_card("chen-xiaoyu"), "bus", "71")
    line = out.line()
    assert line.startswith("08:00:00  OK") and "fare 1.00" in line and "concession 学生 student" in line
    d = out.to_dict()
    assert d["status"] == "approved" and d["fare"]["concession"] == 100 and d["concession"] == "student"
    assert timedelta(0) <= timedelta(milliseconds=d["duration_ms"]) < timedelta(seconds=5)


def test_a_tap_torn_elsewhere_is_booked_and_this_tap_goes_on(rig: Rig) -> None:
    card = new_card("zhang-wei", ep=5_000)
    storage = card.storage
    storage.tear_at_save, storage.after_write = storage.saves + 1, True
    assert rig.tap(card, "bus", "71").status is TapStatus.PENDING
    storage.tear_at_save = None
    rig.advance(minutes=20)
    entry = rig.tap(card, "metro-entry", "xinzhuang")  # the bus ride went through; the entry is a new tap
    assert entry.status is TapStatus.APPROVED and entry.recovered and entry.recovered[0].startswith("committed")
    assert TransitState.from_bytes(card_state(card)["capp"][1]).open
    assert [k for k, _, _ in _transactions(rig)] == ["transit_fare", "transit_entry"]
    # torn at the same bus, back after the recovery window: booked, and this is a new ride
    storage.tear_at_save, storage.after_write = storage.saves + 1, True
    rig.advance(hours=5)
    rig.tap(card, "bus", "71")
    storage.tear_at_save = None
    rig.advance(minutes=6)
    again = rig.tap(card, "bus", "71")
    assert again.status is TapStatus.APPROVED and again.recovered


def test_a_tap_selects_the_purse_once_and_a_returning_card_skips_the_fact_reads(rig: Rig) -> None:
    card = new_card("zhang-wei", ep=5_000)
    sent: list[bytes] = []
    process = card.process
    card.process = lambda raw: sent.append(raw) or process(raw)  # type: ignore[method-assign]

    def commands() -> list[str]:
        names = {0xA4: "SELECT", 0xB0: "READ BINARY", 0xB2: "READ RECORD", 0x5C: "GET BALANCE", 0x50: "INIT",
                 0xDC: "UPDATE CAPP", 0x54: "DEBIT"}
        out = [names.get(raw[1], f"{raw[1]:02X}") for raw in sent]
        sent.clear()
        return out

    assert rig.tap(card, "bus", "71").status is TapStatus.APPROVED
    # first tap: the facts (0019, SSSE EF06) are read once, then the purse is selected again for the purchase
    assert commands() == ["SELECT", "READ BINARY", "GET BALANCE", "READ RECORD", "READ RECORD", "READ RECORD",
                          "SELECT", "READ RECORD", "SELECT", "INIT", "UPDATE CAPP", "UPDATE CAPP", "DEBIT"]
    rig.advance(hours=1)
    # another card's torn tap waits in the ledger: this card's tap is not slowed by looking for it again
    rig.ledger.begin_intent(kind="transit_fare", amount_fen=200, card_serial="3100000000000099", operator="v",
                            business_day="2024-03-01")
    assert rig.tap(card, "bus", "71").status is TapStatus.APPROVED
    assert commands() == ["SELECT", "READ BINARY", "GET BALANCE", "READ RECORD", "READ RECORD", "INIT",
                          "UPDATE CAPP", "UPDATE CAPP", "DEBIT"]


def test_gate_repeat_after_a_validator_restart_is_caught_from_the_card(rig: Rig) -> None:
    from datetime import date

    from terminal.booking import PurseBooks
    from terminal.purse import PurseManager
    from terminal.transit.validator import issue_pass

    card = new_card("zhang-wei", ep=5_000)
    rig.reader.insert(card)
    rig.reader.connect()
    books = PurseBooks(rig.ledger, PurseManager(rig.reader, rig.psam_reader), operator="desk", business_day="2024-03-01")
    assert issue_pass(books, rig.tables, "library", date(2024, 3, 1))[0].status == "committed"
    rig.reader.remove()
    assert rig.tap(card, "gate", "city-library").status is TapStatus.APPROVED
    entries = card_state(card)["ep"]["offline"]
    rig.validator("gate", "city-library", fresh=True)  # restarted: no memory of the entry
    rig.advance(seconds=1)
    again = rig.tap(card, "gate", "city-library")
    assert again.status is TapStatus.ALREADY_PAID and "already entered" in again.reason
    assert card_state(card)["ep"]["offline"] == entries  # nothing written to the card
    rig.advance(seconds=rig.tables.validator.double_tap_seconds + 1)
    assert rig.tap(card, "gate", "city-library").status is TapStatus.APPROVED  # a new visit
    assert card_state(card)["ep"]["offline"] == entries + 1


def test_the_headless_loop_checkpoints_the_ledger_while_no_card_is_there(rig: Rig) -> None:
    import shutil
    import sqlite3
    import threading

    from terminal.transit.monitor import EmulatedTapSource, run

    rig.ledger.checkpoint()  # the new ledger's schema into the file
    validator = rig.validator("bus", "71")
    source = EmulatedTapSource([new_card("zhang-wei", ep=5_000)], reader=rig.reader)
    outcomes: list = []
    assert run(validator, source, outcomes.append, threading.Event()) == 1
    assert outcomes[0].status is TapStatus.APPROVED
    copy = rig.folder / "copy.sqlite"  # the database file alone, without its WAL
    shutil.copyfile(rig.ledger.path, copy)
    with sqlite3.connect(copy) as conn:  # the tap was copied in while no card was there, not by a later tap
        assert conn.execute("SELECT count(*) FROM transactions WHERE seq = ?", (outcomes[0].txn_id,)).fetchone() == (1,)
