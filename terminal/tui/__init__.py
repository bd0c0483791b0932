"""The terminal's Textual app (`ykt` with no arguments, or `python -m terminal.tui`): counter, validator
kiosk, APDU trace panel and settings. Screens only present and dispatch; every action calls the same
library as the CLI (docs/tui.md).

Importing this package is cheap: Textual loads only when `run_tui` runs.
"""

from __future__ import annotations

from typing import Any


def run_tui(**options: Any) -> None:
    """Run the app in this terminal until the operator quits.

    Options (all optional): `card` (a demo card name to insert at start), `reader` (a PC/SC reader name:
    use it instead of the emulated one), `ledger` (ledger path), `business_day` (YYYY-MM-DD), `kiosk`
    (start as the validator kiosk), `language` ("zh"/"en"), `large` (适老化 large-font mode), `home`
    (terminal home, default $YKT_HOME).

    Example::

        >>> from terminal.tui import run_tui
        >>> run_tui(card="zhang-wei", language="en")     # doctest: +SKIP
    """
    from terminal.tui.app import TuiOptions, YktApp

    YktApp(TuiOptions.from_kwargs(**options)).run()


__all__ = ["run_tui"]
