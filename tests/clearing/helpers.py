"""Upload records with real TACs (the purse TEST masters of tests/purse/helpers.py), without a ledger: for the
randomized exactly-once runs and the forgery tests."""

from __future__ import annotations

import random
from typing import Any

from applets.crypto import pboc
from applets.crypto.pboc import Algorithm
from applets.purse.layout import encode_balance
from tests.purse.helpers import MASTERS

ISSUER = "D156310000000001"
DAY = "2024-05-01"


def dtk(serial: str, alg: Algorithm = Algorithm.SM4) -> bytes:
    return pboc.diversify(alg, MASTERS.tac[alg], bytes.fromhex(serial))


def tac_of(record: dict[str, Any], terminal_id: str) -> str:
    card = record["card"]
    alg = Algorithm(card["alg"])
    ctime = record["card_time"]
    date, time = bytes.fromhex(ctime[:8]), bytes.fromhex(ctime[8:])
    terminal = bytes.fromhex(terminal_id)
    if record["txn_type"] in (1, 2):
        data = encode_balance(card["balance_before"] + record["amount_fen"]) + pboc.load_tac_data(
            0, record["card_counter"], record["amount_fen"], record["txn_type"], terminal, date, time)[4:]
    else:
        data = pboc.purchase_tac_data(record["amount_fen"], record["txn_type"], terminal, record["terminal_seq"], date, time)
    return pboc.tac(alg, dtk(record["card_serial"], alg), data).hex().upper()


class RecordMaker:
    """Records of one terminal: purchases (06), loads (02) and cash sales, with counters per card and real TACs."""

    def __init__(self, terminal_id: str, rng: random.Random, cards: list[str], *, alg: Algorithm = Algorithm.SM4) -> None:
        self.terminal_id = terminal_id
        self.rng = rng
        self.cards = cards
        self.alg = alg
        self.seq = 0
        self.txn = 0
        self.tseq = 0
        self.counters: dict[tuple[str, str], int] = {}
        self.balances = dict.fromkeys(cards, 100_000)

    def next(self, day: str = DAY) -> dict[str, Any]:
        r = self.rng
        prev = self.seq
        self.seq += r.randrange(2, 7)
        self.txn += 1
        ctime = day.replace("-", "") + f"{r.randrange(8, 20):02d}{r.randrange(60):02d}{r.randrange(60):02d}"
        base = {"seq": self.seq, "prev_seq": prev, "txn_id": self.seq - 1, "intent_id": f"i-{self.terminal_id}-{self.txn}",
                "operator": "op1", "business_day": day, "committed_at": f"{day}T08:00:00.000Z", "row_hash": None,
                "details": {}, "tac": None, "terminal_seq": None, "card_time": None, "card_serial": None,
                "card_counter": None, "txn_type": None, "card": None}
        what = r.random()
        amount = r.randrange(1, 5_000)
        if what < 0.1:
            return {**base, "kind": "cash_sale", "amount_fen": amount,
                    "postings": [["cash_drawer", amount], ["revenue:goods", -amount]]}
        serial = r.choice(self.cards)
        load = what < 0.3
        family = "online" if load else "offline"
        counter = self.counters.get((serial, family), 0)
        self.counters[(serial, family)] = counter + 1
        before = self.balances[serial]
        self.balances[serial] = before + (amount if load else -amount)
        rec = {**base, "kind": "purse_load" if load else "purse_purchase", "amount_fen": amount, "card_serial": serial,
               "card_counter": counter, "txn_type": 2 if load else 6, "card_time": ctime,
               "postings": [["cash_drawer", amount], ["purse_float", -amount]] if load
               else [["purse_float", amount], ["revenue:drugs", -amount]],
               "card": {"app_serial": "3100" + serial, "issuer_code": ISSUER, "alg": int(self.alg), "key_version": 1,
                        "balance_before": before, "purse": "ep", "purpose": "topup" if load else None}}
        if not load:
            self.tseq += 1
            rec["terminal_seq"] = self.tseq
        rec["tac"] = tac_of(rec, self.terminal_id)
        return rec

    def make(self, n: int, day: str = DAY) -> list[dict[str, Any]]:
        return [self.next(day) for _ in range(n)]


def totals(records: list[dict[str, Any]]) -> dict[str, int]:
    out: dict[str, int] = {}
    for rec in records:
        for account, amount in rec["postings"]:
            out[account] = out.get(account, 0) + amount
    return {a: v for a, v in sorted(out.items()) if v}
