"""Options and helpers shared by the command groups."""

from __future__ import annotations

import contextlib
import logging
import sys
from typing import Any, Callable, Iterator, TypeVar

import click

from applets.errors import AppletError
from reader.base import Reader
from reader.errors import CardError, CardImageError, ReaderError
from reader.trace import Trace
from terminal.errors import TerminalError
from terminal.readers import open_reader

F = TypeVar("F", bound=Callable[..., Any])

# What a user can cause and fix: shown as one line, never as a traceback.
USER_ERRORS = (TerminalError, ReaderError, CardError, CardImageError, AppletError, ValueError, OSError)


class YktGroup(click.Group):
    """A group whose `user_errors` become one line and a non-zero exit; a bug too, its traceback only with -vv."""

    user_errors: tuple[type[BaseException], ...] = USER_ERRORS

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except self.user_errors as e:
            raise click.ClickException(str(e) or type(e).__name__) from None
        except KeyboardInterrupt:
            raise click.Abort() from None
        except (click.ClickException, click.exceptions.Exit, click.Abort):
            raise
        except Exception as e:  # a bug: one line for the user, the traceback only with -vv
            logging.getLogger("ykt").debug("internal error", exc_info=True)
            raise click.ClickException(f"internal error ({type(e).__name__}: {e}); run with -vv for details") from None


def json_option(func: F) -> F:
    return click.option("--json", "as_json", is_flag=True, help="Print JSON instead of text.")(func)


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


def read_secret(prompt: str) -> str:
    """One line of standard input (without its line end), or a hidden prompt on a terminal."""
    if not sys.stdin.isatty():
        return sys.stdin.readline().rstrip("\r\n")
    return click.prompt(prompt, hide_input=True)


def ask_pin() -> str:
    """The PIN from the keyboard (hidden), or one line of standard input when it is not a terminal."""
    return read_secret("PIN").strip()


def parse_hex(text: str, what: str = "APDU") -> bytes:
    cleaned = "".join(text.split()).replace(":", "")
    try:
        raw = bytes.fromhex(cleaned)
    except ValueError:
        raise click.BadParameter(f"{text!r} is not hex") from None
    if not raw:
        raise click.BadParameter(f"empty {what}")
    return raw
