"""The receipt of a payment: what the counter library returned, and a QR code of the receipt id."""

from __future__ import annotations

from typing import Any

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.widgets import Static

from terminal.tui import backend
from terminal.tui.screens.base import YktModal
from terminal.tui.widgets.qr import QrView


class ReceiptScreen(YktModal):
    BINDINGS = [Binding("escape,enter", "close", "key.close")]

    def __init__(self, receipt: Any) -> None:
        super().__init__()
        self.receipt = receipt

    def compose(self) -> ComposeResult:
        lines = backend.receipt_lines(self.receipt)
        receipt_id = backend.receipt_id(self.receipt)
        with Vertical(classes="dialog", id="receipt-box"):
            yield Static(self.t("receipt.title"), classes="dialog-title")
            with Horizontal():
                yield Static("\n".join(f"{self.t(k)}: {v}" for k, v in lines), id="receipt-lines")
                if receipt_id:
                    yield QrView(receipt_id, id="receipt-qr")
            yield Static(self.t("receipt.keys"), classes="hint")

    def action_close(self) -> None:
        self.dismiss()
