"""`ykt apdu` (raw APDUs) and `ykt readers`."""

from __future__ import annotations

import click

from applets.sw import describe
from reader.errors import ReaderError
from reader.trace import command_name
from terminal.cli.options import connected_reader, parse_hex, reader_options
from terminal.demo import ensure_demo_cards


@click.command()
@reader_options
@click.argument("apdus", nargs=-1, required=True)
def apdu(reader_name: str | None, card: str | None, trace_path: str | None, apdus: tuple[str, ...]) -> None:
    """Send raw command APDUs (hex) and print each response and its status word.

    \b
    Examples:
      ykt apdu --card zhang-wei 00A404000F7378312E73682EC9E7BBE1B1A3D5CF 00B2072C00
      ykt apdu --reader 0 "00 A4 04 00 0F 7378312E73682EC9E7BBE1B1A3D5CF"
    """
    commands = [parse_hex(a) for a in apdus]
    with connected_reader(reader_name, card, trace_path) as reader:
        for cmd in commands:
            resp = reader.transmit(cmd)
            sw = int.from_bytes(resp[-2:], "big") if len(resp) >= 2 else None
            click.echo(f"> {cmd.hex().upper()}  ({command_name(cmd)})")
            if sw is None:
                click.echo(f"< {resp.hex().upper()}  (no status word)")
            else:
                data = resp[:-2].hex().upper()
                click.echo(f"< {data + ' ' if data else ''}{sw:04X}  {describe(sw)}")


@click.command()
def readers() -> None:
    """List PC/SC readers (through pcscd) and the in-process demo cards.

    \b
    Example:
      ykt readers
    """
    from reader.pcsc import list_readers

    try:
        names = list_readers()
    except (ReaderError, ImportError) as e:
        click.echo(f"PC/SC: unavailable — {e}")
    else:
        click.echo("PC/SC readers:" if names else "PC/SC: no readers")
        for i, name in enumerate(names):
            click.echo(f"  {i}: {name}")
    click.echo("in-process demo cards (use --card NAME):")
    for path in ensure_demo_cards():
        click.echo(f"  {path.name.removesuffix('.card.json')}")
