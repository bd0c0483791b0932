"""PIN entry for the identity check: masked input, tries left, Enter to verify, Esc to cancel.
The PIN goes straight to the worker that sends VERIFY; it is never shown, logged or kept."""

from __future__ import annotations

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.widgets import Input, Static

from terminal.tui.screens.base import YktModal


class PinScreen(YktModal):
    BINDINGS = [Binding("escape", "cancel", "key.cancel")]

    def __init__(self, tries_left: int | None = None, note: str = "", *, error: bool = True) -> None:
        super().__init__()
        self.tries_left = tries_left
        self.note = note
        self.error = error

    def compose(self) -> ComposeResult:
        with Vertical(id="pin-box", classes="dialog"):
            yield Static(self.t("pin.title"), classes="dialog-title")
            yield Static(self.t("pin.prompt"))
            yield Input(password=True, restrict=r"[0-9]*", max_length=12, id="pin")
            tries = self.t("pin.tries_left", n=self.tries_left) if self.tries_left is not None else ""
            yield Static(tries, id="tries", classes="warning" if tries else "")
            yield Static(self.note, id="message", classes="message -error" if self.note and self.error else "message")
            yield Static(self.t("pin.keys"), classes="hint")

    def on_mount(self) -> None:
        self.query_one("#pin", Input).focus()

    @on(Input.Submitted, "#pin")
    def submit(self, event: Input.Submitted) -> None:
        pin = event.value
        event.input.value = ""
        if not (4 <= len(pin) <= 12):
            self.show_message(self.t("pin.format"), error=True)
            return
        self.dismiss(pin)

    def action_cancel(self) -> None:
        self.dismiss(None)
