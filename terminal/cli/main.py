"""`ykt`: the entry point. Errors the user can act on become one line and a non-zero exit."""

from __future__ import annotations

import logging
import sys

import click

from terminal.cli.options import USER_ERRORS, YktGroup

__all__ = ["USER_ERRORS", "YktGroup", "cli", "main"]


@click.group(cls=YktGroup, invoke_without_command=True, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("-v", "--verbose", count=True, help="Log more (-v info, -vv debug with masked APDUs).")
@click.pass_context
def cli(ctx: click.Context, verbose: int) -> None:
    """yikatong (一卡通): virtual social security cards and a counter/validator terminal.

    With no command, in a terminal, opens the counter app (`ykt tui`).

    \b
    Examples:
      ykt card list                      # the demo cards
      ykt card read --card zhang-wei     # read a demo card in-process
      ykt card serve card.json           # put a card image into pcscd (vpcd)
    """
    logging.basicConfig(level=[logging.WARNING, logging.INFO, logging.DEBUG][min(verbose, 2)], format="%(levelname)s %(name)s: %(message)s")
    if ctx.invoked_subcommand is None:
        if sys.stdin.isatty() and sys.stdout.isatty():
            from terminal.tui import run_tui

            run_tui()  # the main job: the counter app on the embedded default
        else:
            click.echo(ctx.get_help())


def _register() -> None:
    from terminal.cli.apdu import apdu, readers
    from terminal.cli.card import card
    from terminal.cli.centre import centre
    from terminal.cli.clearing import clearing, fleet, sync
    from terminal.cli.counter import counter
    from terminal.cli.identity import hotlist, qr
    from terminal.cli.ledger import ledger
    from terminal.cli.purse import purse
    from terminal.cli.trace import trace
    from terminal.cli.transit import transit, validator
    from terminal.cli.tui import tui

    for command in (card, apdu, readers, trace, qr, hotlist, purse, ledger, counter, validator, transit, sync, clearing, fleet, centre, tui):
        cli.add_command(command)


_register()


def main() -> None:
    cli(prog_name="ykt")
