"""Refund (supervisor): find a sale by its receipt number (typed, or scanned from the receipt's QR), choose
the lines, the holder confirms with the PIN; terminal.counter reverses the original split of those lines
(pooled fund, personal account back onto the card, cash) and books it."""

from __future__ import annotations

from typing import Any

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.widgets import Input, SelectionList, Static

from terminal.tui import backend
from terminal.tui.i18n import yuan
from terminal.tui.screens.base import YktScreen, error_text
from terminal.tui.widgets.keybar import KeyBar
from terminal.tui.widgets.titlebar import TitleBar


class RefundScreen(YktScreen):
    BINDINGS = [Binding("escape", "close", "key.back"), Binding("f10", "confirm", "key.confirm_refund")]

    def __init__(self) -> None:
        super().__init__()
        self.receipt: Any = None

    def compose(self) -> ComposeResult:
        yield TitleBar("refund.title")
        with Vertical(id="refund-body"):
            yield Static(self.t("refund.prompt"))
            yield Input(placeholder=self.t("refund.receipt_hint"), id="receipt")
            yield Static(self.t("refund.lines"), classes="panel-title")
            yield SelectionList[int](id="lines")
        yield Static("", id="message", classes="message")
        yield KeyBar()

    def on_mount(self) -> None:
        self.query_one("#receipt", Input).focus()

    @on(Input.Submitted, "#receipt")
    def find(self, event: Input.Submitted) -> None:
        if event.value.strip():
            self.show_message(self.t("refund.finding"))
            self.find_receipt(event.value.strip())

    @work(thread=True, exclusive=True, exit_on_error=False)
    def find_receipt(self, number: str) -> None:
        app = self.app
        try:
            receipt = backend.receipt(app.session, number)  # type: ignore[attr-defined]
        except Exception as e:
            app.call_from_thread(self.show_message, error_text(app, e), error=True)
            return
        app.call_from_thread(self._found, receipt)

    def _found(self, receipt: Any) -> None:
        if receipt.kind != "sale":
            self.show_message(self.t("refund.not_a_sale"), error=True)
            return
        self.receipt = receipt
        lines = self.query_one("#lines", SelectionList)
        lines.clear_options()
        for line in receipt.lines:
            label = f"{line.index + 1}. {line.item_class} {line.name} ×{line.quantity}  ¥{yuan(line.amount_fen)}"
            lines.add_option((label, line.index, True))
        lines.focus()
        self.show_message(self.t("refund.choose"))

    def action_confirm(self) -> None:
        if self.receipt is None:
            self.show_message(self.t("refund.find_first"), error=True)
            return
        chosen = sorted(self.query_one("#lines", SelectionList).selected)
        if not chosen:
            self.show_message(self.t("refund.none_chosen"), error=True)
            return
        from terminal.tui.screens.pin import PinScreen

        def got_pin(pin: str | None) -> None:
            if pin is not None:
                self.show_message(self.t("refund.working"))
                self.refund(chosen, pin)

        self.app.push_screen(PinScreen(note=self.t("refund.confirm", n=len(chosen)), error=False), got_pin)

    @work(thread=True, exclusive=True, group="card", exit_on_error=False)
    def refund(self, lines: list[int], pin: str) -> None:
        app = self.app
        try:
            result = backend.refund(app.session, self.receipt.number, lines, pin)  # type: ignore[attr-defined]
        except Exception as e:
            app.call_from_thread(self.show_message, error_text(app, e), error=True)
            return
        app.call_from_thread(self._refunded, result)

    def _refunded(self, result: Any) -> None:
        if result.committed:
            self.show_message(self.t("refund.done", number=result.refund_no,
                                     account=yuan(result.refund.account_fen), cash=yuan(result.refund.cash_fen)))
            self.receipt = None
            self.query_one("#lines", SelectionList).clear_options()
        else:
            key = "refund.pending" if result.status == "pending" else "refund.failed"
            self.show_message(self.t(key, number=result.refund_no, reason=result.reason or ""), error=True)

    def action_close(self) -> None:
        self.dismiss()
