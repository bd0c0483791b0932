"""`ykt fleet simulate` (small), the clearing / sync commands, and a real `ykt clearing serve` (uvicorn on a free
port on 127.0.0.1) that `ykt sync` uploads to over HTTP."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner

from terminal.cli.clearing import clearing, fleet, sync
from terminal.fleet import FleetConfig, simulate
from terminal.ledger import Ledger
from terminal.ledger import accounts as chart

from .pgserver import free_port


def test_fleet_ends_with_zero_discrepancies(tmp_path: Path) -> None:
    result = simulate(FleetConfig(terminals=12, days=2, offline_rate=0.3, kill_rate=0.05, seed=3, folder=tmp_path))
    assert result.discrepancies == 0, result.text()
    m = result.metrics
    assert m["crashes"] > 0 and m["offline_windows"] > 0 and m["cleared"] > 300 and m["network_faults"] > 0
    assert m["hotlist_current"] == 12 and m["settlement_runs"] >= 2


def test_fleet_over_signed_http_on_postgres(postgres) -> None:  # type: ignore[no-untyped-def]
    from .conftest import pg_url

    result = simulate(FleetConfig(terminals=4, days=1, kill_rate=0.05, seed=4, http=True, db_url=pg_url(postgres)))
    assert result.discrepancies == 0, result.text()


def test_fleet_cli_prints_the_reconciliation() -> None:
    out = CliRunner().invoke(fleet, ["simulate", "--terminals", "3", "--days", "1", "--hours", "3"])
    assert out.exit_code == 0, out.output
    assert "discrepancies: 0" in out.output and "card balances = issuer view" in out.output


def test_clearing_cli_terminal_publish_settle_report(tmp_path: Path) -> None:
    db = str(tmp_path / "c.sqlite")
    run = CliRunner().invoke
    out = run(clearing, ["terminal", "add", "310100000001", "--merchant", "M1", "--key-out", str(tmp_path / "k"), "--db", db])
    assert out.exit_code == 0 and "key written to" in out.output and len((tmp_path / "k").read_text().strip()) == 64
    assert "310100000001  M1" in run(clearing, ["terminal", "list", "--db", db]).output
    src = tmp_path / "lost.csv"
    src.write_text("card,reason\n3100000000000042,lost\n")
    out = run(clearing, ["publish", "hotlist", str(src), "--version", "2", "--db", db])
    assert out.exit_code == 0 and "hotlist version 2 published" in out.output
    again = run(clearing, ["publish", "hotlist", str(src), "--version", "2", "--db", db])
    assert again.exit_code == 1 and "not newer" in again.output
    assert "nothing new to settle" in run(clearing, ["settle", "--day", "2024-05-01", "--db", db]).output
    rep = json.loads(run(clearing, ["report", "--day", "2024-05-01", "--db", db, "--json"]).output)
    assert rep["transactions"]["valid"] == 0 and rep["counter_gaps"] == []
    assert run(clearing, ["terminal", "disable", "310100000001", "--db", db]).output.strip() == "terminal 310100000001 disabled"


def test_sync_errors_are_one_line(tmp_path: Path) -> None:
    db = tmp_path / "ledger.sqlite"
    out = CliRunner().invoke(sync, ["--db", str(db), "--server", "http://127.0.0.1:9"])
    assert out.exit_code == 1 and "no ledger at" in out.output and "Traceback" not in out.output
    Ledger.open(db, terminal_id="310100000001").close()
    out = CliRunner().invoke(sync, ["--db", str(db), "--server", "http://127.0.0.1:9"])
    assert out.exit_code == 1 and "no sync key file" in out.output


def test_real_server_and_ykt_sync_over_http(tmp_path: Path) -> None:
    port = free_port()
    db, ledger_path = tmp_path / "clearing.sqlite", tmp_path / "ledger.sqlite"
    with Ledger.open(ledger_path, terminal_id="310100000001") as ledger:
        for n in range(30):
            intent = ledger.begin_intent(kind="cash_sale", amount_fen=100 + n, card_serial=None, operator="op1",
                                         business_day="2024-05-01", postings=chart.cash_sale(100 + n))
            ledger.commit_intent(intent.intent_id)
    run = CliRunner().invoke
    assert run(clearing, ["terminal", "add", "310100000001", "--merchant", "M1", "--db", str(db),
                          "--key-out", str(ledger_path) + ".sync-key"]).exit_code == 0
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    server = subprocess.Popen([sys.executable, "-m", "terminal.cli", "clearing", "serve", "--db", str(db), "--port",
                               str(port), "--log-level", "warning"], env=env, stderr=subprocess.PIPE)
    try:
        url = f"http://127.0.0.1:{port}"
        for _ in range(200):
            try:
                if httpx.get(url + "/v1/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.05)
        else:
            pytest.fail("the server did not start")
        out = run(sync, ["--db", str(ledger_path), "--server", url, "--batch-size", "7", "--json"])
        assert out.exit_code == 0, out.output
        doc = json.loads(out.output)
        assert doc["new"] == 30 and doc["batches"] == 5 and doc["complete"]
        out = run(sync, ["--db", str(ledger_path)])  # the server URL was remembered
        assert out.exit_code == 0 and "uploaded 0 records" in out.output
    finally:
        server.terminate()
        server.wait(timeout=10)
