"""`ykt purse …`: e-purse balance, log, loads and payments with a PSAM (docs/purse.md)."""

from __future__ import annotations

import contextlib
import json
import os
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any, Callable, Iterator

import click

from applets.purse.layout import PurseKind, TxnType
from reader.base import Reader
from reader.card_file import save_new_image
from terminal.booking import Booked
from terminal.cli.books import booking_options, ledger_json, ledger_line, purse_books
from terminal.cli.options import ask_pin, connected_reader, reader_options
from terminal.demo import demo_psam_path
from terminal.ledger import Posting
from terminal.ledger import accounts as chart
from terminal.purse import Attempt, LoadHost, Outcome, PurseManager, PurseResult



def parse_amount(text: str) -> int:
    """'12.5' / '12.50' / '12' yuan → fen."""
    try:
        value = Decimal(text.strip().removesuffix("元").removeprefix("¥"))
    except InvalidOperation:
        raise click.BadParameter(f"{text!r} is not an amount in yuan (e.g. 12.50)") from None
    fen = value * 100
    if fen != fen.to_integral_value() or fen < 0:
        raise click.BadParameter(f"{text!r}: at most 2 decimals, not negative")
    return int(fen)


def yuan(fen: int | None) -> str:
    if fen is None:
        return "?"
    sign = "-" if fen < 0 else ""
    return f"{sign}{abs(fen) // 100}.{abs(fen) % 100:02d}"


def psam_options(f: Callable[..., Any]) -> Callable[..., Any]:
    """--psam-reader (PC/SC) | --psam (PSAM image in-process; default: the demo PSAM)."""
    f = click.option("--psam", "psam_image", metavar="IMAGE", help="PSAM image file run in-process (default: the demo PSAM).")(f)
    f = click.option("--psam-reader", "psam_reader", metavar="NAME", help="PC/SC reader holding the PSAM (e.g. 'Virtual PCD 00 01').")(f)
    return f


@contextlib.contextmanager
def connected_psam(psam_reader: str | None, psam_image: str | None) -> Iterator[Reader]:
    if psam_reader is not None and psam_image is not None:
        raise click.UsageError("choose one: --psam IMAGE or --psam-reader NAME")
    if psam_reader is None:
        psam_image = psam_image or str(demo_psam_path())
    with connected_reader(psam_reader, psam_image, None) as reader:
        yield reader


# purpose -> (ledger kind, journal entry) of a load
LOADS: dict[str, Callable[[int], tuple[str, list[Posting]]]] = {
    "topup": lambda fen: ("purse_load", chart.purse_load(fen)),
    "refund": lambda fen: ("purse_refund", chart.purse_refund(fen)),
    "subsidy": lambda fen: ("purse_subsidy", [Posting("subsidy_payable", fen), Posting("purse_float", -fen)]),
}


def _kind(ed: bool) -> PurseKind:
    return PurseKind.ED if ed else PurseKind.EP


def echo_result(result: PurseResult, as_json: bool, booked: Booked | None = None) -> None:
    """The result (text or JSON); with `booked`, what the ledger holds, and the exit status from it:
    0 committed / done, 1 failed / declined, 3 pending."""
    if as_json:
        body = result.to_dict()
        if booked is not None:
            body["ledger"] = ledger_json(booked)
        click.echo(json.dumps(body, ensure_ascii=False, sort_keys=True))
    else:
        what = f"{result.purse.name} {result.kind.value.replace('_', ' ')} {yuan(result.amount)} yuan"
        click.echo(f"{result.outcome.value:<9}{what}")
        if result.outcome is Outcome.DONE:
            click.echo(f"balance  {yuan(result.balance_before)} -> {yuan(result.balance_after)} yuan")
            click.echo(f"TAC      {result.tac.hex().upper() if result.tac else '-'}   alg {result.alg_name}")
            click.echo(
                f"card     {result.card_serial.hex().upper() if result.card_serial else '?'}   counter {result.card_counter}"
            )
            seq = f"   seq {result.terminal_seq}" if result.terminal_seq is not None else ""
            click.echo(f"terminal {result.terminal_id.hex().upper() if result.terminal_id else '?'}{seq}   {result.timestamp}")
        else:
            click.echo(f"reason   {result.reason}")
    if booked is not None:
        if not as_json:
            click.echo(ledger_line(booked))
        if booked.status != "committed":
            raise click.exceptions.Exit(1 if booked.status == "failed" else 3)
        return
    if result.outcome is Outcome.NOT_DONE:
        raise click.exceptions.Exit(1)
    if result.outcome is Outcome.UNKNOWN and result.attempt is not None:
        if not as_json:
            click.echo("pending: present the card again and run `ykt purse recover` with this attempt:")
            click.echo(json.dumps(result.attempt.to_dict()))
        raise click.exceptions.Exit(3)


@click.group()
def purse() -> None:
    """E-purse (EP) and e-deposit (ED): balance, log, loads and payments with a PSAM."""


@purse.command("balance")
@reader_options
@click.option("--ed", is_flag=True, help="The e-deposit (ED) instead of the e-purse (EP); asks for the PIN.")
def purse_balance(reader_name: str | None, card: str | None, trace_path: str | None, ed: bool) -> None:
    """Print the purse balance in yuan.

    \b
    Examples:
      ykt purse balance --card zhang-wei
      ykt purse balance --reader "Virtual PCD 00 00" --ed
    """
    pin = ask_pin() if ed else None
    with connected_reader(reader_name, card, trace_path) as reader:
        value = PurseManager(reader).balance(_kind(ed), pin=pin)
    click.echo(f"{_kind(ed).name} balance {yuan(value)} yuan")


@purse.command("log")
@reader_options
def purse_log(reader_name: str | None, card: str | None, trace_path: str | None) -> None:
    """Print the card's transaction log (file 0018), newest first.

    \b
    Example:
      ykt purse log --card zhang-wei
    """
    with connected_reader(reader_name, card, trace_path) as reader:
        entries = PurseManager(reader).log()
    if not entries:
        click.echo("(no transactions)")
    for e in entries:
        r = e.record
        click.echo(f"{e.number:>2}  {r.when}  {e.txn_type:<13} {yuan(r.amount):>10}  counter {r.counter:<5} terminal {r.terminal_id.hex().upper()}")


@purse.command("pay")
@click.argument("amount")
@reader_options
@psam_options
@booking_options
@click.option("--ed", is_flag=True, help="Pay from the e-deposit (ED, type 05); asks for the PIN.")
@click.option("--category", type=click.Choice(chart.REVENUE_CATEGORIES), default=None,
              help="Revenue account: revenue:CATEGORY. Default: goods (EP), drugs (ED).")
@click.option("--key", "key_index", type=click.Choice(["1", "2"]), default="1", show_default=True, help="Key set: 1 SM4, 2 3DES.")
@click.option("--json", "as_json", is_flag=True, help="Print the result and its booking as JSON.")
def purse_pay(amount: str, reader_name: str | None, card: str | None, trace_path: str | None, psam_reader: str | None,
              psam_image: str | None, db_path: Path | None, operator: str, ed: bool, category: str | None,
              key_index: str, as_json: bool) -> None:
    """Purchase AMOUNT yuan (EP type 06, or ED 05 with --ed), booked in the ledger.

    The ledger records the intent before the DEBIT and commits it with the TAC (EP: purse_float, ED:
    personal_account against revenue). Exit 0 committed, 1 declined, 3 pending (card gone: present it again
    and run `ykt ledger recover --card …`).

    \b
    Examples:
      ykt purse pay 2.00 --card zhang-wei
      ykt purse pay 12.50 --reader "Virtual PCD 00 00" --psam-reader "Virtual PCD 00 01" --json
      ykt purse pay 30 --card zhang-wei --ed --category drugs --operator 张伟 --db shop.sqlite
    """
    fen = parse_amount(amount)
    pin = ask_pin() if ed else None
    if ed:
        kind, lines = "ed_purchase", [Posting("personal_account", fen), Posting(f"revenue:{category or 'drugs'}", -fen)]
    else:
        kind, lines = "purse_purchase", chart.purse_purchase(fen, category or "goods")
    with connected_reader(reader_name, card, trace_path) as reader, connected_psam(psam_reader, psam_image) as psam:
        manager = PurseManager(reader, psam, key_index=int(key_index))
        with purse_books(manager, db_path, operator) as books:
            booked = books.purchase(fen, lines, txn_type=TxnType.ED_PURCHASE if ed else TxnType.EP_PURCHASE, pin=pin,
                                    kind=kind)
    echo_result(booked.result, as_json, booked)


@purse.command("load")
@click.argument("amount")
@reader_options
@psam_options
@click.option("--ed", is_flag=True, help="Load the e-deposit (ED, type 01) instead of the e-purse.")
@click.option("--purpose", type=click.Choice(["topup", "subsidy", "refund"]), default="topup", show_default=True,
              help="Top-up, subsidy credit (补贴进卡) or refund.")
@click.option("--key", "key_index", type=click.Choice(["1", "2"]), default="1", show_default=True, help="Key set: 1 SM4, 2 3DES.")
@booking_options
@click.option("--json", "as_json", is_flag=True, help="Print the result and its booking as JSON.")
def purse_load(amount: str, reader_name: str | None, card: str | None, trace_path: str | None, psam_reader: str | None,
               psam_image: str | None, ed: bool, purpose: str, key_index: str, db_path: Path | None, operator: str,
               as_json: bool) -> None:
    """Load AMOUNT yuan, authorised by the issuer's load host (TEST keys), booked in the ledger.

    A top-up takes cash (cash_drawer), a refund is booked to refunds, a subsidy draws on subsidy_payable
    (refused while no subsidy advance is booked); the other side is purse_float. The PSAM gives the terminal
    id. Exit 0 committed, 1 declined, 3 pending (run `ykt ledger recover --card …`).

    \b
    Examples:
      ykt purse load 100 --card zhang-wei
      ykt purse load 5 --card zhang-wei --purpose refund --operator 李娜
    """
    fen = parse_amount(amount)
    kind, lines = LOADS[purpose](fen)
    with connected_reader(reader_name, card, trace_path) as reader, connected_psam(psam_reader, psam_image) as psam:
        manager = PurseManager(reader, psam, load_host=LoadHost.from_test_keys(), key_index=int(key_index))
        with purse_books(manager, db_path, operator) as books:
            booked = books.load(fen, lines, purse=_kind(ed).label, purpose=purpose, kind=kind)
    echo_result(booked.result, as_json, booked)


@purse.command("recover")
@click.argument("attempt_json")
@reader_options
@psam_options
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
def purse_recover(attempt_json: str, reader_name: str | None, card: str | None, trace_path: str | None,
                  psam_reader: str | None, psam_image: str | None, as_json: bool) -> None:
    """Resolve a pending purchase or load attempt (JSON, or a file holding it) without the ledger.

    Shows what the card did; it books nothing. Transactions made with `ykt purse pay|load` are booked by
    `ykt ledger recover --card …`, which uses the attempt kept in the ledger.

    \b
    Example:
      ykt purse recover pending.json --card zhang-wei
    """
    text = attempt_json if attempt_json.lstrip().startswith("{") else Path(attempt_json).read_text(encoding="utf-8")
    try:
        attempt = Attempt.from_dict(json.loads(text))
    except json.JSONDecodeError as e:
        raise click.BadParameter(f"not JSON ({e})") from None
    pin = ask_pin() if attempt.purse is PurseKind.ED and not attempt.txn_type.is_load else None
    with connected_reader(reader_name, card, trace_path) as reader, connected_psam(psam_reader, psam_image) as psam:
        result = PurseManager(reader, psam).recover(attempt, pin=pin)
    echo_result(result, as_json)


@purse.command("psam-new")
@click.argument("output", type=click.Path(dir_okay=False))
@click.option("--terminal-id", default="310100000001", show_default=True, help="6-byte terminal id, 12 hex digits.")
@click.option("--seq", default=1, show_default=True, type=click.IntRange(0, 0xFFFFFFFF), help="Next terminal transaction sequence.")
@click.option("--force", is_flag=True, help="Replace OUTPUT if it exists.")
def purse_psam_new(output: str, terminal_id: str, seq: int, force: bool) -> None:
    """Issue a PSAM card image with the TEST purchase master keys (serve it with `ykt card serve … --slot 1`).

    \b
    Example:
      ykt purse psam-new psam.card.json --terminal-id 310100000002
    """
    from applets.purse.personalize import PurseMasterKeys, personalize_psam
    from terminal.issuer import load_test_keys

    try:
        tid = bytes.fromhex(terminal_id)
    except ValueError:
        raise click.BadParameter("--terminal-id must be 12 hex digits") from None
    masters = PurseMasterKeys.from_extra(load_test_keys().extra)
    if masters is None:
        raise click.ClickException("the TEST key file has no purse master keys")
    image = personalize_psam(masters.purchase, os.urandom, terminal_id=tid, seq=seq)
    save_new_image(output, image, overwrite=force)
    click.echo(f"issued PSAM {output}: terminal {tid.hex().upper()}, next seq {seq}")
