"""The sync client over a real ledger booked by the purse (terminal.booking) and the signed HTTP service:
uploads every committed transaction once with the TAC fields clearing needs, resumes from the server's cursor
after lost answers and crashes, backs off between retries, corrects its clock, and applies hotlist / policy /
fares downloads atomically."""

from __future__ import annotations

import json
import random
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from terminal import hotlist as hl
from terminal.booking import PurseBooks
from terminal.clearing import ClearingHouse, fares_bundle, policy_document
from terminal.clearing.auth import write_key_file
from terminal.clearing.service import create_app
from terminal.datafiles import data_dir
from terminal.ledger import Ledger
from terminal.ledger import accounts as chart
from terminal.sync import (HttpTransport, LedgerSource, RetryPolicy, SyncError, Syncer, SyncState, TransientError,
                           current_dir, default_key_path, installed_version, open_syncer)
from terminal.sync.faults import FaultRates, FlakyTransport
from tests.purse.helpers import rig

TID = "310100000001"  # the test PSAM's terminal id
URL = "http://clearing.test"


@pytest.fixture
def terminal(tmp_path: Path, house: ClearingHouse) -> Iterator[tuple[Path, ClearingHouse, TestClient]]:
    path = tmp_path / "ledger.sqlite"
    r = rig()
    with Ledger.open(path, terminal_id=TID) as ledger:
        books = PurseBooks(ledger, r.manager, operator="op1", business_day="2024-03-01")
        for amount in (250, 1200, 99):
            assert books.purchase(amount, chart.purse_purchase(amount, "drugs")).status == "committed"
        assert books.load(5_000, chart.purse_load(5_000)).status == "committed"
        assert books.purchase(20_000_00, chart.purse_purchase(20_000_00)).status == "failed"  # never uploaded
    write_key_file(default_key_path(path), house.add_terminal(TID, merchant_id="M1"))
    with TestClient(create_app(house), base_url=URL) as client:
        yield path, house, client


def test_ledger_outbox_is_uploaded_once_with_its_card_proof(terminal) -> None:  # type: ignore[no-untyped-def]
    path, house, client = terminal
    with open_syncer(path, URL, client=client, batch_size=2) as syncer:
        report = syncer.sync()
        assert report.complete and report.new == 4 and report.batches == 2 and report.quarantined == []
        assert syncer.state is not None and syncer.state.cursor == report.cursor
    rows = house.db.query("SELECT kind, amount_fen, txn_type, card_counter, status, app_serial FROM txns ORDER BY seq")
    assert [(k, a, t, c, s) for k, a, t, c, s, _ in rows] == [
        ("purse_purchase", 250, 6, 0, "valid"), ("purse_purchase", 1200, 6, 1, "valid"),
        ("purse_purchase", 99, 6, 2, "valid"), ("purse_load", 5000, 2, 0, "valid")]
    assert rows[0][5] == "3100" + "3100000000000042"
    with open_syncer(path, None, client=client) as syncer:  # the server is remembered; nothing new to send
        again = syncer.sync()
        assert again.sent == 0 and again.complete
    with Ledger.open(path, create=False) as ledger:
        assert ledger.verify().ok  # the sync tables sit beside the chain without disturbing it


def test_lost_answers_and_crashes_resume_from_the_servers_cursor(terminal) -> None:  # type: ignore[no-untyped-def]
    path, house, client = terminal
    state = SyncState(path)
    try:
        key = bytes.fromhex(default_key_path(path).read_text().strip())
        flaky = FlakyTransport(HttpTransport(URL, TID, key, client=client), random.Random(1),
                               FaultRates(drop=0.3, lost_answer=0.3, cut=0.2, duplicate=0.2, replay=0.3))
        delays: list[float] = []
        for _ in range(100):
            syncer = Syncer(LedgerSource(state.conn), flaky, state=state, batch_size=1,
                            retry=RetryPolicy(attempts=3, base=0.5), sleep=delays.append, rng=random.Random(2))
            try:
                if syncer.upload().complete:
                    break
            except SyncError:
                continue
        flaky.replay_all()
    finally:
        state.close()
    assert house.stats() == {**house.stats(), "valid": 4, "quarantined": 0, "conflicts": 0}
    assert delays and all(0.25 <= d <= 0.5 * 2 ** 2 for d in delays)


def test_backoff_grows_then_gives_up_with_a_resumable_message(terminal) -> None:  # type: ignore[no-untyped-def]
    path, _, _ = terminal

    class Down:
        terminal_id = TID

        def cursor(self) -> int:
            raise TransientError("connection refused")

    delays: list[float] = []
    with SyncState(path) as state:
        syncer = Syncer(LedgerSource(state.conn), Down(), state=state, sleep=delays.append, rng=random.Random(0),  # type: ignore[arg-type]
                        retry=RetryPolicy(attempts=6, base=1.0, max_delay=8.0))
        with pytest.raises(SyncError, match="gave up after 6 attempts"):
            syncer.sync()
        assert "connection refused" in (state.get("last_error") or "")
    assert len(delays) == 5 and all(lo * 0.5 <= d <= lo for d, lo in zip(delays, (1, 2, 4, 8, 8)))


def test_terminal_clock_off_by_an_hour_is_corrected(terminal) -> None:  # type: ignore[no-untyped-def]
    path, house, client = terminal
    key = bytes.fromhex(default_key_path(path).read_text().strip())
    transport = HttpTransport(URL, TID, key, client=client, clock=lambda: time.time() - 3600)
    assert transport.cursor() == 0 and 3590 <= transport.offset <= 3610


def test_updates_are_applied_atomically_and_only_forward(terminal, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    path, house, client = terminal
    house.publish("hotlist", 5, hl.build_file(5, [hl.record_key("3100000000000042")], created=1))
    house.publish("fares", 2, fares_bundle(data_dir() / "fares", 2))
    house.publish("policy", 1, policy_document({"low_balance_warning_fen": 500}, 1))
    home = path.parent
    with open_syncer(path, URL, client=client) as syncer:
        report = syncer.sync(upload=False)
    assert sorted((a.kind, a.old_version, a.new_version) for a in report.applied) == [
        ("fares", 0, 2), ("hotlist", 0, 5), ("policy", 0, 1)]
    assert hl.Hotlist.open(home / "hotlist.ykthl").contains("3100000000000042")
    fares = current_dir(home, "fares")
    assert fares is not None and fares.name == "v2" and (fares / "network.toml").read_text() == (data_dir() / "fares" / "network.toml").read_text()
    policy = json.loads((current_dir(home, "policy") / "policy.json").read_text())  # type: ignore[operator]
    assert policy["settings"] == {"low_balance_warning_fen": 500}
    house.publish("policy", 2, policy_document({"low_balance_warning_fen": 800}, 2))
    with open_syncer(path, URL, client=client) as syncer:
        report = syncer.sync(upload=False)
    assert [(a.kind, a.new_version) for a in report.applied] == [("policy", 2)]
    assert installed_version(home, "policy") == 2 and installed_version(home, "hotlist") == 5
    assert not list((home / "updates" / "policy").glob(".*tmp"))


def test_days_offline_then_one_sync_with_progress(tmp_path: Path, house: ClearingHouse) -> None:
    path = tmp_path / "ledger.sqlite"
    r = rig()
    with Ledger.open(path, terminal_id=TID) as ledger:
        for day in ("2024-03-01", "2024-03-02", "2024-03-03"):
            books = PurseBooks(ledger, r.manager, operator="op1", business_day=day)
            for amount in range(1, 41):
                books.purchase(amount, chart.purse_purchase(amount))
    write_key_file(default_key_path(path), house.add_terminal(TID, merchant_id="M1"))
    seen: list[tuple[int, int]] = []
    with TestClient(create_app(house), base_url=URL) as client, \
            open_syncer(path, URL, client=client, batch_size=25, progress=lambda d, t: seen.append((d, t))) as syncer:
        report = syncer.sync()
    assert report.new == 120 and report.batches == 5 and seen[-1] == (120, 120)
    assert [house.report(d)["transactions"]["valid"] for d in ("2024-03-01", "2024-03-02", "2024-03-03")] == [40, 40, 40]
