"""The headless validator through a real pcscd: pyscard's CardMonitor sees cards inserted and removed by
starting and stopping `ykt card serve`; a card torn inside its DEBIT comes back and is recognised as paid;
pcscd restarts under the running validator (when this session owns pcscd)."""

from __future__ import annotations

import os
import queue
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from applets.card import VirtualCard
from applets.image import CardImage
from reader.card_file import FileStorage, TearingStorage, save_new_image
from reader.emulated import EmulatedReader
from reader.pcscd_service import PcscdService, vpcd_reader_name
from terminal.ledger import Ledger
from terminal.transit.monitor import PcscTapSource, run
from terminal.transit.outcome import TapOutcome, TapStatus
from terminal.transit.validator import Validator
from tests.pcscd import served_card
from tests.transit.helpers import HOST, TABLES, TERMINAL_ID, card_bytes, card_state, psam_bytes

pytestmark = pytest.mark.pcsc

ROOT = Path(__file__).resolve().parents[2]
WAIT = 20.0


def _serve(image: Path, home: Path) -> subprocess.Popen[bytes]:
    """`ykt card serve IMAGE --slot 0` in its own process: the card is in the reader while it runs."""
    env = {**os.environ, "YKT_HOME": str(home), "PYTHONPATH": str(ROOT)}
    log = (home / "serve.log").open("ab")
    return subprocess.Popen([sys.executable, "-m", "terminal.cli", "card", "serve", str(image), "--slot", "0"],
                            cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=log)


def _stop(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    proc.wait(10)


def _next(outcomes: queue.Queue[TapOutcome]) -> TapOutcome:
    try:
        return outcomes.get(timeout=WAIT)
    except queue.Empty:
        pytest.fail(f"no tap within {WAIT:g} s")


def test_validator_through_pcscd_with_ykt_card_serve(pcscd: PcscdService, tmp_path: Path) -> None:
    images = {}
    for name in ("zhang-wei", "wang-jianguo", "chen-xiaoyu", "li-na"):
        images[name] = tmp_path / f"{name}.card.json"
        save_new_image(images[name], CardImage.from_bytes(card_bytes(name, 5_000)))
    psam = EmulatedReader(VirtualCard(FileStorage(_psam_file(tmp_path)), os.urandom), "PSAM")
    psam.connect()
    source = PcscTapSource(vpcd_reader_name(0))
    outcomes: queue.Queue[TapOutcome] = queue.Queue()
    stop = threading.Event()
    db = tmp_path / "ledger.sqlite"

    def validate() -> None:  # the validator's own thread: the ledger connection lives there
        with Ledger.open(db, terminal_id=TERMINAL_ID.hex().upper()) as ledger:
            validator = Validator(TABLES, "bus", "71", card=source.reader, psam=psam, ledger=ledger,
                                  block_mac=HOST.application_block_mac)
            run(validator, source, outcomes.put, stop)

    loop = threading.Thread(target=validate, daemon=True)
    loop.start()
    try:
        # cards inserted and removed by starting / stopping `ykt card serve`
        expected = {"zhang-wei": (200, None), "wang-jianguo": (0, "elderly"), "chen-xiaoyu": (100, "student")}
        for name, (fare, concession) in expected.items():
            proc = _serve(images[name], tmp_path)
            try:
                out = _next(outcomes)
            finally:
                _stop(proc)
            assert out.status is TapStatus.APPROVED, out.reason
            assert (out.amount, out.concession) == (fare, concession)
            assert out.duration_ms < 1_000
        # pcscd restarts under the running validator (only a pcscd this session started)
        if pcscd.started:
            pcscd.restart()
            proc = _serve(images["li-na"], tmp_path)
            try:
                out = _next(outcomes)
            finally:
                _stop(proc)
            assert out.status is TapStatus.APPROVED and out.amount == 200, out.reason
        # a card torn inside the DEBIT's save (after the write), back 0.5 s later: recognised as paid
        storage = TearingStorage(FileStorage(images["zhang-wei"]), tear_at_save=1, after_write=True)
        card = VirtualCard(storage, os.urandom)
        time.sleep(3.1)  # past the double-tap window of the first tap
        with served_card(card, 0, reinsert_after=0.5):
            torn = _next(outcomes)
            back = _next(outcomes)
        assert torn.status is TapStatus.PENDING, torn.reason
        assert back.status is TapStatus.ALREADY_PAID and back.recovered, back.reason
    finally:
        stop.set()
        loop.join(10)
        source.close()
    assert not loop.is_alive()
    with Ledger.open(db) as ledger:
        assert not ledger.pending_intents() and ledger.verify().ok
        fares = ledger.conn.execute("SELECT card_serial, sum(amount_fen) FROM transactions GROUP BY card_serial").fetchall()
    zhang = VirtualCard(FileStorage(images["zhang-wei"]), os.urandom)
    assert card_state(zhang)["ep"]["balance"] == 5_000 - 200 - 100  # two rides (the second a transfer), each charged once
    assert dict(fares)["3100000000000001"] == 300


def _psam_file(folder: Path) -> Path:
    path = folder / "psam.card.json"
    save_new_image(path, CardImage.from_bytes(psam_bytes()))
    return path
