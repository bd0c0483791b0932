"""`ykt centre …`: the simulated medical-insurance centre (docs/centre.md) — serve it, seed its demo data,
flip its fault switches, send it one transaction.

Each command opens the library object, calls one thing, and turns errors into one-line ClickExceptions.
"""

from __future__ import annotations

import functools
import json
import os
from collections.abc import Callable
from typing import Any, TypeVar

import click

from terminal.paths import default_home

F = TypeVar("F", bound=Callable[..., Any])
DEFAULT_PORT = 8790


def default_db_url() -> str:
    return os.environ.get("YKT_CENTRE_DB") or str(default_home() / "centre.sqlite")


def default_url() -> str:
    return os.environ.get("YKT_CENTRE_URL") or f"http://127.0.0.1:{DEFAULT_PORT}"


def db_option(func: F) -> F:
    return click.option("--db", "db_url", metavar="URL", default=None,
                        help="Centre database: a SQLite path or sqlite:///PATH, or postgresql://… "
                             "Default: $YKT_CENTRE_DB, else centre.sqlite in the terminal home.")(func)


def url_option(func: F) -> F:
    return click.option("--url", default=None, metavar="URL",
                        help=f"The running centre. Default: $YKT_CENTRE_URL, else http://127.0.0.1:{DEFAULT_PORT}.")(func)


def one_line_errors(func: F) -> F:
    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from terminal.errors import TerminalError

        try:
            return func(*args, **kwargs)
        except (TerminalError, ValueError, OSError, LookupError) as exc:
            raise click.ClickException(str(exc)) from None

    return wrapper  # type: ignore[return-value]


def _counts(values: tuple[str, ...], option: str) -> dict[str, int]:
    """`2102` or `2102:3` (-1 = always) → {infno: count}."""
    out: dict[str, int] = {}
    for value in values:
        infno, _, n = value.partition(":")
        try:
            out[infno] = int(n) if n else 1
        except ValueError:
            raise click.BadParameter(f"{value!r}: give INFNO or INFNO:COUNT", param_hint=option) from None
    return out


def _faults_doc(latency_ms: int | None, drop: tuple[str, ...], fail: tuple[str, ...], fail_msg: str | None,
                clock_skew: int | None) -> dict[str, Any]:
    doc: dict[str, Any] = {}
    if latency_ms is not None:
        doc["latency_ms"] = latency_ms
    if drop:
        doc["drop"] = _counts(drop, "--drop")
    if fail:
        doc["fail"] = _counts(fail, "--fail")
    if fail_msg:
        doc["fail_msg"] = fail_msg
    if clock_skew is not None:
        doc["clock_skew_s"] = clock_skew
    return doc


def fault_options(func: F) -> F:
    for option in reversed((
        click.option("--latency-ms", type=int, default=None, help="Delay every answer by this many milliseconds."),
        click.option("--drop", multiple=True, metavar="INFNO[:N]",
                     help="Commit, then never answer the next N (default 1, -1 always) requests of INFNO."),
        click.option("--fail", multiple=True, metavar="INFNO[:N]",
                     help="Answer infcode -1 to the next N (default 1, -1 always) requests of INFNO."),
        click.option("--fail-msg", default=None, help="The err_msg of --fail answers."),
        click.option("--clock-skew", type=int, default=None, metavar="SECONDS",
                     help="Run the centre's clock this many seconds ahead (negative: behind)."),
    )):
        func = option(func)
    return func


@click.group()
def centre() -> None:
    """A simulated medical-insurance centre in the national platform's transaction shape.

    Numbered JSON transactions (9001/9002, 1101, 2101-2103, 2201-2208, 2601, 3201/3202) over HTTP, the same
    policy engine and catalog as the counter; counters settle with it online (`$YKT_CENTRE_URL`).

    \b
    Examples:
      ykt centre serve --port 8790
      ykt centre faults --drop 2102
      ykt centre call 1101 --input '{"data": {"mdtrt_cert_type": "02", "mdtrt_cert_no": "31010519800315001X"}}'
    """


@centre.command()
@db_option
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=DEFAULT_PORT, show_default=True, type=int, help="TCP port.")
@fault_options
@click.option("--no-admin", is_flag=True, help="Do not serve /ykt/faults (the fault switches over HTTP).")
@click.option("--log-level", default="info", show_default=True,
              type=click.Choice(["critical", "error", "warning", "info", "debug"]))
@one_line_errors
def serve(db_url: str | None, host: str, port: int, latency_ms: int | None, drop: tuple[str, ...],
          fail: tuple[str, ...], fail_msg: str | None, clock_skew: int | None, no_admin: bool, log_level: str) -> None:
    """Run the centre (uvicorn) until interrupted; an empty database gets the demo data (data/centre/).

    POST /fsi/api/rsfComIfsService/callService takes one transaction envelope (medical-platform.md).

    \b
    Example:
      ykt centre serve --db centre.sqlite --port 8790
      ykt centre serve --db postgresql://ykt@127.0.0.1/centre --drop 2102 --latency-ms 50
    """
    from terminal.centre import Centre, Faults
    from terminal.centre.app import serve as run

    faults = Faults.from_json(_faults_doc(latency_ms, drop, fail, fail_msg, clock_skew))
    c = Centre.open(db_url or default_db_url(), faults=faults)
    click.echo(f"insurance centre on http://{host}:{port} ({c.db!r})", err=True)
    try:
        run(c, host=host, port=port, log_level=log_level, admin=not no_admin)
    finally:
        c.close()


@centre.command()
@db_option
@one_line_errors
def seed(db_url: str | None) -> None:
    """Add the demo data that is missing: institutions, operators, the demo card holders, filings.

    Rows that exist are never changed (data/centre/*.csv, data/cards/*.toml, data/filings.example.csv).

    \b
    Example:
      ykt centre seed --db centre.sqlite
    """
    from terminal.centre import Centre
    from terminal.centre.seed import seed_demo

    with Centre.open(db_url or default_db_url(), seed=False) as c:
        added = seed_demo(c)
    click.echo(", ".join(f"{n} {kind}" for kind, n in added.items()) + " added")


@centre.command()
@url_option
@fault_options
@click.option("--clear", is_flag=True, help="Switch every fault off.")
@one_line_errors
def faults(url: str | None, latency_ms: int | None, drop: tuple[str, ...], fail: tuple[str, ...],
           fail_msg: str | None, clock_skew: int | None, clear: bool) -> None:
    """Show or set the fault switches of a running centre (PUT /ykt/faults replaces them all).

    \b
    Example:
      ykt centre faults                          # show them
      ykt centre faults --drop 2102 --latency-ms 200
      ykt centre faults --clear
    """
    import httpx

    base = (url or default_url()).rstrip("/") + "/ykt/faults"
    doc = _faults_doc(latency_ms, drop, fail, fail_msg, clock_skew)
    try:
        if clear:
            response = httpx.delete(base, timeout=5)
        elif doc:
            response = httpx.put(base, json=doc, timeout=5)
        else:
            response = httpx.get(base, timeout=5)
    except httpx.HTTPError as exc:
        raise click.ClickException(f"cannot reach the centre at {base}: {exc}") from None
    if response.status_code != 200:
        raise click.ClickException(f"{response.status_code}: {response.text.strip()}")
    click.echo(json.dumps(response.json(), ensure_ascii=False))


@centre.command()
@click.argument("infno")
@click.option("--input", "input_text", default="{}", help="The transaction's input object (JSON).")
@click.option("--insuplc", default="", help="insuplc_admdvs of the envelope (the insured's region).")
@url_option
@click.option("--fixmedins-code", default="P31000000001", show_default=True, help="The institution calling.")
@click.option("--region", default="310000", show_default=True, help="mdtrtarea_admvs (the institution's region).")
@click.option("--operator", default="c001", show_default=True, help="The operator signed in first (9001).")
@one_line_errors
def call(infno: str, input_text: str, insuplc: str, url: str | None, fixmedins_code: str, region: str,
         operator: str) -> None:
    """Sign in (9001) and send one transaction; print the answer envelope (JSON).

    \b
    Example:
      ykt centre call 1101 --input '{"data": {"mdtrt_cert_type": "02", "mdtrt_cert_no": "31010519800315001X"}}'
    """
    from terminal.centre.wire import dumps, loads
    from terminal.centre_client import CentreClient, Institution

    try:
        input_ = loads(input_text)
    except ValueError as exc:
        raise click.BadParameter(f"not JSON: {exc}", param_hint="--input") from None
    client = CentreClient(url or default_url(), Institution(fixmedins_code, "ykt centre call", region))
    try:
        if infno != "9001":
            client.sign_in(operator)
        answer = client.post(client.envelope(infno, input_, insuplc_admdvs=insuplc))
    finally:
        client.close()
    click.echo(dumps(answer, indent=1).decode("utf-8"))
    if answer.get("infcode") != 0:
        raise click.exceptions.Exit(1)
