"""The receipt of a payment: what the counter library returned, and a QR code of the receipt id."""

from __future__ import annotations

from typing import Any

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.widgets import Static

from terminal.tui.screens.base import YktModal
from terminal.tui.widgets.qr import QrView


class ReceiptScreen(YktModal):
    BINDINGS = [Binding("escape,enter", "close", "key.close")]

    def __init__(self, receipt: Any) -> None:
        super().__init__()
        self.receipt = receipt

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog", id="receipt-box"):
            yield Static(self.t("receipt.title", number=self.receipt.number), classes="dialog-title")
            with Horizontal(id="receipt-row"):
                with VerticalScroll(id="receipt-lines"):
                    yield Static(self.receipt.to_text(width=46))  # the counter's printed form (masked holder)
                yield QrView(self.receipt.number, id="receipt-qr")
            yield Static(self.t("receipt.keys"), classes="hint")

    def action_close(self) -> None:
        self.dismiss()
