"""`ykt trace show`."""

from __future__ import annotations

import click

from reader.trace import format_entry, read_trace


@click.group()
def trace() -> None:
    """APDU traces (written with --trace FILE)."""


@trace.command("show")
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
def trace_show(file: str) -> None:
    """Print a JSON-lines APDU trace readably (PINs are already masked in the file).

    \b
    Example:
      ykt card read --card zhang-wei --trace t.jsonl && ykt trace show t.jsonl
    """
    for entry in read_trace(file):
        click.echo(format_entry(entry))
