"""`ykt ledger …`: create, verify, report, export and recover the terminal's local ledger.

Each command opens the library object, calls one thing, and turns errors into one-line ClickExceptions.
"""

from __future__ import annotations

import datetime as _dt
import functools
import json
import os
import sqlite3
import sys
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any, TypeVar

import click

from terminal.booking import PurseBooks, today
from terminal.cli.books import outcome_json, outcome_line
from terminal.cli.options import ask_pin, connected_reader, json_option, reader_options
from terminal.cli.purse import connected_psam, psam_options
from terminal.ledger import Ledger, LedgerError, RecoveryOutcome
from terminal.purse import PurseManager
from terminal.ledger.export import export as export_rows
from terminal.ledger.keyfile import key_path
from terminal.ledger.report import format_report, yuan
from terminal.paths import default_ledger_path

F = TypeVar("F", bound=Callable[..., Any])


def db_option(func: F) -> F:
    return click.option(
        "--db",
        "db_path",
        type=click.Path(dir_okay=False, path_type=Path),
        default=None,
        help="Ledger database. Default: $YKT_HOME/ledger.sqlite, else ledger.sqlite in the user data dir.",
    )(func)


def one_line_errors(func: F) -> F:
    """Ledger, validation, OS and SQLite errors become `Error: …` and exit 1, never a traceback."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except (LedgerError, ValueError, TypeError, OSError) as exc:
            raise click.ClickException(str(exc)) from None
        except sqlite3.DatabaseError as exc:
            raise click.ClickException(f"cannot use the ledger database: {exc}") from None

    return wrapper  # type: ignore[return-value]


def _path(db_path: Path | None) -> Path:
    return db_path if db_path is not None else default_ledger_path()


@click.group()
def ledger() -> None:
    """The shop's local book of record: a double-entry, hash-chained SQLite ledger.

    Example:

        ykt ledger init --terminal-id 000000000001 && ykt ledger verify
    """


@ledger.command()
@db_option
@click.option("--terminal-id", envvar="YKT_TERMINAL_ID", help="This terminal's id (PSAM terminal id). [env YKT_TERMINAL_ID]")
@one_line_errors
def init(db_path: Path | None, terminal_id: str | None) -> None:
    """Create the ledger and its key file (<db>.key, mode 0600); harmless if it exists.

    Example:

        ykt ledger init --db shop.sqlite --terminal-id 000000000001
    """
    path = _path(db_path)
    if path.exists() and path.stat().st_size:
        try:
            with Ledger.open(path, terminal_id=terminal_id, create=False) as book:
                click.echo(f"ledger already initialised: {path} (terminal {book.terminal_id})")
                return
        except LedgerError as exc:
            if "not an initialised ledger" not in str(exc):
                raise
    if not terminal_id:
        raise click.ClickException("--terminal-id is needed to create a ledger (or set YKT_TERMINAL_ID)")
    with Ledger.open(path, terminal_id=terminal_id, create=True) as book:
        click.echo(f"initialised ledger {path} for terminal {book.terminal_id} (key {key_path(path)})")


@ledger.command()
@db_option
@click.option("--quick", is_flag=True, help="PRAGMA quick_check instead of the full integrity_check.")
@json_option
@one_line_errors
def verify(db_path: Path | None, quick: bool, as_json: bool) -> None:
    """Check integrity_check, the hash chain, every HMAC and the double-entry sums; name the first bad row.

    Exits 1 if anything is wrong.

    Example:

        ykt ledger verify --db shop.sqlite
    """
    with Ledger.open(_path(db_path), create=False) as book:
        result = book.verify(quick=quick)
    if as_json:
        body = {"ok": result.ok, "rows": result.rows_checked, "transactions": result.transactions,
                "head_seq": result.head_seq, "chain_version": result.chain_version,
                "problems": [asdict(p) for p in result.problems]}
        click.echo(json.dumps(body, ensure_ascii=False))
    elif result.ok:
        click.echo(f"ok: chain v{result.chain_version}, {result.rows_checked} rows, {result.transactions} transactions,"
                   f" head seq {result.head_seq}")
    else:
        for problem in result.problems:
            click.echo(f"bad: {problem}")
    if not result.ok:
        raise click.ClickException(f"ledger verification failed; first bad row: {result.first}")


@ledger.command()
@db_option
@click.option("--day", help="Business day YYYY-MM-DD. Default: today.")
@json_option
@one_line_errors
def report(db_path: Path | None, day: str | None, as_json: bool) -> None:
    """A business day's totals by account and by operator (amounts in yuan).

    Example:

        ykt ledger report --db shop.sqlite --day 2024-05-01
    """
    with Ledger.open(_path(db_path), create=False) as book:
        result = book.report(day or _dt.date.today().isoformat())
    click.echo(json.dumps(asdict(result), ensure_ascii=False) if as_json else format_report(result))


@ledger.command()
@db_option
@click.option("--what", type=click.Choice(["transactions", "postings", "totals"]), default="transactions",
              show_default=True, help="Which rows to export.")
@click.option("--format", "fmt", type=click.Choice(["csv", "json"]), default="csv", show_default=True)
@click.option("--day", help="Only this business day (YYYY-MM-DD).")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Output file (CSV gets a UTF-8 BOM so spreadsheets read Chinese text). Default: stdout.")
@one_line_errors
def export(db_path: Path | None, what: str, fmt: str, day: str | None, output: Path | None) -> None:
    """Write transactions, postings or daily totals as CSV or JSON (integer fen + exact yuan columns).

    Example:

        ykt ledger export --db shop.sqlite --what postings --day 2024-05-01 -o postings.csv
    """
    with Ledger.open(_path(db_path), create=False) as book:
        if output is None:
            count = export_rows(book.db, click.get_text_stream("stdout"), what=what, fmt=fmt, day=day)  # type: ignore[arg-type]
        else:
            encoding = "utf-8-sig" if fmt == "csv" else "utf-8"
            with open(output, "w", encoding=encoding, newline="") as out:
                count = export_rows(book.db, out, what=what, fmt=fmt, day=day)  # type: ignore[arg-type]
                out.flush()
                os.fsync(out.fileno())
            click.echo(f"exported {count} {what} rows to {output}", err=True)


@ledger.command()
@db_option
@reader_options
@psam_options
@click.option("--pin", "ask_for_pin", is_flag=True, help="Ask for the card's PIN (a pending ED purchase needs it).")
@json_option
@one_line_errors
def recover(db_path: Path | None, reader_name: str | None, card: str | None, trace_path: str | None,
            psam_reader: str | None, psam_image: str | None, ask_for_pin: bool, as_json: bool) -> None:
    """Resolve the presented card's pending intents with the purse recovery rule; list the others.

    With --card or --reader, each pending intent of that card is resolved from the card itself (its counter
    and transaction proof, the MAC2 checked by the PSAM): done → committed with the TAC, not done → failed,
    cannot tell → stays pending. Without a card the pending intents are only listed; an operator can decide
    one with `ykt ledger resolve`.

    Examples:

        ykt ledger recover --db shop.sqlite

        ykt ledger recover --card zhang-wei

        ykt ledger recover --reader "Virtual PCD 00 00" --psam-reader "Virtual PCD 00 01" --json
    """
    path = _path(db_path)
    resolved: list[RecoveryOutcome] = []
    serial = None
    with Ledger.open(path, create=False) as book:
        if reader_name is not None or card is not None:
            from terminal.booking import recover_at_start

            pin = ask_pin() if ask_for_pin else None
            with connected_reader(reader_name, card, trace_path) as reader, \
                    connected_psam(psam_reader, psam_image) as psam:
                manager = PurseManager(reader, psam)  # a load's attempt holds the host's MAC2: no host needed
                start = recover_at_start(book, PurseBooks(book, manager, operator="recovery", business_day=today),
                                         pin=pin)
            if start.card_error is not None:
                raise click.ClickException(f"cannot read the card: {start.card_error}")
            resolved, serial = list(start.resolved), start.card_serial
        pending = book.pending_intents()
    if as_json:
        listed = [asdict(i) for i in pending]
        if reader_name is None and card is None:
            click.echo(json.dumps(listed, ensure_ascii=False))
        else:
            click.echo(json.dumps({"card_serial": serial, "resolved": [outcome_json(o) for o in resolved],
                                   "pending": listed}, ensure_ascii=False))
        return
    if reader_name is not None or card is not None:
        click.echo(f"card {serial or '?'}: {len(resolved)} intent(s) resolved")
        for outcome in resolved:
            click.echo(outcome_line(outcome))
    if not pending:
        click.echo("no pending intents")
        return
    click.echo(f"{len(pending)} pending intent(s); present each card to the terminal to resolve it:")
    for i in pending:
        counter = "-" if i.card_counter is None else str(i.card_counter)
        click.echo(f"  {i.intent_id}  {i.created_at}  {i.kind:<16} {yuan(i.amount_fen):>10}  card {i.card_serial or '-'}"
                   f"  counter {counter}  operator {i.operator}")


@ledger.command()
@click.argument("intent_id")
@db_option
@click.option("--fail", "decision", flag_value="failed", help="The money movement did not happen (failed).")
@click.option("--cancel", "decision", flag_value="cancelled", help="Abandoned before any money moved (cancelled).")
@click.option("--reason", required=True, help="Why (kept in the ledger with the decision).")
@json_option
@one_line_errors
def resolve(intent_id: str, db_path: Path | None, decision: str | None, reason: str, as_json: bool) -> None:
    """A supervisor's decision on a pending intent that the card cannot resolve: --fail or --cancel it.

    Use it when the card will not come back or recovery stays unknown; a card transaction found done later
    is then for clearing (its TAC). Nothing is booked.

    Example:

        ykt ledger resolve 0b7c1e52-8f0a-4c1e-9d3a-2f6e1a7b9c40 --fail --reason "card lost, paid cash"
    """
    if decision is None:
        raise click.UsageError("choose --fail or --cancel")
    with Ledger.open(_path(db_path), create=False) as book:
        before = book.get_intent(intent_id)
        text = f"operator decision: {reason}"
        after = book.fail_intent(intent_id, text) if decision == "failed" else book.cancel_intent(intent_id, text)
    if as_json:
        click.echo(json.dumps({"intent_id": after.intent_id, "state": after.state, "reason": after.reason,
                               "was": before.state}, ensure_ascii=False))
        return
    card = f" (card {before.card_serial} counter {before.card_counter})" if before.card_serial else ""
    click.echo(f"intent {after.intent_id} {after.state}{card}: {after.reason}")


def main() -> None:  # pragma: no cover - convenience for `python -m terminal.cli.ledger`
    ledger(prog_name="ykt ledger", args=sys.argv[1:])


if __name__ == "__main__":  # pragma: no cover
    main()
