"""`python -m terminal.tui [--card NAME] [--reader NAME] [--kiosk] [--lang zh|en] [--large] [--serve]`.

`--serve` publishes the app to browsers with Textual's `textual-serve` package (docs/tui.md).
"""

from __future__ import annotations

import argparse
import shlex
import sys


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m terminal.tui", description="yikatong counter / validator terminal")
    parser.add_argument("--card", help="demo card name to insert at start (emulated reader)")
    parser.add_argument("--reader", help="PC/SC reader name instead of the emulated one")
    parser.add_argument("--ledger", help="ledger path (default $YKT_HOME/ledger.sqlite)")
    parser.add_argument("--business-day", help="YYYY-MM-DD (default today)")
    parser.add_argument("--kiosk", action="store_true", help="start as the validator kiosk")
    parser.add_argument("--lang", choices=("zh", "en"), help="language (default: the saved setting)")
    parser.add_argument("--large", action="store_true", default=None, help="large-font / high-contrast mode")
    parser.add_argument("--serve", action="store_true", help="serve the app to web browsers (textual-serve)")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    args = parser.parse_args(argv)
    options = {
        "card": args.card, "reader": args.reader, "ledger": args.ledger, "business_day": args.business_day,
        "kiosk": args.kiosk, "language": args.lang, "large": args.large,
    }
    if args.serve:
        try:
            from textual_serve.server import Server
        except ImportError:
            parser.error("--serve needs the textual-serve package: pip install textual-serve")
        forwarded = [a for a in (argv if argv is not None else sys.argv[1:]) if a not in ("--serve",)]
        forwarded = _drop_option(_drop_option(forwarded, "--host"), "--port")
        command = " ".join(shlex.quote(p) for p in [sys.executable, "-m", "terminal.tui", *forwarded])
        Server(command, host=args.host, port=args.port, title="yikatong").serve()
        return 0
    from terminal.tui import run_tui

    run_tui(**{k: v for k, v in options.items() if v is not None})
    return 0


def _drop_option(args: list[str], name: str) -> list[str]:
    out: list[str] = []
    skip = False
    for a in args:
        if skip:
            skip = False
            continue
        if a == name:
            skip = True
            continue
        if a.startswith(name + "="):
            continue
        out.append(a)
    return out


if __name__ == "__main__":
    raise SystemExit(main())
