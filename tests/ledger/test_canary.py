"""Secret canary: a test PIN, the project's TEST keys and the ledger's own HMAC key never appear in the
database, its WAL and shared-memory files, the SQL trace, the logs, exports or error messages."""

from __future__ import annotations

import hashlib
import io
import itertools
import json
import logging
import uuid
from pathlib import Path

import pytest

from terminal.ledger import Ledger, UnsafeDetails
from terminal.ledger import accounts as chart
from terminal.ledger.accounts import TXN_EP_PURCHASE
from terminal.ledger.export import export

from .helpers import DAY, fixed_clock

ROOT = Path(__file__).resolve().parents[2]
PIN = "739164"
DEMO_PIN = "123456"
PURSE_REFERENCE_KEY = "11223344556677888877665544332211"


def test_keys() -> list[str]:
    keys = json.loads((ROOT / "data" / "keys" / "TEST-issuer-keys.json").read_text(encoding="utf-8"))
    found = [v for v in keys.values() if isinstance(v, str) and len(v) >= 32 and all(c in "0123456789abcdefABCDEF" for c in v)]
    assert len(found) >= 5
    return found + [PURSE_REFERENCE_KEY]


test_keys.__test__ = False  # a helper, not a test


def needles(pins: list[str], keys: list[str]) -> dict[bytes, str]:
    out: dict[bytes, str] = {}
    for pin in pins:
        out[pin.encode()] = f"PIN {pin} (ASCII)"
        out[bytes.fromhex(pin)] = f"PIN {pin} (BCD)"
    for key in keys:
        for form in (key.lower(), key.upper()):
            out[form.encode()] = f"key {key[:6]}… (hex)"
        out[bytes.fromhex(key)] = f"key {key[:6]}… (raw)"
    return out


def test_no_pin_or_key_is_ever_stored_traced_or_logged(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # deterministic run: fixed ledger key, intent ids and clock, so the files are the same on every run
    monkeypatch.setattr("terminal.ledger.keyfile.secrets.token_bytes", lambda n: hashlib.sha256(b"canary").digest()[:n])
    ids = itertools.count(1)
    monkeypatch.setattr("terminal.ledger.ledger.uuid.uuid4", lambda: uuid.UUID(int=next(ids) * 7919))
    trace: list[str] = []
    log_stream = io.StringIO()
    handler = logging.StreamHandler(log_stream)
    logger = logging.getLogger("terminal")
    logger.addHandler(handler)
    old_level = logger.level
    logger.setLevel(logging.DEBUG)
    errors: list[str] = []
    path = tmp_path / "ledger.sqlite"
    try:
        book = Ledger.open(path, terminal_id="000000000001", clock=fixed_clock(), on_sql=trace.append)
        secrets_in_hand = {"pin": PIN, "demo_pin": DEMO_PIN, "keys": test_keys()}
        for i in range(20):
            # a careless flow tries to keep the PIN and keys in the details: refused every time
            for bad in ({"pin": PIN}, {"cardPin": DEMO_PIN}, {"purse_key": test_keys()[0]},
                        {"session": {"sk": test_keys()[1]}}, {"secret": secrets_in_hand}):
                with pytest.raises(UnsafeDetails) as caught:
                    book.begin_intent(kind="purse_purchase", amount_fen=100 + i, card_serial="1000000000000001",
                                      operator="op1", business_day=DAY, details=bad,
                                      postings=chart.purse_purchase(100 + i))
                errors.append(str(caught.value))
            intent = book.begin_intent(kind="purse_purchase", amount_fen=100 + i, card_serial="1000000000000001",
                                       operator="op1", business_day=DAY,
                                       details={"card_masked": "1000********0001", "items": 2},
                                       postings=chart.purse_purchase(100 + i), card_counter=i, txn_type=TXN_EP_PURCHASE)
            book.commit_intent(intent.intent_id, tac="%08X" % (0xA5A5A5A5 ^ i), terminal_seq=i, card_time="20240501120000")
        assert book.verify().ok
        out = io.StringIO()
        export(book.db, out, what="postings")
        export(book.db, out, what="transactions", fmt="json")
        files = {p.name: p.read_bytes() for p in tmp_path.iterdir() if p.is_file() and not p.name.endswith(".key")}
        assert "ledger.sqlite-wal" in files  # read while open, before the checkpoint on close
        book.close()
        files["ledger.sqlite (closed)"] = path.read_bytes()
    finally:
        logger.removeHandler(handler)
        logger.setLevel(old_level)
    ledger_key = path.with_name(path.name + ".key").read_text().strip()
    haystacks = {**files, "sql trace": "\n".join(trace).encode(), "log": log_stream.getvalue().encode(),
                 "exports": out.getvalue().encode(), "errors": "\n".join(errors).encode()}
    assert len(trace) > 100 and "intent" in log_stream.getvalue()
    hits = [f"{what} in {where}" for where, data in haystacks.items()
            for needle, what in needles([PIN, DEMO_PIN], test_keys() + [ledger_key]).items() if needle in data]
    assert hits == []
