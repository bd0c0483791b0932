"""A ledger written by schema 1 (tests/ledger/data/schema1.sqlite, made by the previous release: 3 fares,
one pending fare, one failed refusal) opens under schema 2, upgraded in place with nothing lost."""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

import pytest

from terminal.ledger import Ledger
from terminal.ledger.accounts import transit_fare
from terminal.ledger.errors import KeyFileError, LedgerCorrupt, PendingIntentExists
from terminal.ledger.keyfile import key_path
from terminal.ledger.schema import SCHEMA_VERSION

DATA = Path(__file__).parent / "data"


@pytest.fixture
def v1(tmp_path: Path) -> Path:
    db = tmp_path / "ledger.sqlite"
    shutil.copyfile(DATA / "schema1.sqlite", db)
    shutil.copyfile(DATA / "schema1.sqlite.key", key_path(db))
    key_path(db).chmod(0o600)
    return db


def _schema(db: Path) -> dict[str, str]:
    with sqlite3.connect(db) as conn:
        return {name: sql for name, sql in conn.execute("SELECT name, sql FROM sqlite_master WHERE sql IS NOT NULL")}


def _rows(db: Path) -> dict[str, list[tuple]]:
    with sqlite3.connect(db) as conn:
        return {t: conn.execute(f"SELECT * FROM {t} ORDER BY 1").fetchall()
                for t in ("intents", "transactions", "postings", "outbox", "resolutions", "balances", "open_intents")}


def test_schema1_ledger_is_upgraded_in_place_and_keeps_every_row(v1: Path) -> None:
    before = _rows(v1)
    assert "intents_card" in _schema(v1)
    with Ledger.open(v1, terminal_id="310100000001") as ledger:
        assert ledger.verify().ok
        pending = ledger.pending_intents()
    assert [i.card_serial for i in pending] == ["3100000000000009"]
    assert _rows(v1) == before
    schema = _schema(v1)
    assert "WITHOUT ROWID" in schema["open_intents"]
    assert not {"intents_card", "postings_account", "open_intents_card", "open_intents_v2"} & set(schema)
    assert "v_pending" in schema
    with sqlite3.connect(v1) as conn:
        assert conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone() == (str(SCHEMA_VERSION),)
        assert conn.execute("SELECT intent_id FROM v_pending").fetchall() == [(pending[0].intent_id,)]


def test_upgraded_ledger_books_on_and_refuses_a_second_intent_for_the_pending_card(v1: Path) -> None:
    with Ledger.open(v1) as ledger:
        with pytest.raises(PendingIntentExists):
            ledger.begin_intent(kind="transit_fare", amount_fen=100, card_serial="3100000000000009", operator="v",
                                business_day="2026-01-06", postings=transit_fare(100, 0))
        intent = ledger.begin_intent(kind="transit_fare", amount_fen=100, card_serial="3100000000000001",
                                     operator="v", business_day="2026-01-06", postings=transit_fare(100, 0),
                                     card_counter=9, txn_type=9)
        ledger.commit_intent(intent.intent_id, tac="01020304")
        assert ledger.verify().ok
    with Ledger.open(v1) as again:  # a second open finds schema 2: nothing to do
        assert again.verify().ok
        assert len(again.pending_intents()) == 1


def test_a_tampered_head_is_not_blessed_by_the_upgrade(v1: Path) -> None:
    with sqlite3.connect(v1) as conn:
        conn.execute("UPDATE chain_head SET seq = seq - 1")
    before = _schema(v1)
    with pytest.raises(LedgerCorrupt, match="chain head.s MAC does not match"):
        Ledger.open(v1)
    assert _schema(v1) == before


def test_a_wrong_key_file_is_named_and_nothing_is_upgraded(v1: Path) -> None:
    key_path(v1).write_bytes(b"0" * 64)
    before = _schema(v1)
    with pytest.raises(KeyFileError):
        Ledger.open(v1)
    assert _schema(v1) == before
