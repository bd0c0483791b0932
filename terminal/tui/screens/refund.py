"""Refund: find a receipt by its id (typed or scanned from the receipt's QR), choose the lines, confirm;
terminal.counter reverses the split (pooled fund, personal account, cash) and books it."""

from __future__ import annotations

from typing import Any

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.widgets import Input, SelectionList, Static

from terminal.tui import backend
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
    def find_receipt(self, receipt_id: str) -> None:
        app = self.app
        try:
            receipt = backend.find_receipt(app.session, receipt_id)  # type: ignore[attr-defined]
        except Exception as e:
            app.call_from_thread(self.show_message, error_text(app, e), error=True)
            return
        app.call_from_thread(self._found, receipt)

    def _found(self, receipt: Any) -> None:
        self.receipt = receipt
        lines = self.query_one("#lines", SelectionList)
        lines.clear_options()
        for index, label in backend.refundable_lines(receipt):
            lines.add_option((label, index, True))
        lines.focus()
        self.show_message(self.t("refund.choose"))

    def action_confirm(self) -> None:
        if self.receipt is None:
            self.show_message(self.t("refund.find_first"), error=True)
            return
        chosen = list(self.query_one("#lines", SelectionList).selected)
        if not chosen:
            self.show_message(self.t("refund.none_chosen"), error=True)
            return
        from terminal.tui.screens.confirm import ConfirmScreen

        def confirmed(yes: bool | None) -> None:
            if yes:
                self.show_message(self.t("refund.working"))
                self.refund(chosen)

        self.app.push_screen(ConfirmScreen(self.t("refund.confirm", n=len(chosen))), confirmed)

    @work(thread=True, exclusive=True, group="card", exit_on_error=False)
    def refund(self, lines: list[int]) -> None:
        app = self.app
        try:
            result = backend.refund(app.session, self.receipt, lines)  # type: ignore[attr-defined]
        except Exception as e:
            app.call_from_thread(self.show_message, error_text(app, e), error=True)
            return
        app.call_from_thread(self.show_message, backend.refund_text(app, result))

    def action_close(self) -> None:
        self.dismiss()
