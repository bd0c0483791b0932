"""What `ykt purse pay|load` and `ykt ledger recover` share: opening the ledger for a purse terminal, the
--db / --operator options, and printing what the ledger made of a transaction (docs/ledger.md
"Booking card transactions")."""

from __future__ import annotations

import contextlib
import logging
import sqlite3
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import click

from terminal.booking import Booked, PurseBooks, today
from terminal.ledger import Ledger, LedgerError, NegativeBalance, RecoveryOutcome
from terminal.ledger.report import yuan
from terminal.paths import default_ledger_path
from terminal.purse import PurseManager

log = logging.getLogger(__name__)


def booking_options(f: Callable[..., Any]) -> Callable[..., Any]:
    """--db PATH (the ledger; default the terminal's) and --operator NAME."""
    f = click.option("--operator", default="cli", show_default=True, envvar="YKT_OPERATOR",
                     help="Who books the transaction (the ledger's operator column). [env YKT_OPERATOR]")(f)
    f = click.option("--db", "db_path", type=click.Path(dir_okay=False, path_type=Path), default=None,
                     help="Ledger database. Default: $YKT_HOME/ledger.sqlite, else ledger.sqlite in the user data dir.")(f)
    return f


def open_ledger_for(manager: PurseManager, db_path: Path | None) -> Ledger:
    """The ledger at `db_path` (default path if None); created for the PSAM's terminal id when missing."""
    path = db_path if db_path is not None else default_ledger_path()
    if path.exists() and path.stat().st_size:
        return Ledger.open(path, create=False)
    terminal_id = manager.terminal_id.hex().upper()
    book = Ledger.open(path, terminal_id=terminal_id, create=True)
    log.info("initialised ledger %s for terminal %s", path, terminal_id)
    return book


@contextlib.contextmanager
def purse_books(manager: PurseManager, db_path: Path | None, operator: str) -> Iterator[PurseBooks]:
    """PurseBooks over `manager` for today's business day; ledger errors become one-line ClickExceptions."""
    try:
        with open_ledger_for(manager, db_path) as book:
            yield PurseBooks(book, manager, operator=operator, business_day=today)
    except NegativeBalance as exc:
        hint = "; book the programme's subsidy advance first" if exc.account == "subsidy_payable" else ""
        raise click.ClickException(f"{exc}{hint}") from None
    except LedgerError as exc:
        raise click.ClickException(str(exc)) from None
    except sqlite3.DatabaseError as exc:
        raise click.ClickException(f"cannot use the ledger database: {exc}") from None


def ledger_line(booked: Booked) -> str:
    """One line saying what the ledger holds now."""
    intent = booked.intent
    if booked.status == "committed" and booked.transaction is not None:
        return f"ledger   transaction {booked.transaction.txn_id} committed (intent {intent.intent_id})"
    if booked.status == "failed":
        return f"ledger   intent {intent.intent_id} failed: nothing booked"
    return (f"ledger   intent {intent.intent_id} pending: present the card again and run"
            " `ykt ledger recover --card …` (or --reader)")


def ledger_json(booked: Booked) -> dict[str, Any]:
    return {"status": booked.status, "intent_id": booked.intent.intent_id,
            "txn_id": None if booked.transaction is None else booked.transaction.txn_id}


def outcome_line(outcome: RecoveryOutcome) -> str:
    i = outcome.intent
    counter = "-" if i.card_counter is None else str(i.card_counter)
    what = f"committed as transaction {outcome.txn_id}" if outcome.result == "committed" else outcome.result
    return f"  {i.intent_id}  {i.kind:<16} {yuan(i.amount_fen):>10}  counter {counter}  {what}: {outcome.message}"


def outcome_json(outcome: RecoveryOutcome) -> dict[str, Any]:
    return {"intent_id": outcome.intent.intent_id, "kind": outcome.intent.kind, "card_serial": outcome.intent.card_serial,
            "card_counter": outcome.intent.card_counter, "result": outcome.result, "message": outcome.message,
            "txn_id": outcome.txn_id}
