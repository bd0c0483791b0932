"""`ykt counter …`: the pharmacy / clinic counter (docs/counter.md) — scriptable, the same library as the TUI.

Secrets come from standard input (or the keyboard): first the operator's password (unless
$YKT_OPERATOR_PASSWORD is set), then the holder's PIN. Neither is ever printed, logged or stored.
Exit status: 0 done, 1 refused / declined, 3 pending at the card (present it again: `ykt counter recover`).
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import click

from terminal.cli.options import USER_ERRORS, YktGroup, ask_pin, connected_reader, json_option, reader_options, read_secret
from terminal.cli.purse import connected_psam, psam_options
from terminal.demo import demo_psam_path
from terminal.counter import Counter, Draft, Receipt, Role
from terminal.counter.counter import DEFAULT_REGION
from terminal.ledger import LedgerError
from terminal.ledger.report import yuan
from terminal.medical import MedicalError
from terminal.paths import default_ledger_path
from terminal.purse import Psam

Callback = Callable[..., Any]


class CounterGroup(YktGroup):
    """As `ykt`'s group (user errors as one line), and medical and ledger refusals too, also when run on its own."""

    user_errors = (*USER_ERRORS, MedicalError, LedgerError)


def counter_options(f: Callback) -> Callback:
    """--db, --operator, --region (the ledger; who works; where the counter stands)."""
    f = click.option("--region", default=DEFAULT_REGION, show_default=True, envvar="YKT_COUNTER_REGION",
                     help="Region code of the counter: the place of treatment (就医地). [env YKT_COUNTER_REGION]")(f)
    f = click.option("--operator", "operator_id", envvar="YKT_OPERATOR", metavar="ID",
                     help="Operator id; the password is read next (or $YKT_OPERATOR_PASSWORD). [env YKT_OPERATOR]")(f)
    f = click.option("--db", "db_path", type=click.Path(dir_okay=False, path_type=Path), default=None,
                     help="Ledger database. Default: $YKT_HOME/ledger.sqlite.")(f)
    return f


def card_options(f: Callback) -> Callback:
    return psam_options(reader_options(f))


def _password() -> str:
    return os.environ.get("YKT_OPERATOR_PASSWORD") or read_secret("Operator password")


def _terminal_id(psam: Any = None) -> str:
    """The terminal id a new ledger is created for: the PSAM's (the demo PSAM when none is given)."""
    if psam is not None:
        return (psam if isinstance(psam, Psam) else Psam(psam)).reopen().hex().upper()
    env = os.environ.get("YKT_TERMINAL_ID")
    if env:
        return env
    with connected_reader(None, str(demo_psam_path()), None) as reader:
        return Psam(reader).reopen().hex().upper()


@contextlib.contextmanager
def open_counter(db_path: Path | None, region: str, psam: Any = None) -> Iterator[Counter]:
    path = db_path or default_ledger_path()
    terminal_id = None if path.exists() and path.stat().st_size else _terminal_id(psam)
    with Counter.open(path, terminal_id=terminal_id, region=region) as counter:
        yield counter


def _login(counter: Counter, operator_id: str | None) -> None:
    if not operator_id:
        raise click.UsageError("give --operator ID (or $YKT_OPERATOR)")
    counter.login(operator_id, _password())


@contextlib.contextmanager
def desk(db_path: Path | None, region: str, operator_id: str | None, reader_name: str | None, card: str | None,
         trace_path: str | None, psam_reader: str | None, psam_image: str | None) -> Iterator[tuple[Counter, Any, Any]]:
    """Counter + logged-in operator + the card reader + a purse manager over it with the PSAM."""
    with connected_psam(psam_reader, psam_image) as psam, open_counter(db_path, region, psam) as counter:
        _login(counter, operator_id)
        with connected_reader(reader_name, card, trace_path) as reader:
            yield counter, reader, counter.manager(reader, psam)


def _exit_for(status: str) -> None:
    if status == "failed":
        raise click.exceptions.Exit(1)
    if status == "pending":
        raise click.exceptions.Exit(3)


def _echo_receipt(receipt: Receipt, as_json: bool, html: Path | None) -> None:
    if html is not None:
        html.write_text(receipt.to_html(), encoding="utf-8")
    if as_json:
        click.echo(json.dumps(receipt.to_dict(), ensure_ascii=False, sort_keys=True))
    else:
        click.echo(receipt.to_text(), nl=False)


def _preview_text(draft: Draft) -> list[str]:
    s = draft.settlement
    c = draft.customer
    lines = [f"holder   {c.identity.masked_name} {c.identity.masked_ssn} card {c.identity.card_number}",
             f"policy   {s.policy.name}   ratio {s.ratio_percent}%" + ("   cross-province" if s.cross_province else ""),
             f"total    {yuan(s.total_fen)}   统筹 pooled {yuan(s.pooled_fen)}   个人账户 account {yuan(s.account_fen)}"
             f"   现金 cash {yuan(s.cash_fen)}"]
    lines += [f"note     {n}" for n in s.notes]
    return lines


@click.group(cls=CounterGroup)
def counter() -> None:
    """The pharmacy / clinic counter: identify, settle against the card, refund, subsidy credit, day close."""


@counter.command("identify")
@card_options
@counter_options
@json_option
def counter_identify(reader_name: str | None, card: str | None, trace_path: str | None, psam_reader: str | None,
                     psam_image: str | None, db_path: Path | None, operator_id: str | None, region: str,
                     as_json: bool) -> None:
    """Check the holder with the card and the PIN; show the insurance, the counters and the personal account.

    \b
    Example:
      printf 'demo-cashier\\n123456\\n' | ykt counter identify --card zhang-wei --operator c001
    """
    with desk(db_path, region, operator_id, reader_name, card, trace_path, psam_reader, psam_image) as (c, reader, manager):
        customer = c.identify(reader, manager, pin=ask_pin())
    facts = customer.masked()
    if as_json:
        click.echo(json.dumps(facts, ensure_ascii=False, sort_keys=True, default=str))
        return
    click.echo(str(customer.identity))
    click.echo(f"insured  {facts['scheme']} {facts['category']}{' retired' if facts['retired'] else ''}, "
               f"home region {facts['insured_region']}: {facts['policy']}")
    click.echo(f"account  {yuan(customer.account_balance_fen)} yuan (个人账户)")
    click.echo(f"{facts['year']}     deductible used {yuan(facts['deductible_used_fen'])}, pooled fund paid "
               f"{yuan(facts['pooled_paid_fen'])}, inpatient {yuan(facts['inpatient_pooled_paid_fen'])}")


@counter.command("settle")
@click.option("--cart", "cart_path", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="Cart CSV: code,quantity (data/carts/*.csv).")
@click.option("--visit", type=click.Choice(["pharmacy", "outpatient", "inpatient"]), default="pharmacy", show_default=True)
@click.option("--level", type=click.IntRange(1, 3), default=None, help="Hospital level for outpatient / inpatient.")
@click.option("--no-account", is_flag=True, help="Pay the patient's part in cash only (acct_used_flag = 0).")
@click.option("--preview", is_flag=True, help="Only show the split; nothing is paid.")
@click.option("--html", "html_path", type=click.Path(dir_okay=False, path_type=Path), help="Also write the receipt as HTML.")
@card_options
@counter_options
@json_option
def counter_settle(cart_path: Path, visit: str, level: int | None, no_account: bool, preview: bool,
                   html_path: Path | None, reader_name: str | None, card: str | None, trace_path: str | None,
                   psam_reader: str | None, psam_image: str | None, db_path: Path | None, operator_id: str | None,
                   region: str, as_json: bool) -> None:
    """Settle a cart against the card: pooled fund, personal account (the card's ED) and cash; print the receipt.

    \b
    Examples:
      printf 'demo-cashier\\n123456\\n' | ykt counter settle --cart data/carts/cold.csv --card zhang-wei --operator c001
      ykt counter settle --cart data/carts/chronic.csv --card zhao-min --operator c001 --preview
    """
    with desk(db_path, region, operator_id, reader_name, card, trace_path, psam_reader, psam_image) as (c, reader, manager):
        cart = c.load_cart(cart_path)
        pin = ask_pin()
        customer = c.identify(reader, manager, pin=pin)
        draft = c.preview(customer, cart, visit_type=visit, hospital_level=level, use_account=not no_account)
        if preview:
            if as_json:
                click.echo(json.dumps({"preview": draft.settlement.to_setlinfo()}, sort_keys=True))
            else:
                click.echo("\n".join(_preview_text(draft)))
            return
        sale = c.pay(draft, pin=pin)
        receipt = c.receipt(sale.receipt_no) if sale.status != "failed" else None
    if receipt is not None and (sale.committed or as_json):
        _echo_receipt(receipt, as_json, html_path if sale.committed else None)
    if not sale.committed and not as_json:
        click.echo(f"{sale.status}  sale {sale.receipt_no}: {sale.reason}")
        if sale.status == "pending":
            click.echo("present the card again and run `ykt counter recover`")
    if as_json and receipt is None:
        click.echo(json.dumps({"number": sale.receipt_no, "status": sale.status, "reason": sale.reason}, ensure_ascii=False))
    _exit_for(sale.status)


@counter.command("refund")
@click.argument("receipt_no", metavar="RECEIPT")
@click.option("--line", "lines", type=int, multiple=True, help="Refund only this line (1-based, as on the receipt); repeat.")
@click.option("--html", "html_path", type=click.Path(dir_okay=False, path_type=Path), help="Also write the refund receipt as HTML.")
@card_options
@counter_options
@json_option
def counter_refund(receipt_no: str, lines: tuple[int, ...], html_path: Path | None, reader_name: str | None,
                   card: str | None, trace_path: str | None, psam_reader: str | None, psam_image: str | None,
                   db_path: Path | None, operator_id: str | None, region: str, as_json: bool) -> None:
    """Refund a sale, or some of its lines, onto the sale's card (supervisor; the holder's PIN).

    \b
    Examples:
      printf 'demo-supervisor\\n123456\\n' | ykt counter refund 310100000001-000001 --card zhang-wei --operator sup1
      ykt counter refund 310100000001-000002 --line 2 --card zhang-wei --operator sup1
    """
    chosen = None if not lines else [n - 1 for n in lines]
    with desk(db_path, region, operator_id, reader_name, card, trace_path, psam_reader, psam_image) as (c, _, manager):
        result = c.refund(receipt_no, chosen, manager=manager, pin=ask_pin())
        receipt = c.receipt(result.refund_no)
    if result.committed or as_json:
        _echo_receipt(receipt, as_json, html_path if result.committed else None)
    if not result.committed and not as_json:
        click.echo(f"{result.status}  refund {result.refund_no}: {result.reason}")
    _exit_for(result.status)


@counter.command("subsidy")
@click.argument("batch_path", metavar="BATCH.csv", type=click.Path(dir_okay=False, path_type=Path))
@card_options
@counter_options
@json_option
def counter_subsidy(batch_path: Path, reader_name: str | None, card: str | None, trace_path: str | None,
                    psam_reader: str | None, psam_image: str | None, db_path: Path | None, operator_id: str | None,
                    region: str, as_json: bool) -> None:
    """Credit the presented card's lines of a subsidy batch (补贴待遇进卡) to its e-purse, each line once.

    \b
    Example:
      printf 'demo-cashier\\n123456\\n' | ykt counter subsidy data/subsidy.example.csv --card zhang-wei --operator c001
    """
    with desk(db_path, region, operator_id, reader_name, card, trace_path, psam_reader, psam_image) as (c, reader, manager):
        batch, identity, credits = c.subsidy(batch_path, reader, manager, pin=ask_pin())
    rows = [{"line": x.line.line_no, "amount_fen": x.line.amount_fen, "reason": x.line.reason, "status": x.status,
             "why": x.reason} for x in credits]
    if as_json:
        click.echo(json.dumps({"batch": batch.batch_id, "card_number": identity.card_number, "lines": rows},
                              ensure_ascii=False, sort_keys=True))
    else:
        click.echo(f"batch {batch.batch_id}: card {identity.card_number} ({identity.masked_name}), {len(rows)} line(s)")
        for r in rows:
            click.echo(f"  line {r['line']:<4} {yuan(r['amount_fen']):>10}  {r['status']:<9} {r['reason']}"
                       + (f"  ({r['why']})" if r["why"] else ""))
    statuses = {x.status for x in credits}
    _exit_for("pending" if "pending" in statuses else "failed" if "failed" in statuses else "committed")


@counter.command("close-day")
@click.option("--day", help="Business day to close (default: the current one).")
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path), default=Path("."), show_default=True,
              help="Folder for dayclose-DAY.csv, .json and .signed.json.")
@counter_options
@json_option
def counter_close_day(day: str | None, out_dir: Path, db_path: Path | None, operator_id: str | None, region: str,
                      as_json: bool) -> None:
    """Close the business day (日结, supervisor): totals per operator and payment source, signed summary.

    \b
    Example:
      echo demo-supervisor | ykt counter close-day --operator sup1 --out reports/
    """
    with open_counter(db_path, region) as c:
        _login(c, operator_id)
        closed = c.close_day(out_dir, day)
        next_day = c.business_day()
    s = closed.summary
    if as_json:
        click.echo(json.dumps({"summary": s, "mac": closed.mac, "files": [str(p) for p in closed.files]},
                              ensure_ascii=False, sort_keys=True))
        return
    click.echo(f"closed business day {closed.business_day}: {s['transactions']} transactions, {s['sales']} sales, "
               f"{s['refunds']} refunds ({yuan(s['refunds_fen'])})")
    click.echo("by source: " + ", ".join(f"{k} {yuan(v)}" for k, v in s["by_source_fen"].items()))
    if s["to_chase"]:
        click.echo(f"to chase: {len(s['to_chase'])} pending transaction(s)")
        for p in s["to_chase"]:
            click.echo(f"  {p['kind']} {p['reference'] or p['intent_id']} card {p['card_serial']} {yuan(p['amount_fen'])}")
    click.echo(f"written: {', '.join(str(p) for p in closed.files)}")
    click.echo(f"next business day {next_day}")


@counter.command("receipt")
@click.argument("number")
@click.option("--html", "html_path", type=click.Path(dir_okay=False, path_type=Path), help="Also write it as HTML.")
@click.option("--db", "db_path", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Ledger database. Default: $YKT_HOME/ledger.sqlite.")
@json_option
def counter_receipt(number: str, html_path: Path | None, db_path: Path | None, as_json: bool) -> None:
    """Print a sale's or a refund's receipt again (masked identity only).

    \b
    Example:
      ykt counter receipt 310100000001-000001 --html receipt.html
    """
    path = db_path or default_ledger_path()
    if not path.exists():
        raise click.ClickException(f"no ledger at {path}")
    with open_counter(path, DEFAULT_REGION) as c:
        _echo_receipt(c.receipt(number), as_json, html_path)


@counter.command("recover")
@card_options
@counter_options
def counter_recover(reader_name: str | None, card: str | None, trace_path: str | None, psam_reader: str | None,
                    psam_image: str | None, db_path: Path | None, operator_id: str | None, region: str) -> None:
    """Resolve the presented card's pending sales, refunds and subsidy loads (PIN: a pending ED purchase needs it).

    \b
    Example:
      printf 'demo-cashier\\n123456\\n' | ykt counter recover --card zhang-wei --operator c001
    """
    with desk(db_path, region, operator_id, reader_name, card, trace_path, psam_reader, psam_image) as (c, _, manager):
        outcomes = c.recover(manager, pin=ask_pin())
    if not outcomes:
        click.echo("nothing pending for this card")
    for o in outcomes:
        ref = o.intent.details.get("receipt") or o.intent.details.get("refund") or o.intent.details.get("subsidy")
        click.echo(f"{o.result:<10} {o.intent.kind} {ref or o.intent.intent_id}: {o.message}")
    if any(o.result == "pending" for o in outcomes):
        raise click.exceptions.Exit(3)


@counter.command("operator-add")
@click.argument("new_id", metavar="ID")
@click.option("--name", required=True, help="Display name.")
@click.option("--role", type=click.Choice(["cashier", "supervisor"]), default="cashier", show_default=True)
@counter_options
def counter_operator_add(new_id: str, name: str, role: str, db_path: Path | None, operator_id: str | None, region: str) -> None:
    """Add an operator (a supervisor must log in, except for the very first one). The new password is read last.

    \b
    Example:
      printf 'first-password\\n' | ykt counter operator-add sup1 --name 王主管 --role supervisor
    """
    with open_counter(db_path, region) as c:
        if c.operators.count():
            _login(c, operator_id)
            c.require_operator("operator management").require(Role.SUPERVISOR, "operator management")
        added = c.operators.add(new_id, name, role, read_secret("New operator's password"))
    click.echo(f"added operator {added}")


@counter.command("operator-import")
@click.argument("csv_path", metavar="FILE", type=click.Path(dir_okay=False, path_type=Path))
@counter_options
def counter_operator_import(csv_path: Path, db_path: Path | None, operator_id: str | None, region: str) -> None:
    """Add the operators of a CSV file operator_id,name,role,password (demo TEST passwords; a supervisor must
    log in, except on a terminal without operators).

    \b
    Example:
      ykt counter operator-import data/operators.example.csv
    """
    with open_counter(db_path, region) as c:
        if c.operators.count():
            _login(c, operator_id)
            c.require_operator("operator management").require(Role.SUPERVISOR, "operator management")
        added = c.operators.import_csv(csv_path)
    click.echo(f"added {added} operator(s) from {csv_path}")


@counter.command("filings-import")
@click.argument("csv_path", metavar="FILE", type=click.Path(dir_okay=False, path_type=Path))
@counter_options
def counter_filings_import(csv_path: Path, db_path: Path | None, operator_id: str | None, region: str) -> None:
    """Import cross-province filings (备案) into the ledger database (supervisor; all or nothing).

    \b
    Example:
      echo demo-supervisor | ykt counter filings-import data/filings.example.csv --operator sup1
    """
    with open_counter(db_path, region) as c:
        _login(c, operator_id)
        c.require_operator("a filings import").require(Role.SUPERVISOR, "a filings import")
        n = c.import_filings(csv_path)
    click.echo(f"imported {n} filing(s) from {csv_path}")
