"""`ykt clearing …` (the clearing service), `ykt sync` (the terminal's upload and updates) and
`ykt fleet simulate` (many terminals, offline periods, crashes, then a reconciliation). docs/clearing.md.

Each command opens the library object, calls one thing, and turns errors into one-line ClickExceptions.
"""

from __future__ import annotations

import functools
import json
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from terminal.cli.options import json_option
from terminal.clearing.errors import ClearingError
from terminal.paths import default_home, default_ledger_path

F = TypeVar("F", bound=Callable[..., Any])


def default_db_url() -> str:
    return os.environ.get("YKT_CLEARING_DB") or str(default_home() / "clearing.sqlite")


def clearing_db_option(func: F) -> F:
    return click.option("--db", "db_url", metavar="URL", default=None,
                        help="Clearing database: a SQLite path or sqlite:///PATH, or postgresql://… "
                             "Default: $YKT_CLEARING_DB, else clearing.sqlite in the terminal home.")(func)


def one_line_errors(func: F) -> F:
    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except (ClearingError, ValueError, OSError, LookupError) as exc:
            raise click.ClickException(str(exc)) from None

    return wrapper  # type: ignore[return-value]


def _house(db_url: str | None, keys: str | None = None) -> Any:
    from terminal.clearing import ClearingHouse, TacVerifier

    verifier = TacVerifier.from_test_keys(Path(keys)) if keys else None
    return ClearingHouse.open(db_url or default_db_url(), verifier)


def _echo_json(obj: Any) -> None:
    click.echo(json.dumps(obj, ensure_ascii=False, indent=1, default=str))


@click.group()
def clearing() -> None:
    """The clearing service: terminal keys, uploads, TAC checks, settlement, hotlist and fare pushes.

    \b
    Examples:
      ykt clearing terminal add 310100000001 --merchant M-PHARMACY-1 --key-out t1.sync-key
      ykt clearing serve --port 8780
      ykt clearing settle --day 2024-05-01 --out settlements/
    """


@clearing.command()
@clearing_db_option
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8780, show_default=True, type=int, help="TCP port.")
@click.option("--keys", type=click.Path(file_okay=False), default=None,
              help="Folder of the issuer's TEST key file (default: data/keys).")
@click.option("--log-level", default="info", show_default=True,
              type=click.Choice(["critical", "error", "warning", "info", "debug"]))
@one_line_errors
def serve(db_url: str | None, host: str, port: int, keys: str | None, log_level: str) -> None:
    """Run the HTTP service (uvicorn) until interrupted.

    Terminals authenticate every request with their HMAC key (docs/clearing.md "Auth").

    \b
    Example:
      ykt clearing serve --db clearing.sqlite --port 8780
      ykt clearing serve --db postgresql://ykt@127.0.0.1/clearing
    """
    from terminal.clearing.service import serve as run

    house = _house(db_url, keys)
    click.echo(f"clearing service on http://{host}:{port} ({house.db!r})", err=True)
    try:
        run(house, host=host, port=port, log_level=log_level)
    finally:
        house.close()


@clearing.group()
def terminal() -> None:
    """Register terminals and their sync keys.

    \b
    Examples:
      ykt clearing terminal add 310100000001 --merchant M-PHARMACY-1 --key-out t1.sync-key
      ykt clearing terminal list
    """


@terminal.command("add")
@click.argument("terminal_id")
@click.option("--merchant", required=True, help="Merchant id the terminal settles for.")
@click.option("--name", default="", help="A name for people.")
@click.option("--key-out", type=click.Path(dir_okay=False), default=None,
              help="Write the new key to FILE (0600); copy it to the terminal as <ledger>.sync-key.")
@clearing_db_option
@one_line_errors
def terminal_add(terminal_id: str, merchant: str, name: str, key_out: str | None, db_url: str | None) -> None:
    """Register a terminal (or give it a new key). The key is shown once.

    \b
    Example:
      ykt clearing terminal add 310100000001 --merchant M-PHARMACY-1 --key-out t1.sync-key
    """
    from terminal.clearing.auth import write_key_file

    house = _house(db_url)
    try:
        key = house.add_terminal(terminal_id, merchant_id=merchant, name=name)
    finally:
        house.close()
    if key_out:
        write_key_file(key_out, key)
        click.echo(f"terminal {terminal_id.upper()} registered for {merchant}; key written to {key_out}")
    else:
        click.echo(f"terminal {terminal_id.upper()} registered for {merchant}; key {key.hex()}")


@terminal.command("list")
@clearing_db_option
@json_option
@one_line_errors
def terminal_list(db_url: str | None, as_json: bool) -> None:
    """Registered terminals with their merchant and upload cursor.

    \b
    Example:
      ykt clearing terminal list --json
    """
    house = _house(db_url)
    try:
        rows = house.terminals()
    finally:
        house.close()
    if as_json:
        _echo_json([r.__dict__ for r in rows])
        return
    for r in rows:
        click.echo(f"{r.terminal_id}  {r.merchant_id:<20} {'enabled' if r.enabled else 'DISABLED'}  cursor {r.cursor}")


@terminal.command("disable")
@click.argument("terminal_id")
@clearing_db_option
@one_line_errors
def terminal_disable(terminal_id: str, db_url: str | None) -> None:
    """Refuse a terminal's requests from now on (a stolen terminal); `terminal add` enables it again.

    \b
    Example:
      ykt clearing terminal disable 310100000001
    """
    house = _house(db_url)
    try:
        house.set_enabled(terminal_id, False)
    finally:
        house.close()
    click.echo(f"terminal {terminal_id.upper()} disabled")


@clearing.command()
@click.argument("kind", type=click.Choice(["hotlist", "policy", "fares"]))
@click.argument("source", type=click.Path(exists=True))
@click.option("--version", "version", type=int, required=True, help="The new version (must be above the last).")
@clearing_db_option
@one_line_errors
def publish(kind: str, source: str, version: int, db_url: str | None) -> None:
    """Publish a hotlist (CSV/text list or .ykthl file), a policy (JSON object of settings) or fares (a folder of
    fare files); terminals apply it at their next sync.

    \b
    Example:
      ykt clearing publish hotlist lost-cards.csv --version 7
      ykt clearing publish fares data/fares --version 2
    """
    from terminal import hotlist as hl
    from terminal.clearing.house import fares_bundle, policy_document

    path = Path(source)
    if kind == "hotlist":
        if path.read_bytes()[:8] == hl.MAGIC:
            content = path.read_bytes()
        else:
            parsed = hl.parse_source(path)
            content = hl.build_file(version, parsed.keys, int(time.time()))
    elif kind == "fares":
        content = fares_bundle(path, version)
    else:
        settings = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(settings, dict):
            raise click.ClickException(f"{path}: a JSON object of settings is needed")
        content = policy_document(settings, version)
    house = _house(db_url)
    try:
        info = house.publish(kind, version, content)
    finally:
        house.close()
    click.echo(f"{kind} version {info['version']} published ({info['size']} bytes, sha256 {info['sha256'][:16]}…)")


@clearing.command()
@click.option("--day", required=True, help="Business day YYYY-MM-DD.")
@click.option("--out", "out_dir", type=click.Path(file_okay=False), default=None,
              help="Write settlement-DAY-runN.csv and .json into this folder.")
@clearing_db_option
@json_option
@one_line_errors
def settle(day: str, out_dir: str | None, db_url: str | None, as_json: bool) -> None:
    """Settle the day's valid transactions not settled yet (a new run; late uploads go into a later run).

    \b
    Example:
      ykt clearing settle --day 2024-05-01 --out settlements/
    """
    from terminal.clearing.settlement import write_files, yuan

    house = _house(db_url)
    try:
        run = house.settle(day)
    finally:
        house.close()
    if run is None:
        click.echo(f"{day}: nothing new to settle")
        return
    files = write_files(run, out_dir) if out_dir else ()
    if as_json:
        _echo_json(run.to_json())
    else:
        click.echo(f"{day} run {run.run_id}: {run.transactions} transactions")
        for fund, net in run.to_json()["by_fund"].items():
            click.echo(f"  {fund:<18} {yuan(net):>14}")
    for f in files:
        click.echo(f"wrote {f}", err=True)


@clearing.command()
@click.option("--day", required=True, help="Business day YYYY-MM-DD.")
@clearing_db_option
@json_option
@one_line_errors
def report(day: str, db_url: str | None, as_json: bool) -> None:
    """A business day: settlement runs, totals by fund, unsettled and quarantined transactions, counter gaps.

    \b
    Example:
      ykt clearing report --day 2024-05-01 --json
    """
    from terminal.clearing.settlement import yuan

    house = _house(db_url)
    try:
        rep = house.report(day)
    finally:
        house.close()
    if as_json:
        _echo_json(rep)
        return
    t = rep["transactions"]
    click.echo(f"{day}: {t['valid']} valid, {t['quarantined']} quarantined, {t['unsettled']} not settled yet,"
               f" {len(rep['runs'])} settlement runs")
    for fund, net in rep["by_fund"].items():
        click.echo(f"  {fund:<18} {yuan(net):>14}")
    for q in rep["quarantined"][:20]:
        click.echo(f"  quarantined {q['terminal_id']} seq {q['seq']}: {q['reason']}")
    gaps = rep["counter_gaps"]
    click.echo(f"counter gaps: {len(gaps)}")
    for g in gaps[:20]:
        click.echo(f"  card {g['card_serial']} {g['family']}: counters {g['missing_from']}–{g['missing_to']} never cleared")


# ---------------------------------------------------------------- terminal side
@click.command("sync")
@click.option("--server", default=None, metavar="URL",
              help="Clearing service URL (remembered). Default: $YKT_SYNC_SERVER, else the last one used.")
@click.option("--db", "db_path", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Ledger database. Default: $YKT_HOME/ledger.sqlite.")
@click.option("--key-file", type=click.Path(dir_okay=False), default=None,
              help="The terminal's sync key. Default: <ledger>.sync-key.")
@click.option("--batch-size", default=500, show_default=True, type=click.IntRange(1, 5000), help="Records per upload.")
@click.option("--no-updates", is_flag=True, help="Only upload; do not download hotlist / policy / fares.")
@json_option
def sync(server: str | None, db_path: Path | None, key_file: str | None, batch_size: int, no_updates: bool,
         as_json: bool) -> None:
    """Upload the ledger outbox to the clearing service and apply newer hotlist / policy / fares.

    Resumes from the server's cursor, retries with backoff, works after days offline.

    \b
    Example:
      ykt sync --server http://127.0.0.1:8780
    """
    from terminal.ledger import LedgerError
    from terminal.sync import SyncError, open_syncer

    path = db_path or default_ledger_path()
    url = server or os.environ.get("YKT_SYNC_SERVER")
    bar: Any = None

    def progress(done: int, total: int) -> None:
        nonlocal bar
        if bar is None and total > batch_size and not as_json:
            bar = click.progressbar(length=total, label="uploading", file=click.get_text_stream("stderr"))
            bar.__enter__()
        if bar is not None:
            bar.update(done - bar.pos)

    try:
        with open_syncer(path, url, key_file, batch_size=batch_size, progress=progress) as syncer:
            rep = syncer.sync(updates=not no_updates)
    except (SyncError, LedgerError, ClearingError, ValueError, OSError) as exc:
        raise click.ClickException(str(exc)) from None
    finally:
        if bar is not None:
            bar.__exit__(None, None, None)
    if as_json:
        _echo_json(rep.to_json())
        return
    click.echo(f"uploaded {rep.sent} records in {rep.batches} batches: {rep.new} new, {rep.duplicates} already there;"
               f" server cursor {rep.cursor} (ledger outbox ends at {rep.last_seq})")
    for q in rep.quarantined:
        click.echo(f"quarantined by the server: seq {q['seq']}: {q['reason']}")
    for a in rep.applied:
        click.echo(f"{a.kind}: version {a.old_version} → {a.new_version}")


@click.group()
def fleet() -> None:
    """Simulate a fleet of terminals against a clearing service.

    \b
    Example:
      ykt fleet simulate --terminals 100 --days 3 --offline-rate 0.3 --kill-rate 0.01
    """


@fleet.command()
@click.option("--terminals", default=100, show_default=True, type=click.IntRange(1, 100_000))
@click.option("--days", default=3, show_default=True, type=click.IntRange(1, 365))
@click.option("--offline-rate", default=0.3, show_default=True, type=click.FloatRange(0, 0.95),
              help="Share of sync windows a terminal is offline (random offline periods).")
@click.option("--kill-rate", default=0.01, show_default=True, type=click.FloatRange(0, 0.5),
              help="Chance that a transaction crashes its terminal (recovered at restart).")
@click.option("--cards-per-terminal", default=3, show_default=True, type=click.IntRange(1, 100))
@click.option("--txns-per-hour", default=2, show_default=True, type=click.IntRange(1, 1000))
@click.option("--hours", default=10, show_default=True, type=click.IntRange(1, 24), help="Opening hours per day.")
@click.option("--seed", default=1, show_default=True, type=int)
@click.option("--db", "db_url", default=None, metavar="URL", help="Clearing database (default: SQLite in --dir).")
@click.option("--dir", "folder", type=click.Path(file_okay=False), default=None,
              help="Folder for the terminals' ledgers (default: a temporary folder, removed after).")
@click.option("--http", "use_http", is_flag=True, help="Sync through signed HTTP (in-process ASGI) instead of direct calls.")
@json_option
@one_line_errors
def simulate(terminals: int, days: int, offline_rate: float, kill_rate: float, cards_per_terminal: int,
             txns_per_hour: int, hours: int, seed: int, db_url: str | None, folder: str | None, use_http: bool,
             as_json: bool) -> None:
    """Run many terminals with emulated cards through days of trading, offline periods and crashes, sync them,
    and print the reconciliation (cards = issuer view = clearing view). Exit 1 on any discrepancy.

    \b
    Example:
      ykt fleet simulate --terminals 100 --days 3 --offline-rate 0.3 --kill-rate 0.01
    """
    from terminal.fleet import FleetConfig, simulate as run

    config = FleetConfig(terminals=terminals, days=days, offline_rate=offline_rate, kill_rate=kill_rate,
                         cards_per_terminal=cards_per_terminal, txns_per_hour=txns_per_hour, hours=hours, seed=seed,
                         db_url=db_url, folder=Path(folder) if folder else None, http=use_http)
    result = run(config, progress=None if as_json else lambda line: click.echo(line, err=True))
    if as_json:
        _echo_json(result.to_json())
    else:
        click.echo(result.text())
    if result.discrepancies:
        raise SystemExit(1)


__all__ = ["clearing", "fleet", "sync"]
