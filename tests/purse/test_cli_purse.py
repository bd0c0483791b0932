"""`ykt purse …` through click's CliRunner, on demo cards and the demo PSAM in a temporary home."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner, Result

from reader.card_file import read_image
from terminal.cli.main import cli
from terminal.cli.purse import parse_amount, yuan


def run(*args: str, input: str | None = None) -> Result:
    return CliRunner().invoke(cli, list(args), input=input, catch_exceptions=False)


def test_amounts_in_yuan() -> None:
    assert [parse_amount(a) for a in ("12.50", "12.5", "3", "0.01", "¥2")] == [1250, 1250, 300, 1, 200]
    assert [yuan(f) for f in (1250, 5, -50, 0)] == ["12.50", "0.05", "-0.50", "0.00"]
    assert run("purse", "pay", "1.234", "--card", "zhang-wei").exit_code == 2


def test_balance_load_pay_log() -> None:
    assert run("purse", "balance", "--card", "zhang-wei").output == "EP balance 50.00 yuan\n"
    load = run("purse", "load", "100", "--card", "zhang-wei", "--json")
    assert load.exit_code == 0
    done = json.loads(load.output)
    assert (done["outcome"], done["balance_before"], done["balance_after"], done["purse"]) == ("done", 5000, 15000, "ep")
    pay = run("purse", "pay", "2.50", "--card", "zhang-wei")
    assert pay.exit_code == 0
    lines = pay.output.splitlines()
    assert lines[0] == "done     EP purchase 2.50 yuan"
    assert lines[1] == "balance  150.00 -> 147.50 yuan"
    assert lines[3] == "card     3100000000000001   counter 0"
    assert lines[4].startswith("terminal 310100000001   seq 1   ")
    log = run("purse", "log", "--card", "zhang-wei").output.splitlines()
    assert [line.split()[3:5] for line in log] == [["ep_purchase", "2.50"], ["ep_load", "100.00"]]


def test_declined_payment_exits_1_with_the_reason() -> None:
    result = run("purse", "pay", "1000", "--card", "zhang-wei")
    assert result.exit_code == 1
    lines = result.output.splitlines()
    assert lines[:2] == ["not_done EP purchase 1000.00 yuan", "reason   INITIALIZE: insufficient balance"]
    assert lines[2].startswith("ledger   intent ") and lines[2].endswith(" failed: nothing booked")


def test_ed_needs_the_pin_from_stdin() -> None:
    assert run("purse", "balance", "--card", "zhang-wei", "--ed", input="123456\n").output == "ED balance 1200.00 yuan\n"
    paid = run("purse", "pay", "30", "--card", "zhang-wei", "--ed", "--json", input="123456\n")
    assert json.loads(paid.output)["balance_after"] == 117_000
    ed_load = run("purse", "load", "5", "--card", "zhang-wei", "--ed", "--json")
    assert json.loads(ed_load.output)["txn_type"] == 1
    # a subsidy load draws on the programme's advance (subsidy_payable): refused before the card moves money
    subsidy = CliRunner().invoke(cli, ["purse", "load", "5", "--card", "zhang-wei", "--ed", "--purpose", "subsidy"])
    assert subsidy.exit_code == 1
    assert subsidy.output == ("Error: account subsidy_payable would go negative (-500 fen);"
                              " book the programme's subsidy advance first\n")


def test_3des_key_set_and_psam_image(tmp_path: Path) -> None:
    psam = tmp_path / "psam.card.json"
    made = run("purse", "psam-new", str(psam), "--terminal-id", "310100000077", "--seq", "500")
    assert made.output == f"issued PSAM {psam}: terminal 310100000077, next seq 500\n"
    result = json.loads(run("purse", "pay", "1", "--card", "zhang-wei", "--psam", str(psam), "--key", "2", "--json").output)
    assert (result["alg_name"], result["terminal_id"], result["terminal_seq"]) == ("3DES", "310100000077", 500)
    assert read_image(psam).applications["psam"]["seq"] == 501


def test_recover_prints_the_resolution(ykt_home: Path) -> None:
    from applets.purse.layout import PurseKind, TxnType
    from terminal.purse.results import Attempt, Kind

    run("purse", "balance", "--card", "zhang-wei")  # issue the demo card
    attempt = Attempt(
        kind=Kind.PURCHASE, purse=PurseKind.EP, txn_type=TxnType.EP_PURCHASE,
        app_serial=bytes.fromhex("31003100000000000001"), issuer_code=bytes.fromhex("D156310000000001"),
        amount=100, balance_before=5000, counter=0, terminal_id=bytes.fromhex("310100000001"),
        date=bytes.fromhex("20240301"), time=bytes.fromhex("083000"), alg=4, key_version=1, key_index=1,
        terminal_seq=1,
    )
    result = run("purse", "recover", json.dumps(attempt.to_dict()), "--card", "zhang-wei", "--json")
    assert result.exit_code == 1
    assert json.loads(result.output)["reason"].startswith("recovered: the card did not execute")
