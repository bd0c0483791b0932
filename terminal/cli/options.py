"""Options and helpers shared by the command groups."""

from __future__ import annotations

import contextlib
import sys
from typing import Any, Callable, Iterator

import click

from reader.base import Reader
from reader.trace import Trace
from terminal.readers import open_reader


def reader_options(f: Callable[..., Any]) -> Callable[..., Any]:
    """--reader (PC/SC) | --card (image file or demo card name, in-process) and --trace FILE."""
    f = click.option("--trace", "trace_path", type=click.Path(dir_okay=False), help="Append a JSON-lines APDU trace to FILE.")(f)
    f = click.option("--card", "card", metavar="IMAGE|DEMO", help="Card image file, or a demo card name (see `ykt card list`), run in-process.")(f)
    f = click.option("--reader", "reader_name", metavar="NAME", help="PC/SC reader name, a unique part of it, or its index (see `ykt readers`).")(f)
    return f


@contextlib.contextmanager
def connected_reader(reader_name: str | None, card: str | None, trace_path: str | None) -> Iterator[Reader]:
    """Open, connect, and always disconnect (and close the trace) at the end."""
    if reader_name is None and card is None:
        raise click.UsageError("choose a card: --card IMAGE|DEMO-NAME (in-process) or --reader NAME (PC/SC)")
    trace = Trace.to_file(trace_path) if trace_path else None
    reader = open_reader(reader_name, card, trace)
    try:
        reader.connect()
        yield reader
    finally:
        try:
            reader.disconnect()
        finally:
            if trace is not None:
                trace.close()


def ask_pin() -> str:
    """The PIN from the keyboard (hidden), or one line of standard input when it is not a terminal."""
    stdin = sys.stdin
    if not stdin.isatty():
        return stdin.readline().strip()
    return click.prompt("PIN", hide_input=True)


def parse_hex(text: str, what: str = "APDU") -> bytes:
    cleaned = "".join(text.split()).replace(":", "")
    try:
        raw = bytes.fromhex(cleaned)
    except ValueError:
        raise click.BadParameter(f"{text!r} is not hex") from None
    if not raw:
        raise click.BadParameter(f"empty {what}")
    return raw
