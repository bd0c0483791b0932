"""`ykt tui` (and `ykt` with no arguments): the counter / validator-kiosk Textual app."""

from __future__ import annotations

import click


@click.command("tui")
@click.option("--card", help="Demo card to insert at start (emulated reader).")
@click.option("--reader", "reader_name", metavar="NAME", help="PC/SC reader instead of the emulated one.")
@click.option("--ledger", type=click.Path(dir_okay=False), help="Ledger path (default $YKT_HOME/ledger.sqlite).")
@click.option("--business-day", help="YYYY-MM-DD (default: today).")
@click.option("--kiosk", is_flag=True, help="Start as the full-screen validator kiosk.")
@click.option("--lang", type=click.Choice(["zh", "en"]), help="Language (default: the saved setting).")
@click.option("--large", is_flag=True, default=None, help="Large-font / high-contrast mode (适老化).")
def tui(card: str | None, reader_name: str | None, ledger: str | None, business_day: str | None, kiosk: bool,
        lang: str | None, large: bool | None) -> None:
    """Open the terminal's Textual app (the same as `ykt` with no arguments in a terminal).

    \b
    Examples:
      ykt tui --lang en --card zhang-wei
      ykt tui --kiosk --large
    """
    from terminal.tui import run_tui

    options = {"card": card, "reader": reader_name, "ledger": ledger, "business_day": business_day,
               "kiosk": kiosk or None, "language": lang, "large": large}
    run_tui(**{k: v for k, v in options.items() if v is not None})
