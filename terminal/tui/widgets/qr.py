"""A QR code drawn with half blocks (segno, the same drawing as `ykt qr issue`)."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import Static

from terminal.identity.render import terminal_text


class QrView(Static):
    def __init__(self, payload: str, **kwargs: object) -> None:
        super().__init__(Text.from_ansi(terminal_text(payload, border=2)), **kwargs)  # type: ignore[arg-type]
