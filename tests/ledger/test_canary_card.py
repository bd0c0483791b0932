"""Secret canary with the real flow (issue 5): purchases from the PIN-protected ED (VERIFY with a test PIN),
EP purchases, loads, refunds, a decline, a wrong PIN and a torn card recovered with the PIN — all booked
through `PurseBooks` into a ledger, with APDU traces (`reader.trace.Trace`) of card and PSAM and every log
record at DEBUG captured to a file. Then the DB, its WAL and shm, the traces, the log and the SQL trace are
searched for the PINs (ASCII, BCD, the VERIFY data field) and every TEST key — the issuer's TEST masters
(data/keys/TEST-issuer-keys.json), each card image's and the PSAM's keys, the ledger's HMAC key: 0 hits."""

from __future__ import annotations

import hashlib
import itertools
import logging
import uuid
from datetime import datetime
from pathlib import Path

import pytest

from applets.card import VirtualCard
from applets.image import CardImage
from applets.purse.layout import TxnType
from applets.purse.personalize import personalize_psam
from reader.card_file import FileStorage, TearingStorage, save_new_image
from reader.emulated import EmulatedReader
from reader.trace import Trace
from terminal.booking import PurseBooks
from terminal.ledger import Ledger, Posting
from terminal.ledger import accounts as chart
from terminal.protocol.iso import Verify
from terminal.purse import LoadHost, PurseManager
from tests.purse.helpers import Entropy

from .card_harness import SERIALS, TERMINAL, TERMINAL_ID, card_image, purse_masters
from .helpers import DAY, fixed_clock
from .test_canary import test_keys

PIN = "739164"
WRONG_PIN = "280517"


def needles(pins: list[str], keys: dict[str, bytes]) -> dict[bytes, str]:
    out: dict[bytes, str] = {}
    for pin in pins:
        out[pin.encode()] = f"PIN {pin} (ASCII)"
        out[bytes.fromhex(pin)] = f"PIN {pin} (BCD)"
        out[Verify(pin).to_bytes()[5:]] = f"PIN {pin} (VERIFY data)"
    for name, key in keys.items():
        out[key.hex().encode()] = f"{name} (hex)"
        out[key.hex().upper().encode()] = f"{name} (HEX)"
        out[key] = f"{name} (raw)"
    return out


def test_no_pin_or_key_reaches_the_ledger_traces_or_logs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # deterministic: ledger key, intent ids, clocks and card randoms are the same on every run
    monkeypatch.setattr("terminal.ledger.keyfile.secrets.token_bytes", lambda n: hashlib.sha256(b"card canary").digest()[:n])
    ids = itertools.count(1)
    monkeypatch.setattr("terminal.ledger.ledger.uuid.uuid4", lambda: uuid.UUID(int=next(ids) * 104_729))
    masters = purse_masters()
    cards = []
    for i, serial in enumerate(SERIALS):
        path = tmp_path / f"card-{i}.card.json"
        save_new_image(path, card_image(serial, masters, pin=PIN))
        cards.append(path)
    psam_path = tmp_path / "psam.card.json"
    save_new_image(psam_path, personalize_psam(masters.purchase, Entropy("psam"), terminal_id=TERMINAL))

    log_path = tmp_path / "terminal.log"
    handler = logging.FileHandler(log_path, encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    old_level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    sql: list[str] = []
    traces = [tmp_path / "card.trace.jsonl", tmp_path / "psam.trace.jsonl"]
    card_trace, psam_trace = Trace.to_file(traces[0]), Trace.to_file(traces[1])
    db = tmp_path / "ledger.sqlite"
    try:
        psam = EmulatedReader(VirtualCard(FileStorage(psam_path), Entropy("psam run")), name="psam", trace=psam_trace)
        psam.connect()
        book = Ledger.open(db, terminal_id=TERMINAL_ID, clock=fixed_clock(), on_sql=sql.append)
        statuses = []
        for i, path in enumerate(cards):
            storage = TearingStorage(FileStorage(path))
            card = VirtualCard(storage, Entropy(f"card {i}"))
            reader = EmulatedReader(card, name=f"card {i}", trace=card_trace)
            reader.connect()
            manager = PurseManager(reader, psam, load_host=LoadHost(masters), clock=lambda: datetime(2024, 5, 1, 12))
            books = PurseBooks(book, manager, operator="op1", business_day=DAY)
            ed = [Posting("personal_account", 450), Posting("revenue:drugs", -450)]
            for _ in range(3):
                statuses.append(books.purchase(450, ed, txn_type=TxnType.ED_PURCHASE, pin=PIN, kind="ed_purchase").status)
                statuses.append(books.purchase(120, chart.purse_purchase(120)).status)
            statuses.append(books.load(1_000, chart.purse_load(1_000)).status)
            statuses.append(books.load(200, chart.purse_refund(200), purpose="refund", kind="purse_refund").status)
            statuses.append(books.purchase(99_999, chart.purse_purchase(99_999)).status)  # declined
            # an ED purchase torn in the DEBIT's save (after VERIFY's two): pending, then recovered with the PIN
            storage.tear_at_save, storage.after_write = storage.saves + 3, True
            statuses.append(books.purchase(450, ed, txn_type=TxnType.ED_PURCHASE, pin=PIN, kind="ed_purchase").status)
            storage.tear_at_save = None
            reader.insert(card)
            reader.connect()
            assert [o.result for o in books.resolve_pending(pin=PIN)] == ["committed"]
            statuses.append(books.purchase(450, ed, txn_type=TxnType.ED_PURCHASE, pin=WRONG_PIN).status)  # wrong PIN
            statuses.append(books.purchase(450, ed, txn_type=TxnType.ED_PURCHASE, pin=PIN, kind="ed_purchase").status)
        assert statuses.count("committed") == 2 * 9 and statuses.count("failed") == 2 * 2
        assert statuses.count("pending") == 2 and book.pending_intents() == []
        assert book.verify().ok
        files = {p.name: p.read_bytes() for p in tmp_path.iterdir() if p.name.startswith("ledger.sqlite")
                 and not p.name.endswith(".key")}
        assert "ledger.sqlite-wal" in files  # read while open, before the checkpoint on close
        book.close()
        files["ledger.sqlite (closed)"] = db.read_bytes()
    finally:
        root.removeHandler(handler)
        root.setLevel(old_level)
        handler.close()
        card_trace.close()
        psam_trace.close()
    log_text = log_path.read_text(encoding="utf-8")
    assert "intent" in log_text and "DEBUG" in log_text and len(sql) > 100
    assert all(p.stat().st_size > 1_000 for p in traces) and "VERIFY" in traces[0].read_text()

    keys = {f"TEST master {k[:6]}…": bytes.fromhex(k) for k in test_keys()}
    for path in [*cards, psam_path]:
        for name, key in CardImage.from_bytes(path.read_bytes()).keys.items():
            keys[f"{path.name} {name}"] = key
    keys["ledger HMAC key"] = bytes.fromhex(db.with_name(db.name + ".key").read_text().strip())
    assert len(keys) >= 2 * 7 + 2 + 8
    assert sum(needle in cards[0].read_bytes() for needle in needles([], keys)) >= 7  # the search does find keys
    haystacks = {**files, **{p.name: p.read_bytes() for p in traces}, "log": log_path.read_bytes(),
                 "sql trace": "\n".join(sql).encode()}
    hits = [f"{what} in {where}" for where, data in haystacks.items()
            for needle, what in needles([PIN, WRONG_PIN], keys).items() if needle in data]
    assert hits == []
