"""Subsidy credit (补贴待遇进卡): a batch file of cards and amounts; terminal.counter imports it once and
credits the lines of the card in the reader (each line at most once), with a progress bar."""

from __future__ import annotations

from typing import Any

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.widgets import Input, Label, ProgressBar, Static

from terminal.tui import backend
from terminal.tui.i18n import yuan
from terminal.tui.screens.base import YktScreen, error_text
from terminal.tui.widgets.keybar import KeyBar
from terminal.tui.widgets.titlebar import TitleBar


class SubsidyScreen(YktScreen):
    BINDINGS = [Binding("escape", "close", "key.back")]

    def compose(self) -> ComposeResult:
        from terminal.datafiles import data_dir

        yield TitleBar("subsidy.title")
        with Vertical(id="subsidy-body"):
            yield Label(self.t("subsidy.batch"))
            yield Input(value=str(data_dir() / "subsidy.example.csv"), id="batch")
            yield ProgressBar(id="progress", show_eta=False)
            yield Static("", id="credits")
        yield Static("", id="message", classes="message")
        yield KeyBar()

    def on_mount(self) -> None:
        self.query_one("#progress", ProgressBar).display = False
        self.query_one("#batch", Input).focus()

    @on(Input.Submitted, "#batch")
    def batch(self, event: Input.Submitted) -> None:
        if event.value.strip():
            bar = self.query_one("#progress", ProgressBar)
            bar.display = True
            bar.update(total=None)
            self.show_message(self.t("subsidy.working"))
            self.credit(event.value.strip())

    @work(thread=True, exclusive=True, group="card", exit_on_error=False)
    def credit(self, path: str) -> None:
        from pathlib import Path

        app = self.app
        try:
            result = backend.subsidy(app.session, Path(path).expanduser())  # type: ignore[attr-defined]
        except Exception as e:
            app.call_from_thread(self._failed, error_text(app, e))
            return
        app.call_from_thread(self._credited, result)

    def _failed(self, text: str) -> None:
        self.query_one("#progress", ProgressBar).display = False
        self.show_message(text, error=True)

    def _credited(self, result: Any) -> None:
        batch, identity, credits = result
        bar = self.query_one("#progress", ProgressBar)
        bar.update(total=max(1, len(credits)), progress=max(1, len(credits)))
        lines = [self.t("subsidy.holder", batch=batch.batch_id, holder=identity.masked_name, card=identity.card_number)]
        for c in credits:
            status = self.t(f"subsidy.{c.status}")
            lines.append(f"{c.line.line_no}. {c.line.reason}  ¥{yuan(c.line.amount_fen)}  {status}"
                         + (f" ({c.reason})" if c.reason else ""))
        self.query_one("#credits", Static).update("\n".join(lines))
        done = sum(c.line.amount_fen for c in credits if c.status == "committed")
        self.show_message(self.t("subsidy.done", n=len(credits), amount=yuan(done)),
                          error=any(c.status in ("failed", "pending") for c in credits))

    def action_close(self) -> None:
        self.dismiss()
