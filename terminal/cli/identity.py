"""`ykt qr …` (the QR electronic social security card) and `ykt hotlist …` (the local hotlist).

Each command opens the library object, calls one thing, and turns errors into one-line ClickExceptions.
"""

from __future__ import annotations

import functools
import sqlite3
import sys
import time
from collections.abc import Callable
from datetime import date, datetime, timezone
from pathlib import Path
from typing import Any, TypeVar

import click

from terminal.cli.options import USER_ERRORS, ask_pin, connected_reader, reader_options
from terminal.hotlist import Hotlist, default_hotlist_path, import_file
from terminal.identity import LOOKUP_POLICY, IdentityRefused, Reason, SqliteNonceStore, identify_card, issue_qr, load_known_regions, verify_qr
from terminal.identity.qr import DEFAULT_SKEW_S, MAX_TTL_S
from terminal.identity.render import terminal_text, write_png
from terminal.paths import default_home

F = TypeVar("F", bound=Callable[..., Any])

def one_line_errors(func: F) -> F:
    """Refusals become `Error: refused (reason): message`; other user errors one line; exit 1."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except IdentityRefused as e:
            hint = " (use --pin)" if e.reason is Reason.PIN_REQUIRED else ""
            raise click.ClickException(f"refused ({e.reason.value}): {e}{hint}") from None
        except USER_ERRORS as e:
            raise click.ClickException(str(e) or type(e).__name__) from None
        except sqlite3.DatabaseError as e:
            raise click.ClickException(f"cannot use the nonce database: {e}") from None

    return wrapper  # type: ignore[return-value]


def hotlist_option(func: F) -> F:
    return click.option(
        "--db", "db_path", type=click.Path(dir_okay=False, path_type=Path), default=None,
        help="Hotlist file. Default: $YKT_HOME/hotlist.ykthl (else in the user data dir).",
    )(func)


def _print_identity(lines: list[tuple[str, str | None]]) -> None:
    for label, value in lines:
        if value is not None:
            click.echo(f"{label:<13} {value}")


# ---- ykt qr ----


@click.group()
def qr() -> None:
    """The QR electronic social security card (电子社保卡): issue one from a card, verify one offline.

    Example:

        ykt qr issue --card zhang-wei --png zhang-wei.png
    """


@qr.command("issue")
@reader_options
@click.option("--pin", "ask_pin_flag", is_flag=True, help="Ask for the PIN and VERIFY it (needed when EF06 is PIN-protected).")
@click.option("--png", "png_path", type=click.Path(dir_okay=False), help="Also write the QR code as a PNG image to FILE.")
@click.option("--ttl", default=MAX_TTL_S, show_default=True, type=click.IntRange(1, MAX_TTL_S), help="Seconds the code stays valid.")
@click.option("--payload-only", is_flag=True, help="Print only the payload text (for scripts and scanners), no drawing.")
@one_line_errors
def qr_issue(reader_name: str | None, card: str | None, trace_path: str | None, ask_pin_flag: bool,
             png_path: str | None, ttl: int, payload_only: bool) -> None:
    """Check the card (like the counter does) and issue a signed QR electronic card for its holder.

    Draws the code in the terminal, prints the holder (masked) and the payload text; --png also saves
    it as an image. The code is signed with the TEST e-card key and is valid for at most 120 s.

    \b
    Examples:
      ykt qr issue --card zhang-wei --png zhang-wei.png
      echo 123456 | ykt qr issue --card li-na --pin
      ykt qr verify "$(ykt qr issue --card zhang-wei --payload-only)"
    """
    pin = ask_pin() if ask_pin_flag else None
    with connected_reader(reader_name, card, trace_path) as reader:
        identity = identify_card(reader, pin=pin, policy=LOOKUP_POLICY, hotlist=Hotlist.load(),
                                 regions=load_known_regions(), today=date.today())
    now = datetime.now(timezone.utc)
    payload = issue_qr(identity, now, ttl_s=ttl)
    if png_path:
        write_png(payload, png_path)
    if payload_only:
        click.echo(payload)
        return
    click.echo(terminal_text(payload), nl=False)
    until = datetime.fromtimestamp(int(now.timestamp()) + ttl, timezone.utc).strftime("%H:%M:%S")
    _print_identity([
        ("holder", str(identity)),
        ("valid until", f"{until} UTC ({ttl} s)"),
        ("PNG", png_path),
        ("payload", payload),
    ])


@qr.command("verify")
@click.argument("payload")
@click.option("--nonce-db", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="SQLite file of used codes. Default: $YKT_HOME/qr-nonces.sqlite.")
@hotlist_option
@click.option("--skew", default=DEFAULT_SKEW_S, show_default=True, type=click.IntRange(0, 300), help="Clock difference tolerated, seconds.")
@one_line_errors
def qr_verify(payload: str, nonce_db: Path | None, db_path: Path | None, skew: int) -> None:
    """Verify a scanned QR electronic card offline and print the holder (masked).

    PAYLOAD is the scanned text, or - to read one line from standard input (a scanner typing it). A
    refused code prints the reason (expired, not yet valid, re-used, forged, truncated, garbage, wrong
    version, hotlisted) and exits with status 1. Each code is accepted once.

    \b
    Examples:
      ykt qr verify "$(ykt qr issue --card zhang-wei --payload-only)"
      ykt qr verify - < scanned.txt
    """
    if payload == "-":
        payload = sys.stdin.readline()
    store = SqliteNonceStore(nonce_db or default_home() / "qr-nonces.sqlite")
    try:
        identity = verify_qr(payload, datetime.now(timezone.utc), store, hotlist=Hotlist.load(db_path), skew_s=skew)
    finally:
        store.close()
    insurance = " / ".join(v for v in (identity.insurance_scheme, identity.insurance_category) if v) or None
    _print_identity([
        ("accepted", "QR electronic card, signature ok, first use"),
        ("name", identity.masked_name),
        ("SSN", identity.masked_ssn),
        ("card number", identity.card_number),
        ("region", identity.home_region),
        ("insurance", insurance),
    ])


# ---- ykt hotlist ----


@click.group()
def hotlist() -> None:
    """The local hotlist (挂失/blacklist) of card serials and card numbers refused offline.

    Example:

        ykt hotlist import hotlist-42.csv && ykt hotlist check A00000007
    """


@hotlist.command("import")
@click.argument("source", type=click.Path(dir_okay=False))
@hotlist_option
@click.option("--version", "version", type=click.IntRange(1), help="Version of this list, when SOURCE has no `version,N` line.")
@one_line_errors
def hotlist_import(source: str, db_path: Path | None, version: int | None) -> None:
    """Install a new hotlist version from a CSV/text file (atomically; versions only go up).

    SOURCE lines: `version,N` once before the entries, then one card per line — a card serial (16 hex
    digits) or a card number (9 characters), optionally followed by `,reason`; `#` comments and blank
    lines are skipped. Bad lines are listed as FILE:LINE and nothing is installed.

    \b
    Example:
      ykt hotlist import hotlist-42.csv --db /var/lib/ykt/hotlist.ykthl
    """
    path = db_path or default_hotlist_path()
    info = import_file(source, path, version=version, created=int(time.time()))
    with Hotlist.open(path) as installed:
        serials, numbers = installed.counts()
    click.echo(f"installed hotlist version {info.version}: {info.count:,} entries ({serials:,} card serials, {numbers:,} card numbers) in {path}")


@hotlist.command("check")
@click.argument("card")
@hotlist_option
@one_line_errors
def hotlist_check(card: str, db_path: Path | None) -> None:
    """Whether a card serial (16 hex digits) or card number is on the hotlist; exit status 1 if it is.

    \b
    Examples:
      ykt hotlist check A00000007
      ykt hotlist check 4401000000000007
    """
    path = db_path or default_hotlist_path()
    with Hotlist.load(path) as current:
        listed = current.contains(card)
        where = f"hotlist version {current.version}" if path.exists() else f"no hotlist installed at {path}"
    shown = card.strip().upper()
    if listed:
        click.echo(f"{shown}: LISTED ({where}) — refuse the card")
        raise click.exceptions.Exit(1)
    click.echo(f"{shown}: not listed ({where})")


@hotlist.command("show")
@hotlist_option
@click.option("--entries", default=0, show_default=True, type=click.IntRange(0), help="Also list the first N entries.")
@one_line_errors
def hotlist_show(db_path: Path | None, entries: int) -> None:
    """Show the installed hotlist: version, date, entry counts, checksum.

    \b
    Example:
      ykt hotlist show --entries 5
    """
    path = db_path or default_hotlist_path()
    if not path.exists():
        click.echo(f"no hotlist installed at {path} (every card passes the hotlist check)")
        return
    with Hotlist.open(path) as current:
        serials, numbers = current.counts()
        info = current.info
        created = datetime.fromtimestamp(info.created, timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")
        _print_identity([
            ("hotlist", str(path)),
            ("version", str(info.version)),
            ("created", created),
            ("entries", f"{info.count:,} ({serials:,} card serials, {numbers:,} card numbers)"),
            ("sha256", info.sha256),
        ])
        for entry in current.entries(entries):
            click.echo(f"  {entry}")
