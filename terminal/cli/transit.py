"""`ykt validator` (a headless transit / venue validator) and `ykt transit …` (simulate a day, check the fare
data, put a venue pass on a card). docs/transit.md."""

from __future__ import annotations

import contextlib
import json
import signal
import tempfile
import threading
from collections.abc import Iterator
from datetime import date, datetime
from pathlib import Path
from typing import Any

import click

from reader.base import Reader
from reader.card_file import open_card_image
from terminal.booking import PurseBooks
from terminal.cli.purse import connected_psam, psam_options, yuan
from terminal.demo import resolve_card
from terminal.hotlist import default_hotlist_path
from terminal.ledger import Ledger
from terminal.paths import default_ledger_path
from terminal.purse import LoadHost
from terminal.purse.psam import Psam
from terminal.transit.engine import Mode
from terminal.transit.fares import load_fares
from terminal.transit.monitor import EmulatedTapSource, PcscTapSource, TapSource, run
from terminal.transit.outcome import TapOutcome
from terminal.transit.validator import HotlistFile, Validator

MODES = [m.value for m in Mode]


def fares_option(f: Any) -> Any:
    return click.option("--fares", "fares_dir", type=click.Path(file_okay=False, exists=True, path_type=Path),
                        help="Fare data folder (default: data/fares).")(f)


def db_option(f: Any) -> Any:
    return click.option("--db", "db_path", type=click.Path(dir_okay=False, path_type=Path),
                        help="Ledger database (default: $YKT_HOME/ledger.sqlite); created for the PSAM's terminal id.")(f)


def open_ledger(db_path: Path | None, psam: Reader) -> Ledger:
    """The ledger, created for the PSAM's terminal id when missing; refused when it belongs to another."""
    terminal = Psam(psam).open().hex().upper()
    path = db_path or default_ledger_path()
    ledger = Ledger.open(path, terminal_id=None if path.exists() else terminal)
    if ledger.terminal_id.upper() != terminal:
        ledger.close()
        raise click.ClickException(f"the ledger {path} belongs to terminal {ledger.terminal_id}, the PSAM is {terminal}: "
                                   "give --db for this terminal's ledger")
    return ledger


@contextlib.contextmanager
def _stop_on_signals() -> Iterator[threading.Event]:
    stop = threading.Event()
    if threading.current_thread() is not threading.main_thread():
        yield stop
        return
    old = {s: signal.signal(s, lambda *_: stop.set()) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield stop
    finally:
        for s, handler in old.items():
            signal.signal(s, handler)


@click.command("validator")
@click.option("--mode", type=click.Choice(MODES), required=True, help="bus (flat fare at boarding), metro-entry, metro-exit, or gate (venue passes).")
@click.option("--station", required=True, help="Bus route number, metro station id or code (see `ykt transit fares`), or gate id.")
@click.option("--reader", "reader_name", metavar="NAME", help="PC/SC reader to watch for cards (e.g. 'Virtual PCD 00 00').")
@click.option("--card", "cards", multiple=True, metavar="IMAGE|DEMO", help="In-process instead: tap these cards in turn (repeatable).")
@click.option("--rounds", default=1, show_default=True, type=click.IntRange(1, 1000), help="With --card: tap the cards this many times.")
@psam_options
@db_option
@click.option("--hotlist", "hotlist_path", type=click.Path(dir_okay=False, path_type=Path),
              help="Hotlist file (default: $YKT_HOME/hotlist.ykthl; re-read when a new version is installed).")
@fares_option
@click.option("--max-taps", type=click.IntRange(1), help="Stop after this many taps (default: run until Ctrl-C / SIGTERM).")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per tap instead of a line.")
@click.option("--trace", "trace_path", type=click.Path(dir_okay=False), help="Append a JSON-lines APDU trace of the card to FILE.")
def validator(mode: str, station: str, reader_name: str | None, cards: tuple[str, ...], rounds: int,
              psam_reader: str | None, psam_image: str | None, db_path: Path | None, hotlist_path: Path | None,
              fares_dir: Path | None, max_taps: int | None, as_json: bool, trace_path: str | None) -> None:
    """Run a headless validator: wait for cards, process each tap, print one line per tap (result, fare,
    balance, concession) and book it in the ledger. Keeps running through cards pulled mid-tap (resolved at
    that card's next tap), reader unplugs and pcscd restarts, until Ctrl-C / SIGTERM.

    \b
    Examples:
      ykt validator --mode bus --station 71 --card zhang-wei --card wang-jianguo
      ykt validator --mode metro-entry --station xinzhuang --reader "Virtual PCD 00 00" --psam-reader "Virtual PCD 00 01"
      ykt validator --mode gate --station century-park --card zhang-wei
    """
    if (reader_name is None) == (not cards):
        raise click.UsageError("choose the cards: --reader NAME (PC/SC) or --card IMAGE|DEMO (in-process, repeatable)")
    tables = load_fares(fares_dir)
    trace = None
    if trace_path:
        from reader.trace import Trace

        trace = Trace.to_file(trace_path)
    source: TapSource
    if reader_name is not None:
        selector: str | int = int(reader_name) if reader_name.isdigit() else reader_name
        source = PcscTapSource(selector, trace=trace)
    else:
        opened: dict[Path, Any] = {}  # one card object per image: a card named twice is the same card
        presented = []
        for c in cards:
            path = resolve_card(c).resolve()
            if path not in opened:
                opened[path] = open_card_image(path)
            presented.append(opened[path])
        source = EmulatedTapSource(presented, rounds=rounds)
        source.reader.trace = trace
    try:
        with connected_psam(psam_reader, psam_image) as psam, open_ledger(db_path, psam) as ledger:
            hotlist = HotlistFile(hotlist_path or default_hotlist_path())
            v = Validator(tables, mode, station, card=source.reader, psam=psam, ledger=ledger, hotlist=hotlist,
                          block_mac=LoadHost.from_test_keys().application_block_mac)
            listed = hotlist.current()
            where = reader_name if reader_name is not None else f"{len(cards)} in-process card(s)"
            click.echo(f"validator {mode} at {v.station_name}: terminal {v.terminal_id.hex().upper()}, ledger "
                       f"{ledger.path}, hotlist v{listed.version} ({len(listed)} cards); cards from {where}", err=True)

            def emit(outcome: TapOutcome) -> None:
                click.echo(json.dumps(outcome.to_dict(), ensure_ascii=False) if as_json else outcome.line())

            with _stop_on_signals() as stop:
                taps = run(v, source, emit, stop, max_taps=max_taps)
            click.echo(f"stopped after {taps} tap(s)", err=True)
    finally:
        source.close()
        if trace is not None:
            trace.close()


@click.group()
def transit() -> None:
    """Transit fares and venue passes: simulate a day of taps, check the fare data, issue venue passes."""


@transit.command("simulate")
@click.option("--cards", "n_cards", default=50, show_default=True, type=click.IntRange(1, 100_000), help="Riders (virtual cards).")
@click.option("--taps", default=1_000, show_default=True, type=click.IntRange(1), help="Taps to drive.")
@click.option("--seed", default=0, show_default=True, help="Random seed (the day is deterministic for a seed).")
@click.option("--tear-rate", default=0.02, show_default=True, type=click.FloatRange(0, 1), help="Share of taps torn (card pulled or power lost).")
@click.option("--db", "db_path", type=click.Path(dir_okay=False, path_type=Path), help="Ledger to book into (default: a fresh one in a temporary folder).")
@fares_option
def transit_simulate(n_cards: int, taps: int, seed: int, tear_rate: float, db_path: Path | None, fares_dir: Path | None) -> None:
    """Drive a day of random trips through in-process validators (real card OS, PSAM, durable ledger) and
    print a summary: taps, revenue, declines, recoveries.

    \b
    Example:
      ykt transit simulate --cards 100 --taps 2000
    """
    from terminal.transit.simulate import simulate

    with contextlib.ExitStack() as stack:
        if db_path is None:
            db_path = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="ykt-sim-"))) / "ledger.sqlite"
        bar = stack.enter_context(click.progressbar(length=taps, label="taps", file=click.get_text_stream("stderr")))
        summary = simulate(cards=n_cards, taps=taps, ledger_path=db_path, seed=seed, tear_rate=tear_rate,
                           tables=load_fares(fares_dir), on_tap=lambda _: bar.update(1))
    for line in summary.lines():
        click.echo(line)


@transit.command("fares")
@fares_option
def transit_fares(fares_dir: Path | None) -> None:
    """Check the fare data files (errors name file and line) and print the network and its rules.

    \b
    Example:
      ykt transit fares --fares data/fares
    """
    t = load_fares(fares_dir)
    bands = ", ".join(f"≤{b.up_to_m // 1000} km {yuan(b.fare)}" for b in t.metro.bands)
    click.echo(f"{t.name} ({t.folder})")
    click.echo(f"bus        flat fare {yuan(t.bus.flat_fare)}" + "".join(f", route {r} {yuan(f)}" for r, f in sorted(t.bus.routes.items())))
    click.echo(f"metro      {bands}, +{yuan(t.metro.beyond_add)} per {t.metro.beyond_every_m // 1000} km; maximum {yuan(t.metro.max_fare)}")
    click.echo(f"transfer   -{yuan(t.transfer.discount)} within {t.transfer.window_minutes} min "
               f"({', '.join(sorted('>'.join(p) for p in t.transfer.pairs))}), at most {t.transfer.max_per_chain} in a row")
    caps = f"daily cap {yuan(t.caps.daily)}" if t.caps.daily else "no daily cap"
    tiers = ", ".join(f"{tier.percent_off}% off after {yuan(tier.from_fen)}" for tier in t.caps.monthly_volume)
    click.echo(f"caps       {caps}; monthly: {tiers or 'none'}")
    for c in t.concessions:
        click.echo(f"concession {c.id:<8} {c.label}: pays bus {c.pay_percent['bus']}%, metro {c.pay_percent['metro']}%")
    click.echo("stations   " + ", ".join(f"{s.id} ({s.code}, line {'/'.join(map(str, s.lines))})"
                                         for s in sorted(t.network.stations.values(), key=lambda s: s.code)))
    click.echo("gates      " + ", ".join(f"{g.id} ({g.name})" for g in t.gates.values()))


@transit.command("issue-pass")
@click.option("--card", "card", required=True, metavar="IMAGE|DEMO", help="Card image or demo card name (in-process).")
@click.option("--pass", "pass_id", required=True, help="Pass type id from venues.toml (park-annual, library, museum-booking).")
@click.option("--from", "start", type=click.DateTime(["%Y-%m-%d"]), help="First valid day (default: today).")
@click.option("--venue", type=click.IntRange(0, 0xFFFF), default=0, show_default=True, help="Venue code the pass is for (0: every venue accepting it).")
@psam_options
@db_option
@fares_option
def transit_issue_pass(card: str, pass_id: str, start: datetime | None, venue: int, psam_reader: str | None,
                       psam_image: str | None, db_path: Path | None, fares_dir: Path | None) -> None:
    """Put a venue pass on a card (a 0-fen compound purchase writing 001A record 3, booked in the ledger).

    \b
    Example:
      ykt transit issue-pass --card zhang-wei --pass park-annual
    """
    from reader.emulated import EmulatedReader
    from terminal.purse import PurseManager
    from terminal.transit.validator import issue_pass

    tables = load_fares(fares_dir)
    kind = tables.pass_type(pass_id)
    reader = EmulatedReader(open_card_image(resolve_card(card)), "issuing desk")
    with connected_psam(psam_reader, psam_image) as psam, open_ledger(db_path, psam) as ledger:
        reader.connect()
        books = PurseBooks(ledger, PurseManager(reader, psam), operator="pass desk", business_day=date.today().isoformat())
        booked, item = issue_pass(books, tables, pass_id, start.date() if start else date.today(), venue=venue)
    if booked.status != "committed":
        raise click.ClickException(f"pass not issued ({booked.status}): {booked.result.reason}")
    entries = "unlimited entries" if kind.entries == 0 else f"{kind.entries} entr{'y' if kind.entries == 1 else 'ies'}"
    click.echo(f"{kind.label} on card {booked.intent.card_serial}: valid {item.valid_from} to {item.valid_until}, {entries}")
