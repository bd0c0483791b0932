"""Chain format v1 known answers, and verify naming the first bad row for each kind of damage."""

from __future__ import annotations

import hashlib
import hmac
import os
import sqlite3
from pathlib import Path

import pytest

from terminal.ledger import Ledger
from terminal.ledger import accounts as chart
from terminal.ledger.chain import GENESIS, Mac, row_hash
from terminal.ledger.schema import CHAINED, TRIGGER_NAMES, TRIGGERS

from .helpers import DAY, fixed_clock, new_ledger

KEY = bytes(range(32))
FIRST_ROW = (
    b'{"code":"cash_drawer","created_at":"2024-05-01T08:00:00.000Z","may_go_negative":0,'
    b'"name":"Cash in the till","seq":1,"t":"accounts","type":"asset"}'
)
FIRST_HASH = "3f64bef23983c1b5f11f7ed34aaff636819cd30225a1092aedbbb7c7606f42a4"
FIRST_MAC = "9cf9ad9e43dbed836b8778b5880835fc9a142a530d6928f0a93b72c0faf81f4d"
KEY_ID = "47542ccdce9204f7"


@pytest.fixture
def fixed_key_ledger(tmp_path: Path) -> Ledger:
    key = tmp_path / "l.sqlite.key"
    key.write_text(KEY.hex() + "\n")
    os.chmod(key, 0o600)
    book = Ledger.open(tmp_path / "l.sqlite", terminal_id="000000000001", clock=fixed_clock())
    yield book
    book.close()


def test_chain_v1_known_answer_from_the_documented_encoding(fixed_key_ledger: Ledger) -> None:
    expected = hashlib.sha256(b"ykt-ledger/1\n" + FIRST_ROW + b"\n" + GENESIS.encode()).hexdigest()
    assert expected == FIRST_HASH
    mac = hmac.new(KEY, b"ykt-ledger/1 row " + FIRST_HASH.encode(), hashlib.sha256).hexdigest()
    assert mac == FIRST_MAC
    row = fixed_key_ledger.conn.execute("SELECT prev_hash, row_hash, mac FROM accounts WHERE seq = 1").fetchone()
    assert row == (GENESIS, FIRST_HASH, FIRST_MAC)
    assert hmac.new(KEY, b"ykt-ledger/1 key-id", hashlib.sha256).hexdigest()[:16] == KEY_ID == Mac(KEY).key_id()
    second = fixed_key_ledger.conn.execute("SELECT prev_hash FROM accounts WHERE seq = 2").fetchone()[0]
    assert second == FIRST_HASH


def test_head_mac_covers_the_meta_table(fixed_key_ledger: Ledger) -> None:
    seq, last, mac = fixed_key_ledger.conn.execute("SELECT seq, row_hash, mac FROM chain_head").fetchone()
    body = ('{"meta":{"chain_version":"1","created_at":"2024-05-01T08:00:00.000Z","key_id":"%s",'
            '"schema_version":"2","terminal_id":"000000000001"},"row_hash":"%s","seq":%d}' % (KEY_ID, last, seq)).encode()
    assert hmac.new(KEY, b"ykt-ledger/1 head " + body, hashlib.sha256).hexdigest() == mac


def test_row_hash_sorts_keys_and_keeps_utf8() -> None:
    a = row_hash("intents", {"seq": 1, "operator": "张伟", "amount_fen": 5}, GENESIS)
    payload = '{"amount_fen":5,"operator":"张伟","seq":1,"t":"intents"}'.encode()
    assert a == hashlib.sha256(b"ykt-ledger/1\n" + payload + b"\n" + GENESIS.encode()).hexdigest()


def ledger_with_sales(path: Path) -> Ledger:
    book = new_ledger(path)
    for amount in (100, 200, 300):
        intent = book.begin_intent(kind="cash_sale", amount_fen=amount, card_serial=None, operator="op1",
                                   business_day=DAY, details={}, postings=chart.cash_sale(amount))
        book.commit_intent(intent.intent_id)
    return book


def tamper(path: Path, *sql: str) -> None:
    conn = sqlite3.connect(path, isolation_level=None)
    for name in TRIGGER_NAMES:
        conn.execute(f"DROP TRIGGER {name}")
    for statement in sql:
        conn.execute(statement)
    for statement in TRIGGERS:
        conn.execute(statement)
    conn.close()


def verify(path: Path) -> list[str]:
    with Ledger.open(path, create=False) as book:
        return [str(p) for p in book.verify().problems]


@pytest.fixture
def sales(tmp_path: Path) -> Path:
    path = tmp_path / "l.sqlite"
    ledger_with_sales(path).close()
    assert verify(path) == []
    return path


def seqs(path: Path, table: str) -> list[int]:
    conn = sqlite3.connect(path)
    try:
        return [r[0] for r in conn.execute(f"SELECT seq FROM {table} ORDER BY seq")]
    finally:
        conn.close()


def test_edited_amount_is_named(sales: Path) -> None:
    target = seqs(sales, "postings")[2]
    tamper(sales, f"UPDATE postings SET amount_fen = amount_fen + 1 WHERE seq = {target}")
    problems = verify(sales)
    assert problems[0] == f"postings {target}: row_hash mismatch: the row's content was changed"
    assert any("postings sum to 1 fen" in p for p in problems)


def test_deleted_row_in_the_middle_is_a_seq_gap(sales: Path) -> None:
    target = seqs(sales, "outbox")[1]
    tamper(sales, f"DELETE FROM outbox WHERE seq = {target}")
    assert verify(sales)[0].endswith(f"seq gap: rows {target}..{target} are missing")


def test_deleted_last_rows_are_caught_by_the_head(sales: Path) -> None:
    last = seqs(sales, "outbox")[-1]
    tamper(sales, f"DELETE FROM outbox WHERE seq = {last}")
    assert verify(sales)[0] == f"chain_head 1: head is seq {last} but the chain ends at {last - 1}: rows removed from the end"


def test_chain_rewritten_without_the_key_fails_the_mac(sales: Path) -> None:
    # an attacker who knows the format but not the key: edit, then recompute every row_hash
    tamper(sales, "UPDATE transactions SET operator = 'mallory'")
    conn = sqlite3.connect(sales, isolation_level=None)
    for name in TRIGGER_NAMES:
        conn.execute(f"DROP TRIGGER {name}")
    rows = []
    for table, columns in CHAINED.items():
        for r in conn.execute(f"SELECT {', '.join(columns)} FROM {table}"):
            rows.append((r[0], table, dict(zip(columns, r))))
    prev = GENESIS
    forger = Mac(b"\x42" * 32)
    for seq, table, values in sorted(rows, key=lambda x: x[0]):
        h = row_hash(table, values, prev)
        conn.execute(f"UPDATE {table} SET prev_hash = ?, row_hash = ?, mac = ? WHERE seq = ?", (prev, h, forger.row(h), seq))
        prev = h
    conn.execute("UPDATE chain_head SET row_hash = ?", (prev,))
    for statement in TRIGGERS:
        conn.execute(statement)
    conn.close()
    assert verify(sales)[0] == "accounts cash_drawer (seq 1): mac mismatch: row rewritten without the terminal key"


def test_meta_and_derived_tables_are_checked(sales: Path) -> None:
    tamper(sales, "UPDATE meta SET value = 'T9' WHERE key = 'terminal_id'",
           "UPDATE balances SET balance_fen = balance_fen + 100 WHERE account = 'cash_drawer'")
    problems = verify(sales)
    assert problems[0] == "chain_head 1: head mac mismatch: head or meta (terminal id, versions, key id) rewritten"
    assert "balances cash_drawer: cached balance 100700 but postings sum to 100600" in problems


def test_missing_trigger_and_corrupt_file_are_reported(sales: Path) -> None:
    conn = sqlite3.connect(sales, isolation_level=None)
    conn.execute("DROP TRIGGER postings_no_update")
    conn.close()
    assert verify(sales) == ["sqlite_master postings_no_update: append-only trigger missing"]
    data = bytearray(sales.read_bytes())
    for offset in range(4096 * 3 + 100, len(data), 4096):  # scribble over every page after the first three
        data[offset:offset + 64] = os.urandom(64)
    sales.write_bytes(bytes(data))
    problems = verify(sales)
    assert problems and problems[0].startswith("sqlite")
