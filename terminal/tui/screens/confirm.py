"""Yes / no before money moves (pay, refund, subsidy)."""

from __future__ import annotations

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.widgets import Button, Static

from terminal.tui.screens.base import YktModal


class ConfirmScreen(YktModal):
    BINDINGS = [Binding("escape", "no", "key.cancel"), Binding("y", "yes", "key.yes", show=False)]

    def __init__(self, question: str) -> None:
        super().__init__()
        self.question = question

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Static(self.question, classes="dialog-title")
            with Horizontal(classes="buttons"):
                yield Button(self.t("confirm.yes"), variant="success", id="yes")
                yield Button(self.t("confirm.no"), variant="error", id="no")

    def on_mount(self) -> None:
        self.query_one("#yes", Button).focus()

    @on(Button.Pressed, "#yes")
    def action_yes(self) -> None:
        self.dismiss(True)

    @on(Button.Pressed, "#no")
    def action_no(self) -> None:
        self.dismiss(False)
