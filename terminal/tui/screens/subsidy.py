"""Subsidy credit: one amount onto the card in the reader, or a batch file of cards and amounts, through
terminal.counter; a batch shows its progress and ends with a summary."""

from __future__ import annotations

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.widgets import Input, Label, ProgressBar, Static

from terminal.tui import backend
from terminal.tui.screens.base import YktScreen, error_text
from terminal.tui.widgets.keybar import KeyBar
from terminal.tui.widgets.titlebar import TitleBar


class SubsidyScreen(YktScreen):
    BINDINGS = [Binding("escape", "close", "key.back")]

    def compose(self) -> ComposeResult:
        yield TitleBar("subsidy.title")
        with Vertical(id="subsidy-body"):
            yield Label(self.t("subsidy.amount"))
            yield Input(placeholder="0.00", restrict=r"[0-9.]*", id="amount")
            yield Label(self.t("subsidy.batch"))
            yield Input(placeholder=self.t("subsidy.batch_hint"), id="batch")
            yield ProgressBar(id="progress", show_eta=False)
        yield Static("", id="message", classes="message")
        yield KeyBar()

    def on_mount(self) -> None:
        self.query_one("#amount", Input).focus()

    @on(Input.Submitted, "#amount")
    def one(self, event: Input.Submitted) -> None:
        if event.value.strip():
            self.show_message(self.t("subsidy.working"))
            self.credit_one(event.value.strip())

    @on(Input.Submitted, "#batch")
    def batch(self, event: Input.Submitted) -> None:
        if event.value.strip():
            self.show_message(self.t("subsidy.working"))
            self.credit_batch(event.value.strip())

    @work(thread=True, exclusive=True, group="card", exit_on_error=False)
    def credit_one(self, amount: str) -> None:
        app = self.app
        try:
            result = backend.subsidy_one(app.session, amount)  # type: ignore[attr-defined]
        except Exception as e:
            app.call_from_thread(self.show_message, error_text(app, e), error=True)
            return
        app.call_from_thread(self.show_message, backend.subsidy_text(app, result))

    @work(thread=True, exclusive=True, group="card", exit_on_error=False)
    def credit_batch(self, path: str) -> None:
        app = self.app
        bar = self.query_one("#progress", ProgressBar)

        def progress(done: int, total: int) -> None:
            app.call_from_thread(bar.update, total=total, progress=done)

        try:
            result = backend.subsidy_batch(app.session, path, progress)  # type: ignore[attr-defined]
        except Exception as e:
            app.call_from_thread(self.show_message, error_text(app, e), error=True)
            return
        app.call_from_thread(self.show_message, backend.subsidy_text(app, result))

    def action_close(self) -> None:
        self.dismiss()
