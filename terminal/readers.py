"""Opening the reader a command or screen asks for: a card image in-process, a demo card, or PC/SC."""

from __future__ import annotations

from pathlib import Path

from reader.base import Reader
from reader.card_file import open_card_image
from reader.emulated import EmulatedReader
from reader.trace import Trace
from terminal.demo import resolve_card


def open_reader(
    reader_name: str | None = None,
    card: str | None = None,
    trace: Trace | None = None,
    home: Path | None = None,
) -> Reader:
    """`card` (an image path or a demo card name) runs in-process; `reader_name` (a PC/SC name, a unique
    part of one, or an index) goes through pcscd. Exactly one of them must be given."""
    if (reader_name is None) == (card is None):
        raise ValueError("choose one: --card IMAGE|DEMO-NAME (in-process) or --reader NAME (PC/SC)")
    if card is not None:
        path = resolve_card(card, home)
        return EmulatedReader(open_card_image(path), name=f"emulated:{path.name}", trace=trace)
    from reader.pcsc import PcscReader

    selector: str | int = int(reader_name) if reader_name.isdigit() else reader_name  # type: ignore[union-attr]
    return PcscReader(selector, trace=trace)
