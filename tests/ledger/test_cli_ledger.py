"""`ykt ledger init|verify|report|export|recover`: exact outputs, one-line errors, the shared default path."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import click
import pytest
from click.testing import CliRunner, Result

from terminal.cli.ledger import ledger
from terminal.ledger import Ledger
from terminal.ledger import accounts as chart
from terminal.ledger.schema import TRIGGER_NAMES, TRIGGERS
from terminal.paths import default_ledger_path

from .helpers import DAY, fixed_clock

ROOT = Path(__file__).resolve().parents[2]


def run(*args: str) -> Result:
    return CliRunner().invoke(ledger, list(args), catch_exceptions=False)


@pytest.fixture
def db(tmp_path: Path) -> Path:
    path = tmp_path / "shop.sqlite"
    with Ledger.open(path, terminal_id="000000000001", clock=fixed_clock()) as book:
        for kind, amount, lines, operator in (
            ("float_in", 50_000, chart.float_in(50_000), "op1"),
            ("cash_sale", 1_250, chart.cash_sale(1_250, "otc"), "张伟"),
            ("purse_purchase", 800, chart.purse_purchase(800, "drugs"), "张伟"),
        ):
            intent = book.begin_intent(kind=kind, amount_fen=amount, card_serial=None, operator=operator,
                                       business_day=DAY, details={}, postings=lines)
            book.commit_intent(intent.intent_id)
        book.begin_intent(kind="purse_purchase", amount_fen=300, card_serial="1000000000000001", operator="op1",
                          business_day=DAY, details={}, postings=chart.purse_purchase(300), card_counter=4,
                          txn_type=chart.TXN_EP_PURCHASE)
    return path


def test_init_creates_once_at_the_default_path(ykt_home: Path) -> None:
    path = default_ledger_path()
    assert path == ykt_home / "ledger.sqlite"
    result = run("init", "--terminal-id", "000000000001")
    assert result.exit_code == 0
    assert result.output == f"initialised ledger {path} for terminal 000000000001 (key {path}.key)\n"
    assert run("init").output == f"ledger already initialised: {path} (terminal 000000000001)\n"
    again = CliRunner().invoke(ledger, ["init", "--terminal-id", "other"])
    assert again.exit_code == 1
    assert again.output == f"Error: {path} belongs to terminal 000000000001, not other\n"
    assert run("verify").output == "ok: chain v1, 15 rows, 0 transactions, head seq 15\n"


def test_init_needs_a_terminal_id(ykt_home: Path) -> None:
    result = CliRunner().invoke(ledger, ["init"])
    assert result.exit_code == 1
    assert result.output == "Error: --terminal-id is needed to create a ledger (or set YKT_TERMINAL_ID)\n"


def test_verify_ok_and_tampered(db: Path) -> None:
    assert run("verify", "--db", str(db)).output == "ok: chain v1, 31 rows, 3 transactions, head seq 31\n"
    body = json.loads(run("verify", "--db", str(db), "--json").output)
    assert body == {"ok": True, "rows": 31, "transactions": 3, "head_seq": 31, "chain_version": 1, "problems": []}
    conn = sqlite3.connect(db, isolation_level=None)
    for name in TRIGGER_NAMES:
        conn.execute(f"DROP TRIGGER {name}")
    conn.execute("UPDATE postings SET amount_fen = 900 WHERE seq = 28")
    for sql in TRIGGERS:
        conn.execute(sql)
    conn.close()
    result = CliRunner().invoke(ledger, ["verify", "--db", str(db)])
    assert result.exit_code == 1
    assert result.output == (
        "bad: postings 28: row_hash mismatch: the row's content was changed\n"
        "bad: transactions 27: postings sum to 100 fen, 2 lines\n"
        "bad: balances purse_float: cached balance 800 but postings sum to 900\n"
        "Error: ledger verification failed; first bad row: postings 28: row_hash mismatch: the row's content was changed\n"
    )


def test_report(db: Path) -> None:
    result = run("report", "--db", str(db), "--day", DAY)
    assert result.output == (
        "business day 2024-05-01: 3 transactions\n"
        "intents: committed 3, pending 1\n"
        "\n"
        "account                            debit        credit           net  lines\n"
        "cash_drawer                       512.50          0.00        512.50      2\n"
        "opening_float                       0.00        500.00       -500.00      1\n"
        "purse_float                         8.00          0.00          8.00      1\n"
        "revenue:drugs                       0.00          8.00         -8.00      1\n"
        "revenue:otc                         0.00         12.50        -12.50      1\n"
        "total                             520.50        520.50          0.00\n"
        "\n"
        "operator        kind                  count        amount\n"
        "op1             float_in                  1        500.00\n"
        "张伟              cash_sale                 1         12.50\n"
        "张伟              purse_purchase            1          8.00\n"
    )
    body = json.loads(run("report", "--db", str(db), "--day", DAY, "--json").output)
    assert body["transactions"] == 3 and body["by_account"][0] == {
        "account": "cash_drawer", "debit_fen": 51_250, "credit_fen": 0, "net_fen": 51_250, "postings": 2}


def test_export_csv_opens_in_a_spreadsheet(db: Path, tmp_path: Path) -> None:
    result = run("export", "--db", str(db), "--what", "postings")
    assert result.output.replace("\r\n", "\n") == (
        "seq,txn_id,line,business_day,operator,kind,account,debit_fen,credit_fen,amount_fen,debit_yuan,credit_yuan,amount_yuan\n"
        "18,17,1,2024-05-01,op1,float_in,cash_drawer,50000,0,50000,500.00,0.00,500.00\n"
        "19,17,2,2024-05-01,op1,float_in,opening_float,0,50000,-50000,0.00,500.00,-500.00\n"
        "23,22,1,2024-05-01,张伟,cash_sale,cash_drawer,1250,0,1250,12.50,0.00,12.50\n"
        "24,22,2,2024-05-01,张伟,cash_sale,revenue:otc,0,1250,-1250,0.00,12.50,-12.50\n"
        "28,27,1,2024-05-01,张伟,purse_purchase,purse_float,800,0,800,8.00,0.00,8.00\n"
        "29,27,2,2024-05-01,张伟,purse_purchase,revenue:drugs,0,800,-800,0.00,8.00,-8.00\n"
    )
    out = tmp_path / "totals.csv"
    result = run("export", "--db", str(db), "--what", "totals", "--day", DAY, "-o", str(out))
    assert result.output == f"exported 5 totals rows to {out}\n"
    data = out.read_bytes()
    assert data.startswith(b"\xef\xbb\xbfbusiness_day,account,") and b"\r\n" in data
    rows = json.loads(run("export", "--db", str(db), "--format", "json", "--day", "2024-05-09").output)
    assert rows == []
    rows = json.loads(run("export", "--db", str(db), "--format", "json").output)
    assert [r["amount_yuan"] for r in rows] == ["500.00", "12.50", "8.00"]


def test_recover_lists_pending_intents(db: Path, tmp_path: Path) -> None:
    result = run("recover", "--db", str(db))
    lines = result.output.splitlines()
    assert lines[0] == "1 pending intent(s); present each card to the terminal to resolve it:"
    assert lines[1].endswith("2024-05-01T08:00:07.000Z  purse_purchase         3.00  card 1000000000000001"
                             "  counter 4  operator op1")
    assert json.loads(run("recover", "--db", str(db), "--json").output)[0]["card_counter"] == 4
    empty = tmp_path / "empty.sqlite"
    Ledger.open(empty, terminal_id="T").close()
    assert run("recover", "--db", str(empty)).output == "no pending intents\n"


@pytest.mark.parametrize("command", ["verify", "report", "export", "recover"])
def test_missing_ledger_is_one_line(command: str, tmp_path: Path) -> None:
    missing = tmp_path / "nope.sqlite"
    result = CliRunner().invoke(ledger, [command, "--db", str(missing)])
    assert result.exit_code == 1
    assert result.output == f"Error: no ledger at {missing}; create it with `ykt ledger init --db {missing}`\n"


def test_bad_input_and_wrong_key_are_one_line(db: Path) -> None:
    result = CliRunner().invoke(ledger, ["report", "--db", str(db), "--day", "May 1"])
    assert result.output == "Error: business_day must be YYYY-MM-DD, got 'May 1'\n"
    key = db.with_name(db.name + ".key")
    key.write_text("00" * 32 + "\n")
    result = CliRunner().invoke(ledger, ["verify", "--db", str(db)])
    assert result.exit_code == 1 and result.output.startswith(f"Error: {key} is not the key of this ledger")
    db.write_bytes(b"not a database at all" * 100)
    result = CliRunner().invoke(ledger, ["verify", "--db", str(db)])
    assert result.exit_code == 1 and result.output.count("\n") == 1 and result.output.startswith("Error: ")


def test_every_command_has_help_with_an_example_and_docs() -> None:
    docs = (ROOT / "docs" / "ledger.md").read_text(encoding="utf-8")
    for name, command in ledger.commands.items():
        result = run(name, "--help")
        assert result.exit_code == 0 and "Example" in result.output, name
        assert f"`ykt ledger {name}" in docs, name
    assert "Example" in (ledger.help or "")


def test_registered_in_the_main_cli() -> None:
    from terminal.cli.main import cli

    assert isinstance(cli.commands.get("ledger"), click.Group)
