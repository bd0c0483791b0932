"""`ykt purse pay|load` book through the ledger; `ykt ledger recover --card` resolves pending intents with the
card; `ykt ledger resolve` records a supervisor's decision. Demo card and PSAM in a temporary home."""

from __future__ import annotations

import json
import os
from pathlib import Path

from click.testing import CliRunner, Result

from applets.card import VirtualCard
from reader.card_file import FileStorage, TearingStorage, open_card_image, read_image
from reader.emulated import EmulatedReader
from terminal.booking import PurseBooks
from terminal.cli.main import cli
from terminal.demo import demo_psam_path
from terminal.demo import resolve_card
from terminal.ledger import Ledger
from terminal.ledger import accounts as chart
from terminal.paths import default_ledger_path
from terminal.purse import PurseManager

CARD = "3100000000000001"  # zhang-wei's card serial


def run(*args: str, input: str | None = None) -> Result:
    return CliRunner().invoke(cli, list(args), input=input)


def pending_purchase(amount: int, *, after_write: bool) -> str:
    """A purchase whose card is torn in its save (before or after the write): the intent stays pending."""
    run("purse", "balance", "--card", "zhang-wei")  # issue the demo card
    card = VirtualCard(TearingStorage(FileStorage(resolve_card("zhang-wei")), 1, after_write), os.urandom)
    reader = EmulatedReader(card)
    reader.connect()
    psam = EmulatedReader(open_card_image(demo_psam_path()))
    psam.connect()
    with Ledger.open(default_ledger_path(), terminal_id="310100000001") as book:
        booked = PurseBooks(book, PurseManager(reader, psam), operator="op1", business_day="2024-05-01").purchase(
            amount, chart.purse_purchase(amount))
    assert booked.status == "pending"
    return booked.intent.intent_id


def ep_balance() -> int:
    return read_image(resolve_card("zhang-wei")).applications["purse"]["ep"]["balance"]


def test_pay_and_load_are_booked_in_the_default_ledger() -> None:
    pay = run("purse", "pay", "2.50", "--card", "zhang-wei", "--category", "drugs", "--operator", "张伟")
    assert pay.exit_code == 0, pay.output
    assert pay.output.splitlines()[-1].startswith("ledger   transaction ")
    load = json.loads(run("purse", "load", "10", "--card", "zhang-wei", "--json").output)
    refund = json.loads(run("purse", "load", "1", "--card", "zhang-wei", "--purpose", "refund", "--json").output)
    assert load["ledger"]["status"] == refund["ledger"]["status"] == "committed"
    with Ledger.open(default_ledger_path(), create=False) as book:
        assert book.terminal_id == "310100000001"  # created for the PSAM's terminal id
        rows = book.conn.execute("SELECT kind, amount_fen, card_serial, card_counter, txn_type, operator, tac"
                                 " FROM transactions ORDER BY seq").fetchall()
        assert [r[:6] for r in rows] == [("purse_purchase", 250, CARD, 0, 6, "张伟"), ("purse_load", 1000, CARD, 0, 2, "cli"),
                                         ("purse_refund", 100, CARD, 1, 2, "cli")]
        assert rows[1][6] == load["tac"] and book.balances()["revenue:drugs"].normal_fen == 250
        assert book.verify().ok
    assert ep_balance() == 5_000 - 250 + 1_000 + 100
    assert run("ledger", "verify").output.startswith("ok: chain v1")


def test_ed_pay_books_the_personal_account(tmp_path: Path) -> None:
    db = tmp_path / "shop.sqlite"
    paid = run("purse", "pay", "30", "--card", "zhang-wei", "--ed", "--db", str(db), "--json", input="123456\n")
    assert json.loads(paid.output)["ledger"]["status"] == "committed"
    with Ledger.open(db, create=False) as book:
        txn = book.get_transaction(json.loads(paid.output)["ledger"]["txn_id"])
        assert (txn.kind, txn.txn_type, [p.account for p in txn.postings]) == (
            "ed_purchase", 5, ["personal_account", "revenue:drugs"])


def test_a_ledger_of_another_terminal_is_refused_before_the_card_is_touched(tmp_path: Path) -> None:
    db = tmp_path / "other.sqlite"
    Ledger.open(db, terminal_id="000000000009").close()
    run("purse", "balance", "--card", "zhang-wei")
    before = ep_balance()
    result = run("purse", "pay", "1", "--card", "zhang-wei", "--db", str(db))
    assert result.exit_code == 1 and result.output.startswith(f"Error: the ledger {db} belongs to terminal 000000000009")
    assert ep_balance() == before


def test_recover_with_the_card_commits_a_debit_that_happened() -> None:
    intent_id = pending_purchase(300, after_write=True)
    listed = run("ledger", "recover")
    assert listed.output.splitlines()[0] == "1 pending intent(s); present each card to the terminal to resolve it:"
    result = run("ledger", "recover", "--card", "zhang-wei")
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0] == f"card {CARD}: 1 intent(s) resolved"
    assert lines[1].startswith(f"  {intent_id}  purse_purchase         3.00  counter 0  committed as transaction ")
    assert lines[1].endswith(": recovered: done at the card") and lines[2] == "no pending intents"
    assert ep_balance() == 4_700
    with Ledger.open(default_ledger_path(), create=False) as book:
        assert book.get_intent(intent_id).state == "committed" and book.verify().ok


def test_recover_with_the_card_fails_a_debit_that_did_not_happen_and_the_card_carries_on() -> None:
    intent_id = pending_purchase(300, after_write=False)
    result = json.loads(run("ledger", "recover", "--card", "zhang-wei", "--json").output)
    assert result["card_serial"] == CARD and result["pending"] == []
    assert [(o["intent_id"], o["result"]) for o in result["resolved"]] == [(intent_id, "failed")]
    assert run("purse", "pay", "1", "--card", "zhang-wei").exit_code == 0
    assert ep_balance() == 4_900


def test_pay_resolves_the_cards_pending_intent_first() -> None:
    first = pending_purchase(300, after_write=True)
    assert run("purse", "pay", "1", "--card", "zhang-wei").exit_code == 0
    with Ledger.open(default_ledger_path(), create=False) as book:
        assert book.get_intent(first).state == "committed" and book.pending_intents() == []
    assert ep_balance() == 4_600


def test_resolve_records_the_supervisors_decision() -> None:
    intent_id = pending_purchase(300, after_write=False)
    result = run("ledger", "resolve", intent_id, "--cancel", "--reason", "customer left")
    assert result.exit_code == 0
    assert result.output == f"intent {intent_id} cancelled (card {CARD} counter 0): operator decision: customer left\n"
    again = run("ledger", "resolve", intent_id, "--fail", "--reason", "x")
    assert again.exit_code == 1 and again.output == f"Error: intent {intent_id} is already cancelled\n"
    assert run("ledger", "resolve", intent_id, "--reason", "x").exit_code == 2  # --fail or --cancel
    unknown = run("ledger", "resolve", "nope", "--fail", "--reason", "x")
    assert unknown.exit_code == 1 and unknown.output == "Error: no intent nope\n"
    assert run("ledger", "recover").output == "no pending intents\n"


def test_recover_without_a_card_in_the_reader_is_one_line(tmp_path: Path) -> None:
    pending_purchase(300, after_write=False)
    result = run("ledger", "recover", "--card", str(tmp_path / "missing.card.json"))
    assert result.exit_code == 1 and result.output.startswith("Error: ") and result.output.count("\n") == 1
