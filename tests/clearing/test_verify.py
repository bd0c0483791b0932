"""TAC verification: forged or altered transactions (TAC, amount, card, terminal, sequence, time, type, another
terminal's record) are detected 100 % and quarantined with a reason, never settled; genuine ones never are.
The fast verifier agrees with LoadHost.verify_tac on real purse transactions (SM4, 3DES, two-level keys)."""

from __future__ import annotations

import copy
import random

import pytest

from applets.crypto.pboc import Algorithm
from terminal.clearing import ClearingHouse, TacVerifier
from terminal.clearing.records import parse
from terminal.ledger import accounts as chart
from tests.purse.helpers import MASTERS, purse_image, rig

from .helpers import RecordMaker

TID, OTHER = "310100000001", "310100000002"


def _flip_hex(value: str, rng: random.Random) -> str:
    raw = bytearray(bytes.fromhex(value))
    raw[rng.randrange(len(raw))] ^= 1 << rng.randrange(8)
    return raw.hex().upper()


def forge(rec: dict, rng: random.Random) -> tuple[str, dict]:
    bad = copy.deepcopy(rec)
    how = rng.choice(("tac", "amount", "card", "card_mismatch", "terminal_seq", "time", "type", "balance"))
    if how == "tac":
        bad["tac"] = _flip_hex(bad["tac"], rng)
    elif how == "amount":
        delta = rng.choice((1, -1, 100, 9999))
        bad["amount_fen"] = max(0, bad["amount_fen"] + delta) if bad["amount_fen"] + delta != bad["amount_fen"] else 1
        if bad["amount_fen"] == rec["amount_fen"]:
            bad["amount_fen"] += 1
        a = bad["amount_fen"]
        bad["postings"] = [[bad["postings"][0][0], a if bad["postings"][0][1] > 0 else -a],
                           [bad["postings"][1][0], -a if bad["postings"][0][1] > 0 else a]]
    elif how in ("card", "card_mismatch"):
        serial = _flip_hex(bad["card_serial"], rng)
        bad["card_serial"] = serial
        if how == "card":
            bad["card"]["app_serial"] = "3100" + serial
    elif how == "terminal_seq":
        if bad["terminal_seq"] is None:  # a load: its counter is in the TAC
            bad["card_counter"] += 1
        else:
            bad["terminal_seq"] += rng.randrange(1, 50)
    elif how == "time":
        t = bad["card_time"]
        bad["card_time"] = t[:-1] + str((int(t[-1]) + 1) % 10)
    elif how == "type":
        bad["txn_type"] = {6: 9, 2: 1, 9: 6, 1: 2}[bad["txn_type"]]
    else:
        if bad["card"]["balance_before"] is None or bad["txn_type"] not in (1, 2):
            bad["tac"] = _flip_hex(bad["tac"], rng)
            how = "tac"
        else:
            bad["card"]["balance_before"] += 1
    return how, bad


def test_forged_and_altered_transactions_are_all_detected(house: ClearingHouse) -> None:
    rng = random.Random(7)
    n = 1500 if house.db.dialect == "sqlite" else 400
    maker = RecordMaker(TID, rng, [f"31000000{k:08X}" for k in range(20)])
    genuine = [r for r in maker.make(n) if r["card"] is not None]
    forged_by_kind: dict[str, int] = {}
    upload: list[dict] = []
    seq = 10**9
    for rec in genuine:
        how, bad = forge(rec, rng)
        seq += 3
        bad["seq"], bad["prev_seq"] = seq, seq - 3
        forged_by_kind[how] = forged_by_kind.get(how, 0) + 1
        upload.append(bad)
    for start in range(0, len(upload), 200):
        result = house.ingest(TID, upload[start:start + 200])
        assert result.new == len(upload[start:start + 200])
    statuses = house.db.query("SELECT status, COUNT(*) FROM txns GROUP BY status")
    assert dict(statuses) == {"quarantined": len(upload)}, forged_by_kind  # 100 % detected
    # the genuine ones all verify, none is a false alarm
    for start in range(0, len(genuine), 200):
        assert house.ingest(TID, genuine[start:start + 200]).quarantined == []
    assert house.stats()["valid"] == len(genuine)
    assert set(forged_by_kind) == {"tac", "amount", "card", "card_mismatch", "terminal_seq", "time", "type", "balance"}


def test_another_terminals_records_and_replayed_card_transactions_are_quarantined(house: ClearingHouse) -> None:
    rng = random.Random(3)
    records = [r for r in RecordMaker(TID, rng, ["3100000000000001"]).make(30) if r["card"] is not None]
    stolen = house.ingest(OTHER, records)  # uploaded by a terminal whose id is not in the TACs
    assert len(stolen.quarantined) == len(records) and all("TAC does not verify" in r for _, r in stolen.quarantined)
    assert house.ingest(TID, records).quarantined == []
    # the same card transactions again under other outbox seqs (a restored copy, a replay): never cleared twice
    again = [dict(r, seq=r["seq"] + 10_000, prev_seq=(r["prev_seq"] + 10_000) if i else r["prev_seq"] + 10_000)
             for i, r in enumerate(records)]
    result = house.ingest(TID, again)
    assert len(result.quarantined) == len(records)
    assert all("already cleared from terminal 310100000001" in r for _, r in result.quarantined)
    assert house.stats()["valid"] == len(records)


def test_altered_retransmission_is_a_conflict_and_the_first_version_stands(house: ClearingHouse) -> None:
    records = RecordMaker(TID, random.Random(5), ["3100000000000001"]).make(3)
    house.ingest(TID, records)
    changed = copy.deepcopy(records[1])
    changed["operator"] = "someone else"
    result = house.ingest(TID, [changed])
    assert result.conflicts and result.conflicts[0][0] == records[1]["seq"] and result.new == 0
    assert house.db.scalar("SELECT operator FROM txns WHERE seq = ?", (records[1]["seq"],)) == "op1"
    assert house.stats()["conflicts"] == 1


def test_malformed_records_are_quarantined_but_keep_the_chain(house: ClearingHouse) -> None:
    records = RecordMaker(TID, random.Random(6), ["3100000000000001"]).make(4)
    records[1]["postings"] = [["cash_drawer", 5], ["revenue:goods", -4]]
    records[2]["business_day"] = "yesterday"
    result = house.ingest(TID, records)
    assert [s for s, _ in result.quarantined] == [records[1]["seq"], records[2]["seq"]]
    assert "unbalanced" in result.quarantined[0][1] and "business_day" in result.quarantined[1][1]
    assert result.cursor == records[-1]["seq"]


@pytest.mark.parametrize("key_index,two_level", [(1, False), (2, False), (1, True)])
def test_fast_verifier_agrees_with_the_load_host_on_real_purse_transactions(key_index: int, two_level: bool) -> None:
    from terminal.sync.outbox import card_block
    from terminal.booking import attempt_details

    r = rig(purse_image(ep=50_000, two_level_keys=two_level), key_index=key_index, two_level_keys=two_level)
    verifier = TacVerifier(MASTERS)
    for n, result in enumerate([r.manager.purchase(250), r.manager.load(1_000), r.manager.purchase(77)]):
        assert result.done and r.host.verify_tac(result)
        attempt = {"attempt": attempt_details(_attempt_of(result))}
        obj = {"seq": n + 1, "prev_seq": n, "kind": "k", "amount_fen": result.amount, "operator": "op",
               "business_day": "2024-03-01", "card_serial": result.card_serial.hex().upper(),
               "card_counter": result.card_counter, "txn_type": int(result.txn_type), "tac": result.tac.hex().upper(),
               "terminal_seq": result.terminal_seq, "card_time": result.date.hex() + result.time.hex(),
               "postings": [["a", 1], ["b", -1]], "card": card_block(attempt)}
        assert verifier.check(parse(obj), result.terminal_id.hex().upper()) is None
        obj["tac"] = _flip_hex(obj["tac"], random.Random(n))
        assert verifier.check(parse(obj), result.terminal_id.hex().upper()) is not None
    assert Algorithm(result.alg) is (Algorithm.SM4 if key_index == 1 else Algorithm.TDES)


def _attempt_of(result):  # type: ignore[no-untyped-def]
    from terminal.purse.results import Attempt, Kind

    return Attempt(kind=result.kind, purse=result.purse, txn_type=result.txn_type, app_serial=result.app_serial,
                   issuer_code=result.issuer_code, amount=result.amount, balance_before=result.balance_before,
                   counter=result.card_counter, terminal_id=result.terminal_id, date=result.date, time=result.time,
                   alg=result.alg, key_version=result.key_version, key_index=1, terminal_seq=result.terminal_seq)
