"""`ykt counter …` end to end in a fresh terminal home (demo cards, demo PSAM, the real clock): exact
outputs where they are stable, exit codes, one-line errors, and every command documented with an example."""

from __future__ import annotations

import json
import re
from pathlib import Path

import click
import pytest
from click.testing import CliRunner, Result

from terminal.cli.counter import counter
from tests.counter.helpers import DATA

ROOT = Path(__file__).resolve().parents[2]
CASHIER = "demo-cashier\n123456\n"
SUPERVISOR = "demo-supervisor\n123456\n"


def run(*args: str, input: str | None = None) -> Result:
    return CliRunner().invoke(counter, list(args), input=input, catch_exceptions=False)


@pytest.fixture(autouse=True)
def operators(ykt_home: Path) -> None:
    assert run("operator-import", str(DATA / "operators.example.csv")).output == \
        f"added 2 operator(s) from {DATA / 'operators.example.csv'}\n"


@pytest.mark.parametrize("name", sorted(counter.commands))
def test_every_command_has_help_an_example_and_a_doc_line(name: str) -> None:
    command = counter.commands[name]
    assert run(name, "--help").exit_code == 0
    assert command.help and "Example" in command.help
    docs = (ROOT / "docs" / "counter.md").read_text(encoding="utf-8")
    assert f"`ykt counter {name}" in docs


def test_identify_settle_receipt_refund_close(tmp_path: Path) -> None:
    ident = run("identify", "--card", "zhang-wei", "--operator", "c001", input=CASHIER)
    assert ident.exit_code == 0, ident.output
    assert ident.output.splitlines()[0] == "张* 310105********001X card A00000001 region 310000 (card, PIN verified, authenticated)"
    assert "account  1200.00 yuan (个人账户)" in ident.output
    html = tmp_path / "r.html"
    sold = run("settle", "--cart", str(DATA / "carts" / "chronic.csv"), "--card", "zhang-wei", "--operator", "c001",
               "--html", str(html), input=CASHIER)
    assert sold.exit_code == 0, sold.output
    number = re.search(r"No\. (\S+)", sold.output).group(1)
    assert number == "310100000001-000001" and "TAC " in sold.output and html.read_text(encoding="utf-8").startswith("<!DOCTYPE")
    again = run("receipt", number, "--json")
    assert json.loads(again.output)["number"] == number
    cashier_refund = run("refund", number, "--card", "zhang-wei", "--operator", "c001", input=CASHIER)
    assert cashier_refund.exit_code == 1 and cashier_refund.output == "Error: a refund needs a supervisor; c001 is a cashier\n"
    part = run("refund", number, "--line", "2", "--card", "zhang-wei", "--operator", "sup1", "--json", input=SUPERVISOR)
    assert part.exit_code == 0, part.output
    assert [line["index"] for line in json.loads(part.output)["lines"]] == [1]
    twice = run("refund", number, "--line", "2", "--card", "zhang-wei", "--operator", "sup1", input=SUPERVISOR)
    assert twice.exit_code == 1 and "line 1 was already refunded" in twice.output
    closed = run("close-day", "--operator", "sup1", "--out", str(tmp_path / "rep"), input="demo-supervisor\n")
    assert closed.exit_code == 0, closed.output
    assert "1 sales, 1 refunds" in closed.output and "next business day" in closed.output
    assert len(list((tmp_path / "rep").glob("dayclose-*"))) == 3


def test_preview_pays_nothing_and_refusals_are_one_line() -> None:
    preview = run("settle", "--cart", str(DATA / "carts" / "cold.csv"), "--card", "zhao-min", "--operator", "c001",
                  "--preview", input=CASHIER)
    assert preview.exit_code == 0 and "cross-province" in preview.output and "No." not in preview.output
    refused = run("settle", "--cart", str(DATA / "carts" / "cold.csv"), "--card", "ayguli", "--operator", "c001",
                  input=CASHIER)
    assert refused.exit_code == 1 and refused.output.startswith("Error: cross-province settlement without a filing")
    assert len(refused.output.strip().splitlines()) == 1
    blocked = run("identify", "--card", "liu-yang", "--operator", "c001", input=CASHIER)
    assert blocked.exit_code == 1 and "go to the card issuer" in blocked.output and "Traceback" not in blocked.output
    wrong = run("identify", "--card", "zhang-wei", "--operator", "c001", input="nope-nope\n123456\n")
    assert wrong.output == "Error: wrong operator id or password\n"
    no_op = run("identify", "--card", "zhang-wei")
    assert no_op.exit_code == 2 and "give --operator" in no_op.output
    bad_cart = run("settle", "--cart", "/nonexistent.csv", "--card", "zhang-wei", "--operator", "c001", input=CASHIER)
    assert bad_cart.exit_code == 1 and "/nonexistent.csv: cannot read" in bad_cart.output


def test_subsidy_and_filings(tmp_path: Path) -> None:
    first = run("subsidy", str(DATA / "subsidy.example.csv"), "--card", "zhang-wei", "--operator", "c001", input=CASHIER)
    assert first.exit_code == 0, first.output
    assert first.output.splitlines() == [
        "batch BT2025030001: card A00000001 (张*), 2 line(s)",
        "  line 1         50.00  committed 高温补贴 heat allowance",
        "  line 3         12.00  committed 交通补贴 transport allowance",
    ]
    second = run("subsidy", str(DATA / "subsidy.example.csv"), "--card", "zhang-wei", "--operator", "c001", "--json",
                 input=CASHIER)
    assert [line["status"] for line in json.loads(second.output)["lines"]] == ["skipped", "skipped"]
    imported = run("filings-import", str(DATA / "filings.example.csv"), "--operator", "sup1", input="demo-supervisor\n")
    assert imported.output == f"imported 3 filing(s) from {DATA / 'filings.example.csv'}\n"
    by_cashier = run("filings-import", str(DATA / "filings.example.csv"), "--operator", "c001", input="demo-cashier\n")
    assert by_cashier.exit_code == 1 and "needs a supervisor" in by_cashier.output


def test_operator_add_needs_a_supervisor_once_there_are_operators() -> None:
    added = run("operator-add", "c002", "--name", "Zhou", "--operator", "sup1", input="demo-supervisor\nnew-password\n")
    assert added.output == "added operator c002 (cashier)\n"
    refused = run("operator-add", "c003", "--name", "Wu", "--operator", "c002", input="new-password\nother-pass\n")
    assert refused.exit_code == 1 and "operator management needs a supervisor" in refused.output
    assert isinstance(counter, click.Group)
